"""GPU slots on one multi-GPU machine: every job that needs GPUs gets devices of its own.

Snakemake counts GPU jobs (a rule's `resources: gpu=1` against `--resources gpu=4`) but does not say
which device each job should use (snakemake issue 281), so four concurrent trainings would all open
cuda:0. Here each device of a configured pool is a slot guarded by an OS file lock (`flock`) on one
lock file per slot. A job takes free slots at start and sets CUDA_VISIBLE_DEVICES to them before
CUDA initialises, so it sees only its own devices (as cuda:0, cuda:1, ...).

- The pool is a property of the machine, not of an experiment, so it comes from the environment,
  not params.yaml: CFA_GPU_SLOTS="0,1,2,3" (the ids as CUDA_VISIBLE_DEVICES spells them: indices or
  GPU UUIDs). Export it before `snakemake`; jobs inherit it. Unset: nothing is done.
- Each slot is a `cfa.locks` file lock, which the kernel drops when its process dies, however it
  dies (SIGKILL, OOM kill), so a killed job frees its slots without any clean-up step.
- A job needing n devices takes all n or none: it never sits on some slots while waiting for more
  (two such jobs could otherwise block each other for ever).
- Under a scheduler that already assigns devices (Slurm sets SLURM_JOB_GPUS / SLURM_STEP_GPUS),
  the pool is not used: the scheduler's CUDA_VISIBLE_DEVICES stands.

Lock files live in CFA_GPU_SLOTS_DIR (default: <tmp>/cfa-gpu-slots, shared by all users of the
machine). Each holds the pid and command of its current holder, for the message when all are busy.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from cfa.errors import UserError
from cfa.locks import holder, release, try_lock

POOL_ENV = "CFA_GPU_SLOTS"
DIR_ENV = "CFA_GPU_SLOTS_DIR"
# Set by Slurm for jobs that were allocated GPUs: it has already chosen the devices.
SCHEDULER_ENVS = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS")


class GpuSlotsBusy(UserError, TimeoutError):
    """No n slots came free within the timeout."""


def configured_pool(env: Mapping[str, str] = os.environ) -> list[str] | None:
    """The device ids in CFA_GPU_SLOTS, or None when no pool is configured."""
    raw = env.get(POOL_ENV, "").strip()
    if not raw:
        return None
    devices = [d.strip() for d in raw.split(",")]
    if any(not re.fullmatch(r"[A-Za-z0-9_.:-]+", d) for d in devices):
        raise UserError(f"{POOL_ENV}={raw!r}: expected device ids separated by commas, "
                        f"e.g. {POOL_ENV}=0,1,2,3 (indices or GPU UUIDs as `nvidia-smi -L` prints them)")
    if len(set(devices)) != len(devices):
        raise UserError(f"{POOL_ENV}={raw!r} names a device twice; list each GPU once")
    return devices


def default_lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(DIR_ENV) or Path(tempfile.gettempdir()) / "cfa-gpu-slots")


def _lock_path(lock_dir: Path, device: str) -> Path:
    return lock_dir / f"slot-{device.replace(':', '_')}.lock"


def holders(pool: list[str], lock_dir: Path) -> dict[str, str]:
    """Device -> the holder its lock file names (for messages; may be stale for a free slot)."""
    return {device: holder(_lock_path(lock_dir, device)) for device in pool}


def _cuda_already_initialised() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


@contextlib.contextmanager
def acquire_gpu_slots(n: int = 1, *, pool: list[str] | None = None, lock_dir: Path | None = None,
                      timeout: float | None = None, poll_s: float = 0.5,
                      env: Mapping[str, str] | None = None) -> Iterator[list[str] | None]:
    """Hold n devices of the pool for the duration of the `with` block; yield their ids.

    Sets os.environ["CUDA_VISIBLE_DEVICES"] to them (restored on exit), so call it before anything
    initialises CUDA: `with acquire_gpu_slots(1): import torch; ...`. Without a pool (CFA_GPU_SLOTS
    unset), or when a scheduler has assigned devices, it does nothing and yields None.

    Waits for slots while all are taken (timeout=None: for as long as it takes, like a job queued
    for a GPU; a number: then raises GpuSlotsBusy naming the holders). n=0 does nothing.
    """
    env = os.environ if env is None else env
    pool = configured_pool(env) if pool is None else pool
    if n <= 0 or pool is None or any(env.get(k) for k in SCHEDULER_ENVS):
        yield None
        return
    if n > len(pool):
        raise UserError(f"this job needs {n} GPUs but the slot pool {POOL_ENV}={','.join(pool)} has "
                        f"{len(pool)}; list more devices in {POOL_ENV} or ask for fewer GPUs")
    if _cuda_already_initialised():
        raise RuntimeError("acquire_gpu_slots() must run before CUDA is initialised: "
                           "CUDA_VISIBLE_DEVICES is read once, when CUDA starts")
    lock_dir = default_lock_dir(env) if lock_dir is None else Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        lock_dir.chmod(0o1777)  # shared by the machine's users, like /tmp

    deadline = None if timeout is None else time.monotonic() + timeout
    said_waiting = False
    while True:
        held: dict[str, int] = {}
        for device in pool:
            fd = try_lock(_lock_path(lock_dir, device))
            if fd is not None:
                held[device] = fd
                if len(held) == n:
                    break
        if len(held) == n:
            break
        release(*held.values())  # all or nothing: never wait while holding slots
        if deadline is not None and time.monotonic() >= deadline:
            busy = "; ".join(f"GPU {d}: {h}" for d, h in holders(pool, lock_dir).items())
            raise GpuSlotsBusy(f"no {n} free GPU slot(s) in {POOL_ENV}={','.join(pool)} after {timeout:g} s "
                               f"(held by: {busy}; lock files in {lock_dir})")
        if not said_waiting:
            print(f"cfa: waiting for {n} free GPU slot(s) of {','.join(pool)}", file=sys.stderr, flush=True)
            said_waiting = True
        time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - time.monotonic())))

    devices = list(held)
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        yield devices
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        release(*held.values())
