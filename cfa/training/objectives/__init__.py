"""Training objectives: each one a module registered by name, driven by the shared loop.

An objective owns its setting. Besides its networks, optimisers and schedulers, it

- declares the dataset kinds it trains on (`dataset_kinds`),
- prepares a batch the reader made (resize, crop, flip) and takes one optimisation step on it,
- generates images for inputs and conditions (`generate`), at the pixel scale it trained on,
- maps the dataset's labels to its condition t (`t_from_labels`),
- chooses its fixed progress-picture inputs and sweep (`preview`),
- and is restored from a run directory for inference (`restore_objective`).

The loop (`cfa.training.loop`), `cfa sample` and `cfa evaluate` call only these methods, so a new
objective is one new module plus one line in `OBJECTIVES`; `models.<name>.objective` in params.yaml
picks it.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any

import torch
# torch.optim imports torch._dynamo (and with it triton) lazily, in the first optimiser's
# constructor. Importing triton after pyrender has initialised EGL in the same process segfaults,
# so load it now, while importing this module, before anything can render.
import torch._dynamo  # noqa: F401
from torch import nn

from cfa.errors import UserError

# How inference runs (`evaluate.network_mode`): "eval" = networks in eval mode (BatchNorm running
# statistics, no dropout); "official" = as the authors' test.py, which never calls eval().
NETWORK_MODES = ("eval", "official")

# objective name -> "module:Class"; imported lazily so that unused objectives cost nothing.
OBJECTIVES = {
    "paired": "cfa.training.objectives.paired:PairedObjective",
    "image_only": "cfa.training.objectives.image_only:ImageOnlyObjective",
    "label_only": "cfa.training.objectives.label_only:LabelOnlyObjective",
    "unpaired": "cfa.training.objectives.unpaired:UnpairedObjective",
}


class Objective:
    """The interface the loop, `cfa sample` and `cfa evaluate` drive.

    Subclasses set `networks`, `optimizers` and `schedulers` (name -> object dicts) in
    `build_networks` / `build_optimizers` and implement the methods marked below.
    `data_info` is the training reader's `info()`: kind, channels, size, label unit, t scale.
    """

    name = "objective"
    dataset_kinds: tuple[str, ...] = ()
    # The networks `generate` needs; a checkpoint restored for inference loads only these.
    inference_networks: tuple[str, ...] = ("generator",)

    def __init__(self, model_params: dict, train_params: dict, device: torch.device,
                 amp: bool = False, data_info: dict | None = None):
        self.model_params = model_params
        self.train_params = train_params
        self.data_info = dict(data_info or {})
        self.device = device
        self.amp = bool(amp) and device.type == "cuda"
        # bf16 needs no loss scaling; fp16 (older GPUs) does.
        self.amp_dtype = (torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported()
                          else torch.float16)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.network_mode = "eval"

    # -- to implement -------------------------------------------------------------------------
    def build_networks(self) -> None:
        """Create the networks, initialised, on self.device."""
        raise NotImplementedError

    def build_optimizers(self, total_steps: int, decay_start: int) -> None:
        """Create optimisers and learning-rate schedulers for the networks."""
        raise NotImplementedError

    def prepare_batch(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict:
        """The reader's batch made ready for `step` (augmentation drawn from `generator`), on the device."""
        raise NotImplementedError

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the losses as detached scalar tensors."""
        raise NotImplementedError

    def generate(self, x: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] for inputs x (B, C, H, W) in [-1, 1] (None for label-only models) and
        conditions t (B,) in model units, run at the scale the model trained on and returned at the
        inputs' size (or the data's size)."""
        raise NotImplementedError

    def t_from_labels(self, labels) -> torch.Tensor:
        """Dataset labels (in `data_info['label_unit']`) -> conditions t in model units."""
        raise NotImplementedError

    def preview(self, sources: torch.Tensor | None, labels=None,
                count: int = 4) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(first column or None, outputs (N, T, C, H, W)) for a progress picture: every source
        (already at the training view; None for label-only models, which draw `count` fixed noise
        rows) under every condition of `labels` (dataset label units; default: the objective's own
        sweep)."""
        raise NotImplementedError

    def random_t(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n conditions drawn as in training, for test protocols that evaluate a model at its own
        random conditions (image-only translation, where t plays the role of a latent code).
        Objectives whose conditions come from the data have no such distribution."""
        raise UserError(f"objective {self.name!r} takes its conditions from the data; it has no "
                        f"distribution of t to draw from (evaluate it on a dataset of kind "
                        f"{' or '.join(self.dataset_kinds)})")

    def t_distribution(self) -> dict | None:
        """What `random_t` draws, for the records (None: conditions come from the data)."""
        return None

    # -- shared -------------------------------------------------------------------------------
    def build(self, total_steps: int, decay_start: int) -> None:
        self.build_networks()
        self.build_optimizers(total_steps, decay_start)

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

    def set_network_mode(self, mode: str) -> None:
        """Put the inference networks in `mode` (one of NETWORK_MODES) for `generate`.

        "official": train mode, as the authors' test.py leaves them (BatchNorm normalises with the
        statistics of the images it is given, dropout stays on; seed the RNG for repeatable
        outputs). `generate` may read `self.network_mode` to feed images as the official test did.
        """
        if mode not in NETWORK_MODES:
            raise UserError(f"evaluate.network_mode = {mode!r}: choose one of {list(NETWORK_MODES)}")
        nets = {name: self.networks[name] for name in self.inference_networks}
        # Train-mode forwards update BatchNorm's running statistics: keep the trained ones aside and
        # put them back on the way to eval mode, so an official evaluation leaves the model as it was.
        if mode == "official" and self.network_mode != "official":
            self._saved_buffers = {n: {k: b.detach().clone() for k, b in net.named_buffers()}
                                   for n, net in nets.items()}
        elif mode == "eval" and getattr(self, "_saved_buffers", None):
            with torch.no_grad():
                for n, net in nets.items():
                    for k, b in net.named_buffers():
                        b.copy_(self._saved_buffers[n][k])
            self._saved_buffers = None
        self.network_mode = mode
        for net in nets.values():
            net.train(mode == "official")

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


def _require_same_run(run_dir: Path, info: dict, config: dict) -> None:
    """run.json and checkpoint.pt must describe one run: a directory holding another model's
    checkpoint (copied in, or left by a run of another model) would be restored as neither."""
    import json

    from cfa.training import checkpoint as ckpt_io

    params = config.get("model_params") or {}
    recorded_params = info.get("model_params", params)
    # Compared as run.json stores them (a tuple in the checkpoint is a list in JSON).
    params, recorded_params = (json.loads(json.dumps(p, default=str)) for p in (params, recorded_params))
    saved = (config.get("model"), params.get("objective", "paired"))
    recorded = (info.get("model", saved[0]),
                info.get("objective") or (recorded_params or {}).get("objective", "paired"))
    fix = (f"the directory mixes two runs. Train the model again into a fresh --out, or put back the "
           f"{ckpt_io.RUN_JSON} that came with this checkpoint.")
    if saved != recorded:
        raise UserError(f"{run_dir}: {ckpt_io.CHECKPOINT} holds model {saved[0]!r} (objective {saved[1]}), but "
                        f"{ckpt_io.RUN_JSON} describes model {recorded[0]!r} (objective {recorded[1]}); {fix}")
    diffs = ckpt_io.config_differences(params, recorded_params, names=(ckpt_io.CHECKPOINT, ckpt_io.RUN_JSON))
    if diffs:
        more = f"\n  ... and {len(diffs) - 12} more" if len(diffs) > 12 else ""
        raise UserError(f"{run_dir}: {ckpt_io.CHECKPOINT} and {ckpt_io.RUN_JSON} both name model {saved[0]!r}, "
                        f"but with different configs:\n" + "\n".join(diffs[:12]) + more + f"\n{fix}")


def restore_objective(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[Objective, dict]:
    """(objective in eval mode with its inference networks loaded, run info) from a run directory.

    The info is run.json with `step`, `model` and `model_params` taken from the checkpoint itself.
    """
    from cfa.training import checkpoint as ckpt_io

    run_dir = Path(run_dir)
    info = ckpt_io.read_run_info(run_dir)
    ckpt_path = run_dir / ckpt_io.CHECKPOINT
    if not ckpt_path.is_file():
        raise UserError(f"{run_dir}: no {ckpt_io.CHECKPOINT}; the run has not reached its first checkpoint")
    ckpt = ckpt_io.load_checkpoint(ckpt_path)
    config = ckpt["config"]
    model_params = config["model_params"]
    _require_same_run(run_dir, info, config)
    cls = objective_class(info.get("objective") or model_params.get("objective", "paired"))
    objective = cls(model_params, info.get("train") or {}, torch.device(device), amp=False,
                    data_info=info.get("data_info") or {})
    objective.build_networks()
    for name in cls.inference_networks:
        ckpt_io.load_state(objective.networks[name], ckpt["state"]["networks"][name], name, ckpt_path)
    objective.eval()
    info = {**info, "step": int(ckpt["step"]), "model": config["model"], "model_params": model_params}
    return objective, info
