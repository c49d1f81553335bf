"""`cfa table 1` on fixture metric files: the paper's layout (methods as rows), reported-only
baselines, the BasisGAN row as our run, the deterministic Pix2Pix row, protocol footnotes."""

import csv
import json

from cfa.tables import paper_values
from pipeline.cli import main

SETS = ("facades", "maps", "night2day", "edges2shoes", "edges2handbags")


def metrics_fixture(dataset, model, *, lpips=0.2, fid=90.0, source="pix2pix", pretrained=True, inputs=100,
                    note=None):
    return {
        "model": model, "dataset": dataset,
        "values": {"fid": fid, "lpips_diversity": lpips},
        "lpips_diversity": {"lpips": lpips, "lpips_version": "0.0", "inputs": inputs},
        "counts": {"fid_fake": 106, "fid_real": 106, "lpips_pairs": 19 * inputs, "lpips_inputs": inputs},
        "data": {"source": source, "sha256": "e" * 64,
                 "protocol": {"lpips_version": "0.0", "note": note}},
        "backbones": {"pretrained": pretrained, "note": "x"},
        "checkpoint": {"step": 80000},
    }


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def test_table1_rows_columns_and_reported_baselines(tmp_path):
    files = [_write(tmp_path, "a.json", metrics_fixture("facades", "pix2pix-cfa-image", lpips=0.25, fid=91.5)),
             _write(tmp_path, "b.json", metrics_fixture("facades", "basisgan", lpips=0.2, fid=95.25)),
             _write(tmp_path, "c.json", metrics_fixture("facades", "pix2pix-image", lpips=0.0, fid=120.0))]
    assert main(["table", "1", "--metrics", *files, "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "table1.md").read_text()
    lines = md.splitlines()
    assert lines[0].startswith("## Table 1:") and "WARNING" not in md
    assert max(len(line) for line in lines) <= 160
    table = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("| ")]
    # The paper's layout: datasets as column groups, one column per metric, one row per method.
    assert [c for c in table[0] if c] == ["labels→facades", "map→satellite", "night→day", "edges→shoes",
                                          "edges→handbags"]
    assert table[1][:3] == ["Method", "LPIPS ↑", "FID ↓"] and len(table[1]) == 1 + 5 * 2
    labels = [r[0] for r in table[2:]]
    assert labels == ["BicycleGAN (paper)", "MSGAN (paper)", "BasisGAN", "↳ paper", "Ours", "↳ paper",
                      "Pix2Pix, deterministic"]
    rows = table[2:]
    # Reported baselines: the paper's values only.
    assert rows[0][1:3] == ["0.1413", "98.85"] and rows[1][-2:] == ["0.2280", "89.96"]
    assert rows[2][1:3] == ["0.2000 [a]", "95.25"] and rows[3][1:3] == ["0.2648", "88.70"]
    assert rows[4][1:5] == ["0.2500 [a]", "91.50", "n/a", "n/a"]  # same provenance, same footnote; no maps run yet
    assert rows[5][1:5] == ["0.2712", "87.75", "0.1803", "98.72"]
    # Not in the paper: no paper row; a deterministic model's LPIPS is exactly 0.
    assert rows[6][1:3] == ["0.0000 [a]", "120.00"]
    assert "BasisGAN = `basisgan` (our run of our implementation)" in md
    assert "Pix2Pix, deterministic = `pix2pix-image` (not in the paper)" in md
    assert "LPIPS over 1900 pairs of 100 inputs (LPIPS v0.0)" in md
    assert "BicycleGAN (reported), MSGAN (reported): not trained here; the values are the paper's" in md
    assert "missing (no metrics file): edges2handbags basisgan" in md and "bicyclegan" not in md.split("missing")[1]

    js = json.loads((tmp_path / "out" / "table1.json").read_text())["table1"]
    assert js["facades"]["pix2pix-cfa-image"] == {"lpips": 0.25, "fid": 91.5}
    assert "bicyclegan" not in js["facades"]
    details = json.loads((tmp_path / "out" / "table1.details.json").read_text())
    assert details["reported_only"] == ["bicyclegan", "msgan"]
    assert details["paper"]["maps"]["bicyclegan"]["fid"] == paper_values.TABLE1["maps"]["bicyclegan"]["fid"]
    assert details["paper"]["maps"]["pix2pix-cfa-image"]["lpips"] == paper_values.TABLE1["maps"]["ours"]["lpips"]

    cells = list(csv.DictReader((tmp_path / "out" / "table1.csv").open()))
    assert len(cells) == 2 * 5 * 5
    reported = [c for c in cells if c["method"] == "msgan"]
    assert {c["status"] for c in reported} == {"reported only (no code of ours: the paper's number)"}
    ours = next(c for c in cells if (c["dataset"], c["method"], c["metric"]) == ("facades", "pix2pix-cfa-image", "lpips"))
    assert ours["lpips_version"] == "0.0" and ours["lpips_inputs"] == "100"

    tex = (tmp_path / "out" / "table1.tex").read_text()
    assert r"\multicolumn{4}{c}{labels→facades}" in tex and r"\label{tab:table1}" in tex
    assert "BicycleGAN (reported) & not run & 0.1413 & not run & 98.85" in tex


def test_table1_on_the_built_in_set_says_so(tmp_path):
    note = "LPIPS from 8 test inputs, fewer than the 100 the protocol asks for (the split has no more)"
    files = [_write(tmp_path, f"{m}.json", metrics_fixture("edges2objects", m, source="procedural", pretrained=False,
                                                          inputs=8, note=note))
             for m in ("basisgan", "pix2pix-cfa-image", "pix2pix-image")]
    prefix = tmp_path / "t1"
    params = tmp_path / "params.yaml"
    import yaml

    from factories import REPO
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tables"]["table1"]["datasets"] = ["edges2objects"]
    params.write_text(yaml.safe_dump(p))
    assert main(["table", "1", "--metrics", *files, "--out", str(prefix), "--params", str(params)]) == 0
    md = (tmp_path / "t1.md").read_text()
    warning = md.splitlines()[2]
    assert "PROCEDURAL DATA, not the pix2pix sets" in warning and "OFFLINE BACKBONES" in warning
    assert "| lines→renders |" in md.replace("  ", "")
    assert "lines→renders = `edges2objects` (built-in, not in the paper)" in md
    assert note in md.replace("\n  ", " ")
    # The paper has no such set: no paper values, so no rows for the reported-only baselines.
    assert "| BicycleGAN" not in md and "↳ paper" not in md
