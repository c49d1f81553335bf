"""Test protocols, one per dataset kind: which images a model generates for evaluation and which
real images they are compared with.

A protocol is a `TestSet`: it reads a dataset file's test split, generates (and caches) the model's
outputs for it, and hands metrics what they need (the FID pairs, the diversity pairs, figures).
Registered by kind in `TESTSETS`; `open_testset(path, settings, seed)` picks by the file's kind.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from cfa.datasets.kinds import kind_of
from cfa.errors import UserError

TESTSETS = {
    "rotation": "cfa.metrics.testsets.rotation:RotationTestSet",
    "unpaired-with-label": "cfa.metrics.testsets.unpaired:UnpairedTestSet",
}


class TestSet:
    """The test split of one dataset file and the model outputs a protocol asks for.

    `settings` is params.yaml's `evaluate` section; `seed` the run's seed for seeded subsets.
    """

    kind = ""

    def __init__(self, path: str | Path, settings: dict, seed: int, progress: bool = True):
        from cfa.io import sha256_file

        self.path = Path(path)
        self.settings = settings
        self.seed = int(seed)
        self.progress = progress
        self.batch_size = int(settings["batch_size"])
        self.sha256 = sha256_file(self.path)

    def describe(self) -> dict:
        """The `data` block of a metrics record."""
        raise NotImplementedError

    def counts(self) -> dict:
        return {}

    def fid_reference(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(real images for FID, row key): the key names a seeded subset (None: the whole split)."""
        raise NotImplementedError

    def fid_fakes(self, generate) -> np.ndarray:
        """Generated uint8 images paired with `fid_reference`'s real images."""
        raise NotImplementedError

    def diversity_pairs(self, generate) -> dict:
        """{lhs, rhs: uint8 (P, C, H, W), inputs, pairs_per_input, definition} for LPIPS diversity."""
        raise NotImplementedError

    def write_figure(self, generate, path: str | Path, title: str) -> None:
        """The evaluation figure of this protocol (e.g. Figure 3's interpolation panel)."""
        raise NotImplementedError


def open_testset(path: str | Path, settings: dict, seed: int, progress: bool = True) -> TestSet:
    kind = kind_of(path)
    if kind not in TESTSETS:
        raise UserError(f"{path} is a {kind!r} dataset; no evaluation protocol for that kind yet "
                        f"(known: {', '.join(TESTSETS)})")
    module, cls = TESTSETS[kind].split(":")
    return getattr(importlib.import_module(module), cls)(path, settings, seed, progress)
