"""`cfa stats`: the real test images' statistics that FID compares generated images with."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "stats"
HELP = "compute the real test images' Inception statistics of a dataset (for FID)"
DESCRIPTION = """Compute the Inception (pool3) mean and covariance of the real images the dataset's test
protocol compares generated images with (all test images, or a seeded subset of
evaluate.fid_max_images), and save them with their key (data sha256, rows, backbone) in STATS.npz.
`cfa evaluate --fid-stats STATS.npz` reads them and refuses a file made under another key. An
existing file with the right key is kept as it is.

  cfa stats --data data/demo/rotation/RA-20.h5 --out results/demo/fid_stats/RA-20.npz --set profile=demo

Reads evaluate.*, metrics.pretrained_backbones and seed.
"""


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, metavar="F.h5", help="the dataset")
    p.add_argument("--out", required=True, metavar="STATS.npz", help="where to write the statistics")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_params_arguments(p)


def run(args) -> int:
    from cfa.gpu_slots import acquire_gpu_slots

    with acquire_gpu_slots(1):  # this job's own GPU on a multi-GPU box (CFA_GPU_SLOTS); else no-op
        return _run(args)


def _run(args) -> int:
    import sys

    from cfa.devices import resolve_device
    from cfa.metrics import fid
    from cfa.metrics.backbones import inception_v3_fid
    from cfa.metrics.testsets import open_testset
    from pipeline.common import params_from_args

    params = params_from_args(args)
    device = resolve_device(args.device, "--device")
    testset = open_testset(args.data, params["evaluate"], params["seed"], progress=not args.no_progress)
    images, _ = testset.fid_reference()
    model, provenance = inception_v3_fid(params["metrics"]["pretrained_backbones"], device)
    if fid.matching_real_statistics(args.out, testset, provenance) is not None:
        print(f"cfa stats: {args.out} already holds the statistics of these {len(images)} images", file=sys.stderr)
        return 0
    fid.write_real_statistics(testset, model, provenance, args.out, progress=not args.no_progress)
    print(f"cfa stats: statistics of {len(images)} real test images written to {args.out}", file=sys.stderr)
    return 0
