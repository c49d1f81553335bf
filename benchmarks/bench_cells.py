"""Cell-200 simulation speed: images/s and the projected time of the paper-size set (200 x 1000).

Prints one JSON object. Two measurements side by side on the same counts:
  render_only   CellSimulator.render in this process (no HDF5), and
  prepare_wN    the whole `cfa prepare cells` path (simulate + gzip HDF5 + manifest) with N workers,
over every count 1..200 at --per-count images each, so the per-image cost is averaged over the
counts exactly as in the full set.

  .venv/bin/python benchmarks/bench_cells.py --per-count 2 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os

# Time the simulator as the prepare workers run it: one BLAS thread (set before numpy loads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cfa.datasets.cells import CellSimulator, image_seed, prepare_cells  # noqa: E402

FULL_IMAGES = 200 * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-count", type=int, default=2, help="images per count 1..200 (default: 2)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                    help="worker counts to time (0 = in this process; default: 0 1 2)")
    args = ap.parse_args()
    counts = range(1, 201)
    n = len(counts) * args.per_count

    sim = CellSimulator()
    t0 = time.perf_counter()
    for c in counts:
        for i in range(args.per_count):
            sim.render(c, image_seed(0, c, i))
    render_s = time.perf_counter() - t0
    by_count = {}
    for c in (1, 50, 100, 200):
        t = time.perf_counter()
        for i in range(5):
            sim.render(c, image_seed(1, c, i))
        by_count[str(c)] = round((time.perf_counter() - t) / 5 * 1000, 2)

    result = {
        "benchmark": "cells",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_avg_1min": os.getloadavg()[0]},
        "images_timed": n,
        "render_only": {"seconds": round(render_s, 3), "images_per_s": round(n / render_s, 1),
                        "projected_full_set_min": round(FULL_IMAGES / (n / render_s) / 60, 1)},
        "ms_per_image_at_count": by_count,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            out = Path(tmp) / f"cells_w{w}.h5"
            t = time.perf_counter()
            prepare_cells(out, counts=(1, 200), per_count=args.per_count, seed=0, workers=w, progress=False)
            s = time.perf_counter() - t
            result[f"prepare_w{w}"] = {"seconds": round(s, 3), "images_per_s": round(n / s, 1),
                                       "projected_full_set_min": round(FULL_IMAGES / (n / s) / 60, 1),
                                       "bytes_per_image": round(out.stat().st_size / n, 1),
                                       "speed_vs_render_only": round(render_s / s, 3)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
