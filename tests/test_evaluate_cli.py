"""`cfa stats`, `cfa evaluate` end to end on a tiny rotation set with offline backbones, then `cfa table 2`."""

import json

import numpy as np
import pytest
import torch

from cfa.io import sha256_file
from pipeline.cli import main
from test_interpolation import write_rotation_set

OFFLINE = ["--set", "metrics.pretrained_backbones=false", "--set", "evaluate.fid_max_images=12",
           "--set", "evaluate.batch_size=16", "--set", "evaluate.lpips_inputs=2",
           "--set", "evaluate.lpips_pairs=3", "--set", "evaluate.figure_step_deg=30"]


class RollByT(torch.nn.Module):
    """A stand-in generator: the source shifted sideways in proportion to t."""

    def forward(self, x, t):
        return torch.stack([torch.roll(xi, int(round(float(ti) * 20)), dims=-1) for xi, ti in zip(x, t)])


@pytest.fixture()
def rotation_set(tmp_path):
    path = write_rotation_set(tmp_path / "RA-20.h5")
    (tmp_path / "RA-20.json").write_text(json.dumps({"dataset": "RA-20"}))
    return path


class RollObjective:
    """A stand-in for a restored objective: generate() rolls the source sideways by t."""

    def __init__(self):
        self.generator = RollByT().eval()

    def set_network_mode(self, mode):
        self.network_mode = mode
        self.network_mode = "eval"

    def set_network_mode(self, mode):
        self.network_mode = mode

    def generate(self, x, t):
        return self.generator(x, t)


def test_stats_then_evaluation_then_table(tmp_path, rotation_set, monkeypatch, capsys):
    import cfa.training.objectives as objectives
    stats = tmp_path / "RA-20.fid.npz"
    assert main(["stats", "--data", str(rotation_set), "--out", str(stats), *OFFLINE]) == 0
    assert stats.is_file() and "written to" in capsys.readouterr().err
    with np.load(stats) as f:
        assert f["mu"].shape == (2048,) and int(f["count"]) == 12
    assert main(["stats", "--data", str(rotation_set), "--out", str(stats), *OFFLINE]) == 0
    assert "already holds" in capsys.readouterr().err

    sha = sha256_file(rotation_set)
    monkeypatch.setattr(objectives, "restore_objective", lambda run_dir, device="cpu": (
        RollObjective(), {"model": "pix2pix-cfa", "data": str(rotation_set), "data_sha256": sha, "step": 150}))
    out = tmp_path / "metrics" / "RA-20.pix2pix-cfa.json"
    fig = tmp_path / "fig3.png"
    command = ["evaluate", "--run", str(tmp_path / "run"), "--fid-stats", str(stats), "--out", str(out),
               "--figure", str(fig), "--metrics", "fid,lpips_diversity,interpolation", *OFFLINE]
    assert main(command) == 0
    m = json.loads(out.read_text())
    assert m["model"] == "pix2pix-cfa" and m["dataset"] == "RA-20" and m["network_mode"] == "eval"
    assert m["data"]["sweep"] == "test-split" and m["data"]["split_rule"] == "grid:5"
    assert m["data"]["source"] == "procedural" and m["data"]["sha256"] == sha
    assert m["backbones"]["pretrained"] is False and "NOT comparable" in m["WARNING"]
    assert m["checkpoint"]["step"] == 150
    assert m["counts"] == {"fid_fake": 12, "fid_real": 12, "lpips_pairs": 6, "lpips_inputs": 2,
                           "interpolation": 36, "generated_test": 36}
    assert m["fid"]["full_rank"] is False and m["values"]["fid"] > 0
    assert m["values"]["lpips_diversity"] > 0          # output depends on t
    assert m["values"]["interp_mae_unseen"] > 0
    assert m["params"]["evaluate"]["fid_max_images"] == 12
    assert fig.stat().st_size > 1000
    assert "WARNING" in capsys.readouterr().err

    # Statistics of other rows (another seed) are refused, never rewritten by the evaluation.
    before = stats.read_bytes()
    assert main([*command, "--set", "seed=1"]) == 2
    assert "cfa stats" in capsys.readouterr().err and stats.read_bytes() == before
    # Only the named metrics.
    assert main([*command, "--metrics", "lpips_diversity", "--out", str(tmp_path / "lpips.json")]) == 0
    assert set(json.loads((tmp_path / "lpips.json").read_text())["values"]) == {"lpips_diversity"}

    assert main(["table", "2", "--metrics", str(out), "--out", str(tmp_path / "table2")]) == 0
    js = json.loads((tmp_path / "table2.json").read_text())["table2"]
    assert js["RA-20"]["pix2pix-cfa"]["fid"] == pytest.approx(m["values"]["fid"])
    assert js["RA-20"]["pix2pix-cfa"]["interp_mae_unseen"] == pytest.approx(m["values"]["interp_mae_unseen"])


def test_user_errors(tmp_path, rotation_set, monkeypatch, capsys):
    stats = str(tmp_path / "s.npz")
    assert main(["stats", "--data", str(tmp_path / "absent.h5"), "--out", stats, *OFFLINE]) == 2
    assert "absent.h5" in capsys.readouterr().err
    # A wrong --run fails before any work.
    assert main(["evaluate", "--run", str(tmp_path / "no-run"), "--out", str(tmp_path / "m.json"),
                 "--fid-stats", stats, *OFFLINE]) == 2
    assert "no-run" in capsys.readouterr().err
    # A file that is not HDF5 (e.g. the manifest) is named, without a traceback.
    manifest = rotation_set.with_suffix(".json")
    assert main(["stats", "--data", str(manifest), "--out", stats, *OFFLINE]) == 2
    err = capsys.readouterr().err
    assert f"{manifest} is not a readable HDF5 dataset" in err and "Traceback" not in err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    assert main(["stats", "--data", str(rotation_set), "--out", stats]) == 2
    err = capsys.readouterr().err
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "pretrained_backbones=false" in err


def test_generator_runs_at_its_training_scale_and_outputs_at_the_data_size():
    from cfa.training.objectives.paired import PairedObjective

    seen = []

    class Identity(torch.nn.Module):
        def forward(self, x, t):
            seen.append(tuple(x.shape))
            return x

    def objective(load_size, crop_size):
        obj = PairedObjective({}, {"load_size": load_size, "crop_size": crop_size}, torch.device("cpu"))
        obj.networks = {"generator": Identity()}
        return obj

    # A smooth picture: resampling keeps it, while a zoomed crop would move every pixel.
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 6, 6) * 2 - 1, size=(64, 64), mode="bilinear")
    y = objective(286, 256).generate(x, torch.zeros(2))
    assert seen[-1] == (2, 3, 256, 256) and y.shape == x.shape
    assert (y - x).abs().mean() < 0.05  # up and down again: the same picture, not a zoomed crop
    assert torch.equal(objective(None, None).generate(x, torch.zeros(2)), x) and seen[-1] == (2, 3, 64, 64)


def test_evaluation_networks_and_the_label_aware_metrics(tmp_path, rotation_set, monkeypatch, capsys):
    """`cfa evalnet` trains the networks the metrics need; `cfa evaluate` reads them: the angle error
    of a model that ignores t is large, of one that outputs the true frame small; refused for
    another dataset."""
    import cfa.training.objectives as objectives
    from cfa.datasets.rotation import load_rotation_arrays

    small = ["--set", "evalnets.batch_size=16", "--set", "evalnets.autoencoder.epochs=2",
             "--set", "evalnets.autoencoder.ch=8", "--set", "evalnets.autoencoder.dim_bottleneck=32",
             "--set", "evalnets.regressor.epochs=25", "--set", "evalnets.regressor.depth=18",
             "--set", "evalnets.regressor.width=8", "--set", "evalnets.classifier.epochs=2",
             "--set", "evalnets.classifier.depth=18", "--set", "evalnets.classifier.width=8"]
    nets = tmp_path / "evalnets"
    assert main(["evalnet", "--data", str(rotation_set), "--out", str(nets), "--no-progress",
                 "--nets", "autoencoder,regressor,classifier", *OFFLINE, *small]) == 0
    summary = json.loads((nets / "evalnets.json").read_text())
    assert set(summary) == {"autoencoder", "regressor", "classifier"}
    floor = summary["regressor"]["test_metric"]["value"]

    data = load_rotation_arrays(rotation_set)
    sha = sha256_file(rotation_set)

    class TruthObjective:
        """Outputs the true render of the asked-for angle (a perfect model)."""

        def set_network_mode(self, mode):
            pass

        def generate(self, x, t):
            out = []
            for xi, ti in zip(x, t):
                obj = int(np.argmin([np.abs(data.images[s].astype(float) / 127.5 - 1 - xi.numpy()).mean()
                                     for s in data.source_index]))
                row = np.flatnonzero((data.types == obj) & np.isclose(data.angles, float(ti) * 90))[0]
                out.append(torch.from_numpy(data.images[row]).float() / 127.5 - 1)
            return torch.stack(out)

    errors = {}
    for name, objective in (("truth", TruthObjective()), ("still", RollObjective())):
        monkeypatch.setattr(objectives, "restore_objective", lambda run_dir, device="cpu", o=objective: (
            o, {"model": name, "data": str(rotation_set), "data_sha256": sha, "step": 1}))
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "--run", "r", "--evalnets", str(nets), "--out", str(out), "--no-progress",
                     "--metrics", "label_score,ae_fid", *OFFLINE]) == 0
        m = json.loads(out.read_text())
        assert m["label_score"]["floor"] == floor and m["values"]["label_score_floor"] == floor
        assert m["label_score"]["unit"] == "deg" and m["ae_fid"]["images_real"] == m["ae_fid"]["images_fake"]
        errors[name] = (m["values"]["label_score"], m["values"]["ae_fid"])
    # The perfect model scores its regressor's floor and an AE-FID of about 0; the roll model worse.
    assert errors["truth"][0] == pytest.approx(floor, rel=1e-6) and errors["truth"][1] < 1e-6
    assert errors["still"][1] > errors["truth"][1]

    # Networks of another dataset are refused.
    other = write_rotation_set(tmp_path / "other.h5", n_objects=3)
    assert main(["evaluate", "--run", "r", "--data", str(other), "--evalnets", str(nets), "--no-progress",
                 "--out", str(tmp_path / "x.json"), "--metrics", "ae_fid", *OFFLINE]) == 2
    assert "trained on dataset sha256" in capsys.readouterr().err
