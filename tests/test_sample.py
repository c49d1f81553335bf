"""`cfa sample`: strips, a grid and an animated GIF from a trained run, for a range of t."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from cfa.training.loop import train
from pipeline.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_training import tiny_params  # noqa: E402

SIZE, PAD = 32, 2


@pytest.fixture(scope="module")
def run_dir(rotation_set, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "pix2pix-cfa"
    # InstanceNorm: BatchNorm's running statistics need far more than 2 steps before eval-mode
    # outputs stop being flat grey, and this test looks at how outputs change with t.
    params = tiny_params("pix2pix-cfa", "train.steps=2", "models.pix2pix-cfa.generator.norm=instance")
    train("pix2pix-cfa", params, rotation_set, run, progress=False)
    return run


def test_sample_writes_strips_grid_and_gif_for_a_t_range(run_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    # 0:90:7.5 -> 12 angles, most never seen in training (the set trains on multiples of 20 deg).
    assert main(["sample", "--checkpoint", str(run_dir), "--t", "0:90:7.5", "--out", str(out),
                 "--inputs", "2", "--device", "cpu"]) == 0
    tile = SIZE + 2 * PAD
    strips = sorted(out.glob("strip_*.png"))
    assert [p.name for p in strips] == ["strip_000.png", "strip_001.png"]
    for p in strips:
        assert Image.open(p).size == (tile * 13, tile)  # the input + 12 outputs
    assert Image.open(out / "grid.png").size == (tile * 13, tile * 2)
    gif = Image.open(out / "sweep.gif")
    assert gif.n_frames == 12 and gif.size == (tile * 2, tile)
    meta = json.loads((out / "samples.json").read_text())
    assert meta["t"][0] == 0 and meta["t"][-1] == 82.5 and meta["t_scale"] == 90.0
    assert meta["step"] == 2 and meta["model"] == "pix2pix-cfa"
    # Different t give different images: the condition reaches the generator.
    frames = []
    for i in (0, 11):
        gif.seek(i)
        frames.append(gif.convert("RGB").tobytes())
    assert frames[0] != frames[1]


def test_sample_list_of_t_and_user_errors(run_dir, tmp_path, capsys):
    out = tmp_path / "list"
    assert main(["sample", "--checkpoint", str(run_dir), "--t", "0,45,67.5", "--out", str(out),
                 "--inputs", "1", "--device", "cpu"]) == 0
    assert Image.open(out / "sweep.gif").n_frames == 3
    assert main(["sample", "--checkpoint", str(tmp_path / "nothing"), "--t", "0,45",
                 "--out", str(out)]) == 2
    assert "no run.json" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run_dir), "--t", "0:90", "--out", str(out)]) == 2
    assert "START:STOP:STEP" in capsys.readouterr().err


def test_sample_feeds_inputs_at_the_training_scale(rotation_set, tmp_path, capsys):
    run = tmp_path / "run"
    # 32x32 images trained as 36x36 crops of 40x40 resizes: the generator's inputs must match.
    params = tiny_params("pix2pix", "train.steps=1", "train.load_size=40", "train.crop_size=36")
    train("pix2pix", params, rotation_set, run, progress=False)
    out = tmp_path / "sweep"
    assert main(["sample", "--checkpoint", str(run), "--t", "0,45", "--out", str(out), "--inputs", "1",
                 "--device", "cpu"]) == 0
    tile = 36 + 2 * PAD
    assert Image.open(out / "strip_000.png").size == (tile * 3, tile)


def test_sample_user_errors_name_the_option(run_dir, tmp_path, capsys):
    import torch

    out = tmp_path / "out"
    assert main(["sample", "--checkpoint", str(run_dir), "--t", "0,nan", "--out", str(out)]) == 2
    assert "not finite" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["sample", "--checkpoint", str(run_dir), "--t", "0,45", "--out", str(out),
                     "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "--device cuda" in err and "train.device" not in err
    assert not out.exists()


def test_sample_of_a_stochastic_generator_is_repeatable_with_its_seed(rotation_set, tmp_path):
    run = tmp_path / "basisgan"
    model = "pix2pix-basisgan"
    params = tiny_params(model, "train.steps=1", f"models.{model}.generator.norm=instance")
    train(model, params, rotation_set, run, progress=False)

    def grid(name, *extra):
        out = tmp_path / name
        assert main(["sample", "--checkpoint", str(run), "--t", "0,45", "--out", str(out), "--inputs", "1",
                     "--device", "cpu", *extra]) == 0
        return Image.open(out / "grid.png").tobytes()

    assert grid("a") == grid("b")  # fresh atoms every forward, but the same seed
    assert grid("c", "--seed", "1") != grid("a")
