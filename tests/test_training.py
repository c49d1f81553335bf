"""The shared training loop and the paired (Eq. 8) objective, on a tiny rendered rotation set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from cfa.config import load_params
from cfa.errors import UserError
from cfa.training.loop import StepBatches, train
from cfa.training.objectives import restore_objective
from cfa.training.objectives.paired import PairedObjective
from cfa.training.samples import parse_t_spec
from cfa.training.schedule import LinearDecay, plan_steps

REPO = Path(__file__).resolve().parents[1]


def tiny_params(model: str, *extra: str) -> dict:
    """demo profile shrunk to seconds: 32x32, ngf 8, 2 blocks, one-step rk4 ODE."""
    m = f"models.{model}"
    overrides = ["profile=demo", f"{m}.generator.ngf=8", f"{m}.generator.n_blocks=2",
                 f"{m}.discriminator.ndf=8", "train.batch_size=4", "train.steps=4",
                 "train.checkpoint_every=2", "train.log_every=1", "train.sample_every=2",
                 "train.device=cpu", *extra]
    if model.endswith("-cfa"):
        overrides.append(f"{m}.atoms.method=rk4")
    return load_params(REPO / "params.yaml", overrides)


@pytest.mark.parametrize("model", ["pix2pix-cfa", "pix2pix"])
def test_training_writes_finite_losses_checkpoint_and_run_dir(rotation_set, tmp_path, model):
    run = tmp_path / "run"
    info = train(model, tiny_params(model), rotation_set, run, progress=False)
    assert info["status"] == "complete" and info["step"] == 4 and info["total_steps"] == 4
    assert info["images_per_s"] > 0 and len(info["data_sha256"]) == 64

    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4
    assert set(ckpt["state"]["networks"]) == {"generator", "discriminator"}
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    if model.endswith("-cfa"):
        assert any("atom" in k for k in ckpt["state"]["networks"]["generator"])

    metrics = json.loads((run / "live" / "metrics.json").read_text())
    assert metrics["step"] == 4
    for name in ("loss_g", "loss_d", "loss_l1", "images_per_s"):
        assert math.isfinite(metrics["train"][name])
    assert (run / "live" / "plots" / "metrics" / "train" / "loss_g.tsv").read_text().count("\n") == 5
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert not any(p.name == "dvc.yaml" for p in run.rglob("*"))  # DVCLive made no dvc.yaml

    objective, loaded = restore_objective(run)
    gen = objective.networks["generator"]
    assert not gen.training and loaded["model"] == model and loaded["step"] == 4
    assert loaded["data_info"] == {"kind": "rotation", "channels": 3, "size": 32, "label_unit": "deg",
                                   "t_scale": 90.0}
    with torch.no_grad():
        out = objective.generate(torch.zeros(2, 3, 32, 32), torch.tensor([0.1, 0.9]))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1


def test_rerunning_a_complete_run_does_nothing(rotation_set, tmp_path):
    run = tmp_path / "run"
    params = tiny_params("pix2pix", "train.steps=2")
    train("pix2pix", params, rotation_set, run, progress=False)
    before = (run / "checkpoint.pt").stat().st_mtime_ns
    info = train("pix2pix", params, rotation_set, run, progress=False)
    assert info["status"] == "complete"
    assert (run / "checkpoint.pt").stat().st_mtime_ns == before


def test_checkpoint_from_another_config_is_refused_with_the_differences(rotation_set, tmp_path):
    run = tmp_path / "run"
    train("pix2pix", tiny_params("pix2pix", "train.steps=2"), rotation_set, run, progress=False)
    other = tiny_params("pix2pix", "train.steps=2", "models.pix2pix.generator.ngf=4",
                        "models.pix2pix.optim.lr=0.001")
    with pytest.raises(UserError) as err:
        train("pix2pix", other, rotation_set, run, progress=False)
    msg = str(err.value)
    assert "model_params.generator.ngf: checkpoint 8, now 4" in msg
    assert "model_params.optim.lr" in msg and "refusing to resume" in msg
    with pytest.raises(UserError, match="model: checkpoint 'pix2pix', now 'pix2pix-cfa'"):
        train("pix2pix-cfa", tiny_params("pix2pix-cfa", "train.steps=2"), rotation_set, run,
              progress=False)


def test_nan_loss_stops_naming_step_and_loss_and_keeps_last_good_checkpoint(rotation_set, tmp_path,
                                                                            monkeypatch):
    real_step = PairedObjective.step
    calls = {"n": 0}

    def step_that_diverges_at_3(self, batch):
        losses = real_step(self, batch)
        calls["n"] += 1
        if calls["n"] == 3:
            losses["loss_d"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(PairedObjective, "step", step_that_diverges_at_3)
    run = tmp_path / "run"
    with pytest.raises(UserError) as err:
        train("pix2pix", tiny_params("pix2pix"), rotation_set, run, progress=False)
    assert "step 3" in str(err.value) and "loss_d = nan" in str(err.value)
    assert "step 2" in str(err.value)  # the kept checkpoint
    # The resume state keeps the last good checkpoint; the declared files never appeared.
    assert torch.load(run / "resume" / "checkpoint.pt", weights_only=True)["step"] == 2
    assert json.loads((run / "resume" / "run.json").read_text())["status"] == "failed"
    assert not (run / "checkpoint.pt").exists() and not (run / "run.json").exists()


def test_missing_dataset_names_the_render_command(tmp_path):
    params = tiny_params("pix2pix")
    with pytest.raises(UserError, match=r"cfa render --source procedural --category chair .*--out .*RC-49.h5"):
        train("pix2pix", params, tmp_path / "RC-49.h5", tmp_path / "run", progress=False)
    with pytest.raises(UserError, match="not in params.yaml models"):
        train("no-such-model", params, tmp_path / "RC-49.h5", tmp_path / "run", progress=False)


def test_data_order_is_a_function_of_seed_and_step():
    a, b = StepBatches(10, 4, seed=3), StepBatches(10, 4, seed=3)
    assert a.batches_per_epoch == 2
    epoch0 = a.indices(0) + a.indices(1)
    assert len(set(epoch0)) == 8  # no repeats within an epoch
    # Asking in any order (as a resumed run does) gives the same batches.
    assert [b.indices(s) for s in (5, 0, 1)] == [a.indices(5), a.indices(0), a.indices(1)]
    assert StepBatches(10, 4, seed=4).indices(0) != a.indices(0)


def test_linear_decay_schedule_matches_pix2pix_shape():
    total, start = plan_steps({"epochs": 100, "epochs_decay": 100, "steps": None}, batches_per_epoch=3)
    assert (total, start) == (600, 300)
    total, start = plan_steps({"epochs": 1, "epochs_decay": 1, "steps": 10}, batches_per_epoch=99)
    assert (total, start) == (10, 5)
    f = LinearDecay(10, 5)
    assert [f(s) for s in (0, 4)] == [1.0, 1.0]
    factors = [f(s) for s in range(5, 10)]
    assert all(x > y > 0 for x, y in zip(factors, factors[1:]))
    assert LinearDecay(10, 10)(9) == 1.0  # no decay phase: constant


def test_t_spec_lists_and_half_open_ranges():
    assert parse_t_spec("0,10,45") == [0.0, 10.0, 45.0]
    r = parse_t_spec("0:90:2.5")
    assert len(r) == 36 and r[0] == 0 and r[-1] == 87.5
    with pytest.raises(UserError, match="START:STOP:STEP"):
        parse_t_spec("0:90")
    with pytest.raises(UserError):
        parse_t_spec("a,b")


def _resized(images, size):
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                                           antialias=True).clamp(-1, 1)


def test_random_shift_keeps_the_scale_and_gives_source_and_target_the_same_window():
    from cfa.images import random_shift_view

    ramp = torch.linspace(-1, 1, 32)
    source = (ramp[None, :] + 0 * ramp[:, None]).expand(2, 3, 32, 32)  # varies along x
    target = (ramp[:, None] + 0 * ramp[None, :]).expand(2, 3, 32, 32)  # varies along y
    pair = torch.cat([source, target], 1)
    g = torch.Generator().manual_seed(0)
    out = random_shift_view(pair, load_size=40, crop_size=24, generator=g)
    assert out.shape == (2, 6, 24, 24)
    again = random_shift_view(pair, 40, 24, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # a function of the generator's seed
    # The whole image at the working size (24, the scale of sampling and evaluation), edge-padded by
    # load - crop = 16 px: every window of the padded picture is a shift, never a zoom.
    whole = _resized(pair, 24)
    padded = torch.nn.functional.pad(whole, (8, 8, 8, 8), mode="replicate")
    for i in range(2):
        # Source (varies along x) and target (along y) fix one window of the padded pair together.
        assert any(torch.equal(out[i], padded[i, :, y:y + 24, x:x + 24]) for y in range(17) for x in range(17))
    assert torch.equal(random_shift_view(pair, 24, 24, g), whole)  # no margin: no shift
    assert random_shift_view(pair, None, None, g) is pair


def test_t_spec_rejects_non_finite_values_and_runaway_ranges():
    for spec in ("nan", "0,inf", "0:inf:1", "0:90:nan"):
        with pytest.raises(UserError, match="finite"):
            parse_t_spec(spec)
    # A mistyped STEP would otherwise try to build 10^15 values and hang.
    with pytest.raises(UserError, match="at most"):
        parse_t_spec("0:1e9:1e-6")
    assert len(parse_t_spec("0:90:0.01")) == 9000


def test_config_differences_name_a_replaced_block_once():
    from cfa.training.checkpoint import config_differences

    saved = {"model": "pix2pix-cfa", "model_params": {"atoms": {"n_atoms": 8, "method": "dopri5"},
                                                      "generator": {"ngf": 16}}}
    current = {"model": "pix2pix", "model_params": {"atoms": None, "generator": {"ngf": 16}}}
    assert config_differences(saved, current) == [
        "  model: checkpoint 'pix2pix-cfa', now 'pix2pix'",
        "  model_params.atoms: checkpoint {'n_atoms': 8, 'method': 'dopri5'}, now None",
    ]
    assert config_differences({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["  a.c: checkpoint '<absent>', now 2"]
    assert config_differences(saved, saved) == []


def test_training_view_is_the_whole_image_at_the_working_size():
    from cfa.images import training_view, working_size

    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert training_view(images, None, None) is images
    assert working_size(40, 36) == 36 and working_size(40, None) == 40 and working_size(None, None) is None
    # No crop: sampling and evaluation see all of the picture at the scale training saw it.
    assert torch.equal(training_view(images, 40, 36), _resized(images, 36))
    assert torch.equal(training_view(images, 40, None), _resized(images, 40))


def test_sample_grids_during_training_use_the_training_scale(rotation_set, tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    # 32x32 data trained at 36x36 with shifts of up to 4 px, like the paper's 256 with load 286.
    params = tiny_params("pix2pix", "train.steps=2", "train.load_size=40", "train.crop_size=36")
    train("pix2pix", params, rotation_set, run, progress=False)
    tile = 36 + 2 * 2  # padded tiles
    grid = Image.open(run / "samples" / "step_000002.png")
    assert grid.size == (tile * 8, tile * 2)  # 2 objects x (source + 7 angles)


def test_a_schedule_with_nothing_to_train_is_refused():
    with pytest.raises(UserError, match="nothing to train"):
        plan_steps({"epochs": 0, "epochs_decay": 0, "steps": None}, batches_per_epoch=5)
    assert plan_steps({"epochs": 0, "epochs_decay": 0, "steps": 3}, batches_per_epoch=5) == (3, 3)


def test_a_checkpoint_whose_layers_do_not_fit_is_refused_readably(rotation_set, tmp_path):
    # Same config, different code (a layer renamed in another cfa version): the state dicts no
    # longer fit. Both resuming and loading the generator must say so without a traceback.
    run = tmp_path / "run"
    params = tiny_params("pix2pix", "train.steps=2")
    train("pix2pix", params, rotation_set, run, progress=False)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    gen_state = ckpt["state"]["networks"]["generator"]
    gen_state["head.1.renamed_weight"] = gen_state.pop("head.1.weight")
    ckpt["step"] = 1
    torch.save(ckpt, run / "checkpoint.pt")
    with pytest.raises(UserError, match=r"(?s)generator network does not fit.*head\.1\.weight"):
        train("pix2pix", params, rotation_set, run, progress=False)
    with pytest.raises(UserError, match=r"(?s)saved generator does not fit.*head\.1\.renamed_weight"):
        restore_objective(run)


def test_rerunning_a_complete_run_draws_lost_curves_again(rotation_set, tmp_path, capsys):
    # Killed after the final checkpoint but before curves.png: the command again must complete
    # the run directory (the workflows declare curves.png as an output), without training.
    from pipeline.cli import main

    run = tmp_path / "run"
    overrides = ["profile=demo", "models.pix2pix.generator.ngf=8", "models.pix2pix.generator.n_blocks=2",
                 "models.pix2pix.discriminator.ndf=8", "train.batch_size=4", "train.steps=2",
                 "train.checkpoint_every=2", "train.device=cpu"]
    command = ["train", "--model", "pix2pix", "--data", str(rotation_set), "--out", str(run), "--no-progress",
               "--params", str(REPO / "params.yaml")] + [a for o in overrides for a in ("--set", o)]
    assert main(command) == 0
    (run / "curves.png").unlink()
    before = (run / "checkpoint.pt").stat().st_mtime_ns
    assert main(command) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (run / "curves.png").is_file()
    assert (run / "checkpoint.pt").stat().st_mtime_ns == before
