"""A table as Markdown a person can read in a terminal or on a web page.

The paper's layout: Tables 2 and 3 put metrics in rows and datasets in column groups (one column per
method); Tables 1 and 4 put methods in rows (datasets as column groups, one column per metric). Our
value sits in its row; the paper's value for the same cell sits in a compact "↳ paper" row right
under it. Column groups that do not fit in WIDTH characters continue in a second table below, so no
line is much longer than WIDTH. Footnote letters name each cell's provenance (data, counts,
backbones, checkpoint, metrics file); they are listed under the tables with the other notes.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from cfa.tables.notes import (REPORTED_CELL, find_cell, footnotes, format_value, is_reported, notes_lines,
                              provenance_text)
from cfa.tables.spec import NOT_IN_PAPER, TableSpec, caption

WIDTH = 160
PAPER_ROW = "↳ paper"


@dataclass
class Grid:
    """Rows x column groups of cell texts, before layout.

    `groups`: (group title, [column titles]); `rows`: (label, [text per column]) or a section
    title (label, None) shown as a bold row across the table.
    """
    corner: str
    groups: list[tuple[str, list[str]]]
    rows: list[tuple[str, list[str] | None]] = field(default_factory=list)


def split_label(label: str) -> tuple[str, str]:
    """"BasisGAN (our run of our implementation)" -> ("BasisGAN", "our run of our implementation")."""
    if label.endswith(")") and " (" in label:
        short, note = label.split(" (", 1)
        return short, note[:-1]
    return label, ""


def _short_method(spec: TableSpec, method: str) -> str:
    return split_label(dict(spec.methods)[method])[0]


def _short_dataset(spec: TableSpec, ds: str) -> str:
    return split_label(spec.dataset_label(ds))[0]


def _mark(c: dict, marks: dict) -> str:
    return f" [{marks[provenance_text(c['provenance'])]}]" if c["provenance"] is not None else ""


def metrics_as_rows(spec: TableSpec, table: dict, marks: dict) -> Grid:
    """Metric rows (each followed by the paper's values), datasets x methods columns."""
    cols = [(ds, m) for ds in spec.datasets for m, _ in spec.methods]
    titles = {}
    for ds, m in cols:
        # A column's provenance is one metrics file: its footnote letter goes on the column title.
        c = next((find_cell(table, b.title, r.key, ds, m) for b in spec.blocks for r in b.rows), None)
        titles[ds, m] = _short_method(spec, m) + (_mark(c, marks) if c is not None else "")
    grid = Grid("Metric", [(_short_dataset(spec, ds), [titles[ds, m] for m, _ in spec.methods])
                           for ds in spec.datasets])
    for block in spec.blocks:
        grid.rows.append((block.title, None))
        for row in block.rows:
            cells = [find_cell(table, block.title, row.key, ds, m) for ds, m in cols]
            grid.rows.append((row.label, [REPORTED_CELL if is_reported(c) else format_value(c["ours"], row)
                                          for c in cells]))
            if block.has_paper and any(c["in_paper"] for c in cells):
                grid.rows.append((PAPER_ROW, [format_value(c["paper"], row, paper=True) if c["in_paper"] else ""
                                              for c in cells]))
    return grid


def methods_as_rows(spec: TableSpec, table: dict, marks: dict) -> Grid:
    """Method rows (ours, then the paper's values), datasets x metrics columns. A method the paper
    reports but we do not run has its paper row only."""
    cols = [(ds, b, r) for ds in spec.datasets for b in spec.blocks for r in b.rows]
    grid = Grid("Method", [(_short_dataset(spec, ds), [r.label for d, _, r in cols if d == ds])
                           for ds in spec.datasets])
    for method, _ in spec.methods:
        cells = [find_cell(table, b.title, r.key, ds, method) for ds, b, r in cols]
        label = _short_method(spec, method)
        if not all(is_reported(c) for c in cells):
            texts, marked = [], set()
            for (ds, _, row), c in zip(cols, cells):
                text = format_value(c["ours"], row)
                if ds not in marked and c["ours"] is not None:   # one letter per (method, dataset)
                    text += _mark(c, marks)
                    marked.add(ds)
                texts.append(text)
            grid.rows.append((label, texts))
            label = PAPER_ROW
        if any(c["in_paper"] for c in cells):
            label = f"{label} (paper)" if label != PAPER_ROW else label
            grid.rows.append((label, [format_value(c["paper"], r, paper=True) if c["in_paper"] and b.has_paper
                                      else "" for (_, b, r), c in zip(cols, cells)]))
    return grid


LAYOUTS = {"metrics_as_rows": metrics_as_rows, "methods_as_rows": methods_as_rows}


def _column_widths(grid: Grid) -> list[int]:
    titles = [(group if j == 0 else "", t) for group, ts in grid.groups for j, t in enumerate(ts)]
    return [max([len(g), len(t)] + [len(cells[k]) for _, cells in grid.rows if cells is not None])
            for k, (g, t) in enumerate(titles)]


def _chunks(grid: Grid, widths: list[int], label_width: int) -> list[list[int]]:
    """Column indices per printed table: as many whole column groups as fit in WIDTH."""
    chunks, current, used, k = [], [], label_width + 4, 0
    for _, titles in grid.groups:
        cols = list(range(k, k + len(titles)))
        k += len(titles)
        w = sum(widths[c] + 3 for c in cols)
        if current and used + w > WIDTH:
            chunks.append(current)
            current, used = [], label_width + 4
        current += cols
        used += w
    return chunks + [current] if current else chunks


def render(grid: Grid) -> list[str]:
    """Aligned Markdown tables: the group title over its first column, column titles in the first
    body row, section rows in bold with empty cells."""
    label_width = max(len(grid.corner), *(len(label) for label, cells in grid.rows if cells is not None))
    widths = _column_widths(grid)
    group_titles = [group if j == 0 else "" for group, ts in grid.groups for j in range(len(ts))]
    col_titles = [t for _, ts in grid.groups for t in ts]
    out = []
    for idx in _chunks(grid, widths, label_width):
        def line(label, texts):
            return "| " + " | ".join([label.ljust(label_width)]
                                     + [t.rjust(widths[i]) for t, i in zip(texts, idx)]) + " |"

        if out:
            out.append("")
        out.append(line("", [group_titles[i] for i in idx]))
        out.append("|" + "|".join(["-" * (label_width + 2)] + ["-" * (widths[i] + 1) + ":" for i in idx]) + "|")
        out.append(line(grid.corner, [col_titles[i] for i in idx]))
        for label, cells in grid.rows:
            if cells is None:   # a section title: not padded, so a long title does not widen the table
                out.append(f"| **{label}** |" + " |" * len(idx))
            else:
                out.append(line(label, [cells[i] for i in idx]))
    return out


def _legend(spec: TableSpec) -> list[str]:
    """What the short column and row names stand for (the full labels and model keys)."""
    methods = []
    for method, label in spec.methods:
        short, note = split_label(label)
        methods.append(f"{short} = `{method}`" + (f" ({note})" if note else ""))
    datasets = []
    for ds in spec.datasets:
        short, note = split_label(spec.dataset_label(ds))
        if spec.paper and ds not in spec.paper and NOT_IN_PAPER not in note:
            note = f"{note}, {NOT_IN_PAPER}" if note else NOT_IN_PAPER
        if short != ds or note:
            datasets.append((f"{short} = `{ds}`" if short != ds else f"`{ds}`") + (f" ({note})" if note else ""))
    lines = ["- methods: " + "; ".join(methods) + "."]
    if datasets:
        lines.append("- datasets: " + "; ".join(datasets) + ".")
    return lines


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    indent = "  " if line.startswith("- ") else ""
    return textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def markdown(spec: TableSpec, table: dict) -> str:
    marks, notes = footnotes(table)
    title, _, warning = caption(spec, table).partition(" WARNING: ")
    out = [f"## {title}"]
    if warning:
        out += ["", *_wrap(f"**WARNING: {warning}**")]
    out.append("")
    out += render(LAYOUTS[spec.layout](spec, table, marks))
    out.append("")
    notes_block = notes_lines(table, notes)
    out += notes_block[:2] + [w for line in _legend(spec) + notes_block[2:] for w in _wrap(line)]
    return "\n".join(out) + "\n"
