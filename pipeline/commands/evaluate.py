"""`cfa evaluate`: FID, LPIPS diversity and unseen-angle interpolation error of a trained model."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "evaluate"
HELP = "compute a model's FID / LPIPS diversity / interpolation error on a rotation set"
DESCRIPTION = """Evaluate a paired rotation model (Table 2) on the test split of a rotation set.

Without --run: only compute (or reuse) the FID statistics of the real test images, cached in
--fid-stats (reused only when data sha256, split, image count and backbone all match).
With --run: load the run's generator, generate at every test (object, angle) pair from the
object's 0-deg image, and write METRICS.json with FID (generated vs real test images), LPIPS
diversity (pairs of distinct test angles per input, see docs/evaluation.md), the unseen-angle
interpolation error (vs the nearest seen angle's output), image counts, data source, backbone
provenance, checkpoint step and the params used.

  cfa evaluate --data data/demo/RA-20.h5 --fid-stats data/demo/RA-20.fid.npz
  cfa evaluate --data data/demo/RA-20.h5 --fid-stats data/demo/RA-20.fid.npz \\
      --run runs/demo/RA-20/pix2pix-cfa --out results/demo/metrics/RA-20.pix2pix-cfa.json \\
      --figure results/demo/figures/RA-20.pix2pix-cfa.interp.png --strip ...strip.png

Reads evaluate.* and metrics.pretrained_backbones from params. Offline machines:
--set metrics.pretrained_backbones=false (random-weight backbones; every output says so).
"""


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, metavar="F.h5", help="rotation set (`cfa render` output)")
    p.add_argument("--fid-stats", required=True, metavar="STATS.npz",
                   help="cache of the real test images' Inception statistics (made if absent/stale)")
    p.add_argument("--run", metavar="RUN_DIR", help="the trained run to evaluate (`cfa train --out`)")
    p.add_argument("--out", metavar="METRICS.json", help="metrics output (required with --run)")
    p.add_argument("--figure", metavar="PNG", help="Figure-3-like interpolation figure")
    p.add_argument("--strip", metavar="PNG", help="Figure-5-like rotation strips")
    p.add_argument("--dataset", help="dataset name in the metrics (default: the manifest's "
                                     "`dataset`, else the file stem)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    add_params_arguments(p)


def _dataset_name(data_path, given: str | None) -> str:
    import json

    from cfa.io import manifest_path
    if given:
        return given
    mp = manifest_path(data_path)
    if mp.is_file():
        try:
            name = json.loads(mp.read_text()).get("dataset")
            if name:
                return str(name)
        except json.JSONDecodeError:
            pass
    from pathlib import Path
    return Path(data_path).stem


def real_statistics(data, rows, stats_path, *, sha256: str, model, provenance: dict,
                    batch_size: int, device):
    """(mu, sigma, reused) of the real images at `rows`, via the .npz cache."""
    import sys
    from pathlib import Path

    from cfa.metrics import fid
    # A seeded subset of the test rows is keyed by its rows, so the real images always match the
    # generated ones; the whole split needs no row key.
    subset = rows if len(rows) < len(data.test_rows()) else None
    cached = fid.load_stats_if_matching(stats_path, count=len(rows), dataset_sha256=sha256,
                                        split="test", provenance=provenance, rows=subset)
    if cached is not None:
        return cached[0], cached[1], True
    if Path(stats_path).exists():
        print(f"cfa evaluate: {stats_path} was made from other data/count/backbone: recomputing",
              file=sys.stderr)
    feats = fid.inception_features(data.images[rows], model, batch_size, device, desc="FID real")
    mu, sigma = fid.feature_statistics(feats)
    fid.save_stats(stats_path, mu, sigma, count=len(rows), dataset_sha256=sha256, split="test",
                   provenance=provenance, rows=subset)
    return mu, sigma, False


def fid_rows(data, max_images: int, seed: int):
    """The test rows used for FID: all of them, or a seeded subset of `max_images`."""
    import numpy as np
    rows = data.test_rows()
    if len(rows) > max_images:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=max_images, replace=False))
    return rows


def evaluate_generator(generate, data, *, inception, lpips_model, real_mu, real_sigma,
                       fid_row_ids, batch_size: int, lpips_inputs: int, lpips_pairs: int,
                       seed: int) -> dict:
    """All Table 2 metrics of one generator callable generate(x, t) on `data` (RotationArrays)."""
    import warnings

    import numpy as np

    from cfa.metrics import fid
    from cfa.metrics.interpolation import generate_rows, interpolation_error
    from cfa.metrics.lpips_diversity import choose_inputs, lpips_diversity_of_outputs

    test = data.test_rows()
    fakes = generate_rows(generate, data, test, data.t_of(test), batch_size, desc="generate test")
    position = {int(r): i for i, r in enumerate(test)}
    fake_fid = fakes[[position[int(r)] for r in fid_row_ids]]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rank_deficient = fid.warn_if_rank_deficient(len(fake_fid), "images per set")
    feats = fid.inception_features(fake_fid, inception, batch_size, desc="FID generated")
    fid_value = fid.fid_features_vs_stats(feats, real_mu, real_sigma)

    objects = np.unique(data.types[test])
    chosen = choose_inputs(len(objects), lpips_inputs, np.random.default_rng(seed))
    per_input = [fakes[data.types[test] == objects[i]] for i in chosen]
    diversity = lpips_diversity_of_outputs(per_input, lpips_model, pairs=lpips_pairs, seed=seed,
                                           batch_size=batch_size)
    interp = interpolation_error(data, generate=generate, unseen_outputs=fakes,
                                 lpips_model=lpips_model, rows=test, batch_size=batch_size)
    values = {
        "fid": fid_value,
        "lpips_diversity": diversity["lpips"],
        "interp_lpips_unseen": interp["unseen"]["lpips"],
        "interp_lpips_nearest_seen": interp["nearest_seen_output"]["lpips"],
        "interp_mae_unseen": interp["unseen"]["mae"],
        "interp_mae_nearest_seen": interp["nearest_seen_output"]["mae"],
        "interp_lpips_nearest_seen_truth": interp["nearest_seen_truth"]["lpips"],
        "interp_mae_nearest_seen_truth": interp["nearest_seen_truth"]["mae"],
    }
    return {
        "values": values,
        "fid": {"value": fid_value, "images_fake": len(fake_fid), "images_real": len(fid_row_ids),
                "full_rank": not rank_deficient, "split": "test"},
        "lpips_diversity": diversity,
        "interpolation": interp,
        "counts": {"fid_fake": len(fake_fid), "fid_real": len(fid_row_ids),
                   "lpips_pairs": diversity["pairs"], "lpips_inputs": diversity["inputs"],
                   "interpolation": interp["count"], "generated_test": len(test)},
    }


def _figure_rows(data, obj: int, max_unseen: int = 6):
    """Angles for the Figure-3 panel: up to `max_unseen` unseen angles spread over the range,
    each beside its nearest seen angle."""
    import numpy as np

    from cfa.metrics.interpolation import SPLIT_TEST, nearest_seen_rows
    unseen = np.flatnonzero((data.types == obj) & (data.split == SPLIT_TEST))
    if not len(unseen):
        return np.array([], dtype=np.int64)
    pick = unseen[np.unique(np.linspace(0, len(unseen) - 1, min(max_unseen, len(unseen))).round()
                            .astype(int))]
    rows = np.unique(np.concatenate([pick, nearest_seen_rows(data, pick)]))
    return rows[np.argsort(data.angles[rows])]


def write_figures(generate, data, *, figure: str | None, strip: str | None, step_deg: float,
                  batch_size: int, title: str) -> None:
    import numpy as np

    from cfa.metrics.interpolation import SPLIT_TRAIN, generate_rows, to_uint8
    from cfa.tables.figures import interpolation_figure, rotation_strip

    objects = list(range(min(2, len(data.source_index))))
    if figure:
        panels = []
        for o in objects:
            rows = _figure_rows(data, o)
            if len(rows):
                panels.append({"name": data.object_ids[o], "angles": data.angles[rows],
                               "seen": data.split[rows] == SPLIT_TRAIN, "truth": data.images[rows],
                               "output": generate_rows(generate, data, rows, data.t_of(rows),
                                                       batch_size, progress=False)})
        if panels:
            interpolation_figure(figure, panels, title=title + " - red = unseen angle")
    if strip:
        import torch
        angles = np.arange(0.1, 90.0, step_deg)
        strip_objects = list(range(min(4, len(data.source_index))))
        outs = []
        for o in strip_objects:
            src = data.images[data.source_index[o]]
            x = torch.from_numpy(src).float().div(127.5).sub(1)[None].expand(len(angles), -1, -1, -1)
            t = torch.tensor((angles - data.angles[data.source_index[o]]) / 90.0, dtype=torch.float32)
            with torch.inference_mode():
                outs.append(np.concatenate([to_uint8(generate(x[i:i + batch_size], t[i:i + batch_size]))
                                            for i in range(0, len(angles), batch_size)]))
        rotation_strip(strip, data.images[data.source_index[strip_objects]], np.stack(outs),
                       angles.round(1).tolist(), title=title)



def at_model_scale(generator, info: dict, device):
    """generate(x, t) that runs the generator at the pixel scale it trained on.

    Training saw crops of crop_size from images resized to load_size (paper: 64 -> 286 -> 256).
    For metrics every output pixel must line up with the true render, so the whole input is resized
    to the training crop size (no crop), and the output resized back to the data's size.
    """
    import torch.nn.functional as F

    train = info.get("train") or {}
    work = train.get("crop_size") or train.get("load_size")

    def generate(x, t):
        size = x.shape[-1]
        x = x.to(device)
        if work and work != size:
            x = F.interpolate(x, size=(work, work), mode="bicubic", align_corners=False,
                              antialias=True).clamp(-1, 1)
        y = generator(x, t.to(device))
        if y.shape[-1] != size:
            y = F.interpolate(y.float(), size=(size, size), mode="bicubic", align_corners=False,
                              antialias=True).clamp(-1, 1)
        return y

    return generate

def run(args) -> int:
    import sys
    import time

    import torch

    from cfa.errors import UserError
    from cfa.io import sha256_file, write_json_atomic
    from cfa.metrics.backbones import combined_provenance, inception_v3_fid, lpips_alex
    from cfa.metrics.interpolation import load_rotation_arrays
    from pipeline.common import params_from_args

    started = time.time()
    params = params_from_args(args)
    ev, pretrained, seed = params["evaluate"], params["metrics"]["pretrained_backbones"], params["seed"]
    if args.run and not args.out:
        raise UserError("--run needs --out METRICS.json (where to write the metrics)")
    if not args.run and (args.out or args.figure or args.strip):
        raise UserError("--out/--figure/--strip need --run RUN_DIR (a model to evaluate)")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda, but no CUDA device is available; use --device auto")

    data = load_rotation_arrays(args.data)
    generator = info = None
    if args.run:
        # Load the run before the (slow) real statistics, so a wrong --run fails at once.
        from cfa.training.checkpoint import load_generator
        generator, info = load_generator(args.run, device=device)
        generator.eval()
    sha = sha256_file(args.data)
    dataset = _dataset_name(args.data, args.dataset)
    source = data.attrs.get("source", "unknown")
    inception, prov_inception = inception_v3_fid(pretrained, device)
    rows = fid_rows(data, ev["fid_max_images"], seed)
    if len(rows) < 2:
        raise UserError(f"{args.data} has {len(rows)} test-split images below 90 deg; FID needs "
                        f"at least 2 (render with a split that holds angles out)")
    real_mu, real_sigma, reused = real_statistics(
        data, rows, args.fid_stats, sha256=sha, model=inception, provenance=prov_inception,
        batch_size=ev["batch_size"], device=device)
    print(f"cfa evaluate: real statistics of {len(rows)} test images "
          f"{'reused from' if reused else 'written to'} {args.fid_stats}", file=sys.stderr)
    if not args.run:
        return 0

    if info.get("data_sha256") and info["data_sha256"] != sha:
        print(f"cfa evaluate: WARNING: {args.run} was trained on data with sha256 "
              f"{info['data_sha256'][:12]}..., evaluating on {args.data} ({sha[:12]}...): the "
              f"test split may not be unseen by this model", file=sys.stderr)
    lpips_model, prov_lpips = lpips_alex(pretrained, device)

    generate = at_model_scale(generator, info, device)

    result = evaluate_generator(
        generate, data, inception=inception, lpips_model=lpips_model, real_mu=real_mu,
        real_sigma=real_sigma, fid_row_ids=rows, batch_size=ev["batch_size"],
        lpips_inputs=ev["lpips_inputs"], lpips_pairs=ev["lpips_pairs"], seed=seed)
    backbones = combined_provenance(prov_inception, prov_lpips)
    metrics = {
        "model": info["model"],
        "dataset": dataset,
        **result,
        "data": {"path": str(args.data), "sha256": sha, "source": source,
                 "split_rule": data.attrs.get("split_rule"), "category": data.attrs.get("category"),
                 "trained_on_sha256": info.get("data_sha256")},
        "fid_stats": str(args.fid_stats),
        "backbones": backbones,
        "checkpoint": {"run": str(args.run), "step": info.get("step")},
        "params": {"evaluate": ev, "metrics": params["metrics"], "seed": seed,
                   "profile": params.get("profile")},
        "device": str(device),
    }
    if not backbones["pretrained"]:
        metrics["WARNING"] = backbones["note"]
    write_json_atomic(args.out, metrics)
    if args.figure or args.strip:
        write_figures(generate, data, figure=args.figure, strip=args.strip,
                      step_deg=ev["figure_step_deg"], batch_size=ev["batch_size"],
                      title=f"{dataset} {info['model']} (step {info.get('step')}, {source} data)")
    v = result["values"]
    print(f"cfa evaluate: {dataset} {info['model']}: FID {v['fid']:.2f} "
          f"({result['counts']['fid_fake']} images), LPIPS diversity {v['lpips_diversity']:.4f}, "
          f"interp MAE unseen {v['interp_mae_unseen']:.4f} vs nearest seen "
          f"{v['interp_mae_nearest_seen']:.4f} -> {args.out} ({time.time() - started:.1f} s)",
          file=sys.stderr)
    if not backbones["pretrained"]:
        print(f"cfa evaluate: WARNING: {backbones['note']}", file=sys.stderr)
    return 0
