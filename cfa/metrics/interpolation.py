"""Unseen-angle interpolation error: the paper's Figure 3 claim, made measurable.

Train on angles at a coarse step (split `grid:5`: 0, 5, 10, ... deg seen), generate at the angles
in between (2.5, 7.5, ... deg, the test split) and compare with the true renders there. Next to it,
the same error when the output at the NEAREST SEEN angle is used instead: a model that really
interpolates beats its own nearest-seen output; one that only memorised the training angles does
not. The error of simply copying the true nearest-seen frame is reported too, as a scale.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from cfa.errors import UserError

Generate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SPLIT_TRAIN, SPLIT_TEST = 0, 1
MAX_ANGLE = 90.0


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
        missing = [k for k in ("images", "labels", "types", "split") if k not in f]
        if missing:
            raise UserError(f"{path} is not a rotation set: missing datasets {missing} "
                            f"(expected the layout of docs/DESIGN.md, written by `cfa render`)")
        angles_all = f["labels"][:].astype(np.float64)
        types_all = f["types"][:].astype(np.int64)
        split_all = f["split"][:].astype(np.int64)
        keep = np.flatnonzero(angles_all < MAX_ANGLE)
        # Rows are object-major with ascending angle, so the kept rows form runs: read by slices
        # (fast with the per-image gzip chunks), not by fancy indexing.
        images = np.empty((len(keep),) + f["images"].shape[1:], dtype=np.uint8)
        pos = 0
        for run in np.split(keep, np.flatnonzero(np.diff(keep) != 1) + 1):
            if len(run):
                images[pos:pos + len(run)] = f["images"][run[0]:run[-1] + 1]
                pos += len(run)
        object_ids = ([s.decode() if isinstance(s, bytes) else str(s) for s in f["object_ids"][:]]
                      if "object_ids" in f else [str(i) for i in range(int(types_all.max()) + 1)])
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
    angles, types, split = angles_all[keep], types_all[keep], split_all[keep]
    n_objects = int(types.max()) + 1 if len(types) else 0
    source_index = np.empty(n_objects, dtype=np.int64)
    for o in range(n_objects):
        rows = np.flatnonzero(types == o)
        if not len(rows):
            raise UserError(f"{path}: object {o} has no image below {MAX_ANGLE} deg")
        source_index[o] = rows[np.argmin(angles[rows])]
    return RotationArrays(images, angles, types, split, object_ids, source_index, attrs)


def generate_rows(generate: Generate, data: RotationArrays, rows: np.ndarray, t: np.ndarray,
                  batch_size: int = 50, progress: bool = True, desc: str = "generate") -> np.ndarray:
    """Outputs as uint8 (len(rows),3,S,S): for row r, generate(source of r's object, t[r])."""
    out = np.empty((len(rows),) + data.images.shape[1:], dtype=np.uint8)
    with torch.inference_mode():
        for start in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch",
                          file=sys.stderr, disable=not progress, leave=False):
            r = rows[start:start + batch_size]
            src = torch.from_numpy(data.images[data.source_index[data.types[r]]]).float()
            x = src.div(127.5).sub(1.0)
            y = generate(x, torch.from_numpy(np.ascontiguousarray(t[start:start + batch_size])))
            out[start:start + len(r)] = to_uint8(y)
    return out


def to_uint8(y: torch.Tensor) -> np.ndarray:
    """[-1,1] float -> uint8, rounding as saving a PNG would."""
    return ((y.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def nearest_seen_rows(data: RotationArrays, rows: np.ndarray) -> np.ndarray:
    """For each row, the train-split row of the same object whose angle is nearest (ties: lower)."""
    out = np.empty(len(rows), dtype=np.int64)
    for o in np.unique(data.types[rows]):
        seen = np.flatnonzero((data.types == o) & (data.split == SPLIT_TRAIN))
        if not len(seen):
            raise UserError(f"object {data.object_ids[o]} has no train-split (seen) angle below "
                            f"{MAX_ANGLE} deg, so no nearest seen angle exists")
        mine = np.flatnonzero(data.types[rows] == o)
        gap = np.abs(data.angles[rows[mine]][:, None] - data.angles[seen][None, :])
        out[mine] = seen[np.argmin(gap, axis=1)]
    return out


def mean_abs_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image mean |a - b| in [0,1] pixel units, for uint8 arrays."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.float64) / 255.0
    return diff.reshape(len(a), -1).mean(axis=1)


def _errors(pred: np.ndarray, truth: np.ndarray, lpips_model, batch_size: int) -> dict:
    res = {"mae": float(mean_abs_error(pred, truth).mean()), "count": int(len(pred))}
    if lpips_model is not None:
        from cfa.metrics.lpips_diversity import lpips_distances
        res["lpips"] = float(lpips_distances(lpips_model, pred, truth, batch_size).mean())
    return res


def interpolation_error(data: RotationArrays, *, generate: Generate | None = None,
                        unseen_outputs: np.ndarray | None = None,
                        lpips_model=None, rows: np.ndarray | None = None,
                        batch_size: int = 50, progress: bool = True) -> dict:
    """Errors at the unseen (test-split) angles.

    unseen: the output at the true angle vs the true render; nearest_seen_output: the output at
    the nearest seen angle vs the true render; nearest_seen_truth: the true nearest-seen frame vs
    the true render (copying the training frame, a scale for the other two).
    Pass `unseen_outputs` (uint8, one per row of `rows`) to reuse outputs already generated.
    """
    rows = data.test_rows() if rows is None else np.asarray(rows)
    if not len(rows):
        raise UserError("the rotation set has no test-split (unseen) angles below 90 deg; render "
                        "it with a split that holds angles out, e.g. --split grid:5")
    if generate is None and unseen_outputs is None:
        raise ValueError("give generate or unseen_outputs")
    if unseen_outputs is None:
        unseen_outputs = generate_rows(generate, data, rows, data.t_of(rows), batch_size, progress,
                                       desc="generate unseen")
    seen_rows = nearest_seen_rows(data, rows)
    # The nearest-seen output depends only on (object, seen angle): generate each once.
    uniq, inverse = np.unique(seen_rows, return_inverse=True)
    if generate is None:
        raise ValueError("the nearest-seen outputs need `generate`")
    seen_outputs = generate_rows(generate, data, uniq, data.t_of(uniq), batch_size, progress,
                                 desc="generate nearest seen")[inverse]
    truth = data.images[rows]
    gaps = np.abs(data.angles[rows] - data.angles[seen_rows])
    return {
        "unseen": _errors(unseen_outputs, truth, lpips_model, batch_size),
        "nearest_seen_output": _errors(seen_outputs, truth, lpips_model, batch_size),
        "nearest_seen_truth": _errors(data.images[seen_rows], truth, lpips_model, batch_size),
        "count": int(len(rows)),
        "objects": int(len(np.unique(data.types[rows]))),
        "unseen_angles": int(len(np.unique(np.round(data.angles[rows], 4)))),
        "mean_gap_to_nearest_seen_deg": float(gaps.mean()),
        "pixel_units": "mae in [0,1] pixel units; lpips AlexNet",
    }
