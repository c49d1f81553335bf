"""Checkpoints: plain data only, written atomically, loadable with `torch.load(weights_only=True)`.

A checkpoint holds the objective's networks, optimisers, schedulers (and AMP scaler), the step,
every RNG state (python, numpy, torch CPU, CUDA) and the run's identity config. `run.json` beside
it describes the run for people and for inference (`cfa.training.objectives.restore_objective`).

While a run trains, its checkpoints and progress live in RUN_DIR/resume/; RUN_DIR/checkpoint.pt and
RUN_DIR/run.json appear only when the run is complete. The workflows declare only the complete
files, so a killed Snakemake or DVC job, whose declared outputs they delete, loses nothing: the
same command resumes from RUN_DIR/resume/. RUN_DIR/.lock (an OS lock) admits one writer at a time.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cfa.errors import UserError
from cfa.io import atomic_output

# torch is imported inside the functions that need it, so that `cfa train` can tell a complete
# run from run.json alone and exit without loading torch.

CHECKPOINT = "checkpoint.pt"
RUN_JSON = "run.json"
RESUME_DIR = "resume"
LOCK_FILE = ".lock"
FORMAT = 1
# The train keys that change what a run computes; the others (logging cadence, device, workers)
# may differ between a run and its resumption.
IDENTITY_TRAIN_KEYS = ("batch_size", "epochs", "epochs_decay", "steps", "load_size", "crop_size",
                       "init_gain", "seed", "flip", "test_size")


def identity_config(model: str, model_params: dict, train: dict, data_sha256: str) -> dict:
    """What a checkpoint must agree with to be resumed (or to count as this run, finished)."""
    return {"model": model, "model_params": model_params,
            "train": {k: train.get(k) for k in IDENTITY_TRAIN_KEYS}, "data_sha256": data_sha256}


def completed_run(run_dir: str | Path, config: dict) -> dict | None:
    """run.json of `run_dir` if it records a complete run of exactly `config`, else None."""
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file() or not (run_dir / RUN_JSON).is_file():
        return None
    try:
        info = json.loads((run_dir / RUN_JSON).read_text())
    except (OSError, ValueError):
        return None
    if info.get("status") != "complete":
        return None
    recorded = identity_config(info.get("model"), info.get("model_params"), info.get("train") or {},
                               info.get("data_sha256"))
    return info if recorded == config else None


def rng_state() -> dict:
    import torch

    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": np_state[0], "keys": np_state[1].tolist(), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict) -> None:
    import torch

    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which and what to do
        raise UserError(f"{path}: not a readable cfa checkpoint ({type(e).__name__}: {e}); delete it "
                        f"to start the run afresh") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path}: not a cfa checkpoint of format {FORMAT}")
    return ckpt


def load_state(obj: Any, state: dict, what: str, path: str | Path) -> None:
    """obj.load_state_dict(state), with a mismatch (a checkpoint of another cfa version, whose
    layers are named or shaped differently) reported as a UserError listing what does not fit."""
    try:
        obj.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as e:
        lines = str(e).strip().splitlines()
        detail = "\n".join(lines[:12]) + ("\n  ..." if len(lines) > 12 else "")
        raise UserError(f"{path}: the saved {what} does not fit the {what} this version of cfa builds "
                        f"from the same config:\n{detail}\nTrain again into another --out.") from None


_ABSENT = "<absent>"


def config_differences(saved: dict, current: dict) -> list[str]:
    """Readable lines `key: checkpoint X, now Y` for every leaf that differs.

    A block that is a mapping on one side and not on the other (atoms: {...} vs atoms: null) is
    one line, not one line per key of the mapping.
    """
    lines: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k, _ABSENT), b.get(k, _ABSENT), f"{prefix}.{k}" if prefix else str(k))
        elif a != b:
            lines.append(f"  {prefix}: checkpoint {a!r}, now {b!r}")

    walk(saved, current, "")
    return lines


def read_run_info(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise UserError(f"{run_dir}: no {RUN_JSON} here; is this a run directory written by `cfa train`?")
    return json.loads(path.read_text())


@contextlib.contextmanager
def run_directory_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold RUN_DIR's lock for the `with` block; another holder alive is a UserError naming it."""
    from cfa.locks import holder, release, try_lock

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = try_lock(run_dir / LOCK_FILE)
    if fd is None:
        raise UserError(f"{run_dir} is in use by another `cfa train` ({holder(run_dir / LOCK_FILE)}); "
                        f"two trainings must not write one run directory. Wait for it to finish or stop "
                        f"that process; a lock left by a killed process frees itself.")
    try:
        yield
    finally:
        release(fd)
