"""Cost of continuous atoms: prints one JSON object to stdout.

(a) one pix2pix training step (D step + G step: forward, backward, Adam) of the ResNet-9blocks
    generator with atoms against the same network without atoms, timed side by side (interleaved
    repeats, median) and their ratio. Targets: <= 1.8 on a 2-core CPU at 64x64, <= 1.3 on a GPU at
    256x256 (both batch 16).
(b) the ODE solve for 64 distinct t in one batch against a single-t solve (target ratio <= 3),
    forward and forward + backward, for the batching modes ("union": one shared trajectory read at
    the sorted union of times; "rescale": a (64, C) state on s in [0, 1]; "auto", the default:
    rescale when adjoint gradients are needed, else union).
(c) the exact AtomConv2d strategies against a plain conv at the ResNet-block shape.

    python benchmarks/bench_core.py                      # CPU, 64x64, batch 16
    python benchmarks/bench_core.py --size 256 --device cuda
    python benchmarks/bench_core.py --quick              # small and fast, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cfa.atoms import AtomGenerator, AtomSpec  # noqa: E402
from cfa.layers import CONV_IMPLS, atom_conv2d  # noqa: E402
from cfa.networks.build import init_weights  # noqa: E402
from cfa.networks.pix2pix import PatchDiscriminator, ResnetGenerator  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict, repeats: int, warmup: int, device: torch.device) -> dict:
    """Median seconds per call of every fn, alternating between them so load drifts hit all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(v), "min_s": min(v), "runs": len(v)} for name, v in times.items()}


def make_train_step(atoms: AtomSpec | None, args, device: torch.device):
    gen = init_weights(ResnetGenerator(3, 3, args.ngf, args.n_blocks, "batch", 0.5, atoms)).to(device)
    disc = init_weights(PatchDiscriminator(6, args.ndf, 3, "batch")).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen_rng = torch.Generator().manual_seed(0)
    source = (torch.rand(args.batch, 3, args.size, args.size, generator=gen_rng) * 2 - 1).to(device)
    target = (torch.rand(args.batch, 3, args.size, args.size, generator=gen_rng) * 2 - 1).to(device)
    t = torch.rand(args.batch, generator=gen_rng).to(device)
    bce = torch.nn.BCEWithLogitsLoss()
    amp = args.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    nfe = []

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            fake = gen(source, t)
            nfe.append(gen.nfe)
            real_logits = disc(torch.cat([source, target], 1))
            fake_logits = disc(torch.cat([source, fake.detach()], 1))
            loss_d = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                            + bce(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(opt_d)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = disc(torch.cat([source, fake], 1))
            loss_g = bce(logits, torch.ones_like(logits)) + 100.0 * F.l1_loss(fake, target)
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(opt_g)
        scaler.update()

    return step, nfe


def bench_train_step(args, device) -> dict:
    spec = AtomSpec(n_atoms=8, kernel_size=3, adjoint=args.adjoint)
    torch.manual_seed(0)
    step_atoms, nfe_atoms = make_train_step(spec, args, device)
    torch.manual_seed(0)
    step_plain, _ = make_train_step(None, args, device)
    res = interleaved({"atoms": step_atoms, "plain": step_plain}, args.repeats, args.warmup, device)
    return {
        "config": {"batch": args.batch, "size": args.size, "ngf": args.ngf, "ndf": args.ndf,
                   "n_blocks": args.n_blocks, "n_atoms": 8, "adjoint": args.adjoint, "amp": args.amp},
        "atoms_s": res["atoms"]["median_s"],
        "plain_s": res["plain"]["median_s"],
        "ratio": res["atoms"]["median_s"] / res["plain"]["median_s"],
        "ratio_of_min": res["atoms"]["min_s"] / res["plain"]["min_s"],
        "ode_nfe_forward": statistics.median(nfe_atoms) if nfe_atoms else None,
        "target_ratio": 1.3 if device.type == "cuda" else 1.8,
        "runs": res["atoms"]["runs"],
    }


def bench_ode(args, device) -> dict:
    """64 distinct t in one call against one t, for each batching mode of AtomGenerator."""
    many = torch.linspace(1.0 / 64, 1.0, 64, device=device)  # 64 distinct t, the largest 1.0
    single = torch.ones(1, device=device)
    result = {"single_t": 1.0, "batch_ts": "linspace(1/64, 1, 64)", "adjoint": args.adjoint, "target_ratio": 3.0}
    for batching in ("auto", "union", "rescale"):
        torch.manual_seed(0)
        gen = AtomGenerator(args.n_blocks, 8, 3, adjoint=args.adjoint, batching=batching).to(device)
        result["state_numbers"] = gen.dim
        nfe = {}

        def solve(t, name, backward):
            # Forward alone is the sampling case (no grad); forward + backward the training case.
            def fn():
                with torch.set_grad_enabled(backward):
                    out = gen(t)
                nfe[name] = gen.nfe
                if backward:
                    out.pow(2).sum().backward()
            return fn

        fwd = interleaved({"batch64": solve(many, "batch64", False), "single": solve(single, "single", False)},
                          args.ode_repeats, 2, device)
        bwd = interleaved({"batch64": solve(many, "batch64", True), "single": solve(single, "single", True)},
                          args.ode_repeats, 2, device)
        result[batching] = {
            "forward_no_grad": {"batch64_s": fwd["batch64"]["median_s"], "single_s": fwd["single"]["median_s"],
                        "ratio": fwd["batch64"]["median_s"] / fwd["single"]["median_s"]},
            "forward_backward": {"batch64_s": bwd["batch64"]["median_s"], "single_s": bwd["single"]["median_s"],
                                 "ratio": bwd["batch64"]["median_s"] / bwd["single"]["median_s"]},
            "nfe_forward": nfe,
        }
    return result


def bench_conv(args, device) -> dict:
    """Forward + backward of one ResNet-block 3x3 conv (reflect pad 1) at the generator's block shape."""
    torch.manual_seed(0)
    channels, spatial, m, k = args.ngf * 4, args.size // 4, 8, 3
    x = torch.randn(args.batch, channels, spatial, spatial, device=device, requires_grad=True)
    coefficients = (torch.randn(channels, channels, m, device=device) / channels ** 0.5).requires_grad_()
    atoms = torch.randn(args.batch, m, k, k, device=device, requires_grad=True)
    weight = (torch.randn(channels, channels, k, k, device=device) / (9 * channels) ** 0.5).requires_grad_()

    def plain(channels_last=False):
        def fn():
            inp = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            F.conv2d(F.pad(inp, (1, 1, 1, 1), mode="reflect"), weight).sum().backward()
        return fn

    def atom(impl, channels_last=False):
        def fn():
            inp = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            atom_conv2d(inp, coefficients, atoms, None, (1, 1), (1, 1), "reflect", impl).sum().backward()
        return fn

    fns = {"plain_conv": plain()}
    fns.update({impl: atom(impl) for impl in CONV_IMPLS})
    fns["plain_conv_channels_last"] = plain(True)
    fns["atoms_first_channels_last"] = atom("atoms_first", True)
    fns["composed_channels_last"] = atom("composed", True)
    res = interleaved(fns, args.conv_repeats, 1, device)
    base = res["plain_conv"]["median_s"]
    return {
        "shape": {"batch": args.batch, "channels": channels, "spatial": spatial, "n_atoms": m, "kernel": k},
        "median_s": {name: r["median_s"] for name, r in res.items()},
        "ratio_to_plain": {name: r["median_s"] / base for name, r in res.items()},
        "fastest_atom_impl": min((n for n in res if n != "plain_conv" and not n.startswith("plain")),
                                 key=lambda n: res[n]["median_s"]),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--size", type=int, default=64, help="image size (64 on CPU, 256 for the GPU target)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--repeats", type=int, default=5, help="timed training steps per model")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--ode-repeats", type=int, default=10)
    p.add_argument("--conv-repeats", type=int, default=5)
    p.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=True,
                   help="adjoint ODE gradients, as params.yaml's pix2pix-cfa (default: on)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=False,
                   help="bfloat16 autocast on CUDA (the ODE stays float32)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="small nets and few repeats: a smoke run, not the target")
    p.add_argument("--skip", nargs="*", default=[], choices=["train", "ode", "conv"])
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.ngf, args.ndf, args.n_blocks = 4, 16, 16, 3
        args.repeats, args.warmup, args.ode_repeats, args.conv_repeats = 2, 1, 3, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available on this machine", file=sys.stderr)
        return 2
    result = {
        "benchmark": "bench_core",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
    }
    for key, name, fn in (("train", "train_step", bench_train_step), ("ode", "ode_solve", bench_ode),
                          ("conv", "atom_conv", bench_conv)):
        if key in args.skip:
            continue
        print(f"bench_core: {name} ...", file=sys.stderr, flush=True)
        result[name] = fn(args, device)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
