"""`make demo` as a new user meets it: wall time on a fresh clone (venv build included), a second run
(must find nothing to do), and a run from the existing venv with another seed, whose tables give the
seed-to-seed spread of every demo metric. Prints one JSON object.

    python3 benchmarks/bench_demo.py --offline          # this machine (no weights download)
    python3 benchmarks/bench_demo.py --keep /tmp/demo   # keep the clone to look at its results

Standard library only: it must run before any venv exists. The clone is of HEAD (commit what you
want measured). Budget (issue 17): <= 20 min on a fresh clone, <= 15 min from an existing venv,
<= 30 s for the second run, on the 2-core development CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("data/demo", "runs/demo", "results/demo", "logs/demo", ".snakemake")
BUDGET_S = {"fresh_clone": 20 * 60, "existing_venv": 15 * 60, "second_run": 30}


def make_demo(clone: Path, offline: bool, log: Path, seed: int | None = None) -> float:
    cmd = ["make", "demo"] + (["OFFLINE=1"] if offline else []) + ([f"SEED={seed}"] if seed is not None else [])
    print(f"# {' '.join(cmd)}  (log: {log})", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=clone, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_demo: `{' '.join(cmd)}` failed (exit {proc.returncode}); see {log}")
    return elapsed


def table_values(results: Path) -> dict:
    return {p.stem: json.loads(p.read_text())[p.stem] for p in sorted(results.glob("table[0-9].json"))}


def spread(first: dict, second: dict) -> dict:
    """table -> dataset -> model -> metric -> {seed0, seed1, abs_diff}."""
    out: dict = {}
    for table, datasets in first.items():
        for ds, models in datasets.items():
            for model, metrics in models.items():
                for metric, v0 in metrics.items():
                    v1 = second.get(table, {}).get(ds, {}).get(model, {}).get(metric)
                    if isinstance(v0, (int, float)) and isinstance(v1, (int, float)):
                        out.setdefault(table, {}).setdefault(ds, {}).setdefault(model, {})[metric] = {
                            "seed0": round(v0, 5), "seed1": round(v1, 5), "abs_diff": round(abs(v0 - v1), 5)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offline", action="store_true", help="make demo OFFLINE=1 (random-weight backbones)")
    ap.add_argument("--keep", metavar="DIR", help="clone into DIR and keep it (default: a temporary folder)")
    args = ap.parse_args()

    clone = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cfa-bench-demo-")) / "cfa"
    if clone.exists():
        sys.exit(f"bench_demo: {clone} exists; give a new --keep folder")
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout.strip()
    logs = clone.parent / "bench-logs"
    logs.mkdir(exist_ok=True)
    try:
        fresh = make_demo(clone, args.offline, logs / "fresh.log")
        seed0 = table_values(clone / "results" / "demo")
        again = make_demo(clone, args.offline, logs / "second.log")
        second_log = (logs / "second.log").read_text()
        for out in OUTPUTS:
            shutil.rmtree(clone / out, ignore_errors=True)
        existing = make_demo(clone, args.offline, logs / "existing-venv-seed1.log", seed=1)
        seed1 = table_values(clone / "results" / "demo")
    finally:
        if not args.keep:
            shutil.rmtree(clone.parent, ignore_errors=True)
    result = {
        "benchmark": "make demo" + (" OFFLINE=1" if args.offline else ""),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "seconds": {"fresh_clone": round(fresh, 1), "second_run": round(again, 1),
                    "existing_venv": round(existing, 1)},
        "budget_seconds": BUDGET_S,
        "within_budget": {"fresh_clone": fresh <= BUDGET_S["fresh_clone"],
                          "second_run": again <= BUDGET_S["second_run"],
                          "existing_venv": existing <= BUDGET_S["existing_venv"]},
        "second_run_had_nothing_to_do": "Nothing to be done" in second_log,
        "tables": sorted(seed0),
        "seed_spread": spread(seed0, seed1),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
