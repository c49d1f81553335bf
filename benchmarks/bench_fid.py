"""FID feature extraction speed: ours vs pytorch-fid's own CLI code path, same folder, same backbone.

pytorch-fid (`python -m pytorch_fid DIR ...`) lists the PNGs, decodes each through PIL in a
DataLoader (ImagePathDataset, ToTensor) and calls get_activations. Ours decodes the folder once into
one uint8 array (as the HDF5 datasets already are) and runs cfa.metrics.fid.inception_features
(batched, channels-last, inference mode). Both use the same Inception state dict (random weights,
offline; the speed does not depend on the values). Prints one JSON object.

  .venv/bin/python benchmarks/bench_fid.py --images 128 --size 64
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cfa.metrics.backbones import inception_v3_fid  # noqa: E402
from cfa.metrics.fid import inception_features  # noqa: E402


def write_pngs(folder: Path, n: int, size: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    coarse = torch.tensor(rng.integers(0, 256, (n, 3, 8, 8)), dtype=torch.float32)
    imgs = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear").round().byte()
    paths = []
    for i, img in enumerate(imgs.permute(0, 2, 3, 1).numpy()):
        p = folder / f"{i:05d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def pytorch_fid_cli_path(folder: Path, model, batch_size: int, device) -> np.ndarray:
    """What `python -m pytorch_fid` does for one folder (compute_statistics_of_path's activations)."""
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS, get_activations
    try:
        num_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        num_cpus = os.cpu_count()
    num_workers = min(num_cpus, 8) if num_cpus is not None else 0
    files = sorted(f for ext in IMAGE_EXTENSIONS for f in folder.glob(f"*.{ext}"))
    return get_activations(files, model, batch_size, 2048, device, num_workers)


def ours_path(folder: Path, model, batch_size: int, device) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]).transpose(0, 3, 1, 2)
    return inception_features(np.ascontiguousarray(images), model, batch_size, device, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)

    model_ours, provenance = inception_v3_fid(pretrained=False, device=device)
    model_ref = copy.deepcopy(model_ours)      # identical state dict, untouched memory format
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_pngs(folder, args.images, args.size)
        # Warm-up (allocator, cuDNN autotune, thread pools) on a few images, for both.
        warm = Path(tmp) / "warm"
        warm.mkdir()
        write_pngs(warm, 4, args.size, seed=1)
        pytorch_fid_cli_path(warm, model_ref, 4, device)
        ours_path(warm, model_ours, 4, device)

        def timed(fn, model):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            feats = fn(folder, model, args.batch_size, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return feats, time.perf_counter() - t0

        ref_feats, ref_s = timed(pytorch_fid_cli_path, model_ref)
        our_feats, our_s = timed(ours_path, model_ours)
    print(json.dumps({
        "benchmark": "fid_feature_extraction",
        "images": args.images, "size": args.size, "batch_size": args.batch_size,
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "backbone": provenance["note"] + " (same state dict for both)",
        "pytorch_fid_cli": {"seconds": round(ref_s, 3), "images_per_s": round(args.images / ref_s, 2)},
        "ours": {"seconds": round(our_s, 3), "images_per_s": round(args.images / our_s, 2)},
        "speedup_ours_over_pytorch_fid": round(ref_s / our_s, 3),
        "max_abs_feature_difference": float(np.abs(ref_feats - our_feats).max()),
    }, indent=2))


if __name__ == "__main__":
    main()
