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
    assert lines[0].startswith("## Table 1:") and "WARNING" not in lines[0]
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header[:5] == ["Method", "labels→facades LPIPS ↑ (ours)", "labels→facades LPIPS ↑ (paper)",
                          "labels→facades FID ↓ (ours)", "labels→facades FID ↓ (paper)"]
    assert header[-1] == "edges→handbags FID ↓ (paper)" and len(header) == 1 + 5 * 2 * 2
    rows = {c[0]: c[1:] for c in ([x.strip() for x in line.strip("|").split("|")] for line in lines[4:9])}
    assert list(rows) == ["BicycleGAN (reported)", "MSGAN (reported)", "BasisGAN (our run of our implementation)",
                          "Ours", "Pix2Pix, deterministic (not in the paper)"]
    # Reported baselines: no number of ours, the paper's beside it.
    assert rows["BicycleGAN (reported)"][:4] == ["not run", "0.1413", "not run", "98.85"]
    assert rows["MSGAN (reported)"][-2:] == ["not run", "89.96"]
    assert rows["BasisGAN (our run of our implementation)"][:4] == ["0.2000 [a]", "0.2648", "95.25 [a]", "88.70"]
    assert rows["Ours"][:4] == ["0.2500 [b]", "0.2712", "91.50 [b]", "87.75"]
    assert rows["Ours"][4:8] == ["n/a", "0.1803", "n/a", "98.72"]  # no maps run yet
    # Not in the paper: an empty paper cell; a deterministic model's LPIPS is exactly 0.
    assert rows["Pix2Pix, deterministic (not in the paper)"][:4] == ["0.0000 [c]", "", "120.00 [c]", ""]
    assert "LPIPS over 1900 pairs of 100 inputs (LPIPS v0.0)" in md
    assert "not trained here; its (paper) column holds the values the paper reports" in md
    assert "missing (no metrics file): edges2handbags basisgan" in md and "bicyclegan" not in md.split("missing")[1]

    js = json.loads((tmp_path / "out" / "table1.json").read_text())
    assert js["facades"]["pix2pix-cfa-image"] == {"lpips": 0.25, "fid": 91.5}
    assert "bicyclegan" not in js["facades"] and js["reported_only"] == ["bicyclegan", "msgan"]
    assert js["paper"]["maps"]["bicyclegan"]["fid"] == paper_values.TABLE1["maps"]["bicyclegan"]["fid"]
    assert js["paper"]["maps"]["pix2pix-cfa-image"]["lpips"] == paper_values.TABLE1["maps"]["ours"]["lpips"]

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
    head = md.splitlines()[0]
    assert "PROCEDURAL DATA, not the pix2pix sets" in head and "OFFLINE BACKBONES" in head
    assert "lines→renders (edges2objects, built-in, not in the paper) LPIPS ↑ (ours)" in md
    assert note in md
    # No paper column has a value for a set the paper does not have; the reported rows stay empty.
    bicycle = next(line for line in md.splitlines() if line.startswith("| BicycleGAN"))
    assert [c.strip() for c in bicycle.strip("|").split("|")][1:] == ["not run", "", "not run", ""]
