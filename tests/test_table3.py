"""`cfa table 3` on fixture metrics files: the paper's rows and values, our extra row and column
marked, the deterministic baseline's "-", provenance footnotes without interpolation counts."""

import csv
import json

from cfa.tables import table_module
from pipeline.cli import main


def metrics(dataset, model, *, source, fid, lpips):
    return {"model": model, "dataset": dataset, "values": {"fid": fid, "lpips_diversity": lpips},
            "counts": {"fid_fake": 50, "fid_real": 50, "lpips_pairs": 32, "test_sources": 15},
            "data": {"source": source, "sha256": "e" * 64}, "backbones": {"pretrained": True, "note": ""},
            "checkpoint": {"step": 150}}


def test_table3_rows_columns_and_paper_values(tmp_path):
    files = []
    for ds, source in (("Cell-200", "simulated"), ("Waymo", "waymo")):
        for model, fid, lp in (("cyclegan", 80.0, 0.0), ("cyclegan-cfa", 70.5, 0.0421),
                               ("cyclegan-label", 75.25, 0.0107)):
            p = tmp_path / f"{ds}.{model}.json"
            p.write_text(json.dumps(metrics(ds, model, source=source, fid=fid, lpips=lp)))
            files.append(str(p))
    assert main(["table", "3", "--metrics", *files, "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "table3.md").read_text()
    lines = md.splitlines()
    assert lines[0].startswith("## Table 3:") and "SIMULATED DATA" in lines[0]
    header = next(line for line in lines if line.startswith("| Metric"))
    assert "Cell-200 CycleGAN (ours)" in header and "Cell-200 Ours (paper)" in header
    assert "Waymo (not in the paper) CycleGAN (ours)" in header
    assert "cyclegan-label (not in the paper)" in header and "UTKFace" in header and "CACD2000" in header
    cells = [c.strip() for c in next(line for line in lines if line.startswith("| LPIPS")).strip("|").split("|")]
    # Cell-200 first: CycleGAN (ours, paper), Ours (ours, paper), cyclegan-label (ours, paper)
    assert cells[1].startswith("-") and cells[2] == "-"
    assert cells[3].startswith("0.0421 [") and cells[4] == "0.1355"
    assert cells[5].startswith("0.0107 [") and cells[6] == "n/a"
    fid = next(line for line in lines if line.startswith("| FID"))
    assert "30.44" in fid and "22.22" in fid and "73.03" in fid and "57.15" in fid
    waymo_paper = [c.strip() for c in fid.strip("|").split("|")][-5::2]
    assert waymo_paper == ["n/a", "n/a", "n/a"]
    assert "interpolation" not in md and "missing (no metrics file): CACD2000 cyclegan" in md
    rows = list(csv.DictReader((tmp_path / "out" / "table3.csv").open()))
    assert {r["dataset"] for r in rows} == {"Cell-200", "SteeringAngle", "UTKFace", "CACD2000", "Waymo"}
    js = json.loads((tmp_path / "out" / "table3.json").read_text())
    assert js["Cell-200"]["cyclegan-cfa"] == {"lpips": 0.0421, "fid": 70.5}
    assert js["paper"]["UTKFace"]["cyclegan"]["fid"] == 47.24
    tex = (tmp_path / "out" / "table3.tex").read_text()
    assert r"Waymo (not in the paper)" in tex and r"\label{tab:table3}" in tex


def test_table3_figure_sweep_comes_from_each_dataset():
    assert table_module("table3").sample_sweep({}) == "figure"
