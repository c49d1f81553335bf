"""Rotation sets written by `cfa render` (kind `rotation`, layout in docs/DESIGN.md).

`RotationPairs` serves training items {source, target, t, label} for the paired models: source =
the object's smallest-angle image (0 deg in RA-20 & co, 0.1 deg in RC-49), target = an image of the
chosen split, t = (angle - source angle) / 90, label = the target's angle in degrees. The HDF5 file
is opened lazily in each process (an h5py handle does not survive fork into DataLoader workers);
small sets are read into memory once.

`RotationArrays` / `load_rotation_arrays` hold the rows below 90 deg in memory for evaluation.

Both read `cfa render`'s layout and CcGAN's RC-49 file as it is downloaded (no `object_ids`,
`split` or `kind`: object ids from `types`, the split from `indx_train` and a rule,
`cfa.datasets.rotation_h5`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from cfa.datasets.rotation_h5 import read_index
from cfa.errors import UserError
from cfa.images import to_float

KIND = "rotation"
SPLIT_CODES = {"train": 0, "test": 1, "unused": 2}
SPLIT_TRAIN, SPLIT_TEST = SPLIT_CODES["train"], SPLIT_CODES["test"]
IN_MEMORY_LIMIT_BYTES = 1 << 30
# t = angle gap / T_SCALE_DEG: the authors normalise angles to [0, 1] over 90 degrees.
T_SCALE_DEG = 90.0
MAX_ANGLE = 90.0


class Row(NamedTuple):
    object_index: int
    angle: float
    row: int


class RotationPairs(Dataset):
    """Items {source, target, t, label} of one split of a rotation set.

    split: "train", "test" or "all" (every row below `max_angle`, whatever its split code).
    in_memory: read all images into memory on first use; None = when they are under 1 GiB.
    """

    kind = KIND
    has_inputs = True

    def __init__(self, path: str | os.PathLike, split: str = "train", max_angle: float = 90.0,
                 in_memory: bool | None = None):
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"rotation set {self.path} does not exist; make it with `cfa render ... "
                            f"--out {self.path}` (see `cfa render --help`, or run the pipeline's render stage)")
        if split not in ("train", "test", "all"):
            raise UserError(f"split {split!r}: choose train, test or all")
        self.split, self.max_angle = split, float(max_angle)
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise UserError(f"cannot read {self.path} as HDF5 ({e}); render it again with `cfa render`") from None
        with f:
            index = read_index(f, self.path)
            self.labels = index.labels.astype(np.float32)
            self.types = index.types
            self.split_codes = index.split
            self.object_ids = index.object_ids
            self.split_rule = index.split_rule
            self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            self.image_shape = tuple(f["images"].shape[1:])
            images_bytes = int(np.prod(f["images"].shape))
        self.in_memory = images_bytes < IN_MEMORY_LIMIT_BYTES if in_memory is None else bool(in_memory)
        n_objects = len(self.object_ids)
        # The source row of each object: its smallest angle.
        self.source_rows = np.empty(n_objects, dtype=np.int64)
        for obj in range(n_objects):
            rows = np.flatnonzero(self.types == obj)
            if rows.size == 0:
                raise UserError(f"{self.path}: object {obj} ({self.object_ids[obj]}) has no images")
            self.source_rows[obj] = rows[np.argmin(self.labels[rows])]
        self.rows = self._select_rows(split)
        self._row_index = {(int(self.types[r]), round(float(self.labels[r]), 3)): int(r)
                           for r in range(len(self.labels))}
        self._file = self._images = None
        self._pid = None

    # ---- selection -------------------------------------------------------------------------

    def _select_rows(self, split: str) -> np.ndarray:
        keep = self.labels < self.max_angle
        if split != "all":
            keep &= self.split_codes == SPLIT_CODES[split]
        return np.flatnonzero(keep)

    def items(self, split: str | None = None) -> list[Row]:
        """(object index, angle, row) of every image of a split (default: this dataset's), object-major."""
        rows = self.rows if split is None else self._select_rows(split)
        return [Row(int(self.types[r]), float(self.labels[r]), int(r)) for r in rows]

    def angles(self, split: str | None = None) -> list[float]:
        """The distinct angles of a split (default: this dataset's), ascending."""
        rows = self.rows if split is None else self._select_rows(split)
        return sorted({round(float(a), 3) for a in self.labels[rows]})

    def source_angle(self, object_index: int) -> float:
        return float(self.labels[self.source_rows[object_index]])

    # ---- images ----------------------------------------------------------------------------

    def _image_store(self):
        # Reopen after fork/spawn: the handle (and cache) of another process is not usable here.
        if self._pid != os.getpid():
            import h5py

            self._file = h5py.File(self.path, "r")
            self._images = self._file["images"][:] if self.in_memory else self._file["images"]
            self._pid = os.getpid()
        return self._images

    def raw_image(self, row: int) -> np.ndarray:
        return np.asarray(self._image_store()[int(row)])

    def image(self, object_index: int, angle: float) -> torch.Tensor:
        """The true image of an object at an angle, as a float32 [-1, 1] (C,H,W) tensor."""
        key = (int(object_index), round(float(angle), 3))
        if key not in self._row_index:
            raise KeyError(f"{self.path}: no image of object {object_index} at {angle} deg")
        return to_float(self.raw_image(self._row_index[key]))

    def source_images(self) -> torch.Tensor:
        """One source image per object, (M, C, H, W) float32 in [-1, 1]."""
        return torch.stack([to_float(self.raw_image(r)) for r in self.source_rows])

    def preview_sources(self, n: int) -> torch.Tensor | None:
        """Source images of the first n objects that have items in this split (None if none do)."""
        objects = sorted({int(self.types[r]) for r in self.rows})[:n]
        if not objects:
            return None
        return torch.stack([to_float(self.raw_image(self.source_rows[o])) for o in objects])

    def info(self) -> dict:
        """What a model needs to know about the data: kind, image shape, label units."""
        return {"kind": KIND, "channels": int(self.image_shape[0]), "size": int(self.image_shape[-1]),
                "label_unit": "deg", "t_scale": T_SCALE_DEG}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = int(self.rows[i])
        src = int(self.source_rows[self.types[row]])
        t = (float(self.labels[row]) - float(self.labels[src])) / T_SCALE_DEG
        return {"source": to_float(self.raw_image(src)), "target": to_float(self.raw_image(row)),
                "t": torch.tensor(t, dtype=torch.float32),
                "label": torch.tensor(float(self.labels[row]), dtype=torch.float32)}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = state["_images"] = state["_pid"] = None
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = self._images = self._pid = None


@dataclass
class RotationArrays:
    """The rows of a rotation set with angle < 90 deg (the ones training and testing use).

    images uint8 (N,3,S,S); angles, types, split per row; source_index[o] = row of object o's
    smallest-angle image (the source, 0 deg)."""
    images: np.ndarray
    angles: np.ndarray
    types: np.ndarray
    split: np.ndarray
    object_ids: list[str]
    source_index: np.ndarray
    attrs: dict

    def test_rows(self) -> np.ndarray:
        return np.flatnonzero(self.split == SPLIT_TEST)

    def t_of(self, rows: np.ndarray) -> np.ndarray:
        """Condition t = (angle - source angle) / 90 for each row."""
        src_angle = self.angles[self.source_index[self.types[rows]]]
        return ((self.angles[rows] - src_angle) / 90.0).astype(np.float32)


def load_rotation_arrays(path: str | Path) -> RotationArrays:
    """Read a rotation-set HDF5 (layout in docs/DESIGN.md), keeping rows with angle < 90."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"rotation set {path} does not exist; make it with `cfa render`")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"cannot read {path} as HDF5 ({e}); pass the rotation set's .h5 file "
                        f"written by `cfa render`, or render it again") from None
    with f:
        index = read_index(f, path)
        angles_all, types_all, split_all = index.labels, index.types, index.split.astype(np.int64)
        keep = np.flatnonzero(angles_all < MAX_ANGLE)
        # Rows are object-major with ascending angle, so the kept rows form runs: read by slices
        # (fast with the per-image gzip chunks), not by fancy indexing.
        images = np.empty((len(keep),) + f["images"].shape[1:], dtype=np.uint8)
        pos = 0
        for run in np.split(keep, np.flatnonzero(np.diff(keep) != 1) + 1):
            if len(run):
                images[pos:pos + len(run)] = f["images"][run[0]:run[-1] + 1]
                pos += len(run)
        object_ids = index.object_ids
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
        attrs["split_rule"] = index.split_rule
        attrs.setdefault("source", "ccgan-h5" if index.layout == "ccgan" else "unknown")
    angles, types, split = angles_all[keep], types_all[keep], split_all[keep]
    n_objects = int(types.max()) + 1 if len(types) else 0
    source_index = np.empty(n_objects, dtype=np.int64)
    for o in range(n_objects):
        rows = np.flatnonzero(types == o)
        if not len(rows):
            raise UserError(f"{path}: object {o} has no image below {MAX_ANGLE} deg")
        source_index[o] = rows[np.argmin(angles[rows])]
    return RotationArrays(images, angles, types, split, object_ids, source_index, attrs)
