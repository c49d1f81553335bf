"""Table 3 in the workflow: missing downloads are listed up front (only for the table that needs
them), and fixtures in the real published formats (UTKFace names, a SteeringAngle data.txt, a
Waymo v2 root with two segments) run end to end through `snakemake table3`."""

from __future__ import annotations

import json

import pytest

from cfa.config import load_params
from cfa.datasets.catalog import raw_inputs_missing
from raw_fixtures import write_driving, write_utkface, write_waymo_v2
from test_workflow import make_copy, run, shell_commands

RAW_SETS = ("SteeringAngle", "UTKFace", "CACD2000", "Waymo")


def _listed(text: str) -> list[str]:
    return [line[len("  - "):] for line in text.splitlines() if line.startswith("  - ")]


def test_paper_dry_run_of_table3_lists_exactly_the_missing_downloads(tmp_path):
    repo = make_copy(tmp_path)
    proc = run(["snakemake", "-n", "table3"], repo, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text and "nothing was run" in text
    params = load_params(repo / "params.yaml")
    expected = [line for name in RAW_SETS for line in raw_inputs_missing(params, name)]
    assert _listed(text) == expected
    for page in ("https://susanqq.github.io/UTKFace/", "https://bcsiriuschen.github.io/CARC/",
                 "https://github.com/SullyChen/driving-datasets", "https://waymo.com/open/download/"):
        assert page in text
    assert "ShapeNet" not in text and "Cell-200" not in text        # not needed by Table 3 / simulated
    # ... and Table 2 does not need the Table 3 downloads
    proc2 = run(["snakemake", "-n", "table2"], repo, check=False)
    text2 = proc2.stdout + proc2.stderr
    assert "ShapeNet" in text2 and "UTKFace" not in text2 and "Waymo" not in text2


def fixture_config(raw):
    """Table 3 over the three real-format fixtures, one tiny model, 2 CPU steps, offline backbones."""
    def edit(params):
        params["tables"]["table3"] = {"datasets": ["UTKFace", "SteeringAngle", "Waymo"], "models": ["cyclegan-cfa"],
                                      "metrics": ["fid", "lpips_diversity"]}
        params["datasets"]["UTKFace"].update(root=str(raw / "UTKFace"), size=32, test_fraction=0.25)
        params["datasets"]["SteeringAngle"].update(root=str(raw / "driving_dataset"), size=32, split_block=1,
                                                   test_fraction=0.3)
        params["datasets"]["Waymo"].update(root=str(raw / "waymo_v2"), size=32, every=1, split_block=2,
                                           test_fraction=0.3)
        model = params["models"]["cyclegan-cfa"]
        model["generator"].update(ngf=4, n_blocks=1)
        model["discriminator"].update(ndf=4, n_layers=2)
        model["atoms"].update(n_atoms=2, method="rk4", adjoint=False)
        params["train"].update(batch_size=2, steps=2, checkpoint_every=2, log_every=1, sample_every=2,
                               load_size=None, crop_size=None, num_workers=0, device="cpu", amp=False)
        params["evaluate"].update(batch_size=8, fid_max_images=16, lpips_inputs=2, lpips_pairs=2)
        params["metrics"]["pretrained_backbones"] = False
    return edit


@pytest.mark.slow
def test_table3_end_to_end_on_real_formats(tmp_path, monkeypatch):
    # two jobs at a time on two cores: one thread each (OpenMP spin-waits when oversubscribed)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    raw = tmp_path / "raw"
    write_utkface(raw / "UTKFace", per_bin=4)
    write_driving(raw / "driving_dataset")
    write_waymo_v2(raw / "waymo_v2")
    repo = make_copy(tmp_path, fixture_config(raw))
    planned = shell_commands(run(["snakemake", "-n", "-p", "table3"], repo).stdout)
    assert sum(c.startswith("cfa sample") and "--t figure" in c for c in planned) == 3

    run(["snakemake", "table3", "--cores", "2"], repo)
    results = repo / "results" / "paper"
    table = (results / "table3.md").read_text()
    assert "`Waymo` (dawn→day: Figure 6 only, not in the paper)" in table and "OFFLINE BACKBONES" in table
    assert max(map(len, table.splitlines())) <= 160 and "↳ paper" in table
    js = json.loads((results / "table3.json").read_text())["table3"]
    for ds in ("UTKFace", "SteeringAngle", "Waymo"):
        assert js[ds]["cyclegan-cfa"]["fid"] is not None and js[ds]["cyclegan-cfa"]["lpips"] is not None
        metrics = json.loads((results / "metrics" / "table3" / "cyclegan-cfa" / f"{ds}.json").read_text())
        assert "protocol" in metrics["data"] and metrics["counts"]["test_sources"] >= 1
        samples = results / "figures" / "table3" / "samples" / "cyclegan-cfa" / ds
        assert (samples / "sweep.gif").stat().st_size > 0 and (samples / "strip_000.png").is_file()
        assert (results / "figures" / "table3" / "evaluation" / "cyclegan-cfa" / f"{ds}.png").stat().st_size > 0
    samples = results / "figures" / "table3" / "samples" / "cyclegan-cfa"
    waymo = json.loads((samples / "Waymo" / "samples.json").read_text())
    assert waymo["t"] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]          # dawn -> day
    steering = json.loads((samples / "SteeringAngle" / "samples.json").read_text())
    assert steering["t"][0] == -80 and steering["t"][-1] == 80 and steering["label_unit"] == "deg"
    manifest = json.loads((repo / "data" / "paper" / "unpaired" / "UTKFace.json").read_text())
    assert manifest["counts"]["split"]["test"]["source"] >= 1
    again = run(["snakemake", "table3", "--cores", "2", "-n"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
