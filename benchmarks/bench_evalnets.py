"""Evaluation networks and the Table-4 suite: training time on a demo rotation set, and evaluation
throughput (images/s). Prints one JSON object.

    .venv/bin/python benchmarks/bench_evalnets.py                  # demo set, demo-size networks
    .venv/bin/python benchmarks/bench_evalnets.py --epochs 60 --eval-images 4000

Training: a procedural rotation set as the demo profile renders it (4 objects, 0:90:2.5 deg,
32x32, split grid:5) is rendered into a temporary folder; the autoencoder, the angle regressor
and the object-type classifier train on its train split and measure themselves on its test split.
Throughput: the trained demo networks, and the paper-scale ones (ResNet-34 width 64, autoencoder
ch 64 at 64x64; random weights: speed does not depend on the values), over `--eval-images`
images; NIQE fit and score at 64x64 with 8x8 blocks (CcGAN's protocol) on smooth random images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cfa.metrics import evalnets as E  # noqa: E402
from cfa.metrics import niqe  # noqa: E402
from cfa.networks.evalnets import build_evalnet  # noqa: E402


def demo_set(folder: Path, models: int, size: int) -> dict:
    from cfa.render import render_rotation_set
    path = folder / "demo.h5"
    render_rotation_set(path, source="procedural", category="chair", models=models, angles="0:90:2.5",
                        size=size, split="grid:5", progress=False)
    with h5py.File(path, "r") as f:
        images, labels, types, split = f["images"][:], f["labels"][:], f["types"][:], f["split"][:]
    from cfa.io import sha256_file
    return {"images": images, "labels": labels.astype(np.float64), "types": types.astype(np.int64),
            "split": split, "sha256": sha256_file(path)}


def throughput(fn, images, repeats: int = 1) -> float:
    fn(images[:64])  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(images)
    return repeats * len(images) / (time.perf_counter() - t0)


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = torch.tensor(rng.integers(0, 256, (n, 3, size // 8, size // 8)), dtype=torch.float32)
    img = torch.nn.functional.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
    img = img + torch.tensor(rng.normal(0, 6, img.shape), dtype=torch.float32)
    return img.clamp(0, 255).round().byte().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--depth", type=int, default=18)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--ch", type=int, default=16, help="autoencoder base channels (64 at paper scale)")
    ap.add_argument("--eval-images", type=int, default=2000)
    ap.add_argument("--niqe-fit-images", type=int, default=500)
    ap.add_argument("--skip-paper-scale", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    out: dict = {"machine": {"cpu": platform.processor() or platform.machine(),
                             "threads": torch.get_num_threads(), "torch": torch.__version__}}

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = demo_set(Path(tmp), args.models, args.size)
        out["demo_set"] = {"render_seconds": round(time.perf_counter() - t0, 2), "size": args.size,
                           "objects": args.models, "images": int(len(data["images"]))}
    tr, te = data["split"] == 0, data["split"] == 1
    x_tr, x_te = data["images"][tr], data["images"][te]
    out["demo_set"].update(train=int(tr.sum()), test=int(te.sum()))
    common = dict(dataset_sha256=data["sha256"], epochs=args.epochs, batch_size=args.batch_size,
                  progress=False)
    nets = {
        "autoencoder": E.train_autoencoder(x_tr, x_te, ch=args.ch, dim_bottleneck=512, lr=1e-3, **common),
        "regressor": E.train_regressor(x_tr, data["labels"][tr], x_te, data["labels"][te], depth=args.depth,
                                       width=args.width, lr=0.01, label_unit="degrees", **common),
        "classifier": E.train_classifier(x_tr, data["types"][tr], x_te, data["types"][te], depth=args.depth,
                                         width=args.width, lr=0.01, **common),
    }
    chance_mae = float(np.abs(data["labels"][te] - np.median(data["labels"][tr])).mean())
    out["training"] = {k: {"seconds": round(v.train_seconds, 2), "parameters": E.parameter_count(v.model),
                           "arch": v.arch, "epochs": args.epochs, "test_metric": v.meta["test_metric"]}
                       for k, v in nets.items()}
    out["training"]["regressor"]["chance_mae_degrees"] = chance_mae

    eval_x = np.resize(data["images"], (args.eval_images, *data["images"].shape[1:]))
    ae, reg, cls = nets["autoencoder"], nets["regressor"], nets["classifier"]
    out["throughput_img_per_s_demo_nets"] = {
        "size": args.size,
        "ae_features": round(throughput(lambda x: E.ae_features(ae.model, x), eval_x), 1),
        "regressor": round(throughput(lambda x: E.predict_labels(reg.model, reg.meta, x), eval_x), 1),
        "classifier": round(throughput(lambda x: E.predict_classes(cls.model, x), eval_x), 1),
    }

    big = smooth_images(args.eval_images, 64)
    if not args.skip_paper_scale:
        torch.manual_seed(0)
        p_ae = build_evalnet({"kind": "autoencoder", "dim_bottleneck": 512, "ch": 64, "in_channels": 3,
                              "image_size": 64}).eval()
        p_reg = build_evalnet({"kind": "regressor", "depth": 34, "width": 64, "in_channels": 3}).eval()
        p_cls = build_evalnet({"kind": "classifier", "num_classes": 5, "depth": 34, "width": 64,
                               "in_channels": 3}).eval()
        meta = {"label_scale": 60.0, "label_offset": 0.0}
        n = min(args.eval_images, 500)
        out["throughput_img_per_s_paper_nets_64px"] = {
            "images": n,
            "ae_features": round(throughput(lambda x: E.ae_features(p_ae, x), big[:n]), 1),
            "regressor_resnet34": round(throughput(lambda x: E.predict_labels(p_reg, meta, x), big[:n]), 1),
            "classifier_resnet34": round(throughput(lambda x: E.predict_classes(p_cls, x), big[:n]), 1),
        }

    t0 = time.perf_counter()
    model = niqe.fit_niqe(big[:args.niqe_fit_images], block_size=(8, 8), sharpness_threshold=0.1)
    fit_s = time.perf_counter() - t0
    out["niqe_64px_8x8"] = {
        "fit_images": args.niqe_fit_images,
        "fit_img_per_s": round(args.niqe_fit_images / fit_s, 1),
        "score_img_per_s": round(throughput(lambda x: niqe.niqe_scores(x, model), big), 1),
        "scored_images": len(big),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
