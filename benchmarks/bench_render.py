"""Rotation-set rendering throughput: images/s at 64x64 and 128x128, 1 and 2 worker processes.

Renders procedural objects with the real `render_rotation_set` (render, HDF5 gzip writes,
manifest) into a temporary folder. Each configuration runs twice, with a long and a tiny angle
range; the difference removes process start-up and EGL context creation, giving the steady-state
rate that decides how long a full RA-20 (72,000 images) takes. Prints one JSON object.

  .venv/bin/python benchmarks/bench_render.py                 # 4 chairs x 360 angles per run
  .venv/bin/python benchmarks/bench_render.py --models 2 --angles 0:180:1
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cfa.render import render_rotation_set  # noqa: E402

RA20_IMAGES = 20 * 3600


def timed_render(out: Path, size: int, workers: int, models: int, angles: str, category: str) -> tuple[int, float]:
    started = time.perf_counter()
    result = render_rotation_set(out, source="procedural", category=category, models=models, angles=angles,
                                 size=size, workers=workers, split="parity", progress=False)
    return result.manifest["counts"]["images"], time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--angles", default="0:360:1", help="the long run's angles (default: %(default)s)")
    ap.add_argument("--category", default="chair")
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                n_long, t_long = timed_render(Path(tmp) / "long.h5", size, workers, args.models, args.angles,
                                              args.category)
                n_short, t_short = timed_render(Path(tmp) / "short.h5", size, workers, args.models, "0:2:1",
                                                args.category)
                steady = (n_long - n_short) / max(t_long - t_short, 1e-9)
                results.append({
                    "size": size, "workers": workers, "images": n_long,
                    "seconds": round(t_long, 3),
                    "end_to_end_images_per_s": round(n_long / t_long, 1),
                    "startup_seconds": round(t_short, 3),
                    "steady_images_per_s": round(steady, 1),
                    "ra20_minutes_estimate": round((RA20_IMAGES / steady + t_short) / 60, 2),
                })

    def rate(size, workers):
        return next((r["steady_images_per_s"] for r in results if r["size"] == size and r["workers"] == workers), None)

    ratios = {f"{s}px_2_vs_1_workers": round(rate(s, 2) / rate(s, 1), 2)
              for s in {r["size"] for r in results} if rate(s, 1) and rate(s, 2)}
    target = rate(64, 2)
    print(json.dumps({
        "benchmark": "render_rotation_set (procedural objects, HDF5 gzip, 1 vs 2 workers)",
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(),
                    "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM")},
        "params": {"models": args.models, "angles": args.angles, "category": args.category},
        "results": results,
        "ratios": ratios,
        "target_64px_2_workers_images_per_s": 300,
        "target_met": None if target is None else target >= 300,
    }, indent=2))


if __name__ == "__main__":
    main()
