"""Data-parallel training on this machine: images/s of `cfa train --nproc-per-node 2` against one process
at the same global batch (CPU: gloo, one thread per process; GPU: one device per process).

    python benchmarks/bench_ddp.py [--steps 20] [--size 32] [--device cpu|cuda]

Prints one JSON object: both throughputs (run.json's images/s, data loading and steps only) and the
2-process / 1-process ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    from cfa.render import render_rotation_set

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "rot.h5"
        render_rotation_set(data, source="procedural", category="chair", models=4, angles="0:90:5",
                            size=args.size, split="grid:10", progress=False)
        m = "models.pix2pix-cfa"
        rates = {}
        for nproc in (1, 2):
            cmd = [sys.executable, "-m", "pipeline.cli", "train", "--model", "pix2pix-cfa", "--data", str(data),
                   "--out", str(tmp / f"run{nproc}"), "--steps", str(args.steps), "--no-progress",
                   "--params", str(REPO / "params.yaml"), "--nproc-per-node", str(nproc),
                   "--set", "profile=demo", "--set", f"train.batch_size={args.batch}", "--set",
                   f"train.device={args.device}", "--set", "train.load_size=null", "--set", "train.crop_size=null",
                   "--set", "train.sample_every=100000", "--set", f"{m}.atoms.method=rk4"]
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
            subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
            rates[nproc] = json.loads((tmp / f"run{nproc}" / "run.json").read_text())["images_per_s"]
    print(json.dumps({"benchmark": "ddp", "device": args.device, "global_batch": args.batch, "size": args.size,
                      "steps": args.steps, "images_per_s_1_process": rates[1],
                      "images_per_s_2_processes": rates[2], "ratio_2_over_1": round(rates[2] / rates[1], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
