"""torch Datasets over the prepared HDF5 files: items are dicts of float32 images in [-1, 1] (C, H, W)
and scalar tensors. One class per dataset kind (`cfa.datasets.kinds`):

- `PairedImages` (`paired-images`): pix2pix sets, {source, target} = (input A, target B) of a split.
- `UnpairedWithLabel` (`unpaired-with-label`): CycleGAN setting, {source, target, t} with t the
  target's `condition` (the source's is 0, so t = |R2 - R1| = R2).
- `LabelledImages` (`labelled`): label-only setting, {image, label}.
(Rotation sets are `cfa.datasets.rotation.RotationPairs`.)

The HDF5 file is opened lazily in each process, so the readers work with DataLoader workers; the
small index arrays are read once at construction. Files without a `split` array serve all their rows
under every split name.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from cfa.datasets.checks import require_finite_labels
from cfa.datasets.domains import SOURCE, TARGET
from cfa.datasets.h5writer import SPLIT_CODES
from cfa.errors import UserError
from cfa.images import to_float


def to_tensor(image_uint8: np.ndarray) -> torch.Tensor:
    """(C, H, W) uint8 -> float32 in [-1, 1]."""
    return to_float(np.ascontiguousarray(image_uint8))


class _H5Reader(Dataset):
    kind = ""
    has_inputs = True  # whether a model of this kind takes an input image (preview_sources)

    def __init__(self, path: str | Path, split: str = "train"):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"dataset file not found: {self.path}; create it with `cfa prepare ...`")
        if split not in SPLIT_CODES:
            raise UserError(f"unknown split {split!r}; choose one of {list(SPLIT_CODES)}")
        self.split = split
        self._file: h5py.File | None = None
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise UserError(f"{self.path} is not a readable HDF5 dataset ({e}); make it again with "
                            f"`cfa prepare`") from None
        with f:
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

    def _split_mask(self, f: h5py.File, n: int) -> np.ndarray:
        if "split" not in f:
            return np.ones(n, dtype=bool)
        return f["split"][:] == SPLIT_CODES[self.split]

    def _image_info(self, image_key: str) -> dict:
        with h5py.File(self.path, "r") as f:
            shape = f[image_key].shape
        return {"kind": self.kind, "channels": int(shape[1]), "size": int(shape[-1])}

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
    """{source: A, target: B} pairs of one split of a prepared pix2pix set."""

    kind = "paired-images"

    def _read_index(self, f: h5py.File) -> None:
        self._require("images_A", "images_B", "split")
        self.indices = np.nonzero(f["split"][:] == SPLIT_CODES[self.split])[0]
        if len(self.indices) == 0:
            present = sorted(k for k, v in SPLIT_CODES.items() if (f["split"][:] == v).any())
            raise UserError(f"{self.path} has no {self.split!r} pairs (splits present: {present}); make it "
                            f"again with `cfa prepare` from a raw set that has {self.split} images")

    def info(self) -> dict:
        return {**self._image_info("images_A"), "label_unit": None, "t_scale": None}

    def preview_sources(self, n: int) -> torch.Tensor:
        return torch.stack([to_tensor(self.h5["images_A"][int(r)]) for r in self.indices[:n]])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        row = int(self.indices[i])
        return {"source": to_tensor(self.h5["images_A"][row]), "target": to_tensor(self.h5["images_B"][row])}


class UnpairedWithLabel(_H5Reader):
    """{source, target, t} for the unpaired setting, from `domain`/`condition`.

    Item i takes target image i (every target once per epoch) and source image
    `perm[i % n_sources]`, a seeded permutation, so sources are spread over the targets evenly.
    `conditions` restricts the targets to some t values (e.g. one age bin for evaluation).
    """

    kind = "unpaired-with-label"

    def __init__(self, path: str | Path, split: str = "train", conditions: list[float] | None = None,
                 seed: int = 0):
        self.conditions = conditions
        self.seed = seed
        super().__init__(path, split)

    def _read_index(self, f: h5py.File) -> None:
        self._require("domain", "condition", self.attrs.get("image_key", "images"))
        self.image_key = self.attrs.get("image_key", "images")
        domain = f["domain"][:]
        condition = f["condition"][:]
        require_finite_labels(condition, self.path, "condition", needed=(domain == SOURCE) | (domain == TARGET))
        in_split = self._split_mask(f, len(domain))
        self.sources = np.nonzero((domain == SOURCE) & in_split)[0]
        target = (domain == TARGET) & in_split
        if self.conditions is not None:
            target &= np.isin(np.round(condition, 6), np.round(np.asarray(self.conditions, dtype=np.float32), 6))
        self.targets = np.nonzero(target)[0]
        self.target_t = condition[self.targets].astype(np.float32)
        self.has_split = "split" in f
        if len(self.sources) == 0 or len(self.targets) == 0:
            where = f" of the {self.split!r} split" if self.has_split else ""
            raise UserError(f"{self.path}: the unpaired setting needs source and target images; found "
                            f"{len(self.sources)} source and {len(self.targets)} target images{where}"
                            + (f" with conditions {self.conditions}" if self.conditions is not None else "")
                            + f". Domain rule: {self.attrs.get('domain_rule', 'domain 0 = source, 1 = target')}"
                            f"; whole file: {int((domain == SOURCE).sum())} source, "
                            f"{int((domain == TARGET).sum())} target images")
        self.source_order = np.random.default_rng(self.seed).permutation(self.sources)

    @property
    def encoding(self) -> dict:
        """How labels in the dataset's units map to conditions t (cfa.datasets.domains)."""
        from cfa.datasets.domains import IDENTITY_ENCODING

        encoding = self.attrs.get("label_encoding")
        return encoding if isinstance(encoding, dict) else IDENTITY_ENCODING

    def info(self) -> dict:
        encoding = self.encoding
        return {**self._image_info(self.image_key), "label_unit": encoding["unit"], "t_scale": 1.0,
                "label_encoding": encoding, "figure_sweep": encoding.get("figure")}

    def available_conditions(self) -> list[float]:
        return sorted(set(np.round(self.target_t, 6).tolist()))

    def preview_sources(self, n: int) -> torch.Tensor:
        return torch.stack([to_tensor(self.h5[self.image_key][int(r)]) for r in self.sources[:n]])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> dict:
        source_row = int(self.source_order[i % len(self.source_order)])
        target_row = int(self.targets[i])
        images = self.h5[self.image_key]
        return {"source": to_tensor(images[source_row]), "target": to_tensor(images[target_row]),
                "t": torch.tensor(self.target_t[i], dtype=torch.float32)}


class LabelledImages(_H5Reader):
    """{image, label} with the file's label array (ages, angles, cell counts, time of day).

    The file's attributes say where things are and how labels scale: `image_key` (default
    "images"), `label_key` ("labels"), `attribute_key` (the diversity attribute, e.g. "races" for
    UTKFace, "types" for a rendered set; optional), `label_scale` (labels are divided by it, e.g.
    60 for UTKFace ages so that x is in (0, 1] as CcGAN trains, 90 for angles; default 1),
    `label_unit` and `label_range` (the integer labels a model is evaluated at), and
    `split_codes` (JSON {split name: code} of the `split` array, for files whose codes differ from
    `cfa prepare`'s, e.g. a rendered set's {"train": 0, "test": 1, "unused": 2}).

    `label_range` (argument) keeps rows with lo <= label <= hi; `label_scale` (argument) overrides
    the file's.
    """

    kind = "labelled"
    has_inputs = False

    def __init__(self, path: str | Path, split: str = "train", label_key: str | None = None,
                 label_range: tuple[float, float] | None = None, label_scale: float | None = None):
        self.label_key = label_key
        self.label_range = label_range
        self._label_scale_arg = label_scale
        super().__init__(path, split)

    def _split_mask(self, f: h5py.File, n: int) -> np.ndarray:
        codes = self.attrs.get("split_codes")
        if "split" not in f or not isinstance(codes, dict):
            return super()._split_mask(f, n)
        if self.split not in codes:
            raise UserError(f"{self.path} has no {self.split!r} split (its splits: {sorted(codes)})")
        return f["split"][:] == int(codes[self.split])

    def _read_index(self, f: h5py.File) -> None:
        self.image_key = self.attrs.get("image_key", "images")
        self.label_key = self.label_key or self.attrs.get("label_key", "labels")
        self._require(self.image_key, self.label_key)
        self.attribute_key = self.attrs.get("attribute_key")
        if self.attribute_key is not None:
            self._require(self.attribute_key)
        scale = self._label_scale_arg if self._label_scale_arg is not None else self.attrs.get("label_scale", 1.0)
        self.label_scale = float(scale)
        if not self.label_scale > 0:
            raise UserError(f"{self.path}: label_scale = {scale!r}; it must be a positive number")
        raw = f[self.label_key][:].astype(np.float32)
        require_finite_labels(raw, self.path, self.label_key)
        keep = self._split_mask(f, len(raw))
        if self.label_range is not None:
            keep &= (raw >= self.label_range[0]) & (raw <= self.label_range[1])
        self.rows = np.nonzero(keep)[0]
        if len(self.rows) == 0:
            raise UserError(f"{self.path}: no {self.split!r} rows"
                            + (f" with labels in {list(self.label_range)}" if self.label_range else "")
                            + "; check its `split` array (and split_codes attribute) and make the dataset again")
        self.raw_labels = raw[self.rows]
        # Divided in double precision, like every other label -> condition conversion.
        self.labels = (self.raw_labels.astype(np.float64) / self.label_scale).astype(np.float32)

    def info(self) -> dict:
        """Besides kind, channels and size: `label_unit`, `t_scale` (= label_scale), `label_values`
        (the distinct normalised training labels: the cGAN baseline's class cutoffs and the range
        seen in training come from them) and `label_range` (the file's evaluation range, in label
        units; the labels' own min and max when the file records none)."""
        values = np.unique(self.labels).astype(np.float64)
        label_range = self.attrs.get("label_range")
        if not (isinstance(label_range, list) and len(label_range) == 2):
            label_range = [float(self.raw_labels.min()), float(self.raw_labels.max())]
        return {**self._image_info(self.image_key), "label_unit": self.attrs.get("label_unit"),
                "t_scale": self.label_scale, "label_values": [float(v) for v in values],
                "label_range": [float(label_range[0]), float(label_range[1])]}

    def preview_sources(self, n: int) -> None:
        return None  # label-only models take no input image

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"image": to_tensor(self.h5[self.image_key][int(self.rows[i])]),
                "label": torch.tensor(self.labels[i], dtype=torch.float32)}
