"""Convolutions whose filters are built from per-sample atoms: F_b = A . D_b.

A (the `coefficients`, shape (out, in, m)) is shared; the atoms D_b (shape (m, k, k)) differ per
sample. Because convolution is linear in the filter,

    conv(x_b, sum_m A[:, :, m] D_b[m]) = sum_m A[:, :, m] . conv(x_b, D_b[m])

so the work can be split into a cheap per-sample part (convolving with m atoms) and a shared dense
part (mixing with A), without composing B full filter banks. Several exact strategies are
implemented; they differ only in speed, which depends on shape and device (see
benchmarks/bench_core.py). `AtomConv2d.impl = "auto"` picks by device and shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CONV_IMPLS = ("composed", "atoms_first", "atoms_first_batched", "mix_first", "unfold_bmm")
CONV_TRANSPOSE_IMPLS = ("composed", "mix_first")


def compose_filters(coefficients: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """Per-sample filters F_b = A . D_b: (out, in, m) x (B, m, k, k) -> (B, out, in, k, k)."""
    return torch.einsum("oim,bmkl->boikl", coefficients, atoms)


def _pad(x: torch.Tensor, padding: tuple[int, int], mode: str) -> torch.Tensor:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw, pw, ph, ph), mode=mode)


def atom_conv2d(x: torch.Tensor, coefficients: torch.Tensor, atoms: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int], padding_mode: str = "zeros",
                impl: str = "mix_first") -> torch.Tensor:
    """conv2d(x_b, A . D_b) + bias for every sample b, without a Python loop over samples.

    x: (B, in, H, W); coefficients A: (out, in, m); atoms D: (B, m, k, k).
    """
    batch, cin, _, _ = x.shape
    cout, _, m = coefficients.shape
    k = atoms.shape[-1]
    if padding_mode != "zeros":
        # Reflect/replicate padding commutes with per-pixel channel mixing, so padding first is exact
        # for every strategy.
        x = _pad(x, padding, {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}[padding_mode])
        padding = (0, 0)
    if impl == "composed":
        # One grouped conv: batch folded into groups, B filter banks of (out, in, k, k).
        weight = compose_filters(coefficients, atoms).reshape(batch * cout, cin, k, k)
        y = F.conv2d(x.reshape(1, batch * cin, *x.shape[2:]), weight, None, stride, padding, groups=batch)
        y = y.view(batch, cout, *y.shape[2:])
    elif impl == "atoms_first":
        # Depthwise conv of every input channel with the sample's m atoms, then a 1x1 mix with A.
        weight = atoms.unsqueeze(1).expand(batch, cin, m, k, k).reshape(batch * cin * m, 1, k, k)
        z = F.conv2d(x.reshape(1, batch * cin, *x.shape[2:]), weight, None, stride, padding, groups=batch * cin)
        z = z.view(batch, cin * m, *z.shape[2:])
        y = F.conv2d(z, coefficients.reshape(cout, cin * m, 1, 1))
    elif impl == "atoms_first_batched":
        # Atoms-first with the input channels moved into the batch dimension: one grouped conv with
        # B groups of (1 -> m) channels over `in` single-channel images, then the 1x1 mix with A.
        z = F.conv2d(x.transpose(0, 1), atoms.reshape(batch * m, 1, k, k), None, stride, padding, groups=batch)
        z = z.view(cin, batch, m, *z.shape[2:]).permute(1, 0, 2, 3, 4).reshape(batch, cin * m, *z.shape[2:])
        y = F.conv2d(z, coefficients.reshape(cout, cin * m, 1, 1))
    elif impl == "mix_first":
        # 1x1 mix of x into (out * m) channels with A, then each group of m channels is convolved
        # with the sample's m atoms and summed (grouped conv, groups = B * out).
        mixed = F.conv2d(x, coefficients.permute(0, 2, 1).reshape(cout * m, cin, 1, 1))
        weight = atoms.unsqueeze(1).expand(batch, cout, m, k, k).reshape(batch * cout, m, k, k)
        y = F.conv2d(mixed.reshape(1, batch * cout * m, *mixed.shape[2:]), weight, None, stride, padding,
                     groups=batch * cout)
        y = y.view(batch, cout, *y.shape[2:])
    elif impl == "unfold_bmm":
        cols = F.unfold(x, (k, k), padding=padding, stride=stride)  # (B, in*k*k, L)
        weight = compose_filters(coefficients, atoms).reshape(batch, cout, cin * k * k)
        y = torch.bmm(weight, cols)
        h = (x.shape[2] + 2 * padding[0] - k) // stride[0] + 1
        w = (x.shape[3] + 2 * padding[1] - k) // stride[1] + 1
        y = y.view(batch, cout, h, w)
    else:
        raise ValueError(f"unknown AtomConv2d impl {impl!r}; choose one of {CONV_IMPLS}")
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


def atom_conv_transpose2d(x: torch.Tensor, coefficients: torch.Tensor, atoms: torch.Tensor,
                          bias: torch.Tensor | None, stride: tuple[int, int], padding: tuple[int, int],
                          output_padding: tuple[int, int], impl: str = "mix_first") -> torch.Tensor:
    """conv_transpose2d(x_b, A . D_b) + bias per sample; A: (in, out, m) as ConvTranspose2d weights."""
    batch, cin, _, _ = x.shape
    _, cout, m = coefficients.shape
    k = atoms.shape[-1]
    if impl == "composed":
        weight = torch.einsum("iom,bmkl->biokl", coefficients, atoms).reshape(batch * cin, cout, k, k)
        y = F.conv_transpose2d(x.reshape(1, batch * cin, *x.shape[2:]), weight, None, stride, padding,
                               output_padding, groups=batch)
        y = y.view(batch, cout, *y.shape[2:])
    elif impl == "mix_first":
        # Mix at the low input resolution (in -> out*m), then a transposed conv per (sample, out)
        # group whose m channels meet the m atoms and are summed.
        mixed = F.conv2d(x, coefficients.permute(1, 2, 0).reshape(cout * m, cin, 1, 1))
        weight = atoms.unsqueeze(1).expand(batch, cout, m, k, k).reshape(batch * cout * m, 1, k, k)
        y = F.conv_transpose2d(mixed.reshape(1, batch * cout * m, *mixed.shape[2:]), weight, None, stride,
                               padding, output_padding, groups=batch * cout)
        y = y.view(batch, cout, *y.shape[2:])
    else:
        raise ValueError(f"unknown AtomConvTranspose2d impl {impl!r}; choose one of {CONV_TRANSPOSE_IMPLS}")
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _default_impl(x: torch.Tensor) -> str:
    """The fastest exact strategy measured for this input (benchmarks/bench_core.py, forward + backward).

    2-core CPU, batch 16, m = 8, relative to a plain conv of the same shape: at 256 channels and
    16x16 atoms_first ~1.3x, composed ~2.1x; at 64 channels and 64x64 composed ~1.3x, atoms_first
    ~6x; at 256 channels and 64x64 composed ~1.1x, atoms_first ~3.8x. The depthwise pass of
    atoms_first pays off only on small maps with many channels. On CUDA the grouped conv of the
    composed filters is a single cuDNN call.
    """
    if x.device.type == "cpu" and x.shape[1] >= 128 and x.shape[2] * x.shape[3] <= 32 * 32:
        return "atoms_first"
    return "composed"


class AtomConv2d(nn.Module):
    """Conv2d with per-sample filters F_b = A . D_b; `layer(x, atoms)`, atoms (B, m, k, k).

    `coefficients` A has shape (out, in, m), drawn N(0, 1/sqrt(in)) here as the official
    constructor does (`Conv_DCFre.reset_parameters`, models/DCF.py lines 303-305). That is not the
    value training starts from: the official `init_net` then re-draws the weight of every module
    whose class name contains "Conv", `Conv_DCFre` included, as N(0, 0.02) (models/networks.py
    lines 44-49 and 91); `cfa.networks.init_weights` does the same to A, so a trained model starts
    with std 0.02. The filter is F = einsum('oim,mkl->oikl', A, D), the official
    einsum('cvb,bkl->cvkl') (DCF.py line 314). `impl` selects the (exact) computation strategy;
    "auto" chooses by device.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_atoms: int, stride=1, padding=0,
                 bias: bool = True, padding_mode: str = "zeros", impl: str = "auto"):
        super().__init__()
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode {padding_mode!r} is not one of zeros, reflect, replicate, circular")
        if impl != "auto" and impl not in CONV_IMPLS:
            raise ValueError(f"unknown AtomConv2d impl {impl!r}; choose 'auto' or one of {CONV_IMPLS}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.n_atoms = int(kernel_size), int(n_atoms)
        self.stride, self.padding, self.padding_mode, self.impl = _pair(stride), _pair(padding), padding_mode, impl
        self.coefficients = nn.Parameter(torch.randn(out_channels, in_channels, n_atoms) / math.sqrt(in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        expected = (x.shape[0], self.n_atoms, self.kernel_size, self.kernel_size)
        if tuple(atoms.shape) != expected:
            raise ValueError(f"AtomConv2d expects atoms of shape {expected}, got {tuple(atoms.shape)}")
        impl = _default_impl(x) if self.impl == "auto" else self.impl
        # The atoms come from the float32 ODE; match the input's dtype (autocast may have lowered it).
        return atom_conv2d(x, self.coefficients.to(x.dtype), atoms.to(x.dtype),
                           None if self.bias is None else self.bias.to(x.dtype),
                           self.stride, self.padding, self.padding_mode, impl)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, n_atoms={self.n_atoms}, "
                f"stride={self.stride}, padding={self.padding}, padding_mode={self.padding_mode!r}, "
                f"bias={self.bias is not None}, impl={self.impl!r}")


class AtomConvTranspose2d(nn.Module):
    """ConvTranspose2d with per-sample filters F_b = A . D_b; A has shape (in, out, m).

    Not in the official code (its atoms only feed plain convs). A is drawn N(0, 1/sqrt(in)) here and
    re-drawn N(0, gain) by `cfa.networks.init_weights`, the rule init_net applies to every "Conv".
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_atoms: int, stride=1, padding=0,
                 output_padding=0, bias: bool = True, impl: str = "mix_first"):
        super().__init__()
        if impl not in CONV_TRANSPOSE_IMPLS:
            raise ValueError(f"unknown AtomConvTranspose2d impl {impl!r}; choose one of {CONV_TRANSPOSE_IMPLS}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.n_atoms = int(kernel_size), int(n_atoms)
        self.stride, self.padding, self.output_padding = _pair(stride), _pair(padding), _pair(output_padding)
        self.impl = impl
        self.coefficients = nn.Parameter(torch.randn(in_channels, out_channels, n_atoms) / math.sqrt(in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        expected = (x.shape[0], self.n_atoms, self.kernel_size, self.kernel_size)
        if tuple(atoms.shape) != expected:
            raise ValueError(f"AtomConvTranspose2d expects atoms of shape {expected}, got {tuple(atoms.shape)}")
        return atom_conv_transpose2d(x, self.coefficients.to(x.dtype), atoms.to(x.dtype),
                                     None if self.bias is None else self.bias.to(x.dtype),
                                     self.stride, self.padding, self.output_padding, self.impl)


__all__ = ["AtomConv2d", "AtomConvTranspose2d", "atom_conv2d", "atom_conv_transpose2d", "compose_filters",
           "CONV_IMPLS", "CONV_TRANSPOSE_IMPLS"]
