"""Table specs and their assembly from metrics files (`cfa evaluate` outputs).

A table is a spec (datasets x methods, metric rows with the paper's values, extra blocks of our own
metrics) filled from metrics JSONs; every cell keeps where its number came from. The spec is built
from params.yaml (`tables.<name>`: which datasets, models and metrics) and the table's own module
(`cfa/tables/tableN.py`: labels, rows, layout and the paper's values). A dataset or model the paper
does not have shows up as an extra column or row, marked as not in the paper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cfa.errors import UserError
from cfa.tables import paper_values


NOT_IN_PAPER = "not in the paper"
REPORTED_ONLY = "reported only (no code of ours: the paper's number)"
LAYOUTS = ("metrics_as_rows", "methods_as_rows")


@dataclass(frozen=True)
class MetricRow:
    key: str                      # name in the DVC metrics JSON
    label: str                    # row label (Markdown; LaTeX gets its own)
    latex: str
    get: Callable[[dict], float | None]   # value from one metrics file
    metric: str = ""              # the registered metric that produces it (cfa.metrics)
    better: str = "down"          # "up" or "down"
    digits: int = 2
    zero_as_dash: bool = False    # the paper prints an all-zero diversity as "-" (ours shows the number)
    protocol: str = ""            # how the number is measured (a footnote of the table)


@dataclass(frozen=True)
class Block:
    title: str
    rows: tuple[MetricRow, ...]
    has_paper: bool = True


@dataclass(frozen=True)
class TableSpec:
    number: int
    title: str
    datasets: tuple[str, ...]
    methods: tuple[tuple[str, str], ...]     # (model key in metrics files, column label)
    blocks: tuple[Block, ...]
    paper: dict = field(default_factory=dict)
    # The data sources the paper's numbers come from, and how a caption names them: any other
    # source (procedural, simulated at demo size, ...) is called out as not comparable.
    paper_sources: tuple[str, ...] = ("shapenet",)
    paper_data: str = "ShapeNet renders"
    # Methods shown with the paper's numbers only (baselines without code of ours); they are in
    # `methods` too, first, and never have a metrics file.
    reported_only: tuple[str, ...] = ()
    # Column titles per dataset (default: the dataset's key).
    dataset_labels: dict = field(default_factory=dict)
    # "metrics_as_rows" (metric rows x (dataset, method) columns, Table 2) or "methods_as_rows"
    # (method rows x (dataset, metric) columns, the paper's Table 1).
    layout: str = "metrics_as_rows"

    def dataset_label(self, ds: str) -> str:
        return self.dataset_labels.get(ds, ds)

    def in_paper(self, ds: str, method: str) -> bool:
        return method in self.paper.get(ds, {})


def value(*keys: str) -> Callable[[dict], float | None]:
    """A getter of a number inside a metrics record, e.g. value("values", "fid")."""
    def get(m: dict):
        cur = m
        for k in keys:
            if not isinstance(cur, dict) or k not in cur or cur[k] is None:
                return None
            cur = cur[k]
        return float(cur)
    return get


def build_spec(module, table: dict) -> TableSpec:
    """The spec of one table: the module's rows and labels over params' datasets, models and metrics.

    `module` is the table's module (cfa/tables/tableN.py); `table` its params entry
    {datasets, models, metrics}. Rows whose metric is not in the entry's metrics are left out.
    """
    wanted = set(table["metrics"])
    blocks = []
    for block in module.BLOCKS:
        rows = tuple(r for r in block.rows if r.metric in wanted)
        if rows:
            blocks.append(Block(block.title, rows, block.has_paper))
    # Baselines the paper reports but we do not run (module.REPORTED: key -> label) join the trained
    # models; PAPER_ORDER (optional) puts all methods in the paper's order, others follow in order.
    reported = {m: label for m, label in getattr(module, "REPORTED", {}).items() if m not in table["models"]}
    methods = tuple(reported.items()) + tuple(
        (m, module.MODEL_LABELS.get(m, f"{m} ({NOT_IN_PAPER})")) for m in table["models"])
    order = list(getattr(module, "PAPER_ORDER", ()))
    methods = tuple(sorted(methods, key=lambda ml: order.index(ml[0]) if ml[0] in order else len(order)))
    return TableSpec(number=module.NUMBER, title=module.TITLE, datasets=tuple(table["datasets"]),
                     methods=methods, blocks=tuple(blocks), paper=module.PAPER,
                     paper_sources=module.PAPER_SOURCES, paper_data=module.PAPER_DATA,
                     reported_only=tuple(reported), dataset_labels=dict(getattr(module, "DATASET_LABELS", {})),
                     layout=getattr(module, "LAYOUT", "metrics_as_rows"))


def load_metrics_files(paths) -> dict[tuple[str, str], dict]:
    """{(dataset, model): metrics} from `cfa evaluate` outputs; duplicates are an error."""
    found: dict[tuple[str, str], dict] = {}
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise UserError(f"metrics file {p} does not exist; make it with `cfa evaluate --run ...`")
        try:
            m = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"metrics file {p} is not valid JSON ({e})") from None
        if not isinstance(m, dict) or "model" not in m or "dataset" not in m or "values" not in m:
            raise UserError(f"{p} is not a `cfa evaluate --run` metrics file (needs model, dataset "
                            f"and values keys)")
        key = (m["dataset"], m["model"])
        if key in found:
            raise UserError(f"two metrics files for dataset {key[0]}, model {key[1]}: "
                            f"{found[key]['_file']} and {p}; pass one of them")
        m["_file"] = str(p)
        found[key] = m
    return found


def cell_provenance(m: dict) -> dict:
    """What a cell's number rests on: data source, split, sweep, network mode, image counts,
    backbones, checkpoint."""
    counts = m.get("counts", {})
    lpips = m.get("lpips_diversity") if isinstance(m.get("lpips_diversity"), dict) else {}
    protocol = (m.get("data") or {}).get("protocol") or {}
    return {
        "metrics_file": m.get("_file"),
        "data_source": (m.get("data") or {}).get("source"),
        "data_sha256": (m.get("data") or {}).get("sha256"),
        "split_rule": (m.get("data") or {}).get("split_rule"),
        "sweep": (m.get("data") or {}).get("sweep"),
        "network_mode": m.get("network_mode"),
        "fid_images_fake": counts.get("fid_fake"),
        "fid_images_real": counts.get("fid_real"),
        "lpips_pairs": counts.get("lpips_pairs"),
        "interp_images": counts.get("interpolation"),
        # None: no metric of this cell used an ImageNet backbone (e.g. Table 4's own networks).
        "backbones_pretrained": (None if not m.get("backbones")
                                 else bool(m["backbones"].get("pretrained", False))),
        "checkpoint_step": (m.get("checkpoint") or {}).get("step"),
        "lpips_inputs": counts.get("lpips_inputs"),
        "lpips_version": lpips.get("lpips_version"),
        "protocol_note": protocol.get("note"),
        "fakes_per_label": counts.get("fakes_per_label"),
        "eval_labels": counts.get("eval_labels"),
    }


def assemble(spec: TableSpec, metrics: dict[tuple[str, str], dict]) -> dict:
    """The table as plain data: cells with ours/paper values and provenance, plus caption notes."""
    unknown = sorted(k for k in metrics if k[0] not in spec.datasets
                     or k[1] not in dict(spec.methods) or k[1] in spec.reported_only)
    cells = []
    for block in spec.blocks:
        for row in block.rows:
            for ds in spec.datasets:
                for method, label in spec.methods:
                    m = metrics.get((ds, method)) if method not in spec.reported_only else None
                    if method in spec.reported_only:
                        status = REPORTED_ONLY
                    elif m is None:
                        status = "missing metrics file"
                    else:
                        status = "ok" if row.get(m) is not None else "value not in metrics file"
                    cells.append({
                        "block": block.title, "metric": row.key, "dataset": ds, "method": method,
                        "method_label": label,
                        "ours": row.get(m) if m is not None else None,
                        "paper": (spec.paper.get(ds, {}).get(method, {}).get(row.key)
                                  if block.has_paper else None),
                        # False: the paper has no such cell (a model or dataset not in the paper).
                        "in_paper": bool(block.has_paper and spec.in_paper(ds, method)),
                        "status": status,
                        "provenance": cell_provenance(m) if m is not None else None,
                    })
    present = [cell_provenance(m) for k, m in metrics.items() if k not in unknown]
    sources = sorted({p["data_source"] or "unknown" for p in present})
    offline = any(p["backbones_pretrained"] is False for p in present)
    other_sources = [s for s in sources if s not in spec.paper_sources]
    small_fid = sorted({(p["fid_images_fake"], p["fid_images_real"]) for p in present
                        if (p["fid_images_fake"] or 0) < 2048 or (p["fid_images_real"] or 0) < 2048},
                       key=str)
    warnings = []
    if other_sources:
        warnings.append(f"{' and '.join(s.upper() for s in other_sources)} DATA, not {spec.paper_data}")
    if offline:
        warnings.append("OFFLINE BACKBONES (randomly initialised Inception/AlexNet)")
    missing = sorted({(c["dataset"], c["method"]) for c in cells if c["status"] == "missing metrics file"})
    return {
        "table": spec.number, "title": spec.title, "cells": cells,
        "data_sources": sources, "backbones_pretrained": not offline and bool(present),
        "caption_warnings": warnings, "small_fid_counts": small_fid,
        "missing": [list(x) for x in missing], "ignored_files": [metrics[k]["_file"] for k in unknown],
        "paper_source": paper_values.SOURCE,
        "reported_only": [label for method, label in spec.methods if method in spec.reported_only],
        "protocols": [{"metric": row.key, "label": row.label, "protocol": row.protocol}
                      for block in spec.blocks for row in block.rows if row.protocol],
    }


def caption(spec: TableSpec, table: dict) -> str:
    base = f"Table {spec.number}: {spec.title}."
    if table["caption_warnings"]:
        return (base + " WARNING: " + "; ".join(table["caption_warnings"])
                + " - values are NOT comparable to the paper's.")
    return base
