"""GPU slots: concurrent processes get distinct devices from the pool, a killed holder frees its
slot, and waiting and timing out are explicit. Real processes and real flock locks; no GPU needed
(the slots are only names handed out through CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cfa.errors import UserError
from cfa.gpu_slots import GpuSlotsBusy, acquire_gpu_slots, configured_pool

# One job: take n slots, report CUDA_VISIBLE_DEVICES, hold them until told to stop.
JOB = """
import os, sys, time
from pathlib import Path
from cfa.gpu_slots import acquire_gpu_slots
n, lock_dir, report, release, timeout = sys.argv[1:]
try:
    with acquire_gpu_slots(int(n), lock_dir=lock_dir, timeout=None if timeout == "none" else float(timeout),
                           poll_s=0.05):
        Path(report).write_text(os.environ["CUDA_VISIBLE_DEVICES"])
        while not Path(release).exists():
            time.sleep(0.02)
except Exception as e:
    Path(report).write_text(f"{type(e).__name__}: {e}")
    sys.exit(3)
"""


class Jobs:
    def __init__(self, tmp_path: Path, pool: str):
        self.dir = tmp_path
        self.locks = tmp_path / "locks"
        self.release = tmp_path / "release"
        self.env = {**os.environ, "CFA_GPU_SLOTS": pool}
        self.env.pop("SLURM_JOB_GPUS", None)
        self.env.pop("SLURM_STEP_GPUS", None)
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int = 1, timeout: str = "none") -> tuple[subprocess.Popen, Path]:
        report = self.dir / f"job{len(self.procs)}.txt"
        proc = subprocess.Popen([sys.executable, "-c", JOB, str(n), str(self.locks), str(report),
                                 str(self.release), timeout], env=self.env)
        self.procs.append(proc)
        return proc, report

    def stop_all(self):
        self.release.touch()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def jobs(tmp_path):
    made = []

    def make(pool):
        made.append(Jobs(tmp_path, pool))
        return made[-1]

    yield make
    for j in made:
        j.stop_all()


def wait_for(report: Path, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if report.exists() and report.read_text():
            return report.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{report.name}: nothing reported within {seconds} s")


def test_concurrent_processes_get_distinct_slots_and_a_fifth_times_out_naming_the_holders(jobs):
    j = jobs("0,1,2,3")
    started = [j.start() for _ in range(4)]
    devices = [wait_for(report) for _, report in started]
    assert sorted(devices) == ["0", "1", "2", "3"]

    proc, report = j.start(timeout="0.3")
    assert proc.wait(timeout=20) == 3
    message = wait_for(report)
    assert message.startswith("GpuSlotsBusy: no 1 free GPU slot(s) in CFA_GPU_SLOTS=0,1,2,3 after 0.3 s")
    assert all(f"pid {p.pid}" in message for p, _ in started)


def test_a_sigkilled_holder_frees_its_slot_for_a_waiting_job(jobs):
    j = jobs("0,1")
    (a, report_a), (_, report_b) = j.start(), j.start()
    device_a, device_b = wait_for(report_a), wait_for(report_b)
    assert {device_a, device_b} == {"0", "1"}

    waiter, report_w = j.start()  # no timeout: waits, like a job queued for a GPU
    time.sleep(0.5)
    assert not report_w.exists() and waiter.poll() is None
    a.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel drops the flock
    assert wait_for(report_w) == device_a


def test_a_multi_gpu_job_takes_all_its_slots_or_none(jobs, tmp_path):
    j = jobs("0,1,2")
    _, report_a = j.start(n=2)
    assert wait_for(report_a) == "0,1"
    waiter, report_w = j.start(n=2)  # needs 2, only "2" is free: it must not sit on "2" meanwhile
    time.sleep(0.3)
    with acquire_gpu_slots(1, pool=["0", "1", "2"], lock_dir=j.locks, timeout=5, poll_s=0.01,
                           env={}) as mine:
        assert mine == ["2"] and os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert waiter.poll() is None and not report_w.exists()


def test_slots_set_and_restore_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "before")
    with acquire_gpu_slots(2, pool=["GPU-aa", "GPU-bb", "GPU-cc"], lock_dir=tmp_path, env={}) as devices:
        assert devices == ["GPU-aa", "GPU-bb"]
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-aa,GPU-bb"
        # Locks are per open file, so a second taker in this very process is refused too.
        with pytest.raises(GpuSlotsBusy), acquire_gpu_slots(2, pool=["GPU-aa", "GPU-bb", "GPU-cc"],
                                                             lock_dir=tmp_path, timeout=0, env={}):
            pass
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "before"
    with acquire_gpu_slots(3, pool=["GPU-aa", "GPU-bb", "GPU-cc"], lock_dir=tmp_path, timeout=0, env={}):
        pass  # all free again


def test_no_pool_or_a_scheduler_that_assigned_gpus_means_nothing_is_done(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with acquire_gpu_slots(1, env={}) as devices:
        assert devices is None and os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    with acquire_gpu_slots(1, lock_dir=tmp_path, env={"CFA_GPU_SLOTS": "0,1", "SLURM_JOB_GPUS": "3"}) as devices:
        assert devices is None and os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    assert not list(tmp_path.iterdir())


def test_configuration_mistakes_are_user_errors(tmp_path):
    assert configured_pool({"CFA_GPU_SLOTS": " 0, 1 ,2"}) == ["0", "1", "2"]
    assert configured_pool({}) is None
    with pytest.raises(UserError, match="names a device twice"):
        configured_pool({"CFA_GPU_SLOTS": "0,0"})
    with pytest.raises(UserError, match="device ids separated by commas"):
        configured_pool({"CFA_GPU_SLOTS": "0;1"})
    with pytest.raises(UserError, match="needs 3 GPUs but the slot pool CFA_GPU_SLOTS=0,1 has 2"):
        with acquire_gpu_slots(3, lock_dir=tmp_path, env={"CFA_GPU_SLOTS": "0,1"}):
            pass


def test_refuses_once_cuda_is_initialised(tmp_path, monkeypatch):
    """CUDA reads CUDA_VISIBLE_DEVICES once, when it starts: setting it later would silently not apply."""
    import types

    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    with pytest.raises(RuntimeError, match="before CUDA is initialised"):
        with acquire_gpu_slots(1, pool=["0"], lock_dir=tmp_path, env={}):
            pass
