"""Tiny datasets of every kind and tiny models of every objective, made by the tests in seconds.

The files are the real formats (`cfa render`, `cfa prepare` outputs), only small:

    path = DATASETS["rotation"](tmp_path / "rot.h5")
    params = tiny_params("paired")          # params.yaml (demo profile) shrunk, model "contract-paired"

An objective registered in `cfa.training.objectives.OBJECTIVES` needs an entry in `TINY_MODELS`: the
contract test (tests/test_objective_contract.py) runs every registered objective.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from cfa.config import load_params

REPO = Path(__file__).resolve().parents[1]


def rotation_set(path: Path, models: int = 2, angles: str = "0:90:10", size: int = 32,
                 split: str = "grid:20") -> Path:
    """Procedural chairs turning about their axis (`cfa render`)."""
    from cfa.render import render_rotation_set

    render_rotation_set(path, source="procedural", category="chair", models=models, angles=angles, size=size,
                        split=split, progress=False)
    return path


def paired_images(path: Path, n: int = 12, size: int = 32, seed: int = 0) -> Path:
    """A pix2pix-layout set: A = a square's outline, B = the filled square (images_A/images_B/split)."""
    rng = np.random.default_rng(seed)
    a = np.full((n, 3, size, size), 255, np.uint8)
    b = np.full((n, 3, size, size), 255, np.uint8)
    for i in range(n):
        x0, y0 = rng.integers(2, size // 2, size=2)
        w = int(rng.integers(size // 4, size // 2))
        colour = rng.integers(0, 200, size=3).astype(np.uint8)
        b[i, :, y0:y0 + w, x0:x0 + w] = colour[:, None, None]
        a[i, :, y0:y0 + w, [x0, x0 + w - 1]] = 0
        a[i, :, [y0, y0 + w - 1], x0:x0 + w] = 0
    split = np.array([0] * (n - 4) + [1] * 2 + [2] * 2, np.uint8)
    with h5py.File(path, "w") as f:
        f["images_A"], f["images_B"], f["split"] = a, b, split
        f.attrs["kind"] = "paired-images"
        f.attrs["source"] = "test-squares"
    return path


def unpaired_with_label(path: Path) -> Path:
    """Simulated cells (`cfa prepare cells`): source = 1 cell, targets = 2..4 cells."""
    from cfa.datasets.cells import prepare_cells

    prepare_cells(path, counts=(1, 4), per_count=3, seed=0, size=16, progress=False)
    return path


def labelled(path: Path) -> Path:
    """Simulated cells read as images with a label (the cell count)."""
    unpaired_with_label(path.with_name(path.stem + "-cells.h5"))
    shutil.copy(path.with_name(path.stem + "-cells.h5"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["kind"] = "labelled"
    return path


DATASETS = {
    "rotation": rotation_set,
    "paired-images": paired_images,
    "unpaired-with-label": unpaired_with_label,
    "labelled": labelled,
}

# objective -> a tiny model entry (the shape of params.yaml `models:`).
TINY_MODELS = {
    "paired": {
        "objective": "paired",
        "generator": {"ngf": 4, "n_blocks": 2, "norm": "batch", "dropout": 0.5},
        "discriminator": {"ndf": 4, "n_layers": 2, "norm": "batch"},
        "atoms": {"n_atoms": 2, "kernel_size": 3, "ode_func": "authors", "method": "rk4", "rtol": 0.001,
                  "atol": 0.001, "adjoint": False},
        "optim": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999},
        "loss": {"gan_mode": "vanilla", "lambda_l1": 10.0},
    },
    "unpaired": {
        "objective": "unpaired",
        "generator": {"ngf": 4, "n_blocks": 2, "norm": "instance", "dropout": 0.0},
        "discriminator": {"ndf": 4, "n_layers": 2, "norm": "instance"},
        "atoms": {"n_atoms": 2, "kernel_size": 3, "ode_func": "authors", "method": "rk4", "rtol": 0.001,
                  "atol": 0.001, "adjoint": False},
        "optim": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999},
        # a pool of 3 fills within the contract's first steps, so its swaps are exercised by resume
        "loss": {"gan_mode": "lsgan", "lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5,
                 "identity_t": 0.01, "pool_size": 3},
    },
    "image_only": {
        "objective": "image_only",
        "generator": {"ngf": 4, "n_blocks": 1, "norm": "batch", "dropout": 0.5, "condition": "none"},
        "discriminator": {"ndf": 4, "n_layers": 2, "norm": "batch"},
        "atoms": {"n_atoms": 2, "kernel_size": 3, "ode_func": "authors", "method": "rk4", "rtol": 0.001,
                  "atol": 0.001, "adjoint": False},
        "optim": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999},
        "loss": {"gan_mode": "vanilla", "lambda_l1": 1.0},
        "t_range": [0.2, 1.0],
    },
    # Eq. 7 (Table 4): our label-only generator with atoms from one ODE at alpha * x.
    "label_only": {
        "objective": "label_only",
        "generator": {"z_dim": 8, "ngf": 4, "alpha": 1.0},
        "discriminator": {"ndf": 4},
        "atoms": {"n_atoms": 2, "kernel_size": 3, "ode_func": "authors", "method": "rk4", "rtol": 0.001,
                  "atol": 0.001, "adjoint": False},
        "optim": {"lr": 0.0001, "beta1": 0.5, "beta2": 0.999},
        "loss": {"gan_mode": "vanilla"},
        "train": {"load_size": None, "crop_size": None},
    },
}

# Labels in each kind's own units that its tiny dataset's models accept (the contract's sweep):
# rotation sets take angle gaps in degrees; the unpaired cells set (counts 1..4) takes cell counts.
SAMPLE_LABELS = {"unpaired-with-label": [2.0, 3.5]}


def tiny_params(objective: str, *overrides: str) -> dict:
    """The demo profile with a tiny model `contract-<objective>` and a few CPU steps."""
    params = load_params(REPO / "params.yaml", ["profile=demo", "train.batch_size=4", "train.steps=4",
                                                "train.checkpoint_every=2", "train.log_every=1",
                                                "train.sample_every=4", "train.device=cpu", *overrides])
    params["models"][f"contract-{objective}"] = TINY_MODELS[objective]
    return params
