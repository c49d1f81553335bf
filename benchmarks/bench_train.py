"""Training throughput: our batched atom Pix2Pix (batch 16, per-sample t) against the same model
trained one sample at a time (batch 1), as the official code does. Prints one JSON object.

    .venv/bin/python benchmarks/bench_train.py                 # 64x64, paper-size networks
    .venv/bin/python benchmarks/bench_train.py --quick         # demo-size networks, fewer steps
    .venv/bin/python benchmarks/bench_train.py --size 256 --device cuda

Both arms run the real `PairedObjective.step` (D and G updates, Adam, LR schedule) on random
images with a random t per sample; the plain (no-atom) Pix2Pix at the batched size is timed too,
for the atom/plain step-time ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cfa.config import load_params  # noqa: E402
from cfa.devices import resolve_device  # noqa: E402
from cfa.training.objectives.paired import PairedObjective  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model_params: dict, train_params: dict, device: torch.device, batch: int, size: int,
               steps: int, warmup: int, amp: bool) -> dict:
    torch.manual_seed(0)
    objective = PairedObjective(model_params, train_params, device, amp=amp)
    objective.build(total_steps=10 ** 6, decay_start=10 ** 6)
    objective.train()
    batches = [{"source": torch.rand(batch, 3, size, size, device=device) * 2 - 1,
                "target": torch.rand(batch, 3, size, size, device=device) * 2 - 1,
                "t": torch.rand(batch, device=device)} for _ in range(2)]
    for i in range(warmup):
        objective.step(batches[i % 2])
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for i in range(steps):
        objective.step(batches[i % 2])
    sync(device)
    seconds = time.perf_counter() - start
    out = {"batch_size": batch, "steps": steps, "seconds": round(seconds, 3),
           "seconds_per_step": round(seconds / steps, 4),
           "images_per_s": round(batch * steps / seconds, 3)}
    if device.type == "cuda":
        out["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="image size (default: %(default)s)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="demo-size networks and fewer steps")
    ap.add_argument("--batch", type=int, default=16, help="the batched arm's batch size (default: 16)")
    ap.add_argument("--steps", type=int, help="timed steps of the batched arm (default: 3, quick 2)")
    ap.add_argument("--no-amp", action="store_true", help="float32 on CUDA too")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain (no-atom) Pix2Pix timing")
    args = ap.parse_args()

    overrides = ["profile=demo"] if args.quick else []
    params = load_params(REPO / "params.yaml", overrides)
    device = resolve_device(args.device)
    amp = device.type == "cuda" and not args.no_amp
    batched_steps = args.steps or (2 if args.quick else 3)
    # The batch-1 arm sees as many images as the batched one.
    single_steps = batched_steps * args.batch
    atom = params["models"]["pix2pix-cfa"]
    train = params["train"]

    result = {
        "benchmark": "train_throughput",
        "model": "pix2pix-cfa",
        "size": args.size,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "amp": amp,
        "quick": args.quick,
        "generator": atom["generator"],
        "atoms": atom["atoms"],
    }
    batched = time_steps(atom, train, device, args.batch, args.size, batched_steps, 1, amp)
    single = time_steps(atom, train, device, 1, args.size, single_steps, 2, amp)
    result["batched"] = batched
    result["one_sample_at_a_time"] = single
    result["speedup"] = round(batched["images_per_s"] / single["images_per_s"], 2)
    if not args.no_plain:
        plain = time_steps(params["models"]["pix2pix"], train, device, args.batch, args.size,
                           batched_steps, 1, amp)
        result["plain_pix2pix_batched"] = plain
        result["atom_over_plain_step_time"] = round(batched["seconds_per_step"] / plain["seconds_per_step"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
