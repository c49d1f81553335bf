"""Evaluation metrics: one module per metric, registered here by name.

A metric is a `Metric` subclass whose `compute(context)` returns a `MetricResult`. The context
(`cfa.metrics.suite.EvalContext`) gives it the model's `generate`, the dataset's test protocol
(`cfa.metrics.testsets`, one per dataset kind: which images are generated, which real images they
are compared with), lazily built backbones and the cached real-data statistics. `tables.<t>.metrics`
in params.yaml names the metrics a table reports; `cfa evaluate --metrics` runs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from cfa.errors import UserError

# metric name -> "module:Class"; imported lazily.
METRICS = {
    "fid": "cfa.metrics.fid:FID",
    "lpips_diversity": "cfa.metrics.lpips_diversity:LPIPSDiversity",
    "interpolation": "cfa.metrics.interpolation:InterpolationError",
}


@dataclass
class MetricResult:
    """values: the headline numbers (what tables read); detail: the protocol and spread, stored
    under the metric's name; counts: image and pair counts; extras: top-level record entries."""

    values: dict
    detail: dict | None = None
    counts: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


class Metric:
    name = ""
    # Dataset kinds whose test protocol gives what the metric needs (None: every kind).
    kinds: tuple[str, ...] | None = None

    def compute(self, context) -> MetricResult:
        raise NotImplementedError


def metric_class(name: str) -> type[Metric]:
    if name not in METRICS:
        raise UserError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}")
    module, cls = METRICS[name].split(":")
    return getattr(importlib.import_module(module), cls)
