"""LPIPS diversity: the mean LPIPS distance between pairs of outputs made from the same input.

BicycleGAN's protocol (used by the paper's Tables 1 and 3): for each of 100 inputs, 19 pairs of
outputs, LPIPS (AlexNet) per pair, averaged over all pairs.

Which outputs form a pair is the dataset's test protocol (`cfa.metrics.testsets`): in the paired
rotation setting (Table 2) the only thing that varies for a fixed input (an object's 0-deg image) is
the condition t, so a pair is two outputs for the same input at two DISTINCT test conditions drawn at
random; with a single condition, a pair is two independent forward passes at the same t (the
stochastic diversity of a sampling model). A model whose output ignores both t and its noise scores
exactly 0 either way. See docs/evaluation.md.
"""

from __future__ import annotations

import itertools
import sys
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from cfa.errors import UserError
from cfa.images import rgb, to_float
from cfa.metrics.base import Metric, MetricResult

Generate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LPIPS_MIN_SIZE = 31  # AlexNet: conv 11/4 and two 3/2 max-pools need at least 31 pixels

DEFINITION = ("mean LPIPS (AlexNet) between two outputs for the same input at two distinct "
              "conditions t drawn at random; BicycleGAN-style pairs per input; 0 for a model whose "
              "output does not depend on t or noise")


def to_minus1_1(images, device=None) -> torch.Tensor:
    """uint8 (N,C,H,W) in [0,255] or float in [-1,1] -> float32 in [-1,1], 3 channels."""
    t = rgb(to_float(images))
    return t.to(device) if device is not None else t


def lpips_distances(model, a, b, batch_size: int = 50) -> np.ndarray:
    """LPIPS(a[i], b[i]) for each i, (N,) float64. Inputs: uint8 or float in [-1, 1].

    Bit-identical image pairs are 0 by definition and skip the network, so that a deterministic
    model's 0 is exact rather than round-off.
    """
    device = next(model.parameters()).device
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"LPIPS needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    out = np.zeros(len(a), dtype=np.float64)
    # Converted batch by batch: thousands of 256x256 pairs as float32 would not fit in memory.
    with torch.inference_mode():
        for start in range(0, len(a), batch_size):
            x, y = to_minus1_1(a[start:start + batch_size]), to_minus1_1(b[start:start + batch_size])
            differ = (x != y).flatten(1).any(dim=1).nonzero().flatten()
            if len(differ):
                d = model(x[differ].to(device), y[differ].to(device))
                out[start + differ.numpy()] = d.flatten().double().cpu().numpy()
    return out


def draw_pairs(n_conditions: int, pairs: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """`pairs` distinct unordered pairs of distinct condition indices (capped at all pairs), or,
    with one condition, `pairs` repeats of (0, 0) (two stochastic draws at the same t)."""
    if n_conditions < 1:
        raise ValueError("need at least one condition")
    if n_conditions == 1:
        return [(0, 0)] * pairs
    all_pairs = list(itertools.combinations(range(n_conditions), 2))
    chosen = rng.choice(len(all_pairs), size=min(pairs, len(all_pairs)), replace=False)
    return [all_pairs[i] for i in sorted(chosen)]


def pair_outputs(outputs_per_input: Sequence, pairs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(lhs, rhs) stacked in [-1, 1]: `pairs` pairs of distinct conditions drawn per input with `seed`.

    outputs_per_input[i] is (K_i, C, H, W), one output per condition for input i (uint8 or [-1, 1]).
    """
    rng = np.random.default_rng(seed)
    lhs, rhs = [], []
    for outs in outputs_per_input:
        for i, j in draw_pairs(len(outs), pairs, rng):
            lhs.append(outs[i])
            rhs.append(outs[j])
    if not lhs:
        raise ValueError("no pairs: no inputs given")
    return (torch.stack([to_minus1_1(x[None])[0] for x in lhs]),
            torch.stack([to_minus1_1(x[None])[0] for x in rhs]))


def lpips_diversity_of_outputs(outputs_per_input: Sequence[torch.Tensor], lpips_model, *,
                               pairs: int = 19, seed: int = 0, batch_size: int = 50) -> dict:
    """Diversity from outputs already made: outputs_per_input[i] is (K_i, 3, H, W), one output per
    condition for input i (in [-1,1] or uint8). Pairs are drawn per input with `seed`."""
    lhs, rhs = pair_outputs(outputs_per_input, pairs, seed)
    d = lpips_distances(lpips_model, lhs, rhs, batch_size)
    return {"lpips": float(d.mean()), "std": float(d.std()), "inputs": len(outputs_per_input),
            "pairs": len(d), "pairs_per_input": pairs, "seed": seed, "definition": DEFINITION}


class LPIPSDiversity(Metric):
    """Mean LPIPS between outputs for the same input, over the pairs the test protocol draws."""

    name = "lpips_diversity"

    def compute(self, context) -> MetricResult:
        plan = context.testset.diversity_pairs(context.generate)
        size = min(plan["lhs"].shape[-2:])
        if size < LPIPS_MIN_SIZE:
            raise UserError(f"LPIPS (AlexNet) needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} pixels "
                            f"(its two max-pools leave nothing below that); this dataset's are {size} pixels. "
                            f"Make the dataset at a larger size, or leave lpips_diversity out of the table's metrics")
        # The protocol names the LPIPS heads it is defined with (BicycleGAN's: v0.0).
        version = str(plan.get("lpips_version", "0.1"))
        lpips_model = context.lpips(version)
        d = lpips_distances(lpips_model, plan["lhs"], plan["rhs"], context.batch_size)
        detail = {"lpips": float(d.mean()), "std": float(d.std()), "inputs": plan["inputs"],
                  "pairs": len(d), "pairs_per_input": plan["pairs_per_input"], "seed": context.seed,
                  "lpips_version": version, "definition": plan["definition"],
                  **plan.get("protocol", {})}
        return MetricResult(values={"lpips_diversity": detail["lpips"]}, detail=detail,
                            counts={"lpips_pairs": len(d), "lpips_inputs": plan["inputs"]})


def choose_inputs(n_available: int, inputs: int, rng: np.random.Generator) -> list[int]:
    """Up to `inputs` distinct input indices (all of them when fewer exist), sorted."""
    if n_available <= inputs:
        return list(range(n_available))
    return sorted(rng.choice(n_available, size=inputs, replace=False).tolist())


def lpips_diversity(generate: Generate, sources, conditions: Sequence[float], lpips_model, *,
                    inputs: int = 100, pairs: int = 19, seed: int = 0, batch_size: int = 50,
                    progress: bool = True) -> dict:
    """Run the protocol with a generator callable.

    generate(x, t): x (B,3,H,W) float in [-1,1], t (B,) float32 -> (B,3,H,W) in [-1,1].
    sources: (N,3,H,W) inputs (uint8 or [-1,1]); conditions: the test values of t.
    Only the conditions some drawn pair needs are generated.
    """
    rng = np.random.default_rng(seed)
    conditions = [float(c) for c in conditions]
    chosen = choose_inputs(len(sources), inputs, rng)
    plans = [draw_pairs(len(conditions), pairs, rng) for _ in chosen]
    dists = []
    for src_index, plan in tqdm(list(zip(chosen, plans)), desc="LPIPS diversity", unit="input",
                                file=sys.stderr, disable=not progress, leave=False):
        x = to_minus1_1(sources[src_index:src_index + 1])
        # Each side of a pair is its own forward pass, so a sampling model draws fresh noise.
        ts_a = torch.tensor([conditions[i] for i, _ in plan], dtype=torch.float32)
        ts_b = torch.tensor([conditions[j] for _, j in plan], dtype=torch.float32)
        with torch.inference_mode():
            out_a = _generate_batched(generate, x, ts_a, batch_size)
            out_b = _generate_batched(generate, x, ts_b, batch_size)
        dists.append(lpips_distances(lpips_model, out_a, out_b, batch_size))
    d = np.concatenate(dists)
    return {"lpips": float(d.mean()), "std": float(d.std()), "inputs": len(chosen),
            "pairs": len(d), "pairs_per_input": pairs, "seed": seed,
            "conditions": len(conditions), "definition": DEFINITION}


def _generate_batched(generate: Generate, x: torch.Tensor, ts: torch.Tensor,
                      batch_size: int) -> torch.Tensor:
    outs = []
    for start in range(0, len(ts), batch_size):
        t = ts[start:start + batch_size]
        outs.append(generate(x.expand(len(t), -1, -1, -1), t).float().cpu())
    return torch.cat(outs)
