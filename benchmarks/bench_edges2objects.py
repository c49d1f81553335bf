"""edges2objects render speed: images/s of `cfa prepare edges2objects` and projected set times.

Prints one JSON object: for each --size and --workers, the whole prepare path (render both
passes + edges + gzip HDF5 + manifest) over --objects objects of every category with --views
views each, and the time that projects to the demo default (5 x 20 x 8 at 64 px) and the larger
documented setting (5 x 200 x 24 at 256 px).

  .venv/bin/python benchmarks/bench_edges2objects.py --size 64 256 --workers 1 2
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

from cfa.datasets.edges2objects import CATEGORY_NAMES, prepare_edges2objects  # noqa: E402

SETS = {"demo (5 x 20 x 8, 64 px)": (5 * 20 * 8, 64), "large (5 x 200 x 24, 256 px)": (5 * 200 * 24, 256)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--objects", type=int, default=4, help="objects per category (default: 4)")
    ap.add_argument("--views", type=int, default=8, help="views per object (default: 8)")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.size:
            for workers in args.workers:
                t0 = time.perf_counter()
                m = prepare_edges2objects(Path(tmp) / f"e2o_{size}_{workers}.h5", objects=args.objects,
                                          views=args.views, size=size, workers=workers, progress=False)
                seconds = time.perf_counter() - t0
                n = m["counts"]["images"]
                runs.append({"size": size, "workers": workers, "images": n, "seconds": round(seconds, 2),
                             "images_per_second": round(n / seconds, 1),
                             "mb_per_1000_images": round((Path(tmp) / f"e2o_{size}_{workers}.h5").stat().st_size
                                                         / n * 1000 / 1e6, 2)})
    projected = {}
    for name, (images, size) in SETS.items():
        best = max((r for r in runs if r["size"] == size), key=lambda r: r["images_per_second"], default=None)
        if best:
            projected[name] = {"seconds": round(images / best["images_per_second"], 1), "workers": best["workers"]}
    print(json.dumps({
        "benchmark": "edges2objects",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_avg_1min": os.getloadavg()[0]},
        "categories": list(CATEGORY_NAMES), "objects_per_category": args.objects, "views": args.views,
        "runs": runs, "projected": projected,
    }, indent=2))


if __name__ == "__main__":
    main()
