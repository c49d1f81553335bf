"""`cfa render`: render a rotation dataset (HDF5 + JSON manifest) from meshes."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "render"
HELP = "render a rotation dataset (RC-49, RA-20, ... or your own meshes) into HDF5"
DESCRIPTION = """Render objects turning about their vertical axis under a fixed camera and lights,
into one HDF5 file (images uint8 N x 3 x S x S, labels = angle in degrees, types = object index,
object_ids, split, indx_train; layout in docs/DESIGN.md) plus a JSON manifest beside it (X.json:
source, params, model ids, skipped meshes with reasons, counts, render time, sha256).
Rendering is headless (EGL; Mesa on CPU works). See docs/rendering.md.

Sources:
  shapenet    ShapeNetCore v2: <root>/<synset>/<model_id>/models/model_normalized.obj
  folder      any folder of .obj/.glb/.gltf/.ply/.off/.stl files (searched recursively, +Y up)
  procedural  built-in chair/car/airplane/laptop/table meshes (no download needed)
A mesh that fails to load or is empty/degenerate is skipped (reported in the manifest) and the
next model is taken. Procedural meshes are never used in place of a ShapeNet request.

Either give the set explicitly (--source, --models, --angles, --size, ...), or name a set of
params.yaml with --dataset: its `datasets.<NAME>` entry and the `render` section (size,
workers, elevation_deg, seed; ShapeNet root = paths.shapenet unless the entry sets `root`) fill
in every option not given on the command line.

Examples:
  # RC-49: 49 chairs, 0.1..89.9 deg, train/test by odd/even last decimal
  cfa render --source shapenet --root data/raw/ShapeNetCore.v2 --synset 03001627 --models 49 \\
      --angles 0.1:90:0.1 --size 64 --split parity --name RC-49 --out data/paper/RC-49.h5
  # RA-20: 20 airplanes, 0..359.9 deg (3600 angles), 2 worker processes
  cfa render --source shapenet --root data/raw/ShapeNetCore.v2 --category airplane --models 20 \\
      --angles 0:360:0.1 --size 64 --workers 2 --name RA-20 --out data/paper/RA-20.h5
  # no --split: chosen from the angle grid (here grid:10: train 0, 10, ..., 80; test 5, ..., 85)
  cfa render --source procedural --category chair --models 2 --angles 0:90:5 --size 32 --out x.h5
  # your own meshes, unseen-angle split (train on multiples of 5 deg)
  cfa render --source folder --root my_meshes/ --models 10 --angles 0:90:1 --size 128 \\
      --split grid:5 --out data/custom/mine.h5
  # no download: procedural cars for a demo
  cfa render --source procedural --category car --models 4 --angles 0:90:2.5 --size 32 \\
      --split grid:5 --out data/demo/RCA-20.h5
  # a set as params.yaml defines it (what Snakemake and DVC run)
  cfa render --dataset RA-20 --set profile=demo --out data/demo/rotation/RA-20.h5
"""

DEFAULTS = {"workers": 1, "seed": 0, "elevation": 20.0, "split": "auto"}


def add_arguments(p) -> None:
    p.add_argument("--dataset", metavar="NAME",
                   help="take the set's options from params.yaml datasets.NAME and render (e.g. RC-49, "
                        "RA-20); options given on the command line win")
    p.add_argument("--source", choices=["shapenet", "folder", "procedural"],
                   help="where the meshes come from (see above); required without --dataset")
    p.add_argument("--root", metavar="DIR",
                   help="ShapeNetCore v2 folder (shapenet) or mesh folder (folder); not used by procedural")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--synset", metavar="ID",
                       help="ShapeNet synset id, e.g. 03001627 chairs, 02691156 airplanes, 02958343 cars, "
                            "04379243 tables, 03642806 laptops")
    which.add_argument("--category", metavar="NAME",
                       help="airplane, car, chair, laptop or table: the synset for shapenet, the object "
                            "kind for procedural")
    p.add_argument("--models", type=int, metavar="N", help="number of objects in the set; required without --dataset")
    p.add_argument("--angles", metavar="START:STOP:STEP",
                   help="yaw angles in degrees, half-open like numpy.arange: 0:360:0.1 is 3600 angles "
                        "0.0..359.9; 0.1:90:0.1 is RC-49's 899 angles; required without --dataset")
    p.add_argument("--size", type=int, metavar="S",
                   help="square image size in pixels, e.g. 64; required without --dataset")
    p.add_argument("--workers", type=int, metavar="W",
                   help="render processes, each with its own EGL context; objects are split among them "
                        f"(default: {DEFAULTS['workers']})")
    p.add_argument("--seed", type=int,
                   help="chooses which ShapeNet models are taken and varies procedural shapes "
                        f"(default: {DEFAULTS['seed']})")
    p.add_argument("--elevation", type=float, metavar="DEG",
                   help=f"camera elevation above the horizon in degrees, as in RC-49 (default: {DEFAULTS['elevation']})")
    p.add_argument("--split", metavar="RULE",
                   help="train/test rule over angles < 90 deg: 'parity' (odd last decimal = train, even "
                        "= test; CcGAN RC-49), 'grid:STEP' (multiples of STEP = train, the rest = test), or "
                        "'auto': parity where the angles below 90 have both odd and even last decimals, "
                        "else grid: twice the angle step (0:90:5 -> grid:10); angles >= 90 are unused. A "
                        "rule that leaves no train angle is an error. The rule used is recorded as "
                        f"split_rule (default: {DEFAULTS['split']})")
    p.add_argument("--name", help="dataset name in the manifest (default: --dataset, else the output file stem)")
    p.add_argument("--out", required=True, metavar="FILE.h5",
                   help="output HDF5 file; the manifest is written beside it as FILE.json")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_params_arguments(p)


def options_from_params(args) -> dict:
    """The render options of `--dataset NAME` from the resolved params (profile applied)."""
    from cfa.datasets.catalog import RENDER_SOURCES, render_options, spec_of
    from cfa.errors import UserError
    from pipeline.common import params_from_args

    params = params_from_args(args)
    if spec_of(params, args.dataset)["source"] not in RENDER_SOURCES:
        raise UserError(f"datasets.{args.dataset} is not rendered from meshes; make it with "
                        f"`cfa prepare --dataset {args.dataset}`")
    o = render_options(params, args.dataset)
    o["elevation"] = o.pop("elevation_deg")
    return o


def resolve_options(args) -> dict:
    from cfa.errors import UserError

    options = dict(DEFAULTS)
    if args.dataset:
        options.update(options_from_params(args))
    explicit = {k: getattr(args, k) for k in ("source", "root", "models", "angles", "size", "workers", "seed",
                                              "elevation", "split", "name")}
    options.update({k: v for k, v in explicit.items() if v is not None})
    if args.synset is not None or args.category is not None:
        options["synset"], options["category"] = args.synset, args.category
    missing = [f"--{k}" for k in ("source", "models", "angles", "size") if options.get(k) is None]
    if missing:
        raise UserError(f"missing {', '.join(missing)}: give them, or --dataset NAME to take them from "
                        f"params.yaml datasets (see `cfa render --help`)")
    return options


def run(args) -> int:
    from cfa.render import render_rotation_set

    o = resolve_options(args)
    result = render_rotation_set(
        args.out, source=o["source"], models=o["models"], angles=o["angles"], size=o["size"], root=o.get("root"),
        synset=o.get("synset"), category=o.get("category"), workers=o["workers"], seed=o["seed"],
        elevation_deg=o["elevation"], split=o["split"], name=o.get("name"), progress=not args.no_progress)
    m = result.manifest
    skipped = f", {len(m['skipped'])} meshes skipped (see manifest)" if m["skipped"] else ""
    split = m["params"]["split"] + (" (chosen from the angle grid)" if m["params"]["split_auto"] else "")
    print(f"wrote {result.path}: {m['counts']['images']} images of {m['counts']['objects']} objects "
          f"in {m['seconds']:.1f} s ({m['images_per_second']} img/s), split {split}: "
          f"{m['counts']['train']} train, {m['counts']['test']} test{skipped}")
    return 0
