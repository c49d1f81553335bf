"""Test protocols, one per dataset kind: which images a model generates for evaluation and which
real images they are compared with.

A protocol is a `TestSet`: it reads a dataset file's test split, generates (and caches) the model's
outputs for it, and hands metrics what they need (the FID pairs, the diversity pairs, figures).
Registered by kind in `TESTSETS`; `open_testset(path, settings, seed)` picks by the file's kind.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfa.datasets.kinds import kind_of
from cfa.errors import UserError

TESTSETS = {
    "rotation": "cfa.metrics.testsets.rotation:RotationTestSet",
    "paired-images": "cfa.metrics.testsets.paired_images:PairedImagesTestSet",
    "labelled": "cfa.metrics.testsets.labelled:LabelledTestSet",
    "unpaired-with-label": "cfa.metrics.testsets.unpaired:UnpairedTestSet",
}


@dataclass
class RealImages:
    """Real images of one split with what the evaluation networks learn from them: the continuous
    label (in the dataset's label units; None when there is none) and the attribute class of each
    image (the diversity attribute: race, object type; None when there is none)."""

    images: np.ndarray
    labels: np.ndarray | None
    attributes: np.ndarray | None
    label_unit: str | None = None
    attribute_names: list[str] | None = None


class TestSet:
    """The test split of one dataset file and the model outputs a protocol asks for.

    `settings` is params.yaml's `evaluate` section; `seed` the run's seed for seeded subsets.
    `model` (set by `open_testset`) is the objective behind `generate`, or None: protocols that
    evaluate at the model's own random conditions (image-only translation) draw them with
    `model.random_t`; protocols whose conditions come from the data never look at it.
    """

    kind = ""
    model = None

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

    # -- what label-aware metrics and the evaluation networks need ---------------------------
    def real_images(self, split: str) -> RealImages:
        """The real images of `split` ("train" or "test") with their labels and attributes."""
        raise UserError(f"{self.path} is a {self.kind!r} dataset: its test protocol does not give the real images "
                        f"the evaluation networks train on yet (cfa evalnet; metrics ae_fid, label_score, "
                        f"intra_fid, diversity, niqe); leave those metrics out of the table's metrics list")

    def labelled_fakes(self, generate) -> tuple[np.ndarray, np.ndarray]:
        """(generated uint8 images, the label each was asked for, in label units)."""
        raise UserError(f"{self.path} is a {self.kind!r} dataset: its test protocol does not give generated images "
                        f"with the labels they were asked for yet (metrics label_score, intra_fid, diversity, "
                        f"niqe); leave those metrics out of the table's metrics list")


def open_testset(path: str | Path, settings: dict, seed: int, progress: bool = True, model=None) -> TestSet:
    kind = kind_of(path)
    if kind not in TESTSETS:
        raise UserError(f"{path} is a {kind!r} dataset; no evaluation protocol for that kind yet "
                        f"(known: {', '.join(TESTSETS)})")
    module, cls = TESTSETS[kind].split(":")
    testset = getattr(importlib.import_module(module), cls)(path, settings, seed, progress)
    testset.model = model
    return testset
