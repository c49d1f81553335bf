"""Write an assembled table (cfa.tables.spec.assemble): Markdown (cfa.tables.markdown), CSV (one
line per cell with its provenance), LaTeX (ours and the paper's value in column pairs), the DVC
metrics JSON (our values only) and a details JSON (paper values, provenance, caption).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cfa.io import write_json_atomic, write_text_atomic
from cfa.tables.markdown import markdown
from cfa.tables.notes import (REPORTED_CELL, find_cell, footnotes, format_value, is_reported, notes_lines,
                              provenance_text)
from cfa.tables.spec import TableSpec, caption



def _columns(spec: TableSpec):
    for ds in spec.datasets:
        for method, label in spec.methods:
            yield ds, method, label


def _row_cells(table: dict, block, row, cols, marks: dict, mark_format: str) -> list[str]:
    """(ours, paper) cell texts of one table row; `mark_format` places the provenance footnote mark."""
    cells = []
    for ds, method, _ in cols:
        c = find_cell(table, block.title, row.key, ds, method)
        cells += _cell_texts(c, row, block, marks, mark_format)
    return cells


def _cell_texts(c: dict, row, block, marks: dict, mark_format: str) -> list[str]:
    """(ours, paper) texts of one cell: blank ours for a reported-only method, blank paper where the
    paper has no such method or dataset."""
    if is_reported(c):
        ours = REPORTED_CELL
    else:
        ours = format_value(c["ours"], row)
        if c["provenance"] is not None and c["ours"] is not None:
            ours += mark_format.format(marks[provenance_text(c["provenance"])])
    paper = format_value(c["paper"], row, paper=True) if block.has_paper and c.get("in_paper", True) else ""
    return [ours, paper]


def _methods_as_rows(spec: TableSpec, table: dict, marks: dict, mark_format: str) -> list[tuple[str, list[str]]]:
    """(method label, cell texts) per method: for each dataset, each metric row, (ours, paper)."""
    out = []
    for method, label in spec.methods:
        texts = []
        for ds in spec.datasets:
            for block in spec.blocks:
                for row in block.rows:
                    c = find_cell(table, block.title, row.key, ds, method)
                    texts += _cell_texts(c, row, block, marks, mark_format)[:2 if block.has_paper else 1]
        out.append((label, texts))
    return out


def _metric_columns(spec: TableSpec):
    """(dataset, block, row) per value column group of the methods-as-rows layout."""
    for ds in spec.datasets:
        for block in spec.blocks:
            for row in block.rows:
                yield ds, block, row


def csv_text(spec: TableSpec, table: dict) -> str:
    buf = io.StringIO()
    fields = ["table", "block", "metric", "dataset", "method", "ours", "paper", "status",
              "data_source", "fid_images_fake", "fid_images_real", "lpips_pairs", "interp_images",
              "backbones_pretrained", "checkpoint_step", "data_sha256", "metrics_file", "lpips_inputs",
              "lpips_version", "protocol_note", "split_rule", "sweep", "network_mode"]
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


def _latex_methods_as_rows(spec: TableSpec, table: dict) -> str:
    marks, notes = footnotes(table)
    groups = [(ds, [(b, r) for d, b, r in _metric_columns(spec) if d == ds]) for ds in spec.datasets]
    width = lambda cols: sum(2 if b.has_paper else 1 for b, _ in cols)  # noqa: E731
    n_values = sum(width(cols) for _, cols in groups)
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
             r"\caption{" + _tex_escape(caption(spec, table)) + "}",
             rf"\label{{tab:table{spec.number}}}",
             r"\begin{tabular}{l" + "r" * n_values + "}", r"\toprule",
             "Datasets & " + " & ".join(rf"\multicolumn{{{width(cols)}}}{{c}}{{{_tex_escape(spec.dataset_label(ds))}}}"
                                        for ds, cols in groups) + r" \\",
             "Metric & " + " & ".join(rf"\multicolumn{{{2 if b.has_paper else 1}}}{{c}}{{{r.latex}}}"
                                      for _, cols in groups for b, r in cols) + r" \\",
             "Method & " + " & ".join("ours & paper" if b.has_paper else "ours"
                                      for _, cols in groups for b, _ in cols) + r" \\", r"\midrule"]
    for label, texts in _methods_as_rows(spec, table, marks, "$^{{{}}}$"):
        lines.append(_tex_escape(label) + " & " + " & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\tiny"]
    lines += [_tex_escape(n) + r"\\" for n in notes_lines(table, notes)[2:]]
    lines += [r"\end{minipage}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex(spec: TableSpec, table: dict) -> str:
    if spec.layout == "methods_as_rows":
        return _latex_methods_as_rows(spec, table)
    marks, notes = footnotes(table)
    cols = list(_columns(spec))
    n_methods = len(spec.methods)
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
             r"\caption{" + _tex_escape(caption(spec, table)) + "}",
             rf"\label{{tab:table{spec.number}}}",
             r"\begin{tabular}{l" + "rr" * len(cols) + "}", r"\toprule",
             "Datasets & " + " & ".join(
                 rf"\multicolumn{{{2 * n_methods}}}{{c}}{{{_tex_escape(spec.dataset_label(ds))}}}"
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
    """The DVC metrics of a table: our values only, {tableN: {dataset: {method: {metric: value}}}}.

    `dvc metrics diff` then lists each value once as tableN.DATASET.METHOD.METRIC; the paper's
    values, provenance and captions live in the details file beside it (`details_json`), so a
    changed count or path never shows up as a changed metric.
    """
    values: dict = {}
    for c in table["cells"]:
        if not is_reported(c):  # no number of ours exists for a reported-only baseline
            values.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["ours"]
    return {f"table{spec.number}": values}


def details_json(spec: TableSpec, table: dict) -> dict:
    """Everything else a reader of the values needs: the paper's values, each cell's provenance,
    the caption and its warnings, what is missing."""
    paper: dict = {}
    provenance: dict = {}
    for c in table["cells"]:
        if c["in_paper"] and any(b.has_paper and b.title == c["block"] for b in spec.blocks):
            paper.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["paper"]
        if c["provenance"] is not None:
            provenance.setdefault(c["dataset"], {})[c["method"]] = c["provenance"]
    return {"table": spec.number, "title": spec.title, "caption": caption(spec, table), "paper": paper,
            "provenance": provenance, "data_sources": table["data_sources"],
            "backbones_pretrained": table["backbones_pretrained"], "missing": table["missing"],
            "reported_only": list(spec.reported_only), "protocols": table.get("protocols") or []}


def write_all(spec: TableSpec, table: dict, prefix: str | Path) -> list[Path]:
    """Write PREFIX.md, .csv, .tex, .json (DVC metrics: values only) and .details.json atomically;
    returns the paths."""
    prefix = Path(prefix)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".md", ".csv", ".tex", ".json", ".details.json")]
    write_text_atomic(paths[0], markdown(spec, table))
    write_text_atomic(paths[1], csv_text(spec, table))
    write_text_atomic(paths[2], latex(spec, table))
    write_json_atomic(paths[3], metrics_json(spec, table))
    write_json_atomic(paths[4], details_json(spec, table))
    return paths
