"""Label-only generation (Eq. 7, Table 4): a rendered set read as `labelled`, the `label_only`
objective (continuity in x, fixed z with different x, bit-exact resume of the cGAN baseline), the
CcGAN-style sampler of the `labelled` test protocol and `cfa sample --t range:N`."""

from __future__ import annotations

import copy
import json

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from cfa.datasets.catalog import train_params
from cfa.continuity import measure_continuity
from cfa.datasets.kinds import kind_of, open_dataset
from cfa.datasets.makers import make_dataset
from cfa.errors import UserError
from cfa.metrics.testsets import open_testset
from cfa.training.loop import train
from cfa.training.objectives import restore_objective
from cfa.training.objectives.label_only import LabelOnlyObjective
from factories import TINY_MODELS, tiny_params
from pipeline.cli import main

CFA = TINY_MODELS["label_only"]
CGAN = {**copy.deepcopy(CFA), "generator": {"z_dim": 8, "ngf": 4, "n_classes": 3}, "atoms": None}
SETTINGS = {"batch_size": 16, "fid_max_images": 500, "lpips_inputs": 3, "lpips_pairs": 2, "fakes_per_label": 3}


def _params(*overrides: str) -> dict:
    """The demo profile with a tiny labelled render (2 chairs, 0..11 deg, trained on even angles)."""
    params = tiny_params("label_only", *overrides)
    params["datasets"]["tiny-angles"] = {"kind": "labelled", "source": "procedural", "category": "chair",
                                         "models": 2, "angles": "0:12:1", "split": "grid:2"}
    params["render"].update(size=16, workers=1)
    params["models"]["contract-cgan"] = copy.deepcopy(CGAN)
    return params


@pytest.fixture(scope="module")
def angles_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("labelled") / "tiny-angles.h5"
    make_dataset(_params(), "tiny-angles", out, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(angles_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    params = _params("train.steps=3")
    out = {}
    for model in ("contract-label_only", "contract-cgan"):
        train(model, params, angles_set, root / model, progress=False)
        out[model] = root / model
    return out


def test_a_rendered_set_of_kind_labelled_is_read_by_the_labelled_reader(angles_set):
    assert kind_of(angles_set) == "labelled"
    with h5py.File(angles_set) as f:
        assert f.attrs["attribute_key"] == "types" and float(f.attrs["label_scale"]) == 90.0
    train_set = open_dataset(angles_set, split="train")
    info = train_set.info()
    # grid:2 trains on the even angles; labels are normalised by 90 deg.
    assert sorted(set(train_set.raw_labels.tolist())) == [0, 2, 4, 6, 8, 10] and len(train_set) == 12
    assert info["label_values"] == pytest.approx([a / 90 for a in (0, 2, 4, 6, 8, 10)])
    assert info["label_range"] == [0.0, 11.0] and info["t_scale"] == 90.0 and info["label_unit"] == "deg"
    assert set(train_set[0]) == {"image", "label"} and train_set.preview_sources(4) is None
    assert len(open_dataset(angles_set, split="test")) == 12


def test_cfa_label_only_generator_is_continuous_in_x(runs):
    objective, _ = restore_objective(runs["contract-label_only"])
    gen = objective.networks["generator"]
    z = torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(0))
    coarse = measure_continuity(gen, z, torch.linspace(0, 1, 6), progress=False)
    fine = measure_continuity(gen, z, torch.linspace(0.4, 0.6, 41), progress=False)  # steps of 0.005
    assert 0 < fine["max_ratio"] < 3 * coarse["max_ratio"]
    assert max(fine["pair_ratios"]) / min(fine["pair_ratios"]) < 3  # no jump anywhere on the grid
    # The cGAN baseline jumps at class boundaries: its ratio grows as the grid gets finer.
    base, _ = restore_objective(runs["contract-cgan"])
    b_gen = base.networks["generator"]
    b_coarse = measure_continuity(b_gen, z, torch.linspace(0, 1, 6), progress=False)
    b_fine = measure_continuity(b_gen, z, torch.linspace(0.02, 0.10, 81), progress=False)  # steps of 0.001
    assert min(b_fine["pair_ratios"]) == 0 and b_fine["max_ratio"] > 10 * b_coarse["max_ratio"]


def test_continuity_reads_the_atoms_the_generator_uses_at_alpha_x(runs):
    objective, _ = restore_objective(runs["contract-label_only"])
    gen = objective.networks["generator"]
    gen.alpha = 3.0
    ts = [0.1, 0.2]
    result = measure_continuity(gen, torch.zeros(1, gen.z_dim), ts, progress=False)
    with torch.no_grad():
        a, b = (gen.atom_generator(torch.tensor([3.0 * t])).reshape(-1) for t in ts)
    assert result["atom_pair_ratios"][0] == pytest.approx(float((b - a).norm() / 0.1), rel=1e-4)


@pytest.mark.parametrize("model", ["contract-label_only", "contract-cgan"])
def test_fixed_z_with_different_x_gives_different_outputs(runs, model):
    objective, _ = restore_objective(runs[model])
    torch.manual_seed(0)
    _, outputs = objective.preview(None, [0, 4, 10], count=2)
    assert outputs.shape == (2, 3, 3, 16, 16)
    for row in outputs:
        assert (row[0] - row[2]).abs().mean() > 1e-4
    assert (outputs[0, 0] - outputs[1, 0]).abs().mean() > 1e-4  # another z, another image
    torch.manual_seed(0)
    assert torch.equal(outputs, objective.preview(None, [0, 4, 10], count=2)[1])  # seeded: repeatable


def test_cgan_baseline_resumes_bit_exactly(angles_set, tmp_path, monkeypatch):
    """The contract test runs ours (TINY_MODELS["label_only"]); the binned baseline here."""
    params = _params("train.steps=4", "train.checkpoint_every=2")
    whole = train("contract-cgan", params, angles_set, tmp_path / "whole", progress=False)
    assert whole["status"] == "complete"
    calls = {"n": 0}
    original = LabelOnlyObjective.step

    def crash_on_third(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(LabelOnlyObjective, "step", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        train("contract-cgan", params, angles_set, tmp_path / "broken", progress=False)
    monkeypatch.setattr(LabelOnlyObjective, "step", original)
    train("contract-cgan", params, angles_set, tmp_path / "broken", progress=False)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["state"]["networks"]
    b = torch.load(tmp_path / "broken" / "checkpoint.pt", weights_only=True)["state"]["networks"]
    for net in a:
        assert a[net].keys() == b[net].keys()
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    # The class cutoffs came from the training labels (6 even angles, 3 classes of 2).
    cutoffs = a["generator"]["bins.cutoffs"] * 90
    assert cutoffs.round().tolist() == [0, 4, 8, 10]


def test_objective_refuses_crops_and_unknown_losses(angles_set):
    info = open_dataset(angles_set).info()
    params = _params()
    with pytest.raises(UserError, match="load_size"):
        LabelOnlyObjective(CFA, {**params["train"], "crop_size": 8}, torch.device("cpu"), data_info=info).build(2, 2)
    bad = copy.deepcopy(CFA)
    bad["loss"]["gan_mode"] = "lsgan"
    with pytest.raises(UserError, match="hinge"):
        LabelOnlyObjective(bad, params["train"], torch.device("cpu"), data_info=info).build(2, 2)
    with pytest.raises(UserError, match="no input image"):
        obj = LabelOnlyObjective(CFA, params["train"], torch.device("cpu"), data_info=info)
        obj.build(2, 2)
        obj.generate(torch.zeros(1, 3, 16, 16), torch.zeros(1))


def test_hinge_loss_step_is_finite(angles_set):
    reader = open_dataset(angles_set)
    entry = copy.deepcopy(CFA)
    entry["loss"]["gan_mode"] = "hinge"
    obj = LabelOnlyObjective(entry, _params()["train"], torch.device("cpu"), data_info=reader.info())
    obj.build(2, 2)
    batch = next(iter(torch.utils.data.DataLoader(reader, batch_size=4)))
    losses = obj.step(obj.prepare_batch(batch, torch.Generator().manual_seed(0)))
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_d"] == pytest.approx(float(losses["loss_d_real"] + losses["loss_d_fake"]))


def test_sampler_gives_n_fakes_at_every_integer_label(runs, angles_set, capsys):
    objective, _ = restore_objective(runs["contract-label_only"])
    ts = open_testset(angles_set, SETTINGS, seed=0, progress=False)
    images, labels = ts.labelled_fakes(objective.generate)
    assert images.dtype == np.uint8 and images.shape == (12 * 3, 3, 16, 16)
    assert labels.tolist() == [float(v) for v in np.repeat(np.arange(12), 3)]
    # Labels past the largest training angle (10 deg) are sampled, with a warning.
    assert "outside the range seen in training" in capsys.readouterr().err
    again = open_testset(angles_set, SETTINGS, seed=0, progress=False).labelled_fakes(objective.generate)[0]
    assert np.array_equal(images, again)  # the evaluation seed fixes z
    other = open_testset(angles_set, SETTINGS, seed=1, progress=False).labelled_fakes(objective.generate)[0]
    assert not np.array_equal(images, other)
    reals, real_labels, types = ts.labelled_reals()
    assert reals.shape == (24, 3, 16, 16) and sorted(set(real_labels.tolist())) == list(range(12))
    assert sorted(set(types.tolist())) == [0, 1] and ts.attribute_names[0].startswith("procedural-chair")
    assert ts.counts() == {"labelled_fakes": 36, "fakes_per_label": 3, "eval_labels": 12, "real_images": 24}
    assert len(ts.fid_reference()[0]) == 24 and len(ts.fid_fakes(objective.generate)) == 36
    pairs = ts.diversity_pairs(objective.generate)
    assert pairs["lhs"].shape == pairs["rhs"].shape == (3 * 2, 3, 16, 16) and pairs["inputs"] == 3


def test_labels_without_real_images_are_skipped_and_reported(angles_set, tmp_path, runs, capsys):
    holes = tmp_path / "holes.h5"
    with h5py.File(angles_set) as src, h5py.File(holes, "w") as dst:
        keep = np.flatnonzero(~np.isin(src["labels"][:], [3, 7]))
        for key in src:
            dst[key] = src[key][:][keep] if len(src[key]) == len(src["labels"]) else src[key][:]
        dst.attrs.update(dict(src.attrs))
    ts = open_testset(holes, SETTINGS, seed=0, progress=False)
    assert "2 integer label(s)" in capsys.readouterr().err
    assert ts.labels_without_reals == [3, 7] and ts.describe()["labels_without_real_images"] == [3, 7]
    objective, _ = restore_objective(runs["contract-label_only"])
    _, labels = ts.labelled_fakes(objective.generate)
    assert 3 not in labels and 7 not in labels and len(labels) == 10 * 3
    with h5py.File(holes, "r+") as f:
        f.attrs["label_range"] = "[20, 30]"
    with pytest.raises(UserError, match="no real image has a label in 20 .. 30"):
        open_testset(holes, SETTINGS, seed=0, progress=False)


def test_evaluation_figure_and_cfa_sample_range(runs, tmp_path, capsys):
    run = runs["contract-label_only"]
    objective, info = restore_objective(run)
    ts = open_testset(info["data"], SETTINGS, seed=0, progress=False)
    ts.write_figure(objective.generate, tmp_path / "fig7.png", "tiny")
    assert Image.open(tmp_path / "fig7.png").size[0] > 200
    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(run), "--t", "range:6", "--out", str(out), "--inputs", "2",
                 "--device", "cpu"]) == 0
    meta = json.loads((out / "samples.json").read_text())
    assert meta["t"] == [0, 2.2, 4.4, 6.6, 8.8, 11]  # the dataset's range 0..11 deg
    assert [Image.open(out / f"sweep_{i:03d}.gif").n_frames for i in range(2)] == [6, 6]
    assert Image.open(out / "grid.png").size == (6 * 20, 2 * 20)  # rows of fixed z, no input column
    assert main(["sample", "--checkpoint", str(run), "--t", "range:1", "--out", str(out)]) == 2
    assert "range:N" in capsys.readouterr().err


def test_a_model_train_block_overrides_the_shared_train_section(angles_set, tmp_path):
    params = _params()
    params["models"]["contract-cgan"]["train"] = {"batch_size": 8, "steps": 7}
    own = train_params(params, "no-such-dataset.h5", "contract-cgan")
    assert own["batch_size"] == 8 and own["steps"] == 7 and own["seed"] == params["train"]["seed"]
    assert train_params(params, "no-such-dataset.h5", "contract-label_only")["batch_size"] == params["train"]["batch_size"]
    # params.yaml's cgan-cfa has its own train.steps (40000; the demo 150): --steps still wins.
    run = tmp_path / "run"
    assert main(["train", "--model", "cgan-cfa", "--data", str(angles_set), "--out", str(run), "--steps", "1",
                 "--set", "profile=demo", "--set", "train.device=cpu", "--no-progress"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["step"] == info["total_steps"] == 1 and info["train"]["batch_size"] == 16


def test_every_label_only_entry_of_params_yaml_builds():
    from cfa.config import read_yaml
    from cfa.networks.cgan import AtomLabelGenerator, ClassLabelGenerator, build_label_networks
    from factories import REPO

    entries = {k: v for k, v in read_yaml(REPO / "params.yaml")["models"].items() if v["objective"] == "label_only"}
    assert set(entries) >= {"cgan", "cgan-cfa"}
    for name, entry in entries.items():
        entry = copy.deepcopy(entry)
        entry["generator"].update(z_dim=8, ngf=4)
        entry["discriminator"].update(ndf=4)
        gen, disc = build_label_networks(entry, size=16, channels=3, train_labels=np.arange(1, 61) / 60)
        assert isinstance(gen, AtomLabelGenerator if entry["atoms"] else ClassLabelGenerator), name
        x = torch.tensor([0.2, 0.9])
        assert disc(gen(torch.randn(2, 8), x), x).shape == (2,)
        assert train_params({"train": {"batch_size": 16}, "models": {name: entry}}, "no-such-dataset.h5", name)["batch_size"] == 512
