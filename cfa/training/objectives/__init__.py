"""Training objectives: each one is a small module over the shared loop in `cfa.training.loop`.

An objective owns its networks, optimisers and schedulers and knows how to take one optimisation
step on a batch; the loop owns everything else (data order, devices, checkpoints, logging,
samples). Model entries in params.yaml name their objective (`models.<name>.objective`), so a new
objective (CycleGAN, label-only, image-only) is one new module registered in `OBJECTIVES`.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import torch
# torch.optim imports torch._dynamo (and with it triton) lazily, in the first optimiser's
# constructor. Importing triton after pyrender has initialised EGL in the same process segfaults,
# so load it now, while importing this module, before anything can render.
import torch._dynamo  # noqa: F401
from torch import nn

from cfa.errors import UserError

# objective name -> "module:Class"; imported lazily so that unused objectives cost nothing.
OBJECTIVES = {
    "paired": "cfa.training.objectives.paired:PairedObjective",
}


class Objective:
    """The interface the loop drives.

    Subclasses set `networks`, `optimizers` and `schedulers` (name -> object dicts) in `build`,
    and implement `step` and `generate`.
    """

    name = "objective"

    def __init__(self, model_params: dict, train_params: dict, device: torch.device,
                 amp: bool = False):
        self.model_params = model_params
        self.train_params = train_params
        self.device = device
        self.amp = bool(amp) and device.type == "cuda"
        # bf16 needs no loss scaling; fp16 (older GPUs) does.
        self.amp_dtype = (torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported()
                          else torch.float16)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}

    # -- to implement -------------------------------------------------------------------------
    def build(self, total_steps: int, decay_start: int) -> None:
        """Create networks (initialised, on self.device), optimisers and schedulers."""
        raise NotImplementedError

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the losses as detached scalar tensors."""
        raise NotImplementedError

    def generate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Images for inputs x (B,C,H,W) in [-1,1] and model-unit conditions t (B,)."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def train(self) -> None:
        for net in self.networks.values():
            net.train()

    def eval(self) -> None:
        for net in self.networks.values():
            net.eval()

    def state_dict(self) -> dict:
        return {
            "networks": {k: v.state_dict() for k, v in self.networks.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        from cfa.training.checkpoint import load_state

        for group in ("networks", "optimizers", "schedulers"):
            mine, theirs = getattr(self, group), state[group]
            if set(mine) != set(theirs):
                raise UserError(f"checkpoint {group} {sorted(theirs)} do not match this objective's "
                                f"{sorted(mine)}")
            for key, obj in mine.items():
                load_state(obj, theirs[key], f"{key} {group[:-1]}", source)
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def objective_class(name: str) -> type[Objective]:
    if name not in OBJECTIVES:
        raise UserError(f"unknown objective {name!r} (models.<name>.objective); "
                        f"implemented: {sorted(OBJECTIVES)}")
    module, cls = OBJECTIVES[name].split(":")
    return getattr(importlib.import_module(module), cls)
