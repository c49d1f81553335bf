"""torch Datasets over the prepared HDF5 files: float32 images in [-1, 1], (C, H, W).

- `PairedImages`: pix2pix sets, `(A, B)` for one split.
- `UnpairedWithLabel`: CycleGAN setting, `(source image, target image, t)` with t the target's
  `condition` (the source's is 0, so t = |R2 - R1| = R2).
- `LabelledImages`: cGAN / label-only setting, `(image, label)`.
(Paired images with a label for the rotation sets are `cfa.datasets.rotation.RotationPairs`.)

The HDF5 file is opened lazily in each process, so the readers work with DataLoader workers; the
small index arrays are read once at construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from cfa.datasets.domains import SOURCE, TARGET
from cfa.datasets.h5writer import SPLIT_CODES
from cfa.errors import UserError


def to_tensor(image_uint8: np.ndarray) -> torch.Tensor:
    """(C, H, W) uint8 -> float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image_uint8)).float().div_(127.5).sub_(1.0)


class _H5Reader(Dataset):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"dataset file not found: {self.path}; create it with `cfa prepare ...`")
        self._file: h5py.File | None = None
        with h5py.File(self.path, "r") as f:
            self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
            self.keys = set(f.keys())
            self._read_index(f)

    def _read_index(self, f: h5py.File) -> None:
        raise NotImplementedError

    def _require(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self.keys]
        if missing:
            raise UserError(f"{self.path} has no {missing} array; it was not written by this version of "
                            f"`cfa prepare` (keys found: {sorted(self.keys)})")

    @property
    def h5(self) -> h5py.File:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        return self._file

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles do not pickle; each worker opens its own
        return state


def _attr(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class PairedImages(_H5Reader):
    """(A, B) pairs of one split of a prepared pix2pix set."""

    def __init__(self, path: str | Path, split: str = "train"):
        if split not in SPLIT_CODES:
            raise UserError(f"unknown split {split!r}; choose one of {list(SPLIT_CODES)}")
        self.split = split
        super().__init__(path)

    def _read_index(self, f: h5py.File) -> None:
        self._require("images_A", "images_B", "split")
        self.indices = np.nonzero(f["split"][:] == SPLIT_CODES[self.split])[0]
        if len(self.indices) == 0:
            present = sorted(k for k, v in SPLIT_CODES.items() if (f["split"][:] == v).any())
            raise UserError(f"{self.path} has no {self.split!r} pairs (splits present: {present})")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = int(self.indices[i])
        return to_tensor(self.h5["images_A"][row]), to_tensor(self.h5["images_B"][row])


class UnpairedWithLabel(_H5Reader):
    """(source image, target image, t) for the unpaired setting, from `domain`/`condition`.

    Item i takes target image i (every target once per epoch) and source image
    `perm[i % n_sources]`, a seeded permutation, so sources are spread over the targets evenly.
    `conditions` restricts the targets to some t values (e.g. one age bin for evaluation).
    """

    def __init__(self, path: str | Path, conditions: list[float] | None = None, seed: int = 0):
        self.conditions = conditions
        self.seed = seed
        super().__init__(path)

    def _read_index(self, f: h5py.File) -> None:
        self._require("domain", "condition", self.attrs.get("image_key", "images"))
        self.image_key = self.attrs.get("image_key", "images")
        domain = f["domain"][:]
        condition = f["condition"][:]
        self.sources = np.nonzero(domain == SOURCE)[0]
        target = domain == TARGET
        if self.conditions is not None:
            target &= np.isin(np.round(condition, 6), np.round(np.asarray(self.conditions, dtype=np.float32), 6))
        self.targets = np.nonzero(target)[0]
        self.target_t = condition[self.targets].astype(np.float32)
        if len(self.sources) == 0 or len(self.targets) == 0:
            raise UserError(f"{self.path}: the unpaired setting needs source and target images; found "
                            f"{len(self.sources)} source and {len(self.targets)} target images"
                            + (f" with conditions {self.conditions}" if self.conditions is not None else ""))
        self.source_order = np.random.default_rng(self.seed).permutation(self.sources)

    def available_conditions(self) -> list[float]:
        return sorted(set(np.round(self.target_t, 6).tolist()))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        source_row = int(self.source_order[i % len(self.source_order)])
        target_row = int(self.targets[i])
        images = self.h5[self.image_key]
        return (to_tensor(images[source_row]), to_tensor(images[target_row]),
                torch.tensor(self.target_t[i], dtype=torch.float32))


class LabelledImages(_H5Reader):
    """(image, label) with the file's label array (ages, angles, cell counts, time of day).

    `label_range` keeps rows with lo <= label <= hi; `normalise` divides labels by `label_scale`
    (e.g. 60 for UTKFace ages, so labels are in (0, 1] as CcGAN trains).
    """

    def __init__(self, path: str | Path, label_key: str | None = None,
                 label_range: tuple[float, float] | None = None, label_scale: float = 1.0):
        self.label_key = label_key
        self.label_range = label_range
        self.label_scale = float(label_scale)
        super().__init__(path)

    def _read_index(self, f: h5py.File) -> None:
        self.image_key = self.attrs.get("image_key", "images")
        self.label_key = self.label_key or self.attrs.get("label_key", "labels")
        self._require(self.image_key, self.label_key)
        labels = f[self.label_key][:].astype(np.float32)
        keep = np.ones(len(labels), dtype=bool)
        if self.label_range is not None:
            keep = (labels >= self.label_range[0]) & (labels <= self.label_range[1])
        self.rows = np.nonzero(keep)[0]
        self.labels = labels[self.rows] / self.label_scale

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (to_tensor(self.h5[self.image_key][int(self.rows[i])]),
                torch.tensor(self.labels[i], dtype=torch.float32))
