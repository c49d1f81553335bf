"""Device choice: the one place that turns `auto | cpu | cuda` into a torch device."""

from __future__ import annotations

import torch

from cfa.errors import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", option: str = "train.device") -> torch.device:
    """`auto` takes CUDA when a device is visible, else the CPU; `cuda` without one is a user error."""
    given = f"{option} {name}" if option.startswith("--") else f"{option} = {name!r}"
    if name not in DEVICE_CHOICES and not str(name).startswith("cuda:"):
        raise UserError(f"{given}: choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{given}, but no CUDA device is visible; use auto or cpu")
    return torch.device(name)


def use_cpu_threads(threads: int | None) -> None:
    """Fix torch's intra-op CPU threads from params, not from the environment.

    A float reduction split over 2 threads rounds differently than over 1. Snakemake exports
    OMP_NUM_THREADS from a rule's `threads:`, DVC exports nothing (torch then takes every core), so
    without this the two tools would write tables that differ in the 7th digit.
    """
    if threads:
        torch.set_num_threads(int(threads))
