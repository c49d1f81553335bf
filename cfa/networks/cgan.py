"""Label-conditional GAN for regression labels (paper Section 4.2, Eq. 7).

Generator G(z, x): z ~ N(0, I) carries randomness, x is the scalar regression label (e.g. the
normalised age). With atoms, the filters of the up-sampling convs come from the neural ODE at
alpha * x, and plain BatchNorm sits where CcGAN's generator used label-conditional AdaIN: the label
reaches the generator only through the atoms.

Architecture (output size S = 4 * 2^n, 64 by default, n = 4 up-sampling blocks):

    z (B, z_dim) -> Linear -> (B, 8*ngf, 4, 4) -> BatchNorm -> ReLU
    n x [nearest up-sample x2 -> conv3x3 (AtomConv2d with atoms[:, i] | Conv2d) -> BatchNorm -> ReLU]
        channels 8ngf -> 4ngf -> 2ngf -> ngf -> ngf (halving, never below ngf)
    conv3x3 -> out_channels -> tanh

Baseline (atoms=None): the label is concatenated to z before the Linear layer.

Discriminator D(image, x): strided 4x4 convs with LeakyReLU 0.2 down to 4x4, global sum pooling to
features h, and a projection head for the continuous label, out = w.h + <h, e(x)> with e a linear
embedding of the scalar label (projection discriminator, Miyato & Koyama 2018, as used by CcGAN).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cfa.atoms import AtomGenerator, AtomSpec
from cfa.layers import AtomConv2d
from cfa.networks.pix2pix import as_time_batch


def _n_up(size: int) -> int:
    n = round(math.log2(size / 4)) if size >= 8 else -1
    if n < 1 or 4 * 2 ** n != size:
        raise ValueError(f"image size {size} must be 4 * 2^n with n >= 1 (8, 16, 32, 64, 128, 256, ...)")
    return n


class LabelConditionalGenerator(nn.Module):
    """G(z, label) -> (B, out_channels, size, size) in [-1, 1]; see the module docstring."""

    def __init__(self, z_dim: int = 128, out_channels: int = 3, ngf: int = 64, size: int = 64,
                 atoms: AtomSpec | None = None, alpha: float = 1.0):
        super().__init__()
        n_up = _n_up(size)
        self.z_dim, self.size, self.alpha = z_dim, size, float(alpha)
        self.atom_spec = atoms
        self.atom_generator = AtomGenerator.from_spec(n_up, atoms) if atoms is not None else None
        self.base_channels = 8 * ngf
        self.fc = nn.Linear(z_dim + (0 if atoms is not None else 1), self.base_channels * 16)
        self.fc_norm = nn.BatchNorm2d(self.base_channels)
        channels = [self.base_channels]
        for _ in range(n_up):
            channels.append(max(channels[-1] // 2, ngf))
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        k = atoms.kernel_size if atoms is not None else 3
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            if atoms is not None:
                self.convs.append(AtomConv2d(c_in, c_out, k, atoms.n_atoms, padding=k // 2, bias=False))
            else:
                self.convs.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False))
            self.norms.append(nn.BatchNorm2d(c_out))
        self.head = nn.Sequential(nn.Conv2d(channels[-1], out_channels, 3, padding=1), nn.Tanh())

    @property
    def nfe(self) -> int:
        return self.atom_generator.nfe if self.atom_generator is not None else 0

    def forward(self, z: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, z.shape[0], z.device)
        if self.atom_generator is None:
            h = self.fc(torch.cat([z, label.to(z.dtype).unsqueeze(1)], dim=1))
            atoms = None
        else:
            h = self.fc(z)
            atoms = self.atom_generator(self.alpha * label)
        h = torch.relu(self.fc_norm(h.view(z.shape[0], self.base_channels, 4, 4)))
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = self.upsample(h)
            h = conv(h) if atoms is None else conv(h, atoms[:, i])
            h = torch.relu(norm(h))
        return self.head(h)


class LabelProjectionDiscriminator(nn.Module):
    """D(image, label) -> (B,) logits; conv trunk + projection of a linear label embedding."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, size: int = 64):
        super().__init__()
        n_down = _n_up(size)
        layers: list[nn.Module] = []
        c_in, c_out = in_channels, ndf
        for _ in range(n_down):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
            c_in, c_out = c_out, min(c_out * 2, ndf * 8)
        self.trunk = nn.Sequential(*layers)
        self.features = c_in
        self.linear = nn.Linear(c_in, 1)
        self.embed = nn.Linear(1, c_in, bias=False)

    def forward(self, image: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, image.shape[0], image.device).to(image.dtype)
        h = self.trunk(image).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (h * self.embed(label.unsqueeze(1))).sum(dim=1)


__all__ = ["LabelConditionalGenerator", "LabelProjectionDiscriminator"]
