"""BasisGAN atoms (Wang et al. 2019, the paper's ref [47]) in the pix2pix ResNet generator.

BasisGAN draws stochastic filter atoms: an MLP (Linear 64->64, Tanh, Linear 64->k*k*m, no bias) maps a
fresh N(0, I) vector to m atoms of size k x k at every forward (here one draw per sample), and the
decomposed layer's filters are A . D as in CFA. As in REFERENCE.md section 1 the decomposed layers
are the last down-sampling conv and both up-sampling (transposed) convs; each has its own MLP.

The generator keeps the common interface `gen(x, t)`. For the rotation ablation the condition t
enters as one constant input channel like the plain pix2pix baseline and the atoms add the
randomness; with `time_channel=False` (Table 1, image-only translation, BasisGAN's own setting) the
generator takes no label, t is ignored and all diversity comes from the atoms' noise.
"""

from __future__ import annotations

import torch
from torch import nn

from cfa.layers import AtomConv2d, AtomConvTranspose2d
from cfa.networks.pix2pix import ResnetBlock, append_time_channel, as_time_batch, conv_bias, norm_layer


class BasisGenerator(nn.Module):
    """MLP from a fresh N(0, I) draw (noise_dim) to (B, m, k, k) atoms: Linear, Tanh, Linear, no bias."""

    def __init__(self, n_atoms: int, kernel_size: int, noise_dim: int = 64, hidden: int = 64):
        super().__init__()
        self.n_atoms, self.kernel_size, self.noise_dim = n_atoms, kernel_size, noise_dim
        self.mlp = nn.Sequential(nn.Linear(noise_dim, hidden, bias=False), nn.Tanh(),
                                 nn.Linear(hidden, kernel_size * kernel_size * n_atoms, bias=False))

    def forward(self, batch: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(batch, self.noise_dim, device=device, generator=generator)
        return self.mlp(noise).view(batch, self.n_atoms, self.kernel_size, self.kernel_size)


class BasisResnetGenerator(nn.Module):
    """pix2pix ResNet generator whose last down-sampling conv and two up-sampling convs use BasisGAN atoms.

    `gen(x, t)`: x (B, C, H, W) in [-1, 1], t (B,) appended as a constant channel (ignored with
    `time_channel=False`); output tanh. Every call draws new atoms from torch's global RNG, one
    noise vector per sample and decomposed layer, so the same (x, t) gives different outputs (seed
    torch to repeat).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "batch", dropout: float = 0.5, n_atoms: int = 8, kernel_size: int = 3,
                 noise_dim: int = 64, time_channel: bool = True):
        super().__init__()
        bias = conv_bias(norm)
        self.time_channel = bool(time_channel)
        first_in = in_channels + 1 if self.time_channel else in_channels
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(first_in, ngf, 7, padding=0, bias=bias),
                                  norm_layer(norm, ngf), nn.ReLU(True))
        self.down1 = nn.Sequential(nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1, bias=bias),
                                   norm_layer(norm, ngf * 2), nn.ReLU(True))
        pad = kernel_size // 2
        self.down2 = AtomConv2d(ngf * 2, ngf * 4, kernel_size, n_atoms, stride=2, padding=pad, bias=bias)
        self.down2_post = nn.Sequential(norm_layer(norm, ngf * 4), nn.ReLU(True))
        self.blocks = nn.Sequential(*(ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)))
        # Output size 2*H for any odd kernel: (H-1)*2 - 2*pad + k + output_padding with output_padding 1.
        self.up1 = AtomConvTranspose2d(ngf * 4, ngf * 2, kernel_size, n_atoms, stride=2, padding=pad,
                                       output_padding=1, bias=bias)
        self.up1_post = nn.Sequential(norm_layer(norm, ngf * 2), nn.ReLU(True))
        self.up2 = AtomConvTranspose2d(ngf * 2, ngf, kernel_size, n_atoms, stride=2, padding=pad,
                                       output_padding=1, bias=bias)
        self.up2_post = nn.Sequential(norm_layer(norm, ngf), nn.ReLU(True))
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7, padding=0), nn.Tanh())
        self.bases = nn.ModuleList(BasisGenerator(n_atoms, kernel_size, noise_dim) for _ in range(3))

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        t = as_time_batch(t, x.shape[0], x.device)
        batch = x.shape[0]
        atoms = [basis(batch, x.device).to(x.dtype) for basis in self.bases]
        h = self.down1(self.stem(append_time_channel(x, t) if self.time_channel else x))
        h = self.down2_post(self.down2(h, atoms[0]))
        h = self.blocks(h)
        h = self.up1_post(self.up1(h, atoms[1]))
        h = self.up2_post(self.up2(h, atoms[2]))
        return self.head(h)


__all__ = ["BasisGenerator", "BasisResnetGenerator"]
