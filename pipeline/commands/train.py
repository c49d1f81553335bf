"""`cfa train`: train one model on one prepared dataset into a run directory."""

from __future__ import annotations

from pipeline.common import add_params_arguments, params_from_args

NAME = "train"
HELP = "train a model (pix2pix, pix2pix-cfa, ...) on a dataset file; resumable"
DESCRIPTION = """Train one model from params.yaml `models:` on one dataset file. The file's kind (rotation,
paired-images, unpaired-with-label, labelled) picks its reader; the model's objective must accept it.

  cfa train --model pix2pix-cfa --data data/demo/rotation/RC-49.h5 --out runs/demo/pix2pix-cfa/RC-49 \\
            --set profile=demo

`--nproc-per-node N` trains data-parallel over N processes (torchrun; NCCL on GPUs, gloo on the CPU);
or launch it yourself: torchrun --standalone --nproc-per-node N -m pipeline.cli train ...

RUN_DIR gets checkpoint.pt (latest = resume point = final weights), run.json, live/ (DVCLive
metrics) and samples/step_XXXXXX.png. Killing the command and starting it again resumes from the
last checkpoint; running it again on a complete run does nothing. A checkpoint written with a
different model or config is refused with the list of differences.
"""


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="a key of params.yaml models:, e.g. pix2pix-cfa")
    p.add_argument("--data", required=True, metavar="FILE.h5",
                   help="the dataset (`cfa prepare --dataset NAME` or `cfa render` output)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    p.add_argument("--steps", type=int, help="train exactly N steps (sets train.steps, and the model's own "
                                             "train.steps if it has one)")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="sets train.checkpoint_every")
    p.add_argument("--seed", type=int, help="sets train.seed")
    p.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                   help="data-parallel training over N processes (N GPUs, or N CPU processes with gloo): "
                        "re-runs this command under torchrun; the batch is split over them (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_params_arguments(p)


def run(args) -> int:
    import os

    from cfa.gpu_slots import acquire_gpu_slots

    extra = []
    if args.steps is not None:
        extra.append(f"train.steps={args.steps}")
    if args.checkpoint_every is not None:
        extra.append(f"train.checkpoint_every={args.checkpoint_every}")
    if args.seed is not None:
        extra.append(f"train.seed={args.seed}")
    args.overrides = [*args.overrides, *extra]
    params = params_from_args(args)
    # A model with its own `train` block (cfa.datasets.catalog.train_params) gets the flags there too,
    # so that --steps and --seed win over it as they win over the shared section.
    own = ((params.get("models") or {}).get(args.model) or {}).get("train") or {}
    shadowed = [f"models.{args.model}.{o}" for o in extra if o.split("=", 1)[0].split(".", 1)[1] in own]
    if shadowed:
        args.overrides = [*args.overrides, *shadowed]
        params = params_from_args(args)
    if (done := _already_complete(args, params)) is not None:
        _restore_curves(args.out, done)
        print(f"{args.out}: complete at step {done['step']}; nothing to do")
        return 0
    if "LOCAL_RANK" in os.environ:  # a torchrun process: its launcher holds the GPU slots
        return _train(args, params)
    # On a multi-GPU box (CFA_GPU_SLOTS), this job's own GPUs, before anything starts CUDA.
    with acquire_gpu_slots(args.nproc_per_node):
        if args.nproc_per_node > 1:
            return _under_torchrun(args._argv, args.nproc_per_node)
        return _train(args, params)


def _train(args, params: dict) -> int:
    from cfa.training.loop import train

    info = train(args.model, params, args.data, args.out, progress=not args.no_progress)
    if info.get("rank"):
        return 0  # under torchrun, rank 0 reports
    print(f"{args.out}: {info['status']} at step {info['step']}/{info['total_steps']}"
          f" ({info.get('images_per_s')} images/s)")
    return 0


def _under_torchrun(argv: list[str], nproc: int) -> int:
    """Run this same command as `nproc` torchrun processes (the launch documented for DDP)."""
    import subprocess
    import sys

    argv = list(argv)
    i = next(i for i, a in enumerate(argv) if a.startswith("--nproc-per-node"))
    del argv[i:i + (1 if "=" in argv[i] else 2)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "pipeline.cli", *argv]
    return subprocess.call(cmd)


def _already_complete(args, params: dict) -> dict | None:
    """run.json of a finished run of exactly this config, checked without importing torch."""
    from pathlib import Path

    from cfa.datasets.catalog import train_params
    from cfa.io import sha256_file
    from cfa.training.checkpoint import completed_run, identity_config

    model_params = (params.get("models") or {}).get(args.model)
    if model_params is None or not Path(args.data).is_file():
        return None  # the trainer reports these properly
    config = identity_config(args.model, model_params, train_params(params, args.data, args.model),
                             sha256_file(args.data))
    return completed_run(args.out, config)


def _restore_curves(out: str, info: dict) -> None:
    """Draw curves.png again if a kill after the final checkpoint left a complete run without it
    (the workflows declare it as an output)."""
    from pathlib import Path

    from cfa.training.curves import CURVES_PNG, write_curves

    run = Path(out)
    if not (run / CURVES_PNG).is_file():
        write_curves(run / "live", run / CURVES_PNG, title=f"{info['model']} on {Path(info['data']).stem}")
