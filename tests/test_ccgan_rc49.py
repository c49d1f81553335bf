"""CcGAN's RC-49 file as it is downloaded: `cfa train`, `cfa sample` and `cfa evaluate` on it, the
split from indx_train and the paper's 5-deg grid, the `source: h5` dataset, missing keys named.

The fixture is written here in CcGAN's exact layout (improved_CcGAN's RC-49_64x64.h5): uint8
`images` N x 3 x 64 x 64, float `labels` (angle), int `types` (chair index), `indx_train` (rows with
an odd last decimal); no other key, no attribute.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from cfa.config import load_params
from cfa.datasets.catalog import raw_inputs_missing
from cfa.datasets.rotation import RotationPairs, load_rotation_arrays
from cfa.datasets.rotation_h5 import split_from_indx_train
from cfa.errors import UserError
from pipeline.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_interpolation import bar_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# CcGAN's angles are 0.1 ... 89.9 in 0.1 steps; a 0.5-deg subset keeps the fixture small while
# keeping both parities and every angle the official sweep (0.1 + 2.5 k) asks for.
ANGLES = np.round(np.arange(0.1, 90.0, 0.5), 1)
CHAIRS = 2


def odd_last_decimal(angles: np.ndarray) -> np.ndarray:
    return np.round(angles * 10).astype(int) % 2 == 1


def write_ccgan_rc49(path: Path, drop: str | None = None) -> Path:
    """CcGAN's RC-49 layout, chair-major like the original; `drop` leaves one key out."""
    labels = np.tile(ANGLES, CHAIRS).astype(np.float64)
    types = np.repeat(np.arange(CHAIRS), len(ANGLES)).astype(np.int64)
    colours = [(200, 30, 30), (30, 30, 200)]
    images = np.stack([bar_image(a, colours[c], 64) for c, a in zip(types, labels)])
    arrays = {"images": images.astype(np.uint8), "labels": labels, "types": types,
              "indx_train": np.flatnonzero(odd_last_decimal(labels)).astype(np.int64)}
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if key != drop:
                f.create_dataset(key, data=value)
    return path


@pytest.fixture(scope="module")
def rc49(tmp_path_factory) -> Path:
    return write_ccgan_rc49(tmp_path_factory.mktemp("ccgan") / "RC-49_64x64.h5")


def test_the_fixture_is_in_ccgans_exact_layout(rc49):
    with h5py.File(rc49, "r") as f:
        assert sorted(f.keys()) == ["images", "indx_train", "labels", "types"] and not dict(f.attrs)
        assert f["images"].dtype == np.uint8 and f["images"].shape == (CHAIRS * len(ANGLES), 3, 64, 64)


def test_split_is_indx_train_on_the_papers_5_deg_grid_of_gaps():
    # The real RC-49 grid: 0.1 ... 89.9 deg, indx_train = odd last decimal.
    angles = np.round(np.arange(1, 900) / 10, 1)
    labels, types = np.tile(angles, 2), np.repeat([0, 1], len(angles))
    indx = np.flatnonzero(odd_last_decimal(labels))
    split = split_from_indx_train(labels, types, indx, "grid:5")
    train = sorted(set(np.round(labels[split == 0], 1)))
    assert train == [round(0.1 + 5 * k, 1) for k in range(18)]           # 0.1 (the source), 5.1, ..., 85.1
    assert set(np.flatnonzero(split == 1)) == set(np.flatnonzero(~odd_last_decimal(labels)))  # held out
    assert {2.6, 7.6, 42.6} <= set(np.round(labels[split == 1], 1))       # the 2.5-deg midpoints are unseen
    # CcGAN's own split, and a grid whose gaps miss indx_train, which is refused by name.
    assert np.array_equal(split_from_indx_train(labels, types, indx, "indx_train") == 0, odd_last_decimal(labels))
    with pytest.raises(UserError, match="no training rows"):
        split_from_indx_train(labels, types, np.flatnonzero(labels == 0.2), "grid:5")
    with pytest.raises(UserError, match="indx_train or grid:STEP"):
        split_from_indx_train(labels, types, indx, "parity")


def test_the_reader_takes_the_file_as_it_is(rc49):
    pairs = RotationPairs(rc49)
    assert pairs.object_ids == ["type-0", "type-1"] and pairs.split_rule == "indx_train+grid:5"
    assert pairs.angles() == [0.1, 5.1, 10.1, 15.1, 20.1, 25.1, 30.1, 35.1, 40.1, 45.1, 50.1, 55.1, 60.1,
                              65.1, 70.1, 75.1, 80.1, 85.1]
    item = pairs[1]
    assert item["source"].shape == (3, 64, 64) and float(item["t"]) == pytest.approx(5.0 / 90, abs=1e-6)
    data = load_rotation_arrays(rc49)
    assert data.attrs["source"] == "ccgan-h5" and data.attrs["split_rule"] == "indx_train+grid:5"
    assert len(data.test_rows()) == CHAIRS * int((~odd_last_decimal(ANGLES)).sum())


@pytest.mark.parametrize("key", ["images", "labels", "types", "indx_train"])
def test_a_ccgan_file_with_a_key_missing_names_the_key(tmp_path, key, capsys):
    path = write_ccgan_rc49(tmp_path / "RC-49_64x64.h5", drop=key)
    assert main(["train", "--model", "pix2pix", "--data", str(path), "--out", str(tmp_path / "run"),
                 "--set", "profile=demo", "--set", "train.device=cpu"]) == 2
    err = capsys.readouterr().err
    assert f"lacks {key}" in err and "Traceback" not in err


def tiny(*more: str) -> list[str]:
    sets = ["profile=demo", "train.device=cpu", "train.steps=2", "train.batch_size=4", "train.checkpoint_every=2",
            "train.sample_every=2", "train.log_every=1", "models.pix2pix-cfa.generator.ngf=4",
            "models.pix2pix-cfa.generator.n_blocks=1", "models.pix2pix-cfa.discriminator.ndf=4",
            "models.pix2pix-cfa.atoms.method=rk4", "metrics.pretrained_backbones=false", "evaluate.batch_size=17",
            "evaluate.fid_max_images=16", "evaluate.lpips_inputs=2", "evaluate.lpips_pairs=2", *more]
    return [a for s in sets for a in ("--set", s)]


def test_train_sample_and_evaluate_on_ccgans_file(rc49, tmp_path, capsys):
    run, samples = tmp_path / "run", tmp_path / "samples"
    assert main(["train", "--model", "pix2pix-cfa", "--data", str(rc49), "--out", str(run), "--no-progress",
                 *tiny()]) == 0
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert main(["sample", "--checkpoint", str(run), "--t", "0,2.5,45", "--out", str(samples),
                 "--inputs", "2", "--device", "cpu"]) == 0
    assert (samples / "grid.png").stat().st_size > 0 and len(list(samples.glob("strip_*.png"))) == 2
    # The paper's protocol: the official sweep (17 t per chair), networks as the authors' test.py.
    official = tiny("evaluate.sweep=official", "evaluate.network_mode=official")
    stats = tmp_path / "rc49.npz"
    assert main(["stats", "--data", str(rc49), "--out", str(stats), "--no-progress", *official]) == 0
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--run", str(run), "--fid-stats", str(stats), "--out", str(out), "--device", "cpu",
                 "--metrics", "fid,lpips_diversity,interpolation", "--no-progress", *official]) == 0
    m = json.loads(out.read_text())
    assert m["network_mode"] == "official" and m["data"]["sweep"] == "official"
    assert m["data"]["split_rule"] == "indx_train+grid:5" and m["data"]["source"] == "ccgan-h5"
    assert m["data"]["sweep_deg"] == [2.5 * k for k in range(1, 18)]
    assert m["counts"]["generated_test"] == 17 * CHAIRS
    # Unseen among the sweep: the midpoints 2.6, 7.6, ..., 42.6 (9 per chair); seen: 5.1, ..., 40.1.
    assert m["counts"]["interpolation"] == 9 * CHAIRS
    assert m["counts"]["fid_fake"] == 16 and m["values"]["fid"] > 0
    assert m["values"]["lpips_diversity"] > 0 and m["values"]["interp_mae_unseen"] > 0
    # The same evaluation again gives the same numbers: official mode is seeded.
    again = tmp_path / "again.json"
    assert main(["evaluate", "--run", str(run), "--fid-stats", str(stats), "--out", str(again), "--device", "cpu",
                 "--metrics", "fid,lpips_diversity,interpolation", "--no-progress", *official]) == 0
    assert json.loads(again.read_text())["values"] == m["values"]


def test_an_h5_dataset_is_validated_and_copied_in_with_its_split(rc49, tmp_path, capsys):
    params_file = tmp_path / "params.yaml"
    params_file.write_text((REPO / "params.yaml").read_text())
    sets = ["--params", str(params_file), "--set", f"datasets.RC-49.path={rc49}"]
    params = load_params(params_file, [f"datasets.RC-49.path={rc49}"])
    spec = params["datasets"]["RC-49"]
    assert (spec["source"], spec["split"]) == ("h5", "grid:5")   # the paper profile's RC-49
    assert raw_inputs_missing(params, "RC-49") == []
    out = tmp_path / "data" / "RC-49.h5"
    assert main(["prepare", "--dataset", "RC-49", "--out", str(out), *sets]) == 0
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["source"] == "ccgan-h5" and manifest["params"]["split_rule"] == "indx_train+grid:5"
    assert manifest["counts"]["train"] == 18 * CHAIRS and len(manifest["source_sha256"]) == 64
    with h5py.File(out, "r") as f:
        assert f.attrs["kind"] == "rotation" and f.attrs["split_rule"] == "indx_train+grid:5"
        assert list(f["object_ids"].asstr()[:]) == ["type-0", "type-1"]
        copied_split = f["split"][:]
    direct = RotationPairs(rc49)
    assert np.array_equal(copied_split, direct.split_codes)        # the copy holds what a direct read gives
    assert np.array_equal(load_rotation_arrays(out).images, load_rotation_arrays(rc49).images)
    # A missing file is a missing raw input with its download hint; a broken one names its key.
    gone = load_params(params_file, [f"datasets.RC-49.path={tmp_path / 'absent.h5'}"])
    assert any("RC-49_64x64.h5" in line for line in raw_inputs_missing(gone, "RC-49"))
    broken = write_ccgan_rc49(tmp_path / "broken.h5", drop="types")
    assert main(["prepare", "--dataset", "RC-49", "--out", str(tmp_path / "x.h5"), "--params", str(params_file),
                 "--set", f"datasets.RC-49.path={broken}"]) == 2
    assert "lacks types" in capsys.readouterr().err
