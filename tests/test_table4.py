"""Table 4: the table (the paper's cGAN/CcGAN/ours values beside ours, CcGAN reported only, each metric's
protocol in the footnotes), UTKFace as a labelled set from real-format file names, and the whole
`snakemake table4` on a tiny UTKFace fixture."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from cfa.config import load_params
from cfa.datasets.catalog import raw_inputs_missing
from cfa.datasets.makers import make_dataset
from cfa.tables import table_module
from cfa.tables.spec import assemble, build_spec, load_metrics_files
from cfa.tables.writers import details_json, latex, markdown, metrics_json
from factories import REPO
from pipeline.cli import main

CCGAN_METRICS = ["intra_fid", "niqe", "diversity", "label_score"]


def _metrics(model, dataset="UTKFace-ages", *, source="utkface", pretrained=True, **values):
    return {"model": model, "dataset": dataset, "values": values,
            "counts": {"fid_fake": 60000, "fid_real": 14760, "lpips_pairs": 1900, "labelled_fakes": 60000,
                       "fakes_per_label": 1000, "eval_labels": 60, "real_images": 14760},
            "data": {"source": source, "sha256": "a" * 64}, "backbones": {"pretrained": pretrained},
            "checkpoint": {"step": 40000}}


def _files(tmp_path, records):
    paths = []
    for i, record in enumerate(records):
        p = tmp_path / f"{i}.json"
        p.write_text(json.dumps(record))
        paths.append(p)
    return load_metrics_files(paths)


def test_table4_ccgan_row_is_reported_only_and_footnotes_carry_the_protocols(tmp_path):
    entry = {"datasets": ["UTKFace-ages"], "models": ["cgan", "cgan-cfa"], "metrics": [*CCGAN_METRICS, "fid"]}
    spec = build_spec(table_module("table4"), entry)
    assert [label for _, label in spec.methods] == ["cGAN", "CcGAN (reported)", "Ours"]  # the paper's order
    metrics = _files(tmp_path, [
        _metrics("cgan", intra_fid=4.1, niqe=2.2, diversity=0.3, label_score=10.5, fid=80.0),
        _metrics("cgan-cfa", intra_fid=0.5, niqe=1.8, diversity=1.2, label_score=7.5, fid=40.0),
    ])
    table = assemble(spec, metrics)
    md = markdown(spec, table)
    assert "WARNING" not in md
    rows = {r[0]: r[1:] for r in ([c.strip() for c in line.strip().strip("|").split("|")]
                                  for line in md.splitlines() if line.startswith("| "))}
    # The paper's layout: one row per method (cGAN, CcGAN, ours; the paper's values under ours), one
    # column per metric.
    assert rows["Method"] == ["Intra-FID ↓", "NIQE ↓", "Diversity ↑", "Label Score ↓", "FID ↓"]
    labels = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")][2:]
    assert labels == ["cGAN", "↳ paper", "CcGAN (paper)", "Ours", "↳ paper"]
    assert rows["cGAN"][0].startswith("4.100") and rows["CcGAN (paper)"][:2] == ["0.425", "1.725"]
    assert rows["Ours"][2].startswith("1.200")
    assert "CcGAN (reported): not trained here" in md
    for words in ("sliding-window FID", "fitniqe", "entropy", "|predicted - assigned|", "fakes per label 1000 at 60 labels"):
        assert words in md, words
    assert table["missing"] == []
    assert "ccgan" not in metrics_json(spec, table)["table4"]["UTKFace-ages"]
    assert details_json(spec, table)["paper"]["UTKFace-ages"]["ccgan"]["niqe"] == 1.725
    assert "CcGAN (reported) & not run & 0.425" in latex(spec, table)
    # Today's metrics list (fid, lpips_diversity) shows only the plain block.
    today = build_spec(table_module("table4"), {**entry, "metrics": ["fid", "lpips_diversity"]})
    assert [b.title for b in today.blocks] == ["Plain metrics (not in the paper's Table 4)"]


def test_table4_demo_on_the_built_in_set_says_it_is_not_utkface(tmp_path, capsys):
    files = []
    for model in ("cgan", "cgan-cfa"):
        p = tmp_path / f"{model}.json"
        p.write_text(json.dumps(_metrics(model, "RC-49-angles", source="procedural", pretrained=False,
                                         intra_fid=50.0, niqe=3.0, diversity=0.5, label_score=4.0, ae_fid=0.25)))
        files.append(str(p))
    assert main(["table", "4", "--metrics", *files, "--out-dir", str(tmp_path / "out"),
                 "--set", "profile=demo"]) == 0
    md = (tmp_path / "out" / "table4.md").read_text()
    warning = md.split("\n\n")[1]
    assert "PROCEDURAL DATA, not UTKFace" in warning and "OFFLINE BACKBONES" in warning
    assert "| cGAN " in md and "50.000 [a]" in md and "CcGAN = `ccgan` (reported)" in md
    assert "[a] data: procedural" in md and "interpolation over" not in md


# ---- UTKFace in its real format ------------------------------------------------------------------

def utkface_fixture(root, ages=range(1, 13), per_age=2, size=40):
    """Face-like JPEGs under UTKFace's real names `age_gender_race_datetime.jpg.chip.jpg`, plus a
    real malformed name (a field missing) and a face older than 60."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for age in ages:
        for k in range(per_age):
            race, gender = int(rng.integers(0, 5)), k % 2
            image = np.full((size, size, 3), 230, np.uint8)
            face = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.32 * size)) ** 2 < 1
            tone = np.array([200 - 25 * race, 170 - 20 * race, 150 - 15 * race]) - 2 * age
            image[face] = np.clip(tone + rng.normal(0, 8, 3), 0, 255).astype(np.uint8)
            stamp = f"2017011617{age:02d}{k:02d}25125"
            Image.fromarray(image).save(root / f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg", quality=90)
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(root / "39_1_20170116174525125.jpg.chip.jpg")
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(root / "75_0_0_20170116174525125.jpg.chip.jpg")
    return root


def test_utkface_labelled_set_from_real_file_names(tmp_path):
    params = load_params(REPO / "params.yaml")
    params["paths"]["raw"] = str(tmp_path / "raw")
    params["datasets"]["UTKFace-ages"].update(ages=[1, 12], size=16)
    assert any("needs the UTKFace face images in" in line for line in raw_inputs_missing(params, "UTKFace-ages"))
    utkface_fixture(tmp_path / "raw" / "UTKFace")
    assert raw_inputs_missing(params, "UTKFace-ages") == []
    out = tmp_path / "UTKFace-ages.h5"
    manifest = make_dataset(params, "UTKFace-ages", out, progress=False)
    assert manifest["dataset"] == "UTKFace-ages" and manifest["counts"]["images"] == 24
    assert manifest["counts"]["excluded_by_age"] == 1
    assert [s["path"] for s in manifest["skipped"]] == ["39_1_20170116174525125.jpg.chip.jpg"]
    with h5py.File(out) as f:
        assert f.attrs["kind"] == "labelled" and f.attrs["source"] == "utkface"
        assert f["images"].shape == (24, 3, 16, 16) and f.attrs["label_scale"] == 12.0
    from cfa.datasets.readers import LabelledImages
    from cfa.metrics.testsets import open_testset

    reader = LabelledImages(out)
    assert reader.info()["label_range"] == [1.0, 12.0] and reader.info()["label_unit"] == "years"
    assert max(reader.info()["label_values"]) == 1.0  # ages / max age, as CcGAN normalises
    settings = {"batch_size": 8, "fid_max_images": 100, "lpips_inputs": 2, "lpips_pairs": 2, "fakes_per_label": 2}
    ts = open_testset(out, settings, seed=0, progress=False)
    _, labels, races = ts.labelled_reals()
    assert sorted(set(labels.tolist())) == list(range(1, 13)) and races.max() <= 4
    assert ts.attribute_names == ["White", "Black", "Asian", "Indian", "Others"]


def tiny_utkface_config(params):
    """Paper profile, Table 4 only, on the fixture: ages 1..12 at 32x32 (LPIPS's AlexNet needs >= 32),
    tiny networks, 3 steps."""
    params["profile"] = "paper"
    params["datasets"]["UTKFace-ages"].update(ages=[1, 12], size=32)
    params["metrics"]["pretrained_backbones"] = False
    for model, generator in (("cgan", {"z_dim": 8, "ngf": 4, "n_classes": 4}),
                             ("cgan-cfa", {"z_dim": 8, "ngf": 4, "alpha": 1.0})):
        params["models"][model]["generator"] = generator
        params["models"][model]["discriminator"] = {"ndf": 4}
        params["models"][model]["train"].update(batch_size=8, steps=3)
    params["models"]["cgan-cfa"]["atoms"].update(adjoint=False, method="rk4")
    params["train"].update(checkpoint_every=2, log_every=1, sample_every=3, device="cpu", num_workers=0, amp=False)
    params["evaluate"].update(batch_size=16, fid_max_images=100, lpips_inputs=2, lpips_pairs=2, fakes_per_label=2)
    params["evaluate"]["intra_fid"].update(radius=2)
    params["evalnets"].update(batch_size=16, device="cpu")
    params["evalnets"]["autoencoder"].update(epochs=2, dim_bottleneck=16, ch=4)
    for net in ("regressor", "classifier"):
        params["evalnets"][net].update(epochs=2, depth=18, width=4)


@pytest.mark.slow
def test_tiny_utkface_table4_end_to_end_with_snakemake(tmp_path):
    from test_workflow import make_copy, run

    repo = make_copy(tmp_path, tiny_utkface_config)
    dry = run(["snakemake", "-n", "table4"], repo, check=False)
    assert dry.returncode != 0 and "needs the UTKFace face images in" in dry.stdout + dry.stderr
    utkface_fixture(repo / "data" / "raw" / "UTKFace")
    run(["snakemake", "table4", "--cores", "2"], repo)
    results = repo / "results" / "paper"
    md = (results / "table4.md").read_text()
    assert md.startswith("## Table 4:")
    assert max(len(line) for line in md.splitlines()) <= 160
    # Table 4's metrics use the evaluation networks trained on the data, no ImageNet backbone, and the
    # fixture is in the real UTKFace format: nothing to warn about.
    assert "WARNING" not in md
    js = json.loads((results / "table4.json").read_text())["table4"]
    for model in ("cgan", "cgan-cfa"):
        for metric in ("intra_fid", "niqe", "diversity", "label_score", "ae_fid"):
            assert js["UTKFace-ages"][model][metric] is not None, (model, metric)
        record = json.loads((results / "metrics" / "table4" / model / "UTKFace-ages.json").read_text())
        assert record["counts"]["labelled_fakes"] == 24 and record["counts"]["real_images"] == 24
        samples = results / "figures" / "table4" / "samples" / model / "UTKFace-ages"
        t = json.loads((samples / "samples.json").read_text())["t"]
        assert len(t) == 60 and t[0] == 1 and t[-1] == 12  # range:60 over the fixture's ages 1..12
        assert (samples / "sweep_000.gif").is_file()
        assert (results / "figures" / "table4" / "evaluation" / model / "UTKFace-ages.png").is_file()
    assert "ccgan" not in js["UTKFace-ages"]  # CcGAN: reported only, never computed
    again = run(["snakemake", "table4", "--cores", "2", "-n"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
    shutil.rmtree(repo / ".snakemake", ignore_errors=True)
