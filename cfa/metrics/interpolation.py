"""Unseen-angle interpolation error: the paper's Figure 3 claim, made measurable.

Train on angles at a coarse step (split `grid:5`: 0, 5, 10, ... deg seen), generate at the angles
in between (2.5, 7.5, ... deg, the test split) and compare with the true renders there. Next to it,
the same error when the output at the NEAREST SEEN angle is used instead: a model that really
interpolates beats its own nearest-seen output; one that only memorised the training angles does
not. The error of simply copying the true nearest-seen frame is reported too, as a scale.
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from cfa.datasets.rotation import MAX_ANGLE, SPLIT_TRAIN, RotationArrays
from cfa.errors import UserError
from cfa.images import to_float, to_uint8
from cfa.metrics.base import Metric, MetricResult

Generate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def generate_rows(generate: Generate, data: RotationArrays, rows: np.ndarray, t: np.ndarray,
                  batch_size: int = 50, progress: bool = True, desc: str = "generate") -> np.ndarray:
    """Outputs as uint8 (len(rows),3,S,S): for row r, generate(source of r's object, t[r])."""
    out = np.empty((len(rows),) + data.images.shape[1:], dtype=np.uint8)
    with torch.inference_mode():
        for start in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch",
                          file=sys.stderr, disable=not progress, leave=False):
            r = rows[start:start + batch_size]
            x = to_float(data.images[data.source_index[data.types[r]]])
            y = generate(x, torch.from_numpy(np.ascontiguousarray(t[start:start + batch_size])))
            out[start:start + len(r)] = to_uint8(y)
    return out


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


class InterpolationError(Metric):
    """Errors at the unseen (test-split) angles of a rotation set, beside the nearest seen angle's."""

    name = "interpolation"
    kinds = ("rotation",)

    def compute(self, context) -> MetricResult:
        ts = context.testset
        interp = interpolation_error(ts.data, generate=context.generate, unseen_outputs=ts.fakes(context.generate),
                                     lpips_model=context.lpips(), rows=ts.rows, batch_size=context.batch_size,
                                     progress=context.progress)
        values = {
            "interp_lpips_unseen": interp["unseen"]["lpips"],
            "interp_lpips_nearest_seen": interp["nearest_seen_output"]["lpips"],
            "interp_mae_unseen": interp["unseen"]["mae"],
            "interp_mae_nearest_seen": interp["nearest_seen_output"]["mae"],
            "interp_lpips_nearest_seen_truth": interp["nearest_seen_truth"]["lpips"],
            "interp_mae_nearest_seen_truth": interp["nearest_seen_truth"]["mae"],
        }
        return MetricResult(values=values, detail=interp, counts={"interpolation": interp["count"]})
