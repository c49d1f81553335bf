"""What every metric is: a `Metric` whose `compute(context)` returns a `MetricResult`."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # Evaluation networks trained on the dataset's real images that it reads (`cfa evalnet`):
    # "autoencoder", "regressor", "classifier", "niqe".
    evalnets: tuple[str, ...] = ()

    def compute(self, context) -> MetricResult:
        raise NotImplementedError
