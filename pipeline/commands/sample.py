"""`cfa sample`: images from a trained run across a list or range of t."""

from __future__ import annotations

NAME = "sample"
HELP = "write rotation strips, a grid and a GIF from a trained run for a sweep of t"
DESCRIPTION = """Generate images from a run's latest checkpoint for a list or range of labels.

  cfa sample --checkpoint runs/demo/RC-49/pix2pix-cfa --t 0:90:2.5 --out figures/sweep
  cfa sample --checkpoint RUN_DIR --t 0,10,45,67.5 --inputs 2 --out DIR

--t is in the dataset's label units (degrees for rotation sets; the model sees deg/90): a list
`0,10,45` or a half-open range START:STOP:STEP (like numpy.arange). Angles never seen in
training are allowed; write a list that starts with a minus sign as --t=-10,0,10. The inputs
are the first --inputs test-split sources of --data (default: the file the run trained on),
resized and centre-cropped as in training (the run's train.load_size / crop_size). Writes
DIR/strip_XXX.png (one row per input: the input, then one image per t), DIR/grid.png,
DIR/sweep.gif (one frame per t) and DIR/samples.json. --seed fixes the noise of stochastic
generators (BasisGAN), so the same command gives the same pictures.
"""


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="a `cfa train` run directory")
    p.add_argument("--data", metavar="FILE.h5", help="where the inputs come from (default: the run's data)")
    p.add_argument("--t", required=True, metavar="SPEC", help="labels: 0,10,45 or START:STOP:STEP")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--inputs", type=int, default=4, metavar="N", help="number of inputs (default: 4)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0,
                   help="seeds stochastic generators (BasisGAN atoms), so a figure can be made again "
                        "(default: 0)")


def run(args) -> int:
    from pathlib import Path

    import torch

    from cfa.errors import UserError
    from cfa.io import write_json_atomic
    from cfa.training.checkpoint import load_generator
    from cfa.training.loop import T_SCALE_DEG, resolve_device, training_view
    from cfa.training.samples import parse_t_spec, sweep, write_sample_set

    labels = parse_t_spec(args.t)
    if args.inputs < 1:
        raise UserError(f"--inputs {args.inputs}: must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible; use --device auto or --device cpu")
    device = resolve_device(args.device)
    generator, info = load_generator(args.checkpoint, device=device)
    data = Path(args.data or info["data"])
    if not data.is_file():
        raise UserError(f"--data {data}: file not found (the run trained on {info['data']}; pass --data)")
    # The generator only works at the pixel scale it trained on (train.load_size / crop_size).
    train_params = info.get("train") or {}
    sources = training_view(_test_sources(data, args.inputs), train_params.get("load_size"),
                            train_params.get("crop_size")).to(device)
    scale = float(info.get("t_scale", T_SCALE_DEG))
    torch.manual_seed(args.seed)
    with torch.no_grad():
        outputs = sweep(lambda x, t: generator(x, t), sources, [v / scale for v in labels])
    written = write_sample_set(args.out, sources, outputs, labels)
    write_json_atomic(Path(args.out) / "samples.json",
                      {"run": str(args.checkpoint), "step": info["step"], "model": info["model"],
                       "data": str(data), "label_unit": info.get("label_unit", "deg"),
                       "t_scale": scale, "inputs": int(sources.shape[0]), "seed": args.seed, **written})
    print(f"{args.out}: {len(written['strips'])} strips x {len(labels)} values of t, grid.png, sweep.gif")
    return 0


def _test_sources(data, n: int):
    """The sources (0 deg images) of the first n objects with test-split images (train if none)."""
    from cfa.datasets.rotation import RotationPairs
    from cfa.errors import UserError
    from cfa.training.loop import as_images

    for split in ("test", "train"):
        pairs = RotationPairs(data, split=split)
        objects = sorted({item.object_index for item in pairs.items()})
        if objects:
            return as_images(pairs.source_images()[objects[:n]])
    raise UserError(f"{data}: no test or train images below 90 deg to take inputs from")
