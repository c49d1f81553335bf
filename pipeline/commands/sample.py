"""`cfa sample`: images from a trained run across a list or range of labels."""

from __future__ import annotations

NAME = "sample"
HELP = "write strips, a grid and a GIF from a trained run for a sweep of labels"
DESCRIPTION = """Generate images from a run's latest checkpoint for a list or range of labels.

  cfa sample --checkpoint runs/demo/pix2pix-cfa/RC-49 --t 0:90:2.5 --out figures/sweep
  cfa sample --checkpoint RUN_DIR --t 0,10,45,67.5 --inputs 2 --out DIR

--t is in the dataset's label units (degrees for rotation sets; the model's objective turns them into
its condition t): a list `0,10,45`, a half-open range START:STOP:STEP (like numpy.arange), or
`range:N`, N labels from the first to the last label of the range a label-only dataset records
(UTKFace ages 1..60: range:60 is every age). Labels
never seen in training are allowed; write a list that starts with a minus sign as --t=-10,0,10.
`--t figure` takes the sweep of the paper's figure that the run's dataset records (Figure 6: 1 -> 200
cells, ages young -> old, -80 -> 80 deg, dawn -> day), so one command serves every dataset. The
inputs are the first --inputs test-split inputs of --data (default: the file the run trained on),
resized to the working size as in training (whole image, no crop); a label-only model has no inputs and draws --inputs rows
of fixed noise instead. Writes DIR/strip_XXX.png (one row per input: the input, then one image per
label), DIR/grid.png, DIR/sweep.gif (one frame per label), DIR/sweep_XXX.gif (one per row) and
DIR/samples.json.
--seed fixes the noise of stochastic generators, so the same command gives the same pictures.
"""


# `--t figure`: the sweep a dataset records for its paper figure (reader info `figure_sweep`).
FIGURE_SWEEP = "figure"


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="a `cfa train` run directory")
    p.add_argument("--data", metavar="FILE.h5", help="where the inputs come from (default: the run's data)")
    p.add_argument("--t", required=True, metavar="SPEC",
                   help="labels: 0,10,45, START:STOP:STEP, range:N, or `figure` (the dataset's recorded "
                        "figure sweep)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--inputs", type=int, default=4, metavar="N", help="number of inputs (default: 4)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0,
                   help="seeds stochastic generators (noise, sampled atoms), so a figure can be made again "
                        "(default: 0)")


def run(args) -> int:
    from pathlib import Path

    import torch

    from cfa.datasets.kinds import preview_inputs, require_kind
    from cfa.devices import resolve_device
    from cfa.errors import UserError
    from cfa.images import training_view
    from cfa.io import write_json_atomic
    from cfa.training.objectives import restore_objective
    from cfa.training.samples import label_range_count, parse_t_spec, write_sample_set

    figure = args.t == FIGURE_SWEEP
    labels = None if figure or label_range_count(args.t) is not None else parse_t_spec(args.t)
    if args.inputs < 1:
        raise UserError(f"--inputs {args.inputs}: must be at least 1")
    device = resolve_device(args.device, "--device")
    objective, info = restore_objective(args.checkpoint, device)
    if figure:
        spec = (info.get("data_info") or {}).get("figure_sweep")
        if not spec:
            raise UserError(f"--t {FIGURE_SWEEP}: the dataset {args.checkpoint} trained on records no figure sweep; "
                            f"give the labels, e.g. --t 0:90:5")
        labels = parse_t_spec(spec)
    elif labels is None:  # range:N, over the label range the run's dataset records
        labels = parse_t_spec(args.t, (info.get("data_info") or {}).get("label_range"))
    data = Path(args.data or info["data"])
    if not data.is_file():
        raise UserError(f"--data {data}: file not found (the run trained on {info['data']}; pass --data)")
    accepted = getattr(objective, "dataset_kinds", ())
    if accepted:  # inputs of another kind (or none at all) are not what the model takes
        require_kind(data, accepted, f"the run's model {info['model']} (objective {info.get('objective')})")
    sources = preview_inputs(data, args.inputs)
    train_params = info.get("train") or {}
    if sources is not None:
        # The generator only works at the pixel scale it trained on (train.load_size / crop_size).
        sources = training_view(sources, train_params.get("load_size"), train_params.get("crop_size")).to(device)
    torch.manual_seed(args.seed)
    first_column, outputs = objective.preview(sources, labels, count=args.inputs)
    written = write_sample_set(args.out, first_column, outputs, labels)
    write_json_atomic(Path(args.out) / "samples.json",
                      {"run": str(args.checkpoint), "step": info["step"], "model": info["model"],
                       "data": str(data), "label_unit": info.get("label_unit"), "t_scale": info.get("t_scale"),
                       "inputs": int(outputs.shape[0]), "seed": args.seed, **written})
    print(f"{args.out}: {len(written['strips'])} strips x {len(labels)} labels, grid.png, sweep.gif")
    return 0
