"""Kill `cfa train` with SIGKILL mid-run, start it again: the weights end up identical to a run that
was never interrupted (CPU, same seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

import cfa.training.objectives  # noqa: F401  (loads torch._dynamo before any rendering; see there)

REPO = Path(__file__).resolve().parents[1]
CFA = [sys.executable, "-m", "pipeline.cli"]
STEPS = 8


def train_command(data: Path, run: Path, steps: int = STEPS, checkpoint_every: int = 2) -> list[str]:
    m = "models.pix2pix-cfa"
    sets = ["profile=demo", f"{m}.generator.ngf=8", f"{m}.generator.n_blocks=2", f"{m}.discriminator.ndf=8",
            f"{m}.atoms.method=rk4", "train.batch_size=4", "train.log_every=1", "train.sample_every=100",
            "train.device=cpu"]
    cmd = [*CFA, "train", "--model", "pix2pix-cfa", "--data", str(data), "--out", str(run),
           "--steps", str(steps), "--checkpoint-every", str(checkpoint_every), "--seed", "7", "--no-progress",
           "--params", str(REPO / "params.yaml")]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def test_sigkilled_run_resumes_to_identical_weights(rotation_set, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    # The uninterrupted reference runs alongside (each process is single-threaded).
    reference = subprocess.Popen(train_command(rotation_set, whole), cwd=REPO, env=env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen(train_command(rotation_set, killed), cwd=REPO, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (killed / "resume" / "checkpoint.pt").exists():
            assert proc.poll() is None, "training exited before its first checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    interrupted_at = torch.load(killed / "resume" / "checkpoint.pt", weights_only=True)["step"]
    assert not (killed / "checkpoint.pt").exists()  # the declared output appears only when complete
    assert interrupted_at < STEPS

    _, reference_err = reference.communicate(timeout=300)
    assert reference.returncode == 0, reference_err

    again = subprocess.run(train_command(rotation_set, killed), cwd=REPO, env=env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr

    a = torch.load(whole / "checkpoint.pt", weights_only=True)
    b = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == STEPS
    for net in ("generator", "discriminator"):
        sa, sb = a["state"]["networks"][net], b["state"]["networks"][net]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{net}.{key} differs after resume"
    for opt in ("generator", "discriminator"):
        for pid, st in a["state"]["optimizers"][opt]["state"].items():
            assert torch.equal(st["exp_avg"], b["state"]["optimizers"][opt]["state"][pid]["exp_avg"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])

    # Running the finished command again is a no-op that exits 0 without touching the run.
    before = (killed / "checkpoint.pt").stat().st_mtime_ns
    noop = subprocess.run(train_command(rotation_set, killed), cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=120)
    assert noop.returncode == 0 and "nothing to do" in noop.stdout
    assert (killed / "checkpoint.pt").stat().st_mtime_ns == before

    # The resumed run's metric logs hold each step once, as the uninterrupted run's do.
    rows = (killed / "live" / "plots" / "metrics" / "train" / "loss_g.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == [str(s) for s in range(1, STEPS + 1)]


def test_resumed_run_logs_the_same_metric_means_as_an_unbroken_one(rotation_set, tmp_path, monkeypatch):
    # checkpoint_every (2) is not a multiple of log_every (3): the row at step 3 averages steps
    # 1..3, two of them from before the interruption.
    from test_training import tiny_params

    from cfa.training.loop import train
    from cfa.training.objectives.paired import PairedObjective

    params = tiny_params("pix2pix", "train.steps=6", "train.checkpoint_every=2", "train.log_every=3",
                         "train.sample_every=100")
    train("pix2pix", params, rotation_set, tmp_path / "whole", progress=False)

    real_step, calls = PairedObjective.step, {"n": 0}

    def interrupted_at_step_3(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(PairedObjective, "step", interrupted_at_step_3)
    try:
        train("pix2pix", params, rotation_set, tmp_path / "broken", progress=False)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(PairedObjective, "step", real_step)
    assert torch.load(tmp_path / "broken" / "resume" / "checkpoint.pt", weights_only=True)["step"] == 2
    train("pix2pix", params, rotation_set, tmp_path / "broken", progress=False)

    for name in ("loss_g", "loss_d", "loss_l1"):
        tsv = Path("live") / "plots" / "metrics" / "train" / f"{name}.tsv"
        assert (tmp_path / "broken" / tsv).read_text() == (tmp_path / "whole" / tsv).read_text(), name


def test_one_writer_per_run_directory(rotation_set, tmp_path):
    """A second `cfa train` on a run directory in use is refused naming the holder; a killed
    holder's lock never blocks the next run."""
    run = tmp_path / "run"
    # A long run that writes no checkpoint before it is killed.
    long_run = train_command(rotation_set, run, steps=100_000, checkpoint_every=100_000)
    first = subprocess.Popen(long_run, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (run / ".lock").exists() or f"pid {first.pid}" not in (run / ".lock").read_text():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run(long_run, cwd=REPO, env=env(), capture_output=True, text=True, timeout=240)
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid}" in second.stderr and "in use" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    again = subprocess.run(train_command(rotation_set, run), cwd=REPO, env=env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (run / "checkpoint.pt").is_file() and not (run / "resume").exists()
