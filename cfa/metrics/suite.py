"""The evaluation suite: an inference-ready model, a dataset file and metric names -> a metrics record.

    record, testset = evaluate(objective.generate, "data/demo/rotation/RA-20.h5",
                               ["fid", "lpips_diversity", "interpolation"], settings=params["evaluate"],
                               pretrained=True, seed=0, device="cpu", stats_path="RA-20.npz")

The dataset's kind picks its test protocol (`cfa.metrics.testsets`); each metric reads what it
needs from the shared `EvalContext`, where the generated images and the backbones are made once.
"""

from __future__ import annotations

from pathlib import Path

from cfa.errors import UserError
from cfa.metrics.base import MetricResult
from cfa.metrics.registry import metric_class
from cfa.metrics.testsets import TestSet, open_testset


class EvalContext:
    """What metrics share: `generate`, the test protocol, backbones built on first use, statistics."""

    def __init__(self, generate, testset: TestSet, *, pretrained: bool, seed: int, device,
                 stats_path: str | Path | None = None, evalnets_dir: str | Path | None = None,
                 settings: dict | None = None, progress: bool = True, model=None):
        self.generate = generate
        self.model = model
        self.testset = testset
        self.pretrained = bool(pretrained)
        self.seed = int(seed)
        self.device = device
        self.stats_path = stats_path
        self.evalnets_dir = None if evalnets_dir is None else Path(evalnets_dir)
        self.settings = settings or testset.settings
        self.progress = progress
        self.batch_size = testset.batch_size
        self._backbones: dict[str, tuple] = {}
        self._evalnets: dict[str, tuple] = {}

    def _backbone(self, name: str, **options):
        if name not in self._backbones:
            from cfa.metrics import backbones

            build = {"inception": backbones.inception_v3_fid, "lpips": backbones.lpips_alex}[name.split("@")[0]]
            self._backbones[name] = build(self.pretrained, self.device, **options)
        return self._backbones[name][0]

    def inception(self):
        """pytorch-fid's Inception (pool3 features)."""
        return self._backbone("inception")

    def lpips(self, version: str = "0.1"):
        """LPIPS with the AlexNet trunk and the lpips package's `version` linear heads (0.1 or 0.0)."""
        return self._backbone("lpips" if version == "0.1" else f"lpips@{version}", version=version)

    def provenance(self, name: str) -> dict:
        return self._backbones[name][1]

    def evalnet(self, kind: str) -> tuple:
        """(network, meta) of an evaluation network trained on this dataset's real training images;
        kind "niqe" gives ({label: NIQEModel}, meta)."""
        if kind not in self._evalnets:
            from cfa.metrics.evalnets import load_trained

            if self.evalnets_dir is None:
                raise UserError(f"this metric needs the dataset's {kind} (an evaluation network): pass "
                                f"--evalnets DIR (made by `cfa evalnet`)")
            self._evalnets[kind] = load_trained(self.evalnets_dir, kind, self.testset.sha256, self.device)
        return self._evalnets[kind]

    def backbones_provenance(self) -> dict | None:
        """One summary of the backbones used, in the order they were first used (None: no backbone)."""
        from cfa.metrics.backbones import combined_provenance

        used = [prov for _, prov in self._backbones.values()]
        return combined_provenance(*used) if used else None


def default_metrics(params: dict, dataset: str, kind: str) -> list[str]:
    """The metrics of the params.yaml table that lists `dataset`; with none, every metric for its kind."""
    from cfa.metrics.registry import METRICS

    for table in (params.get("tables") or {}).values():
        if dataset in table["datasets"]:
            return list(table["metrics"])
    return [n for n in METRICS if metric_class(n).kinds is None or kind in metric_class(n).kinds]


def evalnets_needed(metric_names: list[str]) -> list[str]:
    """The evaluation networks the named metrics read, in a stable order."""
    order = ("autoencoder", "regressor", "classifier", "niqe")
    wanted = {net for name in metric_names for net in metric_class(name).evalnets}
    return [n for n in order if n in wanted]


def check_metrics(names: list[str], kind: str) -> list:
    """The metric objects for `names`, each checked against the dataset kind."""
    metrics = [metric_class(n)() for n in names]
    for m in metrics:
        if m.kinds is not None and kind not in m.kinds:
            raise UserError(f"metric {m.name!r} applies to {' or '.join(m.kinds)} datasets, not to a "
                            f"{kind!r} dataset; remove it from the table's metrics")
    return metrics


def evaluate(generate, data: str | Path, metric_names: list[str], *, settings: dict, pretrained: bool,
             seed: int, device, stats_path: str | Path | None = None, evalnets_dir: str | Path | None = None,
             trained_on_sha256: str | None = None, progress: bool = True, model=None) -> tuple[dict, TestSet]:
    """(record, test protocol): the record holds `values` (every metric's headline numbers), one
    detail block per metric, `counts`, the `data` description, metric extras and `backbones`.

    `model` is the objective behind `generate`, for protocols that draw the model's own random
    conditions (`Objective.random_t`); protocols whose conditions come from the data ignore it."""
    testset = open_testset(data, settings, seed, progress, model=model)
    metrics = check_metrics(list(metric_names), testset.kind)
    # What the metrics read from other stages must be at hand before any image is generated.
    nets = evalnets_needed(list(metric_names))
    if nets and evalnets_dir is None:
        raise UserError(f"the metrics {', '.join(m.name for m in metrics if m.evalnets)} read the dataset's "
                        f"evaluation networks ({', '.join(nets)}): pass --evalnets DIR (made by `cfa evalnet`)")
    if "fid" in metric_names and stats_path is None:
        raise UserError("the fid metric needs the real images' statistics: pass --fid-stats STATS.npz "
                        "(made by `cfa stats`)")
    context = EvalContext(generate, testset, pretrained=pretrained, seed=seed, device=device,
                          stats_path=stats_path, evalnets_dir=evalnets_dir, progress=progress, model=model)
    results: list[tuple[str, MetricResult]] = [(m.name, m.compute(context)) for m in metrics]
    record: dict = {"values": {}}
    for _, result in results:
        record["values"].update(result.values)
    for name, result in results:
        if result.detail is not None:
            record[name] = result.detail
    counts: dict = {}
    for _, result in results:
        counts.update(result.counts)
    record["counts"] = {**counts, **testset.counts()}
    record["data"] = {**testset.describe(), "trained_on_sha256": trained_on_sha256}
    for _, result in results:
        record.update(result.extras)
    record["backbones"] = context.backbones_provenance()
    return record, testset
