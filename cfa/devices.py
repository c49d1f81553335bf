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
