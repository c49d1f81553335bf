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
from cfa.tables.spec import REPORTED_ONLY, TableSpec, caption

MISSING = "n/a"
REPORTED_CELL = "not run"


def _fmt(value, row, paper: bool = False) -> str:
    # Where the paper prints "-" (an all-zero diversity), our cell shows the measured number, so a
    # reader sees that it is 0 rather than a missing value.
    if value is None:
        return "-" if (paper and row.zero_as_dash) else MISSING
    if paper and row.zero_as_dash and value == 0:
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
    if p.get("lpips_version") and p["lpips_pairs"] is not None:
        lp += f" of {p.get('lpips_inputs')} inputs (LPIPS v{p['lpips_version']})"
    if p.get("protocol_note"):
        lp += f" - {p['protocol_note']}"
    interp = (f"; interpolation over {p['interp_images']} unseen images"
              if p.get("interp_images") is not None else "")
    bb = {True: "pretrained backbones", False: "OFFLINE random-weight backbones",
          None: "no ImageNet backbone"}[p["backbones_pretrained"]]
    step = p["checkpoint_step"]
    fakes = ("" if p.get("fakes_per_label") is None else
             f"; fakes per label {p['fakes_per_label']} at {p['eval_labels']} labels")
    # Split and sweep exist for rotation sets only; the network mode for every evaluated model.
    split = "".join(f"; {name} {p[key]}" for key, name in (("split_rule", "split"), ("sweep", "sweep"))
                    if p.get(key))
    mode = f"; networks in {p['network_mode']} mode" if p.get("network_mode") else ""
    return (f"data: {p['data_source']}{split}{mode}; {counts}; {lp}{interp}{fakes}; {bb}; checkpoint step {step}; "
            f"{p['metrics_file']}")


def _columns(spec: TableSpec):
    for ds in spec.datasets:
        for method, label in spec.methods:
            yield ds, method, label


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
        cells += _cell_texts(c, row, block, marks, mark_format)
    return cells


def _cell_texts(c: dict, row, block, marks: dict, mark_format: str) -> list[str]:
    """(ours, paper) texts of one cell: blank ours for a reported-only method, blank paper where the
    paper has no such method or dataset."""
    if c["status"] == REPORTED_ONLY:
        ours = REPORTED_CELL
    else:
        ours = _fmt(c["ours"], row)
        if c["provenance"] is not None and c["ours"] is not None:
            ours += mark_format.format(marks[_provenance_text(c["provenance"])])
    paper = _fmt(c["paper"], row, paper=True) if block.has_paper and c.get("in_paper", True) else ""
    return [ours, paper]


def _methods_as_rows(spec: TableSpec, table: dict, marks: dict, mark_format: str) -> list[tuple[str, list[str]]]:
    """(method label, cell texts) per method: for each dataset, each metric row, (ours, paper)."""
    out = []
    for method, label in spec.methods:
        texts = []
        for ds in spec.datasets:
            for block in spec.blocks:
                for row in block.rows:
                    c = _cell(table, block.title, row.key, ds, method)
                    texts += _cell_texts(c, row, block, marks, mark_format)[:2 if block.has_paper else 1]
        out.append((label, texts))
    return out


def _metric_columns(spec: TableSpec):
    """(dataset, block, row) per value column group of the methods-as-rows layout."""
    for ds in spec.datasets:
        for block in spec.blocks:
            for row in block.rows:
                yield ds, block, row


def markdown(spec: TableSpec, table: dict) -> str:
    if spec.layout == "methods_as_rows":
        return _markdown_methods_as_rows(spec, table)
    marks, notes = _footnotes(table)
    cols = list(_columns(spec))
    out = [f"## {caption(spec, table)}", ""]
    out.append("| Metric | " + " | ".join(f"{ds} {label} (ours) | {ds} {label} (paper)"
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


def _markdown_methods_as_rows(spec: TableSpec, table: dict) -> str:
    marks, notes = _footnotes(table)
    head, rule = ["Method"], ["---"]
    for ds, block, row in _metric_columns(spec):
        head.append(f"{spec.dataset_label(ds)} {row.label} (ours)")
        rule.append("---:")
        if block.has_paper:
            head.append(f"{spec.dataset_label(ds)} {row.label} (paper)")
            rule.append("---:")
    out = [f"## {caption(spec, table)}", "", "| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    for label, texts in _methods_as_rows(spec, table, marks, " [{}]"):
        out.append(f"| {label} | " + " | ".join(texts) + " |")
    out.append("")
    out += notes_lines(table, notes)
    return "\n".join(out) + "\n"


def notes_lines(table: dict, notes: list[str]) -> list[str]:
    lines = ["Notes:", ""]
    lines.append("- paper: values as reported in the paper; \"-\" in a paper column = LPIPS of a deterministic "
                 "model (all zero; our column shows the measured value); " + MISSING
                 + " = no value (missing metrics file or metric); empty paper cell = not in the paper.")
    if any(c["provenance"] and c["provenance"].get("split_rule") for c in table["cells"]):
        lines.append("- split: how the dataset's train/test rows were chosen (grid:STEP = seen angles every STEP deg; "
                     "indx_train = CcGAN's split); sweep: test-split = every test row below 90 deg, official = "
                     "the authors' test.py, t = 2.5, 5, ..., 42.5 deg; mode: eval = BatchNorm running statistics "
                     "and no dropout, official = train mode as the authors' test.py (seeded).")
    if table["missing"]:
        lines.append("- missing (no metrics file): "
                     + ", ".join(f"{d} {m}" for d, m in table["missing"]))
    if table["ignored_files"]:
        lines.append("- ignored (dataset/model not in this table): " + ", ".join(table["ignored_files"]))
    if table.get("reported_only"):
        lines.append(f"- {', '.join(table['reported_only'])}: not trained here; its (paper) column holds the "
                     f"values the paper reports, its (ours) column says \"{REPORTED_CELL}\".")
    for p in table.get("protocols") or []:
        lines.append(f"- {p['label']}: {p['protocol']}")
    lines += [f"- {n}" for n in notes]
    return lines


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
    marks, notes = _footnotes(table)
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
    marks, notes = _footnotes(table)
    cols = list(_columns(spec))
    n_methods = len(spec.methods)
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
             r"\caption{" + _tex_escape(caption(spec, table)) + "}",
             rf"\label{{tab:table{spec.number}}}",
             r"\begin{tabular}{l" + "rr" * len(cols) + "}", r"\toprule",
             "Datasets & " + " & ".join(rf"\multicolumn{{{2 * n_methods}}}{{c}}{{{_tex_escape(ds)}}}"
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
        if c["status"] != REPORTED_ONLY:  # no number of ours exists for a reported-only baseline
            out.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["ours"]
        if c["paper"] is not None or any(b.has_paper and b.title == c["block"] for b in spec.blocks):
            paper.setdefault(c["dataset"], {}).setdefault(c["method"], {})[c["metric"]] = c["paper"]
        if c["provenance"] is not None:
            provenance.setdefault(c["dataset"], {})[c["method"]] = c["provenance"]
    return {**out, "paper": paper, "provenance": provenance, "caption": caption(spec, table),
            "data_sources": table["data_sources"], "backbones_pretrained": table["backbones_pretrained"],
            "missing": table["missing"], "reported_only": list(spec.reported_only)}


def write_all(spec: TableSpec, table: dict, prefix: str | Path) -> list[Path]:
    """Write PREFIX.md, .csv, .tex and .json atomically; returns the paths."""
    prefix = Path(prefix)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".md", ".csv", ".tex", ".json")]
    write_text_atomic(paths[0], markdown(spec, table))
    write_text_atomic(paths[1], csv_text(spec, table))
    write_text_atomic(paths[2], latex(spec, table))
    write_json_atomic(paths[3], metrics_json(spec, table))
    return paths
