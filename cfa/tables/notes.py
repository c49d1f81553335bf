"""What every rendering of a table shares: value formatting, provenance footnotes, the notes.

A table's cells each keep their provenance (cfa.tables.spec.assemble); the Markdown and LaTeX
writers mark each distinct provenance with a letter and list them under the table.
"""

from __future__ import annotations

from pathlib import Path

from cfa.tables.spec import REPORTED_ONLY

MISSING = "n/a"
REPORTED_CELL = "not run"


def format_value(value, row, paper: bool = False) -> str:
    # Where the paper prints "-" (an all-zero diversity), our cell shows the measured number, so a
    # reader sees that it is 0 rather than a missing value.
    if value is None:
        return "-" if (paper and row.zero_as_dash) else MISSING
    if paper and row.zero_as_dash and value == 0:
        return "-"
    return f"{value:.{row.digits}f}"


def footnotes(table: dict) -> tuple[dict, list[str]]:
    """A marker per distinct provenance of our cells, and the footnote lines."""
    marks: dict[str, str] = {}
    lines = []
    for c in table["cells"]:
        p = c["provenance"]
        if p is None:
            continue
        sig = provenance_text(p)
        if sig not in marks:
            marks[sig] = _mark(len(marks))
            lines.append(f"[{marks[sig]}] {sig}")
    return marks, lines


def _mark(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: short enough to sit beside a number."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(ord("a") + r) + s
    return s


def provenance_text(p: dict) -> str:
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
    # The metrics file is named in its own note (metrics_files_note): left out here, cells that
    # share everything else share one footnote.
    return f"data: {p['data_source']}{split}{mode}; {counts}; {lp}{interp}{fakes}; {bb}; checkpoint step {step}"


def metrics_files_note(table: dict) -> str | None:
    """Where the numbers were read: one DIR/<model>/<dataset>.json pattern when the files follow it."""
    files = {(c["dataset"], c["method"]): c["provenance"]["metrics_file"] for c in table["cells"]
             if c["provenance"] is not None and c["provenance"].get("metrics_file")}
    if not files:
        return None
    roots = {str(Path(f).parent.parent) for f in files.values()}
    if len(roots) == 1 and all(Path(f) == Path(next(iter(roots))) / m / f"{d}.json" for (d, m), f in files.items()):
        return f"metrics files: {next(iter(roots))}/<model>/<dataset>.json"
    return "metrics files: " + ", ".join(sorted(set(files.values())))


def find_cell(table: dict, block: str, metric: str, ds: str, method: str) -> dict:
    for c in table["cells"]:
        if (c["block"], c["metric"], c["dataset"], c["method"]) == (block, metric, ds, method):
            return c
    raise KeyError((block, metric, ds, method))


def is_reported(c: dict) -> bool:
    return c["status"] == REPORTED_ONLY


def notes_lines(table: dict, notes: list[str]) -> list[str]:
    lines = ["Notes:", ""]
    lines.append("- ours: this reproduction; [a], [b], ...: where each number comes from (listed below).")
    lines.append("- paper: values as reported in the paper; \"-\" in a paper column = LPIPS of a deterministic "
                 "model (all zero; our column shows the measured value); " + MISSING
                 + " = no value (missing metrics file or metric); empty paper cell = not in the paper.")
    # The rotation sets' split, sweep and mode terms (other kinds' split rules are spelled out).
    if any(c["provenance"] and c["provenance"].get("sweep") for c in table["cells"]):
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
        lines.append(f"- {', '.join(table['reported_only'])}: not trained here; the values are the paper's "
                     f"(where a value of ours would go: \"{REPORTED_CELL}\").")
    for p in table.get("protocols") or []:
        lines.append(f"- {p['label']}: {p['protocol']}")
    files = metrics_files_note(table)
    if files:
        lines.append(f"- {files}")
    lines += [f"- {n}" for n in notes]
    return lines
