"""`cfa prepare`: make a dataset params.yaml names, or simulate Cell-200 / convert a raw dataset."""

from __future__ import annotations

import argparse

NAME = "prepare"
HELP = "make a dataset of params.yaml, or simulate Cell-200 / convert a raw dataset (UTKFace, ...)"
DESCRIPTION = """Write one training-ready HDF5 file (chunked, gzip) plus its JSON manifest
(X.h5 -> X.json: source, params, counts per label/domain, skipped files with reasons, sha256).
The raw data is downloaded by you (see `cfa prepare <dataset> --help` for the official page and the
expected layout under data/raw/). Keys, label and domain encodings: docs/datasets.md.

  cfa prepare --dataset RA-20 --out data/demo/rotation/RA-20.h5 --set profile=demo
      (a dataset as params.yaml `datasets:` defines it: what Snakemake and DVC run)
  cfa prepare cells --counts 1:200 --per-count 1000 --seed 0 --test-fraction 0.1 --out data/cells/cell200.h5
  cfa prepare utkface --root data/raw/UTKFace --out data/utkface/utkface64.h5
  cfa prepare cacd --root data/raw/CACD2000 --out data/cacd/cacd64.h5
  cfa prepare steering --root data/raw/driving_dataset --out data/steering/steering64.h5
  cfa prepare waymo --root data/raw/waymo_v2/training --camera FRONT --out data/waymo/front64.h5
  cfa prepare pix2pix --name facades --root data/raw/pix2pix/facades --out data/pix2pix/facades.h5
"""


def _counts(text: str) -> tuple[int, int]:
    try:
        first, last = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST:LAST (inclusive integers), got {text!r}")
    return first, last


def _ages(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX ages (inclusive integers), got {text!r}")
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX ages with 0 <= MIN <= MAX, got {text!r}")
    return lo, hi


def _longitude(text: str) -> tuple[str, float]:
    name, _, deg = text.partition("=")
    try:
        return name, float(deg)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOCATION=DEGREES_EAST, got {text!r}")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_arguments(p) -> None:
    from cfa.datasets import cacd, edges2objects, pix2pix_sets, steering, utkface, waymo
    from pipeline.common import add_params_arguments

    p.add_argument("--dataset", dest="named", metavar="NAME",
                   help="make params.yaml's datasets.NAME (its kind, source and options) into --out")
    p.add_argument("--out", dest="named_out", metavar="FILE.h5", help="output of --dataset NAME")
    add_params_arguments(p)
    sub = p.add_subparsers(dest="dataset", metavar="<dataset>")
    raw = argparse.RawDescriptionHelpFormatter

    def split_options(d, kinds: bool = True, block: int | None = None) -> None:
        d.add_argument("--test-fraction", type=float, default=0.0, metavar="F",
                       help="hold out this share of each domain as a seeded test split (`split` array; "
                            "what evaluation needs; default 0: no split)")
        d.add_argument("--split-seed", type=int, default=0, help="seed of the test split (default: 0)")
        if block is not None:
            d.add_argument("--split-block", type=int, default=block, metavar="N",
                           help="consecutive frames that go to one side of the split together (default: %(default)s)")
        if kinds:
            d.add_argument("--kind", default="unpaired-with-label", choices=["unpaired-with-label", "labelled"],
                           help="the reader the file is for: unpaired-with-label (Table 3; with a test split, "
                                "both domains must have images) or labelled (Table 4) (default: %(default)s)")

    def dataset_parser(name: str, help_: str, url: str | None, layout: str | None, default_root: str | None):
        text = help_
        if url:
            text += f"\n\nOfficial page (download the raw data yourself): {url}\nExpected layout: {layout}"
        d = sub.add_parser(name, help=help_, description=text, formatter_class=raw)
        if default_root is not None:
            d.add_argument("--root", default=default_root, metavar="RAW_DIR",
                           help="the raw data folder (default: %(default)s)")
        d.add_argument("--out", required=True, metavar="FILE.h5", help="output HDF5 (manifest: FILE.json)")
        d.add_argument("--no-progress", action="store_true", help="no progress bar")
        return d

    d = dataset_parser(
        "cells", "simulate Cell-200 (SIMCEP-style fluorescence nuclei, CcGAN's keys IMGs_grey/CellCounts)",
        None, None, None)
    d.description += ("\n\nNothing to download: the images are simulated (rendered at 256x256, stored "
                      "grey). Each image is seeded by (seed, count, index), so --workers changes only "
                      "the speed. The paper-size set is --counts 1:200 --per-count 1000.")
    d.add_argument("--counts", type=_counts, default=(1, 200), metavar="FIRST:LAST",
                   help="cell counts, inclusive (default: 1:200)")
    d.add_argument("--per-count", type=int, default=1000, metavar="K", help="images per count (default: 1000)")
    d.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    d.add_argument("--size", type=int, default=64, help="stored size, divides 256 (default: 64)")
    d.add_argument("--workers", type=int, default=1,
                   help="rendering processes, one BLAS thread each; 0 = in this process (default: 1)")
    d.add_argument("--source-images", type=int, default=None, metavar="N",
                   help="images of count 1, the unpaired source domain (default: --per-count)")
    split_options(d)

    d = dataset_parser("utkface", "UTKFace faces: ages, races and genders from file names",
                       utkface.URL, utkface.LAYOUT, "data/raw/UTKFace")
    d.add_argument("--size", type=int, default=64, help="output size (default: 64, as CcGAN)")
    d.add_argument("--ages", type=_ages, default=(1, 60), metavar="MIN:MAX",
                   help="ages kept, inclusive (default: 1:60 as CcGAN; use 1:116 for the >=60 aging bin)")
    split_options(d)

    d = dataset_parser("cacd", "CACD2000 celebrity faces: age from the file-name prefix",
                       cacd.URL, cacd.LAYOUT, "data/raw/CACD2000")
    d.add_argument("--size", type=int, default=64, help="output size (default: 64)")
    d.add_argument("--ages", type=_ages, default=(1, 200), metavar="MIN:MAX",
                   help="ages kept, inclusive (default: all)")
    split_options(d)

    d = dataset_parser("steering", "SteeringAngle (Sully Chen's driving frames and data.txt)",
                       steering.URL, steering.LAYOUT, "data/raw/driving_dataset")
    d.add_argument("--size", type=int, default=64, help="output size; the whole frame is resized (default: 64)")
    split_options(d, block=100)

    d = dataset_parser("waymo", "Waymo Open Dataset v2 camera frames with dawn/day/dusk/night domains",
                       waymo.URL, waymo.LAYOUT, "data/raw/waymo_v2")
    d.add_argument("--split", default=None, choices=list(waymo.SPLITS),
                   help="which split of a v2 root to read (default: training); not needed when --root "
                        "is a split folder itself")
    d.description += ("\n\nDawn/Dusk segments are split by the local solar hour (UTC from "
                      "key.frame_timestamp_micros + longitude/15): before 12 -> dawn, else dusk. "
                      f"Longitudes per location: {waymo.LOCATION_LONGITUDE}.")
    d.add_argument("--camera", default="FRONT", choices=list(waymo.CAMERAS), help="camera (default: FRONT)")
    d.add_argument("--size", type=int, default=64, help="output size after a centre square crop (default: 64)")
    d.add_argument("--every", type=int, default=1, metavar="N",
                   help="keep every N-th frame of a segment (10 Hz frames are near duplicates; default: 1)")
    d.add_argument("--longitude", type=_longitude, action="append", default=[], metavar="LOCATION=DEG",
                   help="add or override a location's longitude (degrees east); repeatable")
    split_options(d, kinds=False, block=20)

    d = dataset_parser("pix2pix", "aligned pix2pix sets (A|B halves): " + ", ".join(pix2pix_sets.SETS),
                       pix2pix_sets.URL, pix2pix_sets.layout("<name>"), None)
    d.add_argument("--name", required=True, choices=list(pix2pix_sets.SETS), help="which set")
    d.add_argument("--root", default=None, metavar="RAW_DIR",
                   help="the unpacked set (default: data/raw/pix2pix/<name>)")
    d.add_argument("--size", type=int, default=256, help="size of each half (default: 256)")
    d.add_argument("--direction", choices=["AtoB", "BtoA"], default=None,
                   help="which half is the input, stored as images_A (default: the set's as pix2pix "
                        f"trains it: {', '.join(f'{k} {v}' for k, v in pix2pix_sets.DIRECTIONS.items())})")

    d = dataset_parser("edges2objects", "built-in paired set: line drawings (A) -> renders (B) of "
                       "procedural objects, no download", None, None, None)
    d.description += ("\n\nA is a geometric line drawing (silhouettes, occluding contours, creases) of "
                      "the render B, dark lines on white, stored like a pix2pix set (images_A input, "
                      "images_B target, split by object). Seeded: each object and its views depend only "
                      "on (seed, category, index); --workers changes only the speed. "
                      "Larger set: --objects 200 --views 24 --size 256 (docs/datasets.md).")
    d.add_argument("--categories", type=_names, default=None, metavar="A,B,...",
                   help=f"procedural categories (default: all of {','.join(edges2objects.CATEGORY_NAMES)})")
    d.add_argument("--objects", type=int, default=edges2objects.DEFAULTS["objects"], metavar="N",
                   help="objects per category (default: %(default)s)")
    d.add_argument("--views", type=int, default=edges2objects.DEFAULTS["views"], metavar="K",
                   help="views per object: yaw evenly spaced, elevation 5..40 deg (default: %(default)s)")
    d.add_argument("--size", type=int, default=edges2objects.DEFAULTS["size"], help="image size (default: %(default)s)")
    d.add_argument("--holdout", type=float, default=edges2objects.DEFAULTS["holdout"], metavar="F",
                   help="fraction of each category's objects for val and for test, each at least one "
                        "(default: %(default)s)")
    d.add_argument("--seed", type=int, default=edges2objects.DEFAULTS["seed"], help="seed (default: %(default)s)")
    d.add_argument("--workers", type=int, default=1,
                   help="rendering processes; 1 renders in this process (default: 1)")


def _split_args(args) -> dict:
    from cfa.errors import UserError

    if not 0.0 <= args.test_fraction < 1.0:
        raise UserError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    out = {"test_fraction": args.test_fraction, "split_seed": args.split_seed}
    if hasattr(args, "kind"):
        out["kind"] = args.kind
    return out


def _positive_size(size: int) -> None:
    from cfa.errors import UserError

    if size < 1:
        raise UserError(f"--size must be a positive number of pixels, got {size}")


def run(args) -> int:
    from pathlib import Path

    from cfa.errors import UserError

    if args.named:
        return _make_named(args)
    if not args.dataset:
        raise UserError("name a dataset: `cfa prepare --dataset NAME --out F.h5` (from params.yaml) or "
                        "`cfa prepare <dataset> ...` (see `cfa prepare --help`)")
    if Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a directory; give the HDF5 file to write, e.g. {args.out}/data.h5")
    progress = not args.no_progress
    if args.dataset == "cells":
        from cfa.datasets.cells import prepare_cells

        manifest = prepare_cells(args.out, counts=args.counts, per_count=args.per_count, seed=args.seed,
                                 size=args.size, workers=args.workers, progress=progress,
                                 source_images=args.source_images, **_split_args(args))
    elif args.dataset in ("utkface", "cacd"):
        _positive_size(args.size)
        if args.dataset == "utkface":
            from cfa.datasets.utkface import prepare_utkface as prepare
        else:
            from cfa.datasets.cacd import prepare_cacd as prepare
        manifest = prepare(args.root, args.out, size=args.size, ages=args.ages, progress=progress, **_split_args(args))
    elif args.dataset == "steering":
        from cfa.datasets.steering import prepare_steering

        _positive_size(args.size)
        manifest = prepare_steering(args.root, args.out, size=args.size, progress=progress,
                                    split_block=args.split_block, **_split_args(args))
    elif args.dataset == "waymo":
        from cfa.datasets.waymo import prepare_waymo

        _positive_size(args.size)
        manifest = prepare_waymo(args.root, args.out, size=args.size, camera=args.camera, every=args.every,
                                 longitudes=dict(args.longitude), split=args.split, progress=progress,
                                 split_block=args.split_block, **_split_args(args))
    elif args.dataset == "edges2objects":
        from cfa.datasets.edges2objects import prepare_edges2objects

        manifest = prepare_edges2objects(args.out, categories=args.categories, objects=args.objects,
                                         views=args.views, size=args.size, seed=args.seed,
                                         holdout=args.holdout, workers=args.workers, progress=progress)
    else:
        from cfa.datasets.pix2pix_sets import prepare_pix2pix

        _positive_size(args.size)
        root = args.root or f"data/raw/pix2pix/{args.name}"
        manifest = prepare_pix2pix(args.name, root, args.out, size=args.size, direction=args.direction,
                                   progress=progress)
    print(f"wrote {args.out}: {manifest['counts'].get('images')} images, "
          f"{len(manifest['skipped'])} skipped (see {args.out.rsplit('.', 1)[0]}.json)")
    return 0


def _make_named(args) -> int:
    from cfa.datasets.makers import make_dataset
    from cfa.errors import UserError
    from pipeline.common import params_from_args

    if args.dataset:
        raise UserError(f"give either --dataset {args.named} or the `{args.dataset}` subcommand, not both")
    if not args.named_out:
        raise UserError(f"--dataset {args.named} needs --out FILE.h5")
    manifest = make_dataset(params_from_args(args), args.named, args.named_out)
    print(f"wrote {args.named_out}: {manifest['counts'].get('images')} images, {len(manifest['skipped'])} skipped")
    return 0
