"""Continuity made visible: empirical Lipschitz ratios of a generator along the condition t.

Theorem 1 of the paper bounds the change of the output by the change of the atoms, and the atoms
move continuously with t along the ODE. `measure_continuity` measures, over consecutive points of
a grid of t,

    ratio_j = mean_over_images ||G(x, t_{j+1}) - G(x, t_j)||_2 / |t_{j+1} - t_j|

and, for atom generators, the same ratio for the atoms, plus the ODE's number of function
evaluations per t. A continuous model shows bounded, smoothly varying ratios as the grid gets finer.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from tqdm import tqdm


def _atom_generator(generator: nn.Module):
    return getattr(generator, "atom_generator", None)


def _atoms_at(generator: nn.Module, atom_gen: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """The atoms the generator uses at condition t: its own `atoms(t)` when it maps t first (the
    label-only generator integrates to alpha * x), else the atom generator at t itself."""
    atoms = getattr(generator, "atoms", None)
    return atoms(t) if callable(atoms) else atom_gen(t)


def measure_continuity(generator: nn.Module, x: torch.Tensor, ts: Sequence[float] | torch.Tensor,
                       seed: int = 0, progress: bool = True) -> dict:
    """Empirical ratios ||G(x,t1) - G(x,t2)|| / |t1 - t2| over consecutive points of `ts`.

    generator: called as generator(x, t) with t of shape (B,) (ResNet, BasisGAN and cGAN generators
    all fit: for the cGAN pass z as x). x: (B, ...) inputs, one image is fine. ts: at least two
    distinct values, sorted ascending here. Runs in eval mode without gradients and restores the
    module's mode; the RNG is reseeded with `seed` before every forward so that stochastic
    generators (BasisGAN) are compared with the same noise.

    Returns a dict of plain Python values: `ts`, `pair_ratios` (per consecutive pair, mean over the
    images), `pair_ratios_max_image` (per pair, worst image), `max_ratio`, `mean_ratio`,
    `atom_pair_ratios` / `atom_max_ratio` (None without atoms), `nfe` (ODE evaluations per t, 0
    without atoms) and `max_nfe`.
    """
    grid = torch.as_tensor(ts, dtype=torch.float32).reshape(-1)
    grid = torch.unique(grid)  # sorted, duplicates dropped: a zero gap has no ratio
    if grid.numel() < 2:
        raise ValueError(f"measure_continuity needs at least two distinct t values, got {grid.tolist()}")
    device = next(generator.parameters()).device
    x = x.to(device)
    batch = x.shape[0]
    atom_gen = _atom_generator(generator)
    was_training = generator.training
    generator.eval()
    outputs, atoms, nfes = [], [], []
    try:
        with torch.no_grad():
            for t in tqdm(grid.tolist(), desc="continuity", disable=not progress, leave=False):
                t_batch = torch.full((batch,), t, device=device)
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(seed)
                    out = generator(x, t_batch)
                outputs.append(out.detach().float().reshape(batch, -1).cpu())
                if atom_gen is not None:
                    nfes.append(int(atom_gen.nfe))
                    atoms.append(_atoms_at(generator, atom_gen, t_batch[:1]).detach().float().reshape(-1).cpu())
                else:
                    nfes.append(0)
    finally:
        generator.train(was_training)
    gaps = (grid[1:] - grid[:-1]).double()
    diffs = torch.stack([(b - a).double().norm(dim=1) for a, b in zip(outputs[:-1], outputs[1:])])  # (T-1, B)
    per_image = diffs / gaps.unsqueeze(1)
    pair_ratios = per_image.mean(dim=1)
    result = {
        "ts": grid.tolist(),
        "pair_ratios": pair_ratios.tolist(),
        "pair_ratios_max_image": per_image.max(dim=1).values.tolist(),
        "max_ratio": float(pair_ratios.max()),
        "mean_ratio": float(pair_ratios.mean()),
        "atom_pair_ratios": None,
        "atom_max_ratio": None,
        "nfe": nfes,
        "max_nfe": max(nfes),
    }
    if atoms:
        atom_ratios = torch.stack([(b - a).double().norm() for a, b in zip(atoms[:-1], atoms[1:])]) / gaps
        result["atom_pair_ratios"] = atom_ratios.tolist()
        result["atom_max_ratio"] = float(atom_ratios.max())
    return result


__all__ = ["measure_continuity"]
