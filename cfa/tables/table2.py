"""Table specs and their assembly from metrics files (`cfa evaluate` outputs).

A table is a spec (datasets x methods, metric rows with the paper's values, extra blocks of our own
metrics) filled from metrics JSONs. Every cell keeps where its number came from. Table 2 is defined
here; Tables 1, 3 and 4 are new `TableSpec`s with the same machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cfa.errors import UserError
from cfa.tables import paper_values


@dataclass(frozen=True)
class MetricRow:
    key: str                      # name in the DVC metrics JSON
    label: str                    # row label (Markdown; LaTeX gets its own)
    latex: str
    get: Callable[[dict], float | None]   # value from one metrics file
    better: str = "down"          # "up" or "down"
    digits: int = 2
    zero_as_dash: bool = False    # the paper prints an all-zero diversity as "-"


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


def _path(*keys: str) -> Callable[[dict], float | None]:
    def get(m: dict):
        cur = m
        for k in keys:
            if not isinstance(cur, dict) or k not in cur or cur[k] is None:
                return None
            cur = cur[k]
        return float(cur)
    return get


TABLE2 = TableSpec(
    number=2,
    title="Paired continuous image-to-image translation on the rotation sets (Pix2Pix vs ours)",
    datasets=("RC-49", "RCA-20", "RA-20", "RL-20", "RT-20"),
    methods=(("pix2pix", "Pix2Pix"), ("pix2pix-cfa", "Ours")),
    blocks=(
        Block("Paper metrics", (
            MetricRow("lpips", "LPIPS ↑", r"LPIPS $\uparrow$", _path("values", "lpips_diversity"),
                      better="up", digits=4, zero_as_dash=True),
            MetricRow("fid", "FID ↓", r"FID $\downarrow$", _path("values", "fid"), digits=2),
        )),
        Block("Unseen-angle interpolation (ours, not in the paper)", (
            MetricRow("interp_lpips_unseen", "Interp. LPIPS, output at unseen angle ↓",
                      r"Interp.\ LPIPS unseen $\downarrow$",
                      _path("values", "interp_lpips_unseen"), digits=4),
            MetricRow("interp_lpips_nearest_seen", "Interp. LPIPS, nearest seen angle's output ↓",
                      r"Interp.\ LPIPS nearest seen $\downarrow$",
                      _path("values", "interp_lpips_nearest_seen"), digits=4),
            MetricRow("interp_mae_unseen", "Interp. MAE, output at unseen angle ↓",
                      r"Interp.\ MAE unseen $\downarrow$", _path("values", "interp_mae_unseen"),
                      digits=4),
            MetricRow("interp_mae_nearest_seen", "Interp. MAE, nearest seen angle's output ↓",
                      r"Interp.\ MAE nearest seen $\downarrow$",
                      _path("values", "interp_mae_nearest_seen"), digits=4),
        ), has_paper=False),
    ),
    paper=paper_values.TABLE2,
)

SPECS = {2: TABLE2}


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
    """What a cell's number rests on: data source, image counts, backbones, checkpoint."""
    counts = m.get("counts", {})
    return {
        "metrics_file": m.get("_file"),
        "data_source": m.get("data", {}).get("source"),
        "data_sha256": m.get("data", {}).get("sha256"),
        "fid_images_fake": counts.get("fid_fake"),
        "fid_images_real": counts.get("fid_real"),
        "lpips_pairs": counts.get("lpips_pairs"),
        "interp_images": counts.get("interpolation"),
        "backbones_pretrained": bool(m.get("backbones", {}).get("pretrained", False)),
        "checkpoint_step": m.get("checkpoint", {}).get("step"),
    }


def assemble(spec: TableSpec, metrics: dict[tuple[str, str], dict]) -> dict:
    """The table as plain data: cells with ours/paper values and provenance, plus caption notes."""
    unknown = sorted(k for k in metrics if k[0] not in spec.datasets
                     or k[1] not in dict(spec.methods))
    cells = []
    for block in spec.blocks:
        for row in block.rows:
            for ds in spec.datasets:
                for method, label in spec.methods:
                    m = metrics.get((ds, method))
                    cells.append({
                        "block": block.title, "metric": row.key, "dataset": ds, "method": method,
                        "method_label": label,
                        "ours": row.get(m) if m is not None else None,
                        "paper": (spec.paper.get(ds, {}).get(method, {}).get(row.key)
                                  if block.has_paper else None),
                        "status": "ok" if m is not None and row.get(m) is not None
                        else ("missing metrics file" if m is None else "value not in metrics file"),
                        "provenance": cell_provenance(m) if m is not None else None,
                    })
    present = [cell_provenance(m) for k, m in metrics.items() if k not in unknown]
    sources = sorted({p["data_source"] or "unknown" for p in present})
    offline = any(not p["backbones_pretrained"] for p in present)
    non_shapenet = [s for s in sources if s != "shapenet"]
    small_fid = sorted({(p["fid_images_fake"], p["fid_images_real"]) for p in present
                        if (p["fid_images_fake"] or 0) < 2048 or (p["fid_images_real"] or 0) < 2048},
                       key=str)
    warnings = []
    if non_shapenet:
        warnings.append(f"{' and '.join(s.upper() for s in non_shapenet)} DATA, not ShapeNet renders")
    if offline:
        warnings.append("OFFLINE BACKBONES (randomly initialised Inception/AlexNet)")
    missing = sorted({(c["dataset"], c["method"]) for c in cells if c["status"] == "missing metrics file"})
    return {
        "table": spec.number, "title": spec.title, "cells": cells,
        "data_sources": sources, "backbones_pretrained": not offline and bool(present),
        "caption_warnings": warnings, "small_fid_counts": small_fid,
        "missing": [list(x) for x in missing], "ignored_files": [metrics[k]["_file"] for k in unknown],
        "paper_source": paper_values.SOURCE,
    }


def caption(spec: TableSpec, table: dict) -> str:
    base = f"Table {spec.number}: {spec.title}. Ours = this reproduction; paper = values as reported."
    if table["caption_warnings"]:
        return (base + " WARNING: " + "; ".join(table["caption_warnings"])
                + " - values are NOT comparable to the paper's.")
    return base
