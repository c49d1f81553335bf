"""Pix2Pix networks (ResNet generator, PatchGAN discriminator), with and without continuous atoms.

Follows junyanz/pytorch-CycleGAN-and-pix2pix (`ResnetGenerator`, `NLayerDiscriminator`) as the
authors' code did: reflect-pad 7x7 conv, two stride-2 down-samplings, `n_blocks` ResNet blocks,
two transposed-conv up-samplings, reflect-pad 7x7 conv, tanh.

With atoms (REFERENCE.md section 1): one `AtomGenerator(n_layers=n_blocks)` serves the whole
generator and the FIRST 3x3 conv of block i is an `AtomConv2d` using atoms[:, i]; the second conv of
every block stays a plain conv. Without atoms (the baseline) the condition t enters as one extra
constant input channel filled with t, unless `time_channel=False` (image-only translation: a plain
pix2pix generator that takes no label at all).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from cfa.atoms import AtomGenerator, AtomSpec
from cfa.errors import UserError
from cfa.layers import AtomConv2d

NORMS = ("batch", "instance", "none")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """pix2pix's norm choices: BatchNorm (affine), InstanceNorm (no affine, no running stats), none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm {norm!r} is not one of {NORMS}")


def conv_bias(norm: str) -> bool:
    # pix2pix: BatchNorm has its own shift, so convs before it have no bias; others do.
    return norm != "batch"


def as_time_batch(t, batch: int, device: torch.device) -> torch.Tensor:
    """t as a float32 (B,) tensor; a scalar or a 1-element tensor is broadcast to the batch."""
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    if t.dim() == 0 or t.numel() == 1:
        return t.reshape(1).expand(batch)
    t = t.reshape(-1)
    if t.shape[0] != batch:
        raise ValueError(f"t has {t.shape[0]} values for a batch of {batch} images")
    return t


def append_time_channel(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Concatenate t as one constant channel: (B, C, H, W) -> (B, C+1, H, W)."""
    plane = t.to(x.dtype).view(-1, 1, 1, 1).expand(x.shape[0], 1, x.shape[2], x.shape[3])
    return torch.cat([x, plane], dim=1)


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3x3, norm, ReLU, dropout, reflect-pad, conv3x3, norm](x).

    With `n_atoms`, the first conv is an AtomConv2d and `forward` needs the block's atoms.
    """

    def __init__(self, channels: int, norm: str, dropout: float, n_atoms: int | None = None,
                 atom_kernel: int = 3):
        super().__init__()
        bias = conv_bias(norm)
        self.pad1 = nn.ReflectionPad2d(1)
        if n_atoms is None:
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=0, bias=bias)
        else:
            if atom_kernel != 3:
                raise UserError(f"atoms.kernel_size = {atom_kernel}: the ResNet block's decomposed conv is 3x3; "
                                "set atoms.kernel_size: 3")
            self.conv1 = AtomConv2d(channels, channels, 3, n_atoms, padding=0, bias=bias)
        self.norm1 = norm_layer(norm, channels)
        self.act = nn.ReLU(True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=0, bias=bias)
        self.norm2 = norm_layer(norm, channels)

    def forward(self, x: torch.Tensor, atoms: torch.Tensor | None = None) -> torch.Tensor:
        h = self.pad1(x)
        h = self.conv1(h) if atoms is None else self.conv1(h, atoms)
        h = self.dropout(self.act(self.norm1(h)))
        h = self.norm2(self.conv2(self.pad2(h)))
        return x + h


class ResnetGenerator(nn.Module):
    """The pix2pix ResNet generator; `gen(x, t)` with x (B, C, H, W) in [-1, 1] and t (B,) float.

    H and W must be multiples of 4. Returns (B, out_channels, H, W) in [-1, 1] (tanh).

    - `atoms=AtomSpec(...)`: continuous filter atoms. `self.atom_generator` (one neural ODE,
      n_layers = n_blocks) turns t into per-sample atoms; the first 3x3 conv of every ResNet block
      is an AtomConv2d using that block's atoms. `self.nfe` is the ODE's last evaluation count.
    - `atoms=None` (baseline): t is appended to x as one constant input channel, so the first conv
      sees in_channels + 1 channels.
    - `time_channel`: whether t enters as that input channel; default: only without atoms (the two
      cases above). False without atoms is plain pix2pix (t is accepted and ignored).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "batch", dropout: float = 0.5, atoms: AtomSpec | None = None,
                 time_channel: bool | None = None):
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        bias = conv_bias(norm)
        self.in_channels, self.out_channels, self.n_blocks = in_channels, out_channels, n_blocks
        self.atom_spec = atoms
        self.atom_generator = AtomGenerator.from_spec(n_blocks, atoms) if atoms is not None else None
        self.time_channel = (atoms is None) if time_channel is None else bool(time_channel)
        first_in = in_channels + 1 if self.time_channel else in_channels
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(first_in, ngf, 7, padding=0, bias=bias),
                                  norm_layer(norm, ngf), nn.ReLU(True))
        down = []
        for i in range(2):
            mult = 2 ** i
            down += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                     norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        self.down = nn.Sequential(*down)
        n_atoms = atoms.n_atoms if atoms is not None else None
        kernel = atoms.kernel_size if atoms is not None else 3
        self.blocks = nn.ModuleList(ResnetBlock(ngf * 4, norm, dropout, n_atoms, kernel) for _ in range(n_blocks))
        up = []
        for i in range(2):
            mult = 2 ** (2 - i)
            up += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                      bias=bias),
                   norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        self.up = nn.Sequential(*up)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7, padding=0), nn.Tanh())

    @property
    def takes_condition(self) -> bool:
        """False when the output does not depend on t (no atoms, no t channel): deterministic given x."""
        return self.time_channel or self.atom_generator is not None

    @property
    def nfe(self) -> int:
        return self.atom_generator.nfe if self.atom_generator is not None else 0

    def atoms_for(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample atoms (B, n_blocks, m, k, k) for end times t (B,)."""
        if self.atom_generator is None:
            raise ValueError("this generator has no atoms (atoms=None)")
        return self.atom_generator(t)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        t = as_time_batch(t, x.shape[0], x.device)
        h = self.down(self.stem(append_time_channel(x, t) if self.time_channel else x))
        if self.atom_generator is None:
            for block in self.blocks:
                h = block(h)
        else:
            atoms = self.atom_generator(t)
            for i, block in enumerate(self.blocks):
                h = block(h, atoms[:, i])
        return self.head(self.up(h))


class PatchDiscriminator(nn.Module):
    """The pix2pix PatchGAN (NLayerDiscriminator): 4x4 convs, LeakyReLU 0.2, patch logits.

    For pix2pix it sees torch.cat([condition, image], 1) (in_channels = 6 for RGB pairs).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = conv_bias(norm)
        lrelu = functools.partial(nn.LeakyReLU, 0.2, True)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), lrelu()]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), lrelu()]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
                   norm_layer(norm, ndf * mult), lrelu(),
                   nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


__all__ = ["AtomSpec", "ResnetGenerator", "ResnetBlock", "PatchDiscriminator", "norm_layer", "append_time_channel",
           "as_time_batch"]
