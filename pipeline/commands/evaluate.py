"""`cfa evaluate`: score a trained run on its dataset's test split with named metrics."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "evaluate"
HELP = "score a trained run (FID, LPIPS diversity, interpolation error, ...) into a metrics JSON"
DESCRIPTION = """Restore a run's model, generate what its dataset's test protocol asks for (per dataset
kind: for a rotation set, every test (object, angle) from the object's source image) and compute the
named metrics into METRICS.json: every metric's numbers under `values`, its protocol and counts
beside them, the data, backbones, checkpoint step and params used.

  cfa evaluate --run runs/demo/pix2pix-cfa/RA-20 --fid-stats results/demo/fid_stats/RA-20.npz \\
      --out results/demo/metrics/pix2pix-cfa/RA-20.json --figure RA-20.png --set profile=demo

--metrics defaults to the metrics of the params.yaml table that lists the dataset. `fid` reads the
real images' statistics from --fid-stats (made by `cfa stats`, never rewritten here). Reads
evaluate.*, metrics.pretrained_backbones and seed. evaluate.network_mode: eval (BatchNorm running
statistics, no dropout) or official (as the authors' test.py: train mode, seeded with `seed`); it is
recorded as `network_mode` in METRICS.json. Offline machines:
--set metrics.pretrained_backbones=false (random-weight backbones; every output says so).
"""


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="the trained run (`cfa train --out`)")
    p.add_argument("--out", required=True, metavar="METRICS.json", help="where to write the metrics")
    p.add_argument("--data", metavar="F.h5", help="dataset to evaluate on (default: the run's own)")
    p.add_argument("--metrics", metavar="NAMES", help="comma-separated metric names (default: the table's)")
    p.add_argument("--fid-stats", metavar="STATS.npz", help="real-image statistics for fid (`cfa stats`)")
    p.add_argument("--evalnets", metavar="DIR", help="the dataset's evaluation networks (`cfa evalnet`)")
    p.add_argument("--figure", metavar="PNG", help="the dataset protocol's figure (rotation: Figure 3)")
    p.add_argument("--dataset", help="dataset name in the metrics (default: the manifest's, else the stem)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_params_arguments(p)


def run(args) -> int:
    from cfa.gpu_slots import acquire_gpu_slots

    with acquire_gpu_slots(1):  # this job's own GPU on a multi-GPU box (CFA_GPU_SLOTS); else no-op
        return _run(args)


def _run(args) -> int:
    import sys
    import time
    from pathlib import Path

    import torch

    from cfa.datasets.catalog import dataset_name
    from cfa.datasets.kinds import kind_of
    from cfa.devices import resolve_device
    from cfa.io import write_json_atomic
    from cfa.metrics.suite import default_metrics, evaluate
    from cfa.training.objectives import restore_objective
    from pipeline.common import params_from_args

    started = time.time()
    params = params_from_args(args)
    device = resolve_device(args.device, "--device")
    # The run first: a wrong --run fails before any work.
    objective, info = restore_objective(args.run, device)
    network_mode = params["evaluate"].get("network_mode", "eval")
    objective.set_network_mode(network_mode)
    torch.manual_seed(params["seed"])  # the noise of stochastic layers (dropout in official mode)
    data = Path(args.data or info["data"])
    name = args.dataset or dataset_name(data)
    kind = kind_of(data)
    names = args.metrics.split(",") if args.metrics else default_metrics(params, name, kind)
    record, testset = evaluate(
        objective.generate, data, names, settings=params["evaluate"],
        pretrained=params["metrics"]["pretrained_backbones"], seed=params["seed"], device=device,
        stats_path=args.fid_stats, evalnets_dir=args.evalnets, trained_on_sha256=info.get("data_sha256"),
        progress=not args.no_progress, model=objective)
    if info.get("data_sha256") and info["data_sha256"] != testset.sha256:
        print(f"cfa evaluate: WARNING: {args.run} was trained on data with sha256 {info['data_sha256'][:12]}..., "
              f"evaluated on {data} ({testset.sha256[:12]}...): its test split may not be unseen",
              file=sys.stderr)
    metrics = {"model": info["model"], "dataset": name, "network_mode": network_mode, **record,
               "checkpoint": {"run": str(args.run), "step": info.get("step")},
               "params": {"evaluate": params["evaluate"], "metrics": params["metrics"], "seed": params["seed"],
                          "profile": params.get("profile")},
               "device": str(device)}
    offline = record["backbones"] is not None and not record["backbones"]["pretrained"]
    if offline:
        metrics["WARNING"] = record["backbones"]["note"]
    write_json_atomic(args.out, metrics)
    if args.figure:
        testset.write_figure(objective.generate, args.figure,
                             f"{name} {info['model']} (step {info.get('step')}, {record['data'].get('source')} data)")
    summary = ", ".join(f"{k} {v:.4g}" for k, v in record["values"].items() if v is not None)
    print(f"cfa evaluate: {name} {info['model']}: {summary} -> {args.out} ({time.time() - started:.1f} s)",
          file=sys.stderr)
    if offline:
        print(f"cfa evaluate: WARNING: {record['backbones']['note']}", file=sys.stderr)
    return 0
