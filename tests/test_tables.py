"""`cfa table 2` on fixture metric files: Markdown, CSV, LaTeX and JSON, captions, provenance."""

import csv
import json

import pytest

from cfa.tables import paper_values
from pipeline.cli import main


def metrics_fixture(dataset, model, *, source="procedural", pretrained=False, fid=100.0,
                    lpips=0.05, fake=500, real=500, sweep="test-split", network_mode="eval"):
    return {
        "model": model, "dataset": dataset, "network_mode": network_mode,
        "values": {"fid": fid, "lpips_diversity": lpips, "interp_lpips_unseen": 0.11,
                   "interp_lpips_nearest_seen": 0.2, "interp_mae_unseen": 0.03,
                   "interp_mae_nearest_seen": 0.05, "label_score": 7.5, "label_score_floor": 2.25,
                   "ae_fid": 0.125},
        "counts": {"fid_fake": fake, "fid_real": real, "lpips_pairs": 32, "interpolation": 72},
        "data": {"source": source, "sha256": "f" * 64, "split_rule": "grid:5", "sweep": sweep},
        "backbones": {"pretrained": pretrained, "note": "x"},
        "checkpoint": {"step": 150},
    }


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def _md_table_rows(md: str, label: str) -> list[list[str]]:
    """The cells of every Markdown table row whose label is `label` (one per printed chunk)."""
    return [[c.strip() for c in line.strip().strip("|").split("|")][1:]
            for line in md.splitlines() if line.startswith("| ") and line.split("|")[1].strip() == label]


def test_table2_offline_procedural(tmp_path, capsys):
    files = [_write(tmp_path, "a.json", metrics_fixture("RA-20", "pix2pix", fid=210.5, lpips=0.0)),
             _write(tmp_path, "b.json", metrics_fixture("RA-20", "pix2pix-cfa", fid=90.25, lpips=0.0712,
                                                        sweep="official", network_mode="official"))]
    assert main(["table", "2", "--metrics", *files, "--out-dir", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    md = (out / "table2.md").read_text()
    lines = md.splitlines()
    assert lines[0].startswith("## Table 2:")
    warning = lines[2]
    assert "PROCEDURAL DATA" in warning and "OFFLINE BACKBONES" in warning and "NOT comparable" in warning
    # Readable: no line much longer than 160 characters; metrics as rows, datasets as column groups
    # (the five sets need more than one printed table), the paper's value in a row under ours.
    assert max(len(line) for line in lines) <= 160
    groups = [[c.strip() for c in line.strip("|").split("|")][1:] for line in lines if line.startswith("|  ")]
    assert [c for g in groups for c in g if c] == ["RC-49", "RCA-20", "RA-20", "RL-20", "RT-20"]
    methods = _md_table_rows(md, "Metric")
    assert methods[0][:3] == ["Pix2Pix", "Pix2Pix+t", "Ours"]  # RC-49: no metrics file, no footnote mark
    lpips = [c for chunk in _md_table_rows(md, "LPIPS ↑") for c in chunk]
    paper = [c for chunk in _md_table_rows(md, "↳ paper")[::2] for c in chunk]
    ra = 2 * 3   # 2 datasets x 3 methods before RA-20
    # Where the paper prints "-" (a deterministic model's LPIPS) our measured 0 is shown.
    assert lpips[ra] == "0.0000" and paper[ra] == "-"
    assert lpips[ra + 1] == "n/a" and paper[ra + 1] == ""      # Pix2Pix+t: no file; not in the paper
    assert lpips[ra + 2] == "0.0712" and paper[ra + 2] == "0.0680"
    ra_methods = [c for chunk in methods for c in chunk][ra:ra + 3]
    assert ra_methods == ["Pix2Pix [a]", "Pix2Pix+t", "Ours [b]"]
    fid = [c for chunk in _md_table_rows(md, "FID ↓") for c in chunk]
    assert fid[ra] == "210.50" and fid[0] == "n/a"
    assert "Unseen-angle interpolation" in md and "0.0300" in md
    assert ("[a] data: procedural; split grid:5; sweep test-split; networks in eval mode; FID 500 generated "
            "vs 500 real images (< 2048") in md.replace("\n  ", " ")
    assert "[b] data: procedural; split grid:5; sweep official; networks in official mode;" in md
    assert "OFFLINE random-weight backbones" in md
    assert "Pix2Pix+t = `pix2pix-label` (t as an input channel, not in the paper)" in md
    assert "missing (no metrics file): RA-20 pix2pix-label, RC-49 pix2pix," in md

    rows = list(csv.DictReader((out / "table2.csv").open()))
    assert len(rows) == 9 * 5 * 3  # 9 metric rows (paper, interpolation, evaluation networks) x 5 sets x 3 models
    cell = next(r for r in rows if (r["dataset"], r["method"], r["metric"]) == ("RA-20", "pix2pix-cfa", "fid"))
    assert float(cell["ours"]) == 90.25 and float(cell["paper"]) == 73.82
    assert cell["data_source"] == "procedural" and cell["backbones_pretrained"] == "False"
    assert (cell["split_rule"], cell["sweep"], cell["network_mode"]) == ("grid:5", "official", "official")
    assert cell["fid_images_fake"] == "500" and cell["metrics_file"] == files[1]
    missing = next(r for r in rows if (r["dataset"], r["method"], r["metric"]) == ("RT-20", "pix2pix", "fid"))
    assert missing["ours"] == "" and missing["status"] == "missing metrics file"
    assert float(missing["paper"]) == 206.49

    tex = (out / "table2.tex").read_text()
    assert r"\caption{Table 2:" in tex and "PROCEDURAL DATA" in tex and "OFFLINE BACKBONES" in tex
    assert r"\begin{tabular}" in tex and r"\multicolumn{6}{c}{RA-20}" in tex and r"\label{tab:table2}" in tex
    assert tex.count(r"\\") >= 9

    # The DVC metrics file holds our values only, once each: tableN.DATASET.MODEL.METRIC.
    js = json.loads((out / "table2.json").read_text())
    assert list(js) == ["table2"]
    assert js["table2"]["RA-20"]["pix2pix-cfa"]["fid"] == 90.25 and js["table2"]["RA-20"]["pix2pix-cfa"]["lpips"] == 0.0712
    assert js["table2"]["RC-49"]["pix2pix"]["fid"] is None
    assert sorted(js["table2"]["RA-20"]["pix2pix"]) == sorted(
        ["lpips", "fid", "interp_lpips_unseen", "interp_lpips_nearest_seen", "interp_mae_unseen",
         "interp_mae_nearest_seen", "label_score", "label_score_floor", "ae_fid"])
    details = json.loads((out / "table2.details.json").read_text())
    assert details["paper"]["RA-20"]["pix2pix-cfa"]["fid"] == paper_values.TABLE2["RA-20"]["pix2pix-cfa"]["fid"]
    assert "pix2pix-label" not in details["paper"]["RA-20"]
    assert details["provenance"]["RA-20"]["pix2pix"]["data_source"] == "procedural"
    assert details["backbones_pretrained"] is False and details["data_sources"] == ["procedural"]
    assert "WARNING" in details["caption"]
    assert "OFFLINE BACKBONES" in capsys.readouterr().out


def test_table2_shapenet_pretrained_has_plain_caption(tmp_path):
    files = [_write(tmp_path, f"{d}.{m}.json",
                    metrics_fixture(d, m, source="shapenet", pretrained=True, fake=4000, real=4000))
             for d in ("RC-49", "RCA-20", "RA-20", "RL-20", "RT-20")
             for m in ("pix2pix", "pix2pix-label", "pix2pix-cfa")]
    prefix = tmp_path / "results" / "table2"
    assert main(["table", "2", "--metrics", *files, "--out", str(prefix)]) == 0
    md = (tmp_path / "results" / "table2.md").read_text()
    assert "WARNING" not in md and "n/a" not in md.split("Notes:")[0]
    assert "pretrained backbones" in md and "(< 2048" not in md
    js = json.loads((tmp_path / "results" / "table2.details.json").read_text())
    assert js["backbones_pretrained"] is True and js["missing"] == []
    assert "WARNING" not in (tmp_path / "results" / "table2.tex").read_text()


def test_table_errors(tmp_path, capsys):
    a = _write(tmp_path, "a.json", metrics_fixture("RA-20", "pix2pix"))
    b = _write(tmp_path, "b.json", metrics_fixture("RA-20", "pix2pix"))
    assert main(["table", "2", "--metrics", a, b, "--out-dir", str(tmp_path)]) == 2
    assert "two metrics files for dataset RA-20, model pix2pix" in capsys.readouterr().err
    assert main(["table", "2", "--metrics", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["table", "7", "--metrics", a, "--out-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "table2.md").exists()


@pytest.mark.parametrize("table", [1, 2, 3, 4])
def test_paper_values_are_marked_reported(table):
    values = paper_values.TABLES[table]
    assert values and "reported" in paper_values.SOURCE
    assert paper_values.paper_value(2, "RC-49", "pix2pix", "lpips") is None
    assert paper_values.paper_value(2, "RT-20", "pix2pix-cfa", "fid") == 70.92
