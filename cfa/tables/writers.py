"""Write an assembled table (cfa.tables.spec.assemble) as Markdown, CSV, LaTeX and DVC JSON.

Layout: one column per (dataset, method, ours|paper), so the reproduction and the paper's number
sit side by side. Our cells carry a footnote marker naming their provenance (data source, image
counts, backbones); the caption says loudly when the data are procedural or the backbones random.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cfa.io import write_json_atomic, write_text_atomic
from cfa.tables.spec import NOT_IN_PAPER, TableSpec, caption

MISSING = "n/a"


def _fmt(value, row, paper: bool = False) -> str:
    if value is None:
        return "-" if (paper and row.zero_as_dash) else MISSING
    if row.zero_as_dash and value == 0:
        return "-"
    return f"{value:.{row.digits}f}"


def _footnotes(table: dict) -> tuple[dict, list[str]]:
    """A marker per distinct provenance of our cells, and the footnote lines."""
    marks: dict[str, str] = {}
    lines = []
    for c in table["cells"]:
        p = c["provenance"]
        if p is None:
            continue
        sig = _provenance_text(p)
        if sig not in marks:
            marks[sig] = chr(ord("a") + len(marks)) if len(marks) < 26 else str(len(marks))
            lines.append(f"[{marks[sig]}] {sig}")
    return marks, lines


def _provenance_text(p: dict) -> str:
    counts = (f"FID {p['fid_images_fake']} generated vs {p['fid_images_real']} real images"
              if p["fid_images_fake"] is not None else "no FID")
    if (p["fid_images_fake"] or 0) < 2048 or (p["fid_images_real"] or 0) < 2048:
        counts += " (< 2048: covariance not full rank, FID biased up)"
    lp = f"LPIPS over {p['lpips_pairs']} pairs" if p["lpips_pairs"] is not None else "no LPIPS"
    bb = "pretrained backbones" if p["backbones_pretrained"] else "OFFLINE random-weight backbones"
    step = p["checkpoint_step"]
    interp = (f" interpolation over {p['interp_images']} unseen images;"
              if p.get("interp_images") is not None else "")
    return (f"data: {p['data_source']}; {counts}; {lp};{interp} {bb}; checkpoint step {step}; "
            f"{p['metrics_file']}")


def _columns(spec: TableSpec):
    for ds in spec.datasets:
        for method, label in spec.methods:
            yield ds, method, label


def _dataset_label(spec: TableSpec, ds: str) -> str:
    """A dataset the paper's table has no column for (e.g. Waymo in Table 3) is marked."""
    return ds if ds in spec.paper or not spec.paper else f"{ds} ({NOT_IN_PAPER})"


def _cell(table: dict, block: str, metric: str, ds: str, method: str) -> dict:
    for c in table["cells"]:
        if (c["block"], c["metric"], c["dataset"], c["method"]) == (block, metric, ds, method):
            return c
    raise KeyError((block, metric, ds, method))



def _row_cells(table: dict, block, row, cols, marks: dict, mark_format: str) -> list[str]:
    """(ours, paper) cell texts of one table row; `mark_format` places the provenance footnote mark."""
    cells = []
    for ds, method, _ in cols:
        c = _cell(table, block.title, row.key, ds, method)
        ours = _fmt(c["ours"], row)
        if c["provenance"] is not None and c["ours"] is not None:
            ours += mark_format.format(marks[_provenance_text(c["provenance"])])
        if not block.has_paper:
            paper = ""
        elif not c.get("in_paper", True):
            paper = MISSING  # the paper has no such cell: not its "-" (a deterministic model's zero)
        else:
            paper = _fmt(c["paper"], row, paper=True)
        cells += [ours, paper]
    return cells

def markdown(spec: TableSpec, table: dict) -> str:
    marks, notes = _footnotes(table)
    cols = list(_columns(spec))
    out = [f"## {caption(spec, table)}", ""]
    out.append("| Metric | " + " | ".join(f"{_dataset_label(spec, ds)} {label} (ours) | "
                                           f"{_dataset_label(spec, ds)} {label} (paper)"
                                           for ds, _, label in cols) + " |")
    out.append("|---|" + "---:|" * (2 * len(cols)))
    for block in spec.blocks:
        out.append(f"| **{block.title}** |" + " |" * (2 * len(cols)))
        for row in block.rows:
            cells = _row_cells(table, block, row, cols, marks, " [{}]")
            out.append(f"| {row.label} | " + " | ".join(cells) + " |")
    out.append("")
    out += notes_lines(table, notes)
    return "\n".join(out) + "\n"


def notes_lines(table: dict, notes: list[str]) -> list[str]:
    lines = ["Notes:", ""]
    lines.append("- paper: values as reported in the paper; \"-\" = LPIPS of a deterministic model "
                 "(all zero); " + MISSING + " = no value (missing metrics file or metric).")
    if table["missing"]:
        lines.append("- missing (no metrics file): "
                     + ", ".join(f"{d} {m}" for d, m in table["missing"]))
    if table["ignored_files"]:
        lines.append("- ignored (dataset/model not in this table): " + ", ".join(table["ignored_files"]))
    lines += [f"- {n}" for n in notes]
    return lines


def csv_text(spec: TableSpec, table: dict) -> str:
    buf = io.StringIO()
    fields = ["table", "block", "metric", "dataset", "method", "ours", "paper", "status",
              "data_source", "fid_images_fake", "fid_images_real", "lpips_pairs", "interp_images",
              "backbones_pretrained", "checkpoint_step", "data_sha256", "metrics_file"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for c in table["cells"]:
        p = c["provenance"] or {}
        w.writerow({"table": spec.number, "block": c["block"], "metric": c["metric"],
                    "dataset": c["dataset"], "method": c["method"],
                    "ours": "" if c["ours"] is None else repr(c["ours"]),
                    "paper": "" if c["paper"] is None else repr(c["paper"]), "status": c["status"],
                    **{k: ("" if p.get(k) is None else p.get(k)) for k in fields[8:]}})
    return buf.getvalue()


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        s = s.replace(a, b)
    return s.replace(r"\textbackslash\{\}", r"\textbackslash{}")


def latex(spec: TableSpec, table: dict) -> str:
    marks, notes = _footnotes(table)
    cols = list(_columns(spec))
    n_methods = len(spec.methods)
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
             r"\caption{" + _tex_escape(caption(spec, table)) + "}",
             rf"\label{{tab:table{spec.number}}}",
             r"\begin{tabular}{l" + "rr" * len(cols) + "}", r"\toprule",
             "Datasets & " + " & ".join(
                 rf"\multicolumn{{{2 * n_methods}}}{{c}}{{{_tex_escape(_dataset_label(spec, ds))}}}"
                 for ds in spec.datasets) + r" \\",
             "Methods & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex_escape(label)}}}"
                                       for _, _, label in cols) + r" \\",
             " & " + " & ".join("ours & paper" for _ in cols) + r" \\", r"\midrule"]
    for block in spec.blocks:
        lines.append(rf"\multicolumn{{{1 + 2 * len(cols)}}}{{l}}{{\textit{{{_tex_escape(block.title)}}}}} \\")
        for row in block.rows:
            cells = _row_cells(table, block, row, cols, marks, "$^{{{}}}$")
            lines.append(row.latex + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
              r"\begin{minipage}{\linewidth}\tiny"]
    lines += [_tex_escape(n) + r"\\" for n in notes_lines(table, notes)[2:]]
    lines += [r"\end{minipage}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def metrics_json(spec: TableSpec, table: dict) -> dict:
    """DVC metrics: {dataset: {method: {metric: number|null}}} plus paper values and provenance."""
    out: dict = {}
    paper: dict = {}
    provenance: dict = {}
    for c in table["cells"]:
        out.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["ours"]
        if c["paper"] is not None or any(b.has_paper and b.title == c["block"] for b in spec.blocks):
            paper.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["paper"]
        if c["provenance"] is not None:
            provenance.setdefault(c["dataset"], {})[c["method"]] = c["provenance"]
    return {**out, "paper": paper, "provenance": provenance, "caption": caption(spec, table),
            "data_sources": table["data_sources"], "backbones_pretrained": table["backbones_pretrained"],
            "missing": table["missing"]}


def write_all(spec: TableSpec, table: dict, prefix: str | Path) -> list[Path]:
    """Write PREFIX.md, .csv, .tex and .json atomically; returns the paths."""
    prefix = Path(prefix)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".md", ".csv", ".tex", ".json")]
    write_text_atomic(paths[0], markdown(spec, table))
    write_text_atomic(paths[1], csv_text(spec, table))
    write_text_atomic(paths[2], latex(spec, table))
    write_json_atomic(paths[3], metrics_json(spec, table))
    return paths
