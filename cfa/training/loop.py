"""The shared training loop: data order, devices, AMP, checkpoints, resume, logging, samples.

Objectives (`cfa.training.objectives`) plug into it; the dataset file's kind picks the reader
(`cfa.datasets.kinds`). The loop knows no data shape. A run lives in one directory:

    RUN_DIR/checkpoint.pt          the final weights and state (written when the run completes)
    RUN_DIR/run.json               what was trained on what, images/s, status (on completion)
    RUN_DIR/resume/                the latest checkpoint and run.json while the run trains
    RUN_DIR/.lock                  held while `cfa train` writes the directory (one writer)
    RUN_DIR/live/                  DVCLive metrics (losses, images/s) per logged step
    RUN_DIR/curves.png             the same curves as a picture (written at the end)
    RUN_DIR/samples/step_XXXXXX.png  the objective's preview: fixed inputs across a sweep of t

Resuming reproduces an uninterrupted run exactly on CPU: the data order and the augmentation are a pure
function of (seed, step) and every RNG state travels in the checkpoint, so a run killed at any
moment continues from its last checkpoint as if it had never stopped. The resume state lives in
RUN_DIR/resume/, outside the files a workflow declares, so it survives Snakemake or DVC deleting a
killed job's outputs.
"""

from __future__ import annotations

import csv
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cfa.datasets import catalog, kinds
from cfa.devices import resolve_device
from cfa.errors import UserError
from cfa.images import training_view
from cfa.io import sha256_file, write_json_atomic
from cfa.training import checkpoint as ckpt_io
from cfa.training import distributed
from cfa.training.curves import CURVES_PNG, write_curves
from cfa.training.objectives import objective_class
from cfa.training.samples import write_grid
from cfa.training.schedule import plan_steps

PREVIEW_INPUTS = 4


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class StepBatches:
    """Batch indices as a pure function of (seed, step): a fresh seeded permutation per epoch.

    Nothing to save but the step, so resuming needs no sampler state beyond the checkpoint's step.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int):
        if n_items < 1:
            raise UserError("the training split is empty: the dataset has no training items "
                            "(check how it was split when it was made)")
        self.n_items = n_items
        self.batch_size = min(batch_size, n_items)
        self.seed = seed
        self.batches_per_epoch = n_items // self.batch_size
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_items)
            self._epoch = epoch
        return self._perm[k * self.batch_size:(k + 1) * self.batch_size].tolist()

    def state(self, step: int) -> dict:
        return {"seed": self.seed, "step": step, "epoch": step // self.batches_per_epoch,
                "batches_per_epoch": self.batches_per_epoch}


class _BatchSampler(torch.utils.data.Sampler):
    def __init__(self, batches: StepBatches, start: int, stop: int):
        self.batches, self.start, self.stop = batches, start, stop

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.batches.indices(step)

    def __len__(self):
        return self.stop - self.start


def _trim_live_logs(live_dir: Path, last_step: int) -> None:
    """Drop metric rows logged after the checkpoint we resume from (they will be logged again)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        with open(tsv, newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows:
            continue
        header, body = rows[0], rows[1:]
        if "step" not in header:
            continue
        col = header.index("step")
        kept = [r for r in body if len(r) == len(header) and int(r[col]) <= last_step]
        if len(kept) != len(body):
            with open(tsv, "w", newline="") as f:
                csv.writer(f, delimiter="\t").writerows([header, *kept])


class Trainer:
    """One run: `Trainer(...).run()` trains, checkpoints and logs until the step budget is spent.

    The trainer knows no data shape: the file's kind picks its reader, the model's objective
    prepares each batch and takes the step.
    """

    def __init__(self, model: str, params: dict, data: str | Path, out: str | Path,
                 progress: bool = True):
        self.model = model
        self.params = params
        self.data = Path(data)
        self.out = Path(out)
        self.progress = progress
        models = params.get("models") or {}
        if model not in models:
            raise UserError(f"--model {model!r}: not in params.yaml models; known: {sorted(models)}")
        self.model_params = models[model]
        # params' `train`, with the dataset's own settings and the model's own block over it.
        self.train_params = catalog.train_params(params, self.data, model)
        if not self.data.is_file():
            raise UserError(f"dataset not found: {self.data}\nmake it with:\n  "
                            f"{catalog.how_to_make(self.data, params)}")
        self.objective_name = self.model_params.get("objective", "paired")
        self.objective_cls = objective_class(self.objective_name)
        self.kind = kinds.require_kind(self.data, self.objective_cls.dataset_kinds,
                                       f"model {model} (objective {self.objective_name})")
        # Under torchrun: this process's rank; only rank 0 writes the run directory.
        self.ddp = distributed.from_environment()
        self.main = self.ddp is None or self.ddp.is_main

    # -- run bookkeeping ---------------------------------------------------------------------
    def _info(self, step: int, total: int, status: str, images_per_s: float | None,
              seconds: float, device: torch.device, **extra) -> dict:
        return {
            "model": self.model, "objective": self.objective_name,
            "model_params": self.model_params, "train": self.train_params,
            "data": str(self.data), "data_sha256": self.data_sha256, "data_info": self.data_info,
            "t_scale": self.data_info.get("t_scale"), "label_unit": self.data_info.get("label_unit"),
            "step": step, "total_steps": total, "status": status,
            "images_per_s": None if images_per_s is None else round(images_per_s, 3),
            "train_seconds": round(seconds, 3), "device": str(device),
            "checkpoint": ckpt_io.CHECKPOINT, **extra,
        }

    @property
    def resume_dir(self) -> Path:
        return self.out / ckpt_io.RESUME_DIR

    def run(self) -> dict:
        if not self.main:
            return self._run()
        with ckpt_io.run_directory_lock(self.out):
            return self._run()

    def _resume_point(self) -> Path:
        """The checkpoint to continue from: the resume state, else a complete run's final one."""
        in_progress = self.resume_dir / ckpt_io.CHECKPOINT
        return in_progress if in_progress.is_file() else self.out / ckpt_io.CHECKPOINT

    def _run(self) -> dict:
        self.data_sha256 = sha256_file(self.data)
        config = ckpt_io.identity_config(self.model, self.model_params, self.train_params, self.data_sha256)
        run_json = self.out / ckpt_io.RUN_JSON
        ckpt_path = self._resume_point()

        resume = None
        if ckpt_path.is_file():
            resume = ckpt_io.load_checkpoint(ckpt_path)
            diffs = ckpt_io.config_differences(resume["config"], config)
            if diffs:
                raise UserError(f"{ckpt_path} was written by a different model/config; refusing to resume.\n"
                                f"Differences:\n" + "\n".join(diffs) +
                                f"\nUse another --out, or delete {self.out} to start afresh.")
            if run_json.is_file() and ckpt_path == self.out / ckpt_io.CHECKPOINT:
                info = ckpt_io.read_run_info(self.out)
                if info.get("status") == "complete" and info.get("step") == resume["step"]:
                    print(f"cfa train: {self.out} is complete ({info['step']} steps); nothing to do",
                          file=sys.stderr)
                    return info

        tp = self.train_params
        seed = int(tp["seed"])
        device = resolve_device(tp["device"])
        if self.ddp is not None and device.type == "cuda":
            device = torch.device("cuda", self.ddp.local_rank)
            torch.cuda.set_device(device)
        seed_everything(seed)
        dataset = kinds.open_dataset(self.data, split="train", kind=self.kind)
        self.data_info = dataset.info()
        batches = StepBatches(len(dataset), int(tp["batch_size"]), seed)
        total, decay_start = plan_steps(tp, batches.batches_per_epoch)
        objective = self.objective_cls(self.model_params, tp, device, amp=bool(tp["amp"]),
                                       data_info=self.data_info)
        objective.build(total, decay_start)
        if self.ddp is not None:
            self.ddp.prepare(objective)

        step, seconds = 0, 0.0
        if resume is not None:
            objective.load_state_dict(resume["state"], source=str(ckpt_path))
            ckpt_io.set_rng_state(resume["rng"])
            step, seconds = int(resume["step"]), float(resume.get("train_seconds", 0.0))
            if self.main:
                print(f"cfa train: resuming {self.out} from its checkpoint at step {step}/{total} ({ckpt_path})",
                      file=sys.stderr)

        if not self.main:
            self._loop(objective, dataset, batches, step, total, seconds, config, device, None, None)
            return {"status": "complete", "step": total, "rank": self.ddp.rank}
        preview_sources = self._preview_sources(dataset, device)
        live = self._open_live(resume_step=step if resume is not None else None)
        try:
            info = self._loop(objective, dataset, batches, step, total, seconds, config, device,
                              live, preview_sources, resume.get("log_window") if resume else None)
        finally:
            live.end()
        return self._publish(info)

    def _publish(self, info: dict) -> dict:
        """Make the complete run's declared files appear, the checkpoint last-but-one and run.json
        last, then drop the resume state (a kill in between resumes from the final checkpoint)."""
        write_curves(self.out / "live", self.out / CURVES_PNG, title=f"{self.model} on {self.data.stem}")
        state = self.resume_dir / ckpt_io.CHECKPOINT
        if state.is_file():
            os.replace(state, self.out / ckpt_io.CHECKPOINT)
        write_json_atomic(self.out / ckpt_io.RUN_JSON, info)
        shutil.rmtree(self.resume_dir, ignore_errors=True)
        return info

    def _open_live(self, resume_step: int | None):
        from dvclive import Live

        live_dir = self.out / "live"
        if resume_step is not None and live_dir.is_dir():
            _trim_live_logs(live_dir, resume_step)
        # Never touch the repository's dvc.yaml or DVC experiments: the pipeline owns those.
        return Live(dir=str(live_dir), resume=resume_step is not None, save_dvc_exp=False,
                    dvcyaml=None, report=None)

    def _preview_sources(self, dataset, device: torch.device) -> torch.Tensor | None:
        """Fixed inputs of the progress pictures, at the scale the generator trains on."""
        sources = dataset.preview_sources(PREVIEW_INPUTS)
        if sources is None:
            return None
        tp = self.train_params
        return training_view(sources, tp.get("load_size"), tp.get("crop_size")).to(device)

    def _write_samples(self, objective, sources: torch.Tensor | None, step: int) -> None:
        objective.eval()
        # Sampling must not disturb the training RNG streams (resume reproducibility).
        device = objective.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            first_column, outputs = objective.preview(sources)
        objective.train()
        write_grid(self.out / "samples" / f"step_{step:06d}.png", first_column, outputs)

    def _checkpoint(self, objective, batches, step, total, seconds, config, device,
                    images_per_s, status, log_window: dict | None = None) -> None:
        payload = {
            "format": ckpt_io.FORMAT, "step": step, "train_seconds": seconds, "config": config,
            "state": objective.state_dict(), "rng": ckpt_io.rng_state(),
            "sampler": batches.state(step),
            # Loss sums of the steps since the last DVCLive row, so that a resumed run logs the
            # same means as an unbroken one when checkpoint_every is not a multiple of log_every.
            "log_window": log_window or {"losses": {}, "n": 0},
        }
        ckpt_io.save_checkpoint(self.resume_dir / ckpt_io.CHECKPOINT, payload)
        write_json_atomic(self.resume_dir / ckpt_io.RUN_JSON,
                          self._info(step, total, status, images_per_s, seconds, device))

    def _loop(self, objective, dataset, batches, step, total, seconds, config, device, live,
              preview_sources, log_window: dict | None = None) -> dict:
        from tqdm import tqdm

        tp = self.train_params
        every_ckpt, every_log, every_sample = (int(tp["checkpoint_every"]), int(tp["log_every"]),
                                               int(tp["sample_every"]))
        seed = int(tp["seed"])
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=_BatchSampler(batches, step, total),
            num_workers=int(tp["num_workers"]), pin_memory=device.type == "cuda",
            # Its own generator: by default starting an iterator draws a base seed from the global
            # torch RNG, which a resumed run would do at a different point than an unbroken one.
            generator=torch.Generator().manual_seed(seed))
        # Augmentation (crops, flips) draws from its own generator, seeded per step, so that it is
        # a pure function of (seed, step) and survives resumption.
        augment_rng = torch.Generator()
        window_losses: dict[str, float] = dict((log_window or {}).get("losses") or {})
        window_n = int((log_window or {}).get("n") or 0)
        window_images, window_seconds = 0, 0.0
        images_per_s = None
        last_good = step if self._resume_point().is_file() else None
        main = self.main
        if step >= total and not main:
            return {}
        if step >= total:
            # The final checkpoint exists but run.json was lost (killed while publishing).
            return self._info(step, total, "complete", step * batches.batch_size / max(seconds, 1e-9),
                              seconds, device)
        objective.train()
        bar = tqdm(total=total, initial=step, unit="step", desc=f"train {self.model}",
                   file=sys.stderr, dynamic_ncols=True, disable=not (self.progress and main))
        # Throughput counts data loading and the step, not sample grids or checkpoint writes.
        t0 = time.perf_counter()
        try:
            for raw_batch in loader:
                augment_rng.manual_seed(seed * 1_000_003 + step)
                batch = objective.prepare_batch(raw_batch, augment_rng)
                batch_images = len(next(iter(raw_batch.values())))
                if self.ddp is not None:
                    batch = self.ddp.share(batch, batch_images)
                lr = next(iter(objective.optimizers.values())).param_groups[0]["lr"]
                losses = objective.step(batch)
                values = torch.stack([v.float() for v in losses.values()])
                if self.ddp is not None:
                    values = self.ddp.mean(values)  # every rank sees the batch's losses
                values = values.cpu()
                step += 1
                if not torch.isfinite(values).all():
                    bad = ", ".join(f"{k} = {v:.4g}" for k, v in zip(losses, values.tolist())
                                    if not math.isfinite(v))
                    kept = (f"the last good checkpoint (step {last_good}) is kept in "
                            f"{self._resume_point()}" if last_good is not None
                            else "no checkpoint had been written yet")
                    if main:
                        write_json_atomic(self.resume_dir / ckpt_io.RUN_JSON,
                                          self._info(last_good or 0, total, "failed", images_per_s, seconds,
                                                     device, error=f"non-finite loss at step {step}: {bad}"))
                    raise UserError(f"training diverged at step {step}: {bad}; {kept}. Lower the "
                                    f"learning rate (models.{self.model}.optim.lr) or check the data.")
                dt = time.perf_counter() - t0
                seconds += dt
                window_seconds += dt
                window_images += batch_images
                window_n += 1
                for k, v in zip(losses, values.tolist()):
                    window_losses[k] = window_losses.get(k, 0.0) + v
                bar.update(1)
                if not main:
                    t0 = time.perf_counter()
                    continue
                if step % every_log == 0 or step == total:
                    images_per_s = window_images / max(window_seconds, 1e-9)
                    live.step = step
                    for k, v in window_losses.items():
                        live.log_metric(f"train/{k}", v / window_n)
                    live.log_metric("train/images_per_s", images_per_s)
                    live.log_metric("train/lr", lr)
                    live.make_summary()
                    bar.set_postfix({k: f"{v / window_n:.3f}" for k, v in window_losses.items()
                                     if k in ("loss_g", "loss_d", "loss_l1")} | {"img/s": f"{images_per_s:.1f}"})
                    window_losses, window_n, window_images, window_seconds = {}, 0, 0, 0.0
                if step % every_sample == 0 or step == total:
                    self._write_samples(objective, preview_sources, step)
                if step % every_ckpt == 0 or step == total:
                    overall = step * batches.batch_size / max(seconds, 1e-9)
                    self._checkpoint(objective, batches, step, total, seconds, config, device, overall,
                                     "complete" if step == total else "running",
                                     {"losses": dict(window_losses), "n": window_n})
                    last_good = step
                t0 = time.perf_counter()
        finally:
            bar.close()
        if step < total:
            raise RuntimeError(f"data loader stopped at step {step} of {total}")
        return ckpt_io.read_run_info(self.resume_dir) if main else {}


def train(model: str, params: dict, data: str | Path, out: str | Path, progress: bool = True) -> dict:
    """Train `model` (a key of params['models']) on the dataset file `data` into run dir `out`."""
    return Trainer(model, params, data, out, progress=progress).run()
