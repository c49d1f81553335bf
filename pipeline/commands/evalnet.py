"""`cfa evalnet`: train a dataset's evaluation networks on its real images (CcGAN's protocol)."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "evalnet"
HELP = "train the evaluation networks of a dataset (autoencoder, label regressor, classifier, NIQE)"
DESCRIPTION = """Train, once per dataset, the networks the label-aware metrics read, on the dataset's
real training images: CcGAN's autoencoder (AE-FID, Intra-FID), a ResNet regressor of the label
(Label Score), a ResNet classifier of the diversity attribute (Diversity) and NIQE models fitted per
label (NIQE). Each measures itself on the real test images (the floor a generator's score is read
against); DIR/evalnets.json lists those scores. Seeded; checkpoints load with weights_only=True and
are refused for another dataset.

  cfa evalnet --data data/demo/rotation/RA-20.h5 --out results/demo/evalnets/RA-20 --set profile=demo

--nets defaults to what the metrics of the params.yaml table listing the dataset need. Reads
evalnets.* (architectures, epochs, learning rates, seed; the demo profile uses smaller ones).
"""


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, metavar="F.h5", help="the dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="where the networks go")
    p.add_argument("--nets", metavar="NAMES",
                   help="comma-separated: autoencoder, regressor, classifier, niqe (default: the table's needs)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_params_arguments(p)


def run(args) -> int:
    from cfa.gpu_slots import acquire_gpu_slots

    with acquire_gpu_slots(1):  # this job's own GPU on a multi-GPU box (CFA_GPU_SLOTS); else no-op
        return _run(args)


def _run(args) -> int:
    import sys

    from cfa.datasets.catalog import dataset_name
    from cfa.datasets.kinds import kind_of
    from cfa.devices import resolve_device
    from cfa.metrics.evalnets import train_for_testset
    from cfa.metrics.suite import default_metrics, evalnets_needed
    from cfa.metrics.testsets import open_testset
    from pipeline.common import params_from_args

    params = params_from_args(args)
    settings = params["evalnets"]
    nets = (args.nets.split(",") if args.nets else
            evalnets_needed(default_metrics(params, dataset_name(args.data), kind_of(args.data))))
    testset = open_testset(args.data, {"batch_size": settings["batch_size"]}, params["seed"],
                           progress=not args.no_progress)
    summary = train_for_testset(testset, nets, settings, args.out,
                                device=resolve_device(settings["device"], "evalnets.device"),
                                progress=not args.no_progress)
    print(f"cfa evalnet: {', '.join(summary) or 'no networks (the metrics need none)'} -> {args.out}",
          file=sys.stderr)
    return 0
