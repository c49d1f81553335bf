"""The metrics registry: metric name -> its module's `Metric` class (imported when used)."""

from __future__ import annotations

import importlib

from cfa.errors import UserError
from cfa.metrics.base import Metric

# metric name -> "module:Class"; imported lazily.
METRICS = {
    "fid": "cfa.metrics.fid:FID",
    "lpips_diversity": "cfa.metrics.lpips_diversity:LPIPSDiversity",
    "interpolation": "cfa.metrics.interpolation:InterpolationError",
    "ae_fid": "cfa.metrics.ae_fid:AEFID",
    "label_score": "cfa.metrics.label_score:LabelScore",
    "intra_fid": "cfa.metrics.intra_fid:IntraFID",
    "diversity": "cfa.metrics.diversity:Diversity",
    "niqe": "cfa.metrics.niqe:IntraNIQE",
}


def metric_class(name: str) -> type[Metric]:
    if name not in METRICS:
        raise UserError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}")
    module, cls = METRICS[name].split(":")
    return getattr(importlib.import_module(module), cls)
