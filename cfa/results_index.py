"""results/<profile>/index.md: one page with every table of the run and every figure, linked.

It is what `make demo` tells a reader to open: each table as written by `cfa table` (its Markdown
inlined, its CSV, LaTeX and JSON linked), then its figures (the evaluation figure and the sample
sweeps of every model and dataset) and each run's training curves. Paths are relative to the index,
so the folder can be moved or served as it is. Anything a table lists but the run has not produced
is named as missing, never skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from cfa.io import write_text_atomic
from cfa.tables import table_module

IMAGE_SUFFIXES = (".png", ".gif", ".jpg")


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _demote(markdown: str) -> str:
    """A table file's own '## Table N' heading becomes a sub-heading of the index."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def table_section(name: str, entry: dict, results: Path, runs: Path, out_dir: Path) -> tuple[list[str], list[str]]:
    """The index lines of one table and the files it expected but did not find."""
    module = table_module(name)
    lines = [f"## Table {module.NUMBER}", ""]
    missing = []
    md = results / f"{name}.md"
    files = [results / f"{name}.{ext}" for ext in ("md", "csv", "tex", "json", "details.json")]
    present = [p for p in files if p.is_file()]
    lines.append("Files: " + (" · ".join(f"[{p.name}]({_rel(p, out_dir)})" for p in present) or "none yet"))
    lines.append("")
    if md.is_file():
        lines += [_demote(md.read_text()), ""]
    else:
        missing.append(str(md))
    figures = getattr(module, "PAPER_FIGURES", "")
    lines += [f"### Figures of Table {module.NUMBER}" + (f" (the paper's {figures})" if figures else ""), ""]
    for model in entry["models"]:
        for ds in entry["datasets"]:
            evaluation = results / "figures" / name / "evaluation" / model / f"{ds}.png"
            samples = _images(results / "figures" / name / "samples" / model / ds)
            curves = runs / model / ds / "curves.png"
            lines.append(f"#### {model} on {ds}")
            lines.append("")
            if not evaluation.is_file() and not samples:
                missing.append(f"figures of {model} on {ds}")
            links = [p for p in [evaluation, *samples, curves] if p.is_file()]
            lines += [f"[![{p.stem}]({_rel(p, out_dir)})]({_rel(p, out_dir)})" for p in links[:2]]
            if len(links) > 2:
                lines.append("More: " + " · ".join(f"[{p.name}]({_rel(p, out_dir)})" for p in links[2:]))
            lines.append("")
    return lines, missing


def write_index(params: dict, out: str | Path, tables: list[str] | None = None) -> dict:
    """Write the index of `tables` (default: every table of params) for params' profile."""
    out = Path(out)
    results = Path(params["paths"]["results"]) / params["profile"]
    runs = Path(params["paths"]["runs"]) / params["profile"]
    names = sorted(tables or params["tables"], key=lambda n: table_module(n).NUMBER)
    lines = [f"# cfa results: profile `{params['profile']}`", "",
             "Every table of this run beside the paper's values, then its figures. Regenerate with "
             "`snakemake all` (or `dvc repro`); each number's provenance is in the table's notes.", "",
             "Contents: " + " · ".join(f"[Table {table_module(n).NUMBER}](#table-{table_module(n).NUMBER})"
                                       for n in names), ""]
    missing: list[str] = []
    for name in names:
        section, absent = table_section(name, params["tables"][name], results, runs, out.parent)
        lines += section
        missing += absent
    if missing:
        lines += ["## Not produced yet", ""] + [f"- {m}" for m in missing] + [""]
    write_text_atomic(out, "\n".join(lines).rstrip() + "\n")
    return {"path": str(out), "tables": names, "missing": missing}
