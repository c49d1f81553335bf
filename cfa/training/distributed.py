"""Data-parallel training over several processes (torchrun), transparent to objectives.

Every rank loads and prepares the whole step-deterministic batch (the same crops, flips and sampled
t as a one-process run draws), then keeps its share of it; after each backward pass the gradients of
every optimiser's parameters are averaged over the ranks before the step, so all ranks hold the same
weights. BatchNorm layers become synchronised ones (torch's SyncBatchNorm on CUDA; on the CPU, where
torch has none, `CPUSyncBatchNorm` below), and every atom generator solves its ODE for the times of the
whole batch (`cfa.atoms`), so all ranks use the same atoms and the same solver steps as a one-process
run. Only rank 0 writes checkpoints, logs and samples. With dropout off, N processes at batch B/N
reproduce one process at batch B to float rounding (tests/test_distributed.py).

Launch: `cfa train --nproc-per-node N ...` (re-executes itself under torchrun) or
`torchrun --standalone --nproc-per-node N -m pipeline.cli train ...`. Backend: NCCL on GPUs, gloo on
the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from cfa.errors import UserError


@dataclass
class Distributed:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch: dict, global_batch: int) -> dict:
        """This rank's contiguous share of every per-sample tensor of a prepared batch."""
        if global_batch % self.world_size:
            raise UserError(f"train.batch_size {global_batch} does not split evenly over "
                            f"{self.world_size} processes; choose a multiple of {self.world_size}")
        n = global_batch // self.world_size
        lo = self.rank * n
        return {k: (v[lo:lo + n] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == global_batch
                    else v) for k, v in batch.items()}

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over ranks (for logged losses, so every rank sees the same numbers)."""
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    def prepare(self, objective) -> None:
        """Synchronise BatchNorm in every network and average gradients before every optimiser step."""
        for name, net in objective.networks.items():
            objective.networks[name] = synchronise_batchnorm(net)
        for opt in objective.optimizers.values():
            _average_gradients_before_step(opt, self.world_size)


def from_environment() -> Distributed | None:
    """The torchrun process group this process belongs to (initialised on first call), or None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _average_gradients_before_step(optimizer: torch.optim.Optimizer, world: int) -> None:
    def average(opt, args, kwargs):
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= world
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()

    optimizer.register_step_pre_hook(average)


class _AllReduceSum(torch.autograd.Function):
    """A sum over ranks whose gradient is the sum over ranks of the gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CPUSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the whole batch across all ranks.

    torch's SyncBatchNorm runs on GPUs only; this is the same computation with differentiable
    all-reduces, so it also runs with the gloo backend on the CPU.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
        n = sums[-1]
        mean = sums[:c] / n
        # Two passes, like the native kernel: E[x^2] - E[x]^2 loses digits where the mean is large.
        var = _AllReduceSum.apply(((x - mean.view(1, c, 1, 1)) ** 2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def synchronise_batchnorm(net: nn.Module) -> nn.Module:
    """The network with every BatchNorm2d synchronised across ranks (state dict keys unchanged)."""
    if torch.cuda.is_available() and next(net.parameters()).is_cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    for name, child in net.named_children():
        if type(child) is nn.BatchNorm2d:
            sync = CPUSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            # The same parameter and buffer objects: optimisers built before keep working.
            for key, value in list(child._parameters.items()) + list(child._buffers.items()):
                setattr(sync, key, value)
            sync.train(child.training)
            setattr(net, name, sync)
        else:
            synchronise_batchnorm(child)
    return net
