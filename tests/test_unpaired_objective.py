"""The unpaired (CycleGAN) objective, its image pool, and the unpaired test protocol, on tiny
simulated cells: the t of every generator call, t-dependence, the deterministic baseline's zero
LPIPS, FID pairing, figures and `cfa sample --t figure`."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from cfa.datasets.cells import prepare_cells
from cfa.datasets.kinds import open_dataset
from cfa.errors import UserError
from cfa.metrics.suite import evaluate
from cfa.metrics.testsets import open_testset
from cfa.training.loop import train
from cfa.training.objectives.image_pool import ImagePool
from cfa.training.objectives.unpaired import UnpairedObjective
from factories import TINY_MODELS, tiny_params
from pipeline.cli import main

SETTINGS = {"batch_size": 8, "fid_max_images": 100, "lpips_inputs": 3, "lpips_pairs": 3}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    path = tmp_path_factory.mktemp("cells") / "cells.h5"
    prepare_cells(path, counts=(1, 6), per_count=3, source_images=8, size=32, progress=False, test_fraction=0.34)
    return path


def model(label_input: str) -> dict:
    entry = copy.deepcopy(TINY_MODELS["unpaired"])
    entry["generator"]["label_input"] = label_input
    if label_input != "atoms":
        entry["atoms"] = None
    return entry


def build(cells, label_input="atoms", seed=0):
    torch.manual_seed(seed)
    reader = open_dataset(cells)
    params = tiny_params("unpaired")
    objective = UnpairedObjective(model(label_input), params["train"], torch.device("cpu"), data_info=reader.info())
    objective.build(total_steps=4, decay_start=2)
    return objective, reader


def test_cycle_and_identity_losses_use_the_authors_t(cells):
    objective, reader = build(cells)
    batch = next(iter(torch.utils.data.DataLoader(reader, batch_size=4, shuffle=False)))
    prepared = objective.prepare_batch(batch, torch.Generator().manual_seed(0))
    real_A, real_B, t = prepared["source"], prepared["target"], prepared["t"]
    assert len(set(t.tolist())) > 1 and (t > 0).all()
    calls = []
    for name in ("G_A", "G_B"):
        net = objective.networks[name]
        original = net.forward

        def spy(x, t_, _name=name, _original=original):
            y = _original(x, t_)
            calls.append((_name, x.detach().clone(), torch.as_tensor(t_).detach().clone(), y.detach().clone()))
            return y
        net.forward = spy
    objective.step(prepared)

    def find(name, x):
        hits = [c for c in calls if c[0] == name and c[1].shape == x.shape and torch.equal(c[1], x)]
        assert len(hits) == 1, (name, len(hits))
        return hits[0]

    assert len(calls) == 6
    _, _, t_fake_B, fake_B = find("G_A", real_A)            # fake_B = G_A(A, |R2 - R1|)
    _, _, t_rec_A, _ = find("G_B", fake_B)                  # rec_A = G_B(fake_B, |R2 - R1|)
    _, _, t_fake_A, fake_A = find("G_B", real_B)            # fake_A = G_B(B, |R2 - R1|)
    _, _, t_rec_B, _ = find("G_A", fake_A)                  # rec_B = G_A(fake_A, |R2 - R1|)
    for used in (t_fake_B, t_rec_A, t_fake_A, t_rec_B):
        assert torch.equal(used, t)
    identity = [c for c in calls if not torch.equal(c[2], t)]
    assert {c[0] for c in identity} == {"G_A", "G_B"} and len(identity) == 2
    for name, x, t_used, _ in identity:                      # G_A(B, R2 -> R2 + 0.01), G_B(A, ...)
        assert torch.allclose(t_used, torch.full_like(t, 0.01))
        assert torch.equal(x, real_B if name == "G_A" else real_A)


def test_the_same_input_at_two_t_differs_except_for_the_label_free_baseline(cells):
    sources = open_dataset(cells).preview_sources(1).expand(2, -1, -1, -1)
    t = torch.tensor([0.2, 0.8])
    for label_input in ("atoms", "channel"):
        objective, _ = build(cells, label_input)
        objective.eval()
        with torch.no_grad():
            y = objective.generate(sources, t)
        assert (y[0] - y[1]).abs().max() > 1e-4, label_input
    baseline, _ = build(cells, "none")
    baseline.eval()
    with torch.no_grad():
        y = baseline.generate(sources, t)
    assert torch.equal(y[0], y[1])
    assert not hasattr(baseline.networks["G_A"], "atom_generator") or baseline.networks["G_A"].atom_generator is None


def test_a_reflection_padded_label_channel_would_vanish_under_instance_norm():
    """Why cyclegan-label zero-pads its stem (cfa.networks.cyclegan.LabelChannelResnetGenerator)."""
    from cfa.networks.build import init_weights
    from cfa.networks.cyclegan import LabelChannelResnetGenerator
    from cfa.networks.pix2pix import ResnetGenerator

    x = (torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1).expand(2, -1, -1, -1)
    gaps = {}
    for cls in (ResnetGenerator, LabelChannelResnetGenerator):
        torch.manual_seed(0)
        gen = init_weights(cls(1, 1, 4, 1, "instance", 0.0)).eval()
        with torch.no_grad():
            y = gen(x, torch.tensor([0.2, 0.8]))
        gaps[cls.__name__] = float((y[0] - y[1]).abs().max())
    assert gaps["ResnetGenerator"] < 1e-4 < gaps["LabelChannelResnetGenerator"]


def test_the_deterministic_baselines_lpips_is_exactly_zero_and_ours_is_not(cells):
    scores = {}
    for label_input in ("none", "atoms"):
        objective, _ = build(cells, label_input)
        objective.eval()
        record, _ = evaluate(objective.generate, cells, ["lpips_diversity"], settings=SETTINGS, pretrained=False,
                             seed=0, device="cpu", progress=False)
        scores[label_input] = record["values"]["lpips_diversity"]
        assert record["lpips_diversity"]["pairs"] == 3 * 3
        assert "ignores t" in record["data"]["protocol"]["lpips_diversity"]
    assert scores["none"] == 0.0 and scores["atoms"] > 0


def test_fid_translates_test_sources_to_each_real_targets_condition(cells, tmp_path):
    ts = open_testset(cells, SETTINGS, seed=0, progress=False)
    reals, key = ts.fid_reference()
    seen = []

    def generate(x, t):
        seen.append(t.clone())
        return torch.zeros_like(x)

    fakes = ts.fid_fakes(generate)
    assert key is None and len(fakes) == len(reals) == len(ts.target_rows)
    np.testing.assert_allclose(torch.cat(seen).numpy(), ts.target_t)
    assert ts.describe()["protocol"]["fid"].startswith("FID (Inception pool3) of translated test sources")
    assert ts.counts()["test_sources"] == 3 and ts.describe()["source"] == "simulated"
    # a seeded subset when there are more test targets than evaluate.fid_max_images
    small = open_testset(cells, {**SETTINGS, "fid_max_images": 3}, seed=0, progress=False)
    subset, rows = small.fid_reference()
    assert len(subset) == 3 and rows is not None and len(small.fid_fakes(generate)) == 3
    objective, _ = build(cells)
    objective.eval()
    ts.write_figure(objective.generate, tmp_path / "fig.png", "cells")
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_a_file_without_a_test_split_is_refused(tmp_path):
    path = tmp_path / "nosplit.h5"
    prepare_cells(path, counts=(1, 3), per_count=2, size=16, progress=False)
    with pytest.raises(UserError, match=r"no \['split'\] array.*cfa prepare --dataset"):
        open_testset(path, SETTINGS, seed=0, progress=False)


def test_image_pool_fills_then_swaps_by_the_given_draws():
    pool = ImagePool(2)
    g = torch.Generator().manual_seed(0)
    a = torch.arange(3.0).reshape(3, 1, 1, 1)
    out = pool.query(a, {"uniform": torch.tensor([0.9, 0.9, 0.9]), "slot": torch.tensor([0, 0, 1])})
    # two stored and returned as they are; the third swaps with slot 1 (image 1 comes back)
    assert out.flatten().tolist() == [0.0, 1.0, 1.0] and [float(i) for i in pool.images] == [0.0, 2.0]
    out = pool.query(torch.tensor([7.0]).reshape(1, 1, 1, 1), {"uniform": torch.tensor([0.1]),
                                                               "slot": torch.tensor([0])})
    assert out.flatten().tolist() == [7.0] and [float(i) for i in pool.images] == [0.0, 2.0]
    twin = ImagePool(2)
    twin.load_state(pool.state(), torch.device("cpu"))
    assert torch.equal(twin.state(), pool.state())
    draws = pool.draws(5, g)
    assert draws["slot"].max() < 2 and draws["uniform"].shape == (5,)
    assert ImagePool(0).query(a, draws).shape == a.shape


def test_missing_cyclegan_loss_settings_are_named(cells):
    entry = model("atoms")
    del entry["loss"]["identity_t"]
    objective = UnpairedObjective(entry, tiny_params("unpaired")["train"], torch.device("cpu"),
                                  data_info=open_dataset(cells).info())
    objective.build_networks()
    with pytest.raises(UserError, match=r"loss lacks \['identity_t'\]"):
        objective.build_optimizers(4, 2)


def test_sample_sweeps_the_datasets_figure_labels(cells, tmp_path, capsys):
    params = tiny_params("unpaired", "train.steps=2", "train.checkpoint_every=2", "train.sample_every=2")
    run = tmp_path / "run"
    train("contract-unpaired", params, cells, run, progress=False)
    out = tmp_path / "fig6"
    assert main(["sample", "--checkpoint", str(run), "--t", "figure", "--inputs", "2", "--out", str(out)]) == 0
    record = json.loads((out / "samples.json").read_text())
    assert record["t"] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]   # 1 -> 6 cells
    assert record["label_unit"] == "cells" and (out / "sweep.gif").stat().st_size > 0
    assert len(record["strips"]) == 2
    rc = main(["sample", "--checkpoint", str(run), "--t", "0.5,3", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert rc == 2 and "target label 0.5 cells is outside the cells encoding's range [1, 6]" in err
