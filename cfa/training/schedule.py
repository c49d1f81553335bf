"""Learning-rate schedules over optimisation steps.

pix2pix's "linear" policy keeps the rate constant for `epochs` epochs and then decays it linearly
to zero over `epochs_decay` more. We count in steps rather than epochs so that the same shape
applies to a fixed step budget (`train.steps`): the decay then takes the same fraction of the run.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from cfa.errors import UserError


def plan_steps(train: dict, batches_per_epoch: int) -> tuple[int, int]:
    """(total optimisation steps, step at which the linear decay starts)."""
    epochs, epochs_decay = int(train["epochs"]), int(train["epochs_decay"])
    if train.get("steps"):
        total = int(train["steps"])
        cycle = epochs + epochs_decay
        decay_fraction = epochs_decay / cycle if cycle else 0.0
        return total, total - int(math.floor(total * decay_fraction))
    total = (epochs + epochs_decay) * batches_per_epoch
    if total < 1:
        raise UserError(f"train.epochs + train.epochs_decay = {epochs + epochs_decay} and train.steps is "
                        f"null: nothing to train; set train.epochs >= 1 or train.steps (--steps N)")
    return total, epochs * batches_per_epoch


class LinearDecay:
    """Multiplier for LambdaLR: 1 until `decay_start`, then linearly down to 1/(n+1) at the end.

    Like pix2pix, the last step still trains with a small positive rate (never exactly 0).
    A class, not a lambda, so that the scheduler's state_dict stays plain data.
    """

    def __init__(self, total_steps: int, decay_start: int):
        self.total_steps = int(total_steps)
        self.decay_start = int(decay_start)

    def __call__(self, step: int) -> float:
        decay_steps = self.total_steps - self.decay_start
        if decay_steps <= 0 or step < self.decay_start:
            return 1.0
        return 1.0 - (step - self.decay_start + 1) / float(decay_steps + 1)


def linear_decay_scheduler(optimizer: Optimizer, total_steps: int, decay_start: int) -> LambdaLR:
    return LambdaLR(optimizer, LinearDecay(total_steps, decay_start))
