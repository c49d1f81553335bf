"""`cfa table 3` on fixture metrics files: the paper's layout (metric rows, dataset column groups)
and values, our extra row and column named in the legend, the deterministic baseline's "-",
provenance footnotes without interpolation counts, lines a terminal shows whole."""

import csv
import json

from cfa.tables import table_module
from pipeline.cli import main
from test_tables import _md_table_rows


def metrics(dataset, model, *, source, fid, lpips):
    return {"model": model, "dataset": dataset, "values": {"fid": fid, "lpips_diversity": lpips},
            "counts": {"fid_fake": 50, "fid_real": 50, "lpips_pairs": 32, "test_sources": 15},
            "data": {"source": source, "sha256": "e" * 64,
                     "split_rule": "seeded (seed 0) 0.1 of each domain to test (split 2), the rest train (split 0)"},
            "backbones": {"pretrained": True, "note": ""}, "checkpoint": {"step": 150}}


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
    assert lines[0].startswith("## Table 3:") and "SIMULATED DATA" in lines[2]
    # Readable: the five sets do not fit one line of 160 characters, so they continue below.
    assert max(len(line) for line in lines) <= 160
    groups = [[c.strip() for c in line.strip("|").split("|")][1:] for line in lines if line.startswith("|  ")]
    assert [c for g in groups for c in g if c] == ["Cell-200", "SteeringAngle", "UTKFace", "CACD2000", "Waymo"]
    methods = [c for chunk in _md_table_rows(md, "Metric") for c in chunk]
    assert methods[:3] == ["CycleGAN [a]", "Ours [a]", "CycleGAN+t [a]"] and methods[3:6] == ["CycleGAN", "Ours",
                                                                                              "CycleGAN+t"]
    lpips = [c for chunk in _md_table_rows(md, "LPIPS ↑") for c in chunk]
    paper_rows = _md_table_rows(md, "↳ paper")
    lpips_paper = [c for chunk in paper_rows[::2] for c in chunk]
    fid_paper = [c for chunk in paper_rows[1::2] for c in chunk]
    # Cell-200: CycleGAN's measured 0 under the paper's "-", ours, and our extra baseline (no paper cell)
    assert lpips[:3] == ["0.0000", "0.0421", "0.0107"] and lpips_paper[:3] == ["-", "0.1355", ""]
    fid = [c for chunk in _md_table_rows(md, "FID ↓") for c in chunk]
    assert fid[:3] == ["80.00", "70.50", "75.25"] and fid[3] == "n/a"
    assert fid_paper[:6] == ["30.44", "22.22", "", "73.03", "52.39", ""] and "57.15" in fid_paper
    assert fid_paper[-3:] == ["", "", ""] and lpips_paper[-3:] == ["", "", ""]   # Waymo: no paper numbers
    # The legend says what the short names stand for and which are not in the paper.
    assert "CycleGAN+t = `cyclegan-label` (t as an input channel, not in the paper)" in md
    assert "`Waymo` (dawn→day: Figure 6 only, not in the paper)" in md
    assert "interpolation" not in md and "grid:STEP" not in md
    assert "missing (no metrics file): CACD2000 cyclegan" in md
    assert "[b] data: waymo; split seeded (seed 0) 0.1 of each domain" in md.replace("\n  ", " ")
    rows = list(csv.DictReader((tmp_path / "out" / "table3.csv").open()))
    assert {r["dataset"] for r in rows} == {"Cell-200", "SteeringAngle", "UTKFace", "CACD2000", "Waymo"}
    js = json.loads((tmp_path / "out" / "table3.json").read_text())
    assert js["table3"]["Cell-200"]["cyclegan-cfa"] == {"lpips": 0.0421, "fid": 70.5}
    details = json.loads((tmp_path / "out" / "table3.details.json").read_text())
    assert details["paper"]["UTKFace"]["cyclegan"]["fid"] == 47.24
    assert "cyclegan-label" not in details["paper"]["UTKFace"] and "Waymo" not in details["paper"]
    tex = (tmp_path / "out" / "table3.tex").read_text()
    assert "Waymo (dawn" in tex and r"\label{tab:table3}" in tex


def test_table3_figure_sweep_comes_from_each_dataset():
    module = table_module("table3")
    assert module.sample_sweep({}) == "figure" and module.PAPER_FIGURES == "Figure 6"
