"""Label-only generation (paper Section 3.4, Eq. 7; Section 4.2, Table 4): CcGAN's 64x64 backbone.

Source read (our own code, no copy): `UBCDingXin/improved_CcGAN`, folder
`UTKFace/UTKFace_64x64/CcGAN-improved/` (ILI CcGAN, ICLR 2021 camera-ready) and its NLI sibling
`UTKFace/UTKFace_64x64/CcGAN/`. Below, `cont.py` is `models/cont_cond_cnn_generator_discriminator.py`
and `cond.py` is `models/cond_cnn_generator_discriminator.py`, both of CcGAN-improved unless said.

Generator backbone (cont.py:57-141, cond.py:39-70 and 144-177), output S = 4 * 2^n (64: n = 4):

    z (B, z_dim) -> Linear -> (B, ngf * 2^n, 4, 4)
    n x ResBlock:  norm -> ReLU -> nearest up x2 -> conv3x3 -> norm -> ReLU -> conv3x3
                   + bypass (nearest up x2 -> conv1x1);  channels halve, ngf * 2^n -> ... -> ngf
    BatchNorm -> ReLU -> conv3x3 -> tanh

At S = 64, ngf = 64 this is CcGAN's 1024 -> 512 -> 256 -> 128 -> 64 stack exactly.

- `AtomLabelGenerator` ("cgan-cfa", ours, Eq. 7): G(z; D(alpha * x)). CcGAN's label-conditioned
  normalisation (cont.py:28-53, fed by a label embedding) becomes plain BatchNorm (the paper's
  "replacing the AdaIN layers with standard batch normalization layers"), and every 3x3 conv
  (2 per ResBlock and the final one: 2n + 1 layers, 9 at 64x64) becomes an `AtomConv2d` whose atoms
  come from ONE `AtomGenerator` integrated from 0 to t = alpha * x. The 1x1 bypass convs stay plain.
  The label reaches the generator only through the atoms.
- `ClassLabelGenerator` ("cgan", CcGAN's cGAN (K classes) baseline, cond.py): the same backbone with
  class-conditional BatchNorm, gamma(c) * BN(h) + beta(c) from a spectrally normalised
  Embedding(K, 2C) (cond.py:22-36), the label binned into K classes by CcGAN's rule (below).

Discriminators: CcGAN's spectrally normalised ResNet discriminator (cont.py:148-215): a first block
(conv3x3, ReLU, conv3x3, avgpool | avgpool, conv1x1) to S/2 with ndf channels, blocks doubling the
channels down to 4x4, one stride-1 block doubling again (16 ndf at 64x64), ReLU.
- `LabelProjectionDiscriminator` (continuous label, cont.py:218-260): flattened (16 ndf * 4 * 4)
  features h, out = SN-Linear(h) + <h, SN-Linear(e(x))>. CcGAN-improved feeds e = net_y2h(x), a
  128-d label embedding PRE-trained on the real images (ILI; `main.py:256-342`,
  `models/ResNet_embed.py:152-192`), which is part of CcGAN's method and not trained here. Default
  `label_embed_dim = 0`: the raw label, e(x) = x + 1 through Linear(1, .), as CcGAN's NLI
  discriminator (`UTKFace_64x64/CcGAN/models/cont_cond_cnn_generator_discriminator.py:181,202`) and
  as the paper's "standard discriminator with each input consisting of an image and a label".
  `label_embed_dim > 0`: e is net_y2h's architecture (Linear(1,E), [GroupNorm(8), ReLU, Linear] x 3,
  GroupNorm, ReLU, Linear, ReLU) trained jointly with D, not pre-trained.
- `ClassProjectionDiscriminator` (cGAN baseline, cond.py:180-208): spatially summed features,
  out = SN-Linear(h) + <h, Embedding(K, C)(class)>.
Both return logits of shape (B,): CcGAN-improved's vanilla loss applies the sigmoid in the training
script (Train_CcGAN.py:173-181), hinge uses the logits.

Labels. Every network here takes the NORMALISED label x: CcGAN divides ages by max_age = 60
(main.py:218, `labels /= args.max_age`; opts.py:15 max_age 60; evaluation labels
`np.arange(1, 61) / 60`, main.py:459), so UTKFace x is in [1/60, 1]. alpha: the paper gives no
value ("a predefined scalar"); default 1.0 keeps t = alpha * x in [0, 1], the range of t in the
authors' RC-49 code (t = angle / 90). Bins: CcGAN's UTKFace cGAN uses K = 60 classes
(scripts/run_train.sh:40,43 `--cGAN_num_classes 60`; opts.py:42 defaults to 20), which for ages
1..60 is one class per age. `ccgan_class_cutoffs` reproduces main.py:186-207 and `LabelBins` the
class lookup of Train_cGAN.py:165-182.

Init (CcGAN): xavier_uniform gain sqrt(2) on the 3x3 convs, gain 1 on the 1x1 bypass convs, the
dense layer, the final conv and the discriminator's linear heads; BatchNorm and the D class
embedding keep PyTorch's defaults; conditional-BN gamma N(1, 0.02), beta 0. Atom convs: the
coefficients A are drawn uniform with the variance that makes the composed filter A . D(t0)
(D(t0) ~ N(0, 1)) match the xavier variance of the conv it replaces; D(t0) and the ODE function
keep their own inits. Do not apply `cfa.networks.build.init_weights` (pix2pix normal(0, 0.02)) to
these networks: it would shrink the conv and linear weights from xavier's ~0.03-0.2 std to 0.02,
re-draw the atom-free convs only, and do nothing useful on spectral-normalised layers (their
`weight` is recomputed from `parametrizations.weight.original` on every access).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cfa.atoms import AtomGenerator
from cfa.errors import UserError
from cfa.layers import AtomConv2d
from cfa.networks.pix2pix import as_time_batch


def n_resolution_steps(size: int) -> int:
    """n with size = 4 * 2^n, n >= 1 (CcGAN starts every network at 4x4)."""
    n = round(math.log2(size / 4)) if size >= 8 else -1
    if n < 1 or 4 * 2 ** n != size:
        raise UserError(f"image size {size} must be 4 * 2^n with n >= 1 (8, 16, 32, 64, 128, ...)")
    return n


# ---------------------------------------------------------------------------------------------
# Labels -> classes (the cGAN baseline)


def ccgan_class_cutoffs(labels: Sequence[float] | torch.Tensor, n_classes: int) -> list[float]:
    """CcGAN's K-class binning of the training labels (main.py:186-207), as K + 1 cutoff points.

    The sorted unique labels u_0 < ... < u_{N-1} are dealt into classes of N // K consecutive
    values; the last class takes the remainder. Cutoffs are [u_0, first label of class 1, ...,
    first label of class K-1, u_{N-1}]: class j holds [c_j, c_{j+1}), the last class [c_{K-1}, c_K].
    """
    unique = torch.unique(torch.as_tensor(labels, dtype=torch.float64).reshape(-1)).tolist()
    n_classes = int(n_classes)
    if n_classes < 1:
        raise UserError(f"cGAN n_classes = {n_classes}: must be a positive integer")
    if len(unique) < n_classes:
        raise UserError(f"cGAN n_classes = {n_classes} but the training labels have only {len(unique)} "
                        f"distinct values; use at most {len(unique)} classes")
    per_class = len(unique) // n_classes
    cutoffs = [unique[j * per_class] for j in range(n_classes)] + [unique[-1]]
    return [float(c) for c in cutoffs]


class LabelBins(nn.Module):
    """label -> class index with CcGAN's rule (Train_cGAN.py:165-182); cutoffs kept as a buffer.

    A label in [c_j, c_{j+1}) is class j; c_K (the largest training label) is class K-1. CcGAN
    crashes (or returns -1) outside [c_0, c_K]; here such labels clamp to the first / last class.
    Without cutoffs the buffer holds NaN and `forward` refuses to run until a checkpoint (whose
    state dict carries the cutoffs) is loaded.
    """

    def __init__(self, n_classes: int, cutoffs: Sequence[float] | None = None):
        super().__init__()
        self.n_classes = int(n_classes)
        if self.n_classes < 1:
            raise UserError(f"cGAN n_classes = {n_classes}: must be a positive integer")
        if cutoffs is None:
            values = torch.full((self.n_classes + 1,), float("nan"))
        else:
            values = torch.as_tensor([float(c) for c in cutoffs], dtype=torch.float32)
            if values.numel() != self.n_classes + 1:
                raise UserError(f"class cutoffs: {values.numel()} values for {self.n_classes} classes; "
                                f"need n_classes + 1 = {self.n_classes + 1}")
            if bool((values[1:] < values[:-1]).any()):
                raise UserError(f"class cutoffs must be non-decreasing, got {values.tolist()}")
        self.register_buffer("cutoffs", values)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if bool(torch.isnan(self.cutoffs).any()):
            raise UserError("cGAN class cutoffs are not set: build the networks with the training labels "
                            "(build_label_networks(..., train_labels=...)) or load a checkpoint")
        cutoffs = self.cutoffs.to(labels.device)
        # A label computed as age / 60 in float64 and one read as float32 may differ by an ulp; a
        # label sitting on a cutoff must still land in the upper class, as CcGAN's rule puts it.
        tol = 1e-5 * max(float(cutoffs[-1] - cutoffs[0]), 1e-12)
        interior = cutoffs[1:-1].contiguous()
        return torch.searchsorted(interior, labels.float().contiguous() + tol, right=True)

    def extra_repr(self) -> str:
        return f"n_classes={self.n_classes}"


# ---------------------------------------------------------------------------------------------
# Generator pieces


def _xavier_atom_coefficients_(layer: AtomConv2d, gain: float) -> None:
    """A ~ U(-b, b) with m * Var(A) = xavier's Var for a (out, in, k, k) conv: A . D(t0) matches it."""
    k2 = layer.kernel_size ** 2
    bound = gain * math.sqrt(6.0 / (layer.in_channels * k2 + layer.out_channels * k2)) / math.sqrt(layer.n_atoms)
    with torch.no_grad():
        layer.coefficients.uniform_(-bound, bound)


def _conv3x3(c_in: int, c_out: int, n_atoms: int, kernel_size: int, gain: float) -> nn.Module:
    if n_atoms:
        layer = AtomConv2d(c_in, c_out, kernel_size, n_atoms, padding=kernel_size // 2, bias=True)
        _xavier_atom_coefficients_(layer, gain)
        return layer
    layer = nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)
    nn.init.xavier_uniform_(layer.weight, gain)
    return layer


class ClassConditionalBatchNorm2d(nn.Module):
    """gamma(c) * BN(h) + beta(c): BN without affine, (gamma, beta) rows of an SN Embedding(K, 2C)."""

    def __init__(self, num_features: int, n_classes: int):
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        embed = nn.Embedding(n_classes, 2 * num_features)
        with torch.no_grad():
            embed.weight[:, :num_features].normal_(1.0, 0.02)
            embed.weight[:, num_features:].zero_()
        self.embed = spectral_norm(embed)

    def forward(self, h: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.embed(classes).to(h.dtype).chunk(2, dim=1)
        return gamma[:, :, None, None] * self.bn(h) + beta[:, :, None, None]


class _UpBlock(nn.Module):
    """CcGAN's generator ResBlock; norms plain BN + atom convs, or class-conditional BN + convs."""

    def __init__(self, c_in: int, c_out: int, n_atoms: int = 0, kernel_size: int = 3, n_classes: int = 0):
        super().__init__()
        self.class_conditional = n_classes > 0
        if self.class_conditional:
            self.norm1 = ClassConditionalBatchNorm2d(c_in, n_classes)
            self.norm2 = ClassConditionalBatchNorm2d(c_out, n_classes)
        else:
            self.norm1, self.norm2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = _conv3x3(c_in, c_out, n_atoms, kernel_size, math.sqrt(2.0))
        self.conv2 = _conv3x3(c_out, c_out, n_atoms, kernel_size, math.sqrt(2.0))
        self.bypass = nn.Conv2d(c_in, c_out, 1, bias=True)
        nn.init.xavier_uniform_(self.bypass.weight, 1.0)

    def _norm(self, norm: nn.Module, h: torch.Tensor, classes) -> torch.Tensor:
        return norm(h, classes) if self.class_conditional else norm(h)

    def _conv(self, conv: nn.Module, h: torch.Tensor, atoms) -> torch.Tensor:
        return conv(h, atoms) if isinstance(conv, AtomConv2d) else conv(h)

    def forward(self, h: torch.Tensor, atoms1=None, atoms2=None, classes=None) -> torch.Tensor:
        out = F.relu(self._norm(self.norm1, h, classes))
        out = self._conv(self.conv1, F.interpolate(out, scale_factor=2, mode="nearest"), atoms1)
        out = F.relu(self._norm(self.norm2, out, classes))
        out = self._conv(self.conv2, out, atoms2)
        return out + self.bypass(F.interpolate(h, scale_factor=2, mode="nearest"))


class _Backbone(nn.Module):
    """Dense 4x4 start, n up-blocks, BN-ReLU-conv3x3-tanh head; shared by both generators."""

    def __init__(self, z_dim: int, out_channels: int, ngf: int, size: int, n_atoms: int = 0,
                 kernel_size: int = 3, n_classes: int = 0):
        super().__init__()
        n_up = n_resolution_steps(size)
        if int(z_dim) < 1 or int(ngf) < 1:
            raise UserError(f"generator z_dim = {z_dim}, ngf = {ngf}: both must be positive integers")
        self.z_dim, self.size, self.ngf = int(z_dim), int(size), int(ngf)
        channels = [self.ngf * 2 ** (n_up - i) for i in range(n_up + 1)]
        self.base_channels = channels[0]
        self.dense = nn.Linear(self.z_dim, 16 * channels[0], bias=True)
        nn.init.xavier_uniform_(self.dense.weight, 1.0)
        self.blocks = nn.ModuleList(_UpBlock(c_in, c_out, n_atoms, kernel_size, n_classes)
                                    for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.final_norm = nn.BatchNorm2d(channels[-1])
        self.final_conv = _conv3x3(channels[-1], out_channels, n_atoms, kernel_size, 1.0)

    @property
    def n_convs3x3(self) -> int:
        return 2 * len(self.blocks) + 1

    def forward(self, z: torch.Tensor, atoms: torch.Tensor | None = None,
                classes: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        h = self.dense(z).view(z.shape[0], self.base_channels, 4, 4)
        for i, block in enumerate(self.blocks):
            if atoms is None:
                h = block(h, classes=classes)
            else:
                h = block(h, atoms[:, 2 * i], atoms[:, 2 * i + 1])
        h = F.relu(self.final_norm(h))
        h = self.final_conv(h) if atoms is None else self.final_conv(h, atoms[:, -1])
        return torch.tanh(h)


class AtomLabelGenerator(nn.Module):
    """"cgan-cfa" (Eq. 7): G(z; D(alpha * x)) -> (B, out_channels, size, size) in [-1, 1].

    Call `gen(z, x)` with z (B, z_dim) ~ N(0, I) and x the normalised label (B,) or a scalar. One
    AtomGenerator with n_layers = 2n + 1 (9 at 64x64) feeds every 3x3 conv; see the module docstring.
    The atom arguments are those of `cfa.atoms.AtomSpec` (a params.yaml `atoms:` block).
    """

    def __init__(self, z_dim: int = 128, out_channels: int = 3, ngf: int = 64, size: int = 64,
                 alpha: float = 1.0, n_atoms: int = 8, kernel_size: int = 3, ode_func: str = "authors",
                 method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-3, adjoint: bool = False):
        super().__init__()
        if int(n_atoms) < 1:
            raise UserError(f"atoms.n_atoms = {n_atoms!r}: must be a positive integer")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise UserError(f"atoms.kernel_size = {kernel_size!r}: must be odd (the convs keep the size)")
        self.alpha = float(alpha)
        self.backbone = _Backbone(z_dim, out_channels, ngf, size, n_atoms=int(n_atoms), kernel_size=int(kernel_size))
        self.z_dim, self.size = self.backbone.z_dim, self.backbone.size
        self.atom_generator = AtomGenerator(self.backbone.n_convs3x3, n_atoms, kernel_size, ode_func, method,
                                            rtol, atol, adjoint)

    @property
    def nfe(self) -> int:
        return self.atom_generator.nfe

    def atoms(self, label) -> torch.Tensor:
        """The atoms D(alpha * x) for labels x: (B, n_layers, n_atoms, k, k)."""
        label = torch.as_tensor(label, dtype=torch.float32, device=self.atom_generator.initial_atoms.device)
        return self.atom_generator(self.alpha * label.reshape(-1))

    def forward(self, z: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, z.shape[0], z.device)
        return self.backbone(z, atoms=self.atoms(label))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class ClassLabelGenerator(nn.Module):
    """"cgan" baseline: CcGAN's cGAN (K classes) generator; `gen(z, x)` bins x into a class.

    `class_cutoffs` (K + 1 floats, see `ccgan_class_cutoffs`) may be None when a checkpoint will
    provide them.
    """

    def __init__(self, n_classes: int = 60, z_dim: int = 128, out_channels: int = 3, ngf: int = 64,
                 size: int = 64, class_cutoffs: Sequence[float] | None = None):
        super().__init__()
        self.bins = LabelBins(n_classes, class_cutoffs)
        self.n_classes = self.bins.n_classes
        self.backbone = _Backbone(z_dim, out_channels, ngf, size, n_classes=self.n_classes)
        self.z_dim, self.size = self.backbone.z_dim, self.backbone.size
        self.atom_generator = None

    @property
    def nfe(self) -> int:
        return 0

    def forward(self, z: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, z.shape[0], z.device)
        return self.backbone(z, classes=self.bins(label))


# ---------------------------------------------------------------------------------------------
# Discriminators


class _DownBlock(nn.Module):
    """CcGAN's SN ResBlockDiscriminator (and FirstResBlockDiscriminator when `first`)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool = False):
        super().__init__()
        conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)
        conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=True)
        bypass = nn.Conv2d(c_in, c_out, 1, bias=True)
        nn.init.xavier_uniform_(conv1.weight, math.sqrt(2.0))
        nn.init.xavier_uniform_(conv2.weight, math.sqrt(2.0))
        nn.init.xavier_uniform_(bypass.weight, 1.0)
        self.conv1, self.conv2, self.bypass = spectral_norm(conv1), spectral_norm(conv2), spectral_norm(bypass)
        self.first, self.downsample = first, downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The first block sees raw pixels: no ReLU before its first conv, and its bypass pools first.
        out = self.conv1(x if self.first else F.relu(x))
        out = self.conv2(F.relu(out))
        if self.downsample:
            out = F.avg_pool2d(out, 2)
            skip = self.bypass(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.bypass(x), 2)
        else:
            skip = self.bypass(x)
        return out + skip


class _DiscriminatorTrunk(nn.Module):
    """size -> 4x4 with ndf, 2 ndf, ..., then a stride-1 block doubling once more, then ReLU."""

    def __init__(self, in_channels: int, ndf: int, size: int):
        super().__init__()
        n_down = n_resolution_steps(size)
        if int(ndf) < 1:
            raise UserError(f"discriminator ndf = {ndf}: must be a positive integer")
        channels = [int(ndf) * 2 ** i for i in range(n_down + 1)]
        blocks = [_DownBlock(in_channels, channels[0], downsample=True, first=True)]
        blocks += [_DownBlock(c_in, c_out, downsample=True) for c_in, c_out in zip(channels[:-2], channels[1:-1])]
        blocks.append(_DownBlock(channels[-2], channels[-1], downsample=False))
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x))


class _LabelEmbedding(nn.Module):
    """net_y2h's architecture (ResNet_embed.py:152-192), here trained with D instead of pre-trained."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 8:
            raise UserError(f"discriminator label_embed_dim = {dim}: must be a multiple of 8 (GroupNorm(8))")
        layers: list[nn.Module] = []
        width = 1
        for _ in range(4):
            layers += [nn.Linear(width, dim), nn.GroupNorm(8, dim), nn.ReLU()]
            width = dim
        layers += [nn.Linear(dim, dim), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, label: torch.Tensor) -> torch.Tensor:
        return self.net(label.view(-1, 1))


class LabelProjectionDiscriminator(nn.Module):
    """D(image, x) -> (B,) logits: CcGAN's continuous-label discriminator; see the module docstring.

    label_embed_dim = 0: x enters as x + 1 through SN-Linear(1, 16 C) (CcGAN NLI); > 0: through a
    jointly trained net_y2h-shaped MLP of that width, then SN-Linear(E, 16 C) (CcGAN-improved).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, size: int = 64, label_embed_dim: int = 0):
        super().__init__()
        self.trunk = _DiscriminatorTrunk(in_channels, ndf, size)
        features = self.trunk.out_channels * 16
        self.label_embed_dim = int(label_embed_dim)
        if self.label_embed_dim < 0:
            raise UserError(f"discriminator label_embed_dim = {label_embed_dim}: must be >= 0 (0: raw label)")
        self.embed = _LabelEmbedding(self.label_embed_dim) if self.label_embed_dim else None
        head = nn.Linear(features, 1, bias=True)
        project = nn.Linear(self.label_embed_dim or 1, features, bias=False)
        nn.init.xavier_uniform_(head.weight, 1.0)
        nn.init.xavier_uniform_(project.weight, 1.0)
        self.head, self.project = spectral_norm(head), spectral_norm(project)

    def forward(self, image: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, image.shape[0], image.device).to(image.dtype)
        h = self.trunk(image).flatten(1)
        # NLI adds 1 so that x = 0 still projects onto a nonzero direction (CcGAN NLI file :202).
        e = self.embed(label) if self.embed is not None else (label + 1).unsqueeze(1)
        return self.head(h).squeeze(1) + (h * self.project(e)).sum(dim=1)


class ClassProjectionDiscriminator(nn.Module):
    """D(image, x) -> (B,) logits: CcGAN's cGAN (K classes) discriminator with x binned to a class."""

    def __init__(self, n_classes: int = 60, in_channels: int = 3, ndf: int = 64, size: int = 64,
                 class_cutoffs: Sequence[float] | None = None):
        super().__init__()
        self.bins = LabelBins(n_classes, class_cutoffs)
        self.n_classes = self.bins.n_classes
        self.trunk = _DiscriminatorTrunk(in_channels, ndf, size)
        head = nn.Linear(self.trunk.out_channels, 1, bias=True)
        nn.init.xavier_uniform_(head.weight, 1.0)
        self.head = spectral_norm(head)
        self.class_embed = nn.Embedding(self.n_classes, self.trunk.out_channels)  # N(0, 1), no SN, as CcGAN

    def forward(self, image: torch.Tensor, label) -> torch.Tensor:
        label = as_time_batch(label, image.shape[0], image.device)
        h = self.trunk(image).sum(dim=(2, 3))
        return self.head(h).squeeze(1) + (h * self.class_embed(self.bins(label)).to(h.dtype)).sum(dim=1)


# ---------------------------------------------------------------------------------------------
# From a params.yaml `models:` entry

LABEL_GENERATOR_KEYS = ("z_dim", "ngf", "alpha", "n_classes")
LABEL_DISCRIMINATOR_KEYS = ("ndf", "label_embed_dim")


def _block(model_params: dict, name: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if not isinstance(model_params, dict):
        raise UserError(f"a models: entry must be a mapping, got {type(model_params).__name__}")
    block = model_params.get(name)
    if not isinstance(block, dict):
        raise UserError(f"models entry: `{name}` must be a mapping with keys {list(required)}, got {block!r}")
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise UserError(f"models entry: {name} has unknown key(s) {unknown}; allowed: {list(allowed)}")
    missing = [k for k in required if k not in block]
    if missing:
        raise UserError(f"models entry: `{name}` lacks key(s) {missing}; add them (see params.yaml models.cgan-cfa)")
    return block


def build_label_networks(model_params: dict, size: int = 64, channels: int = 3,
                         train_labels: Sequence[float] | torch.Tensor | None = None) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of a label-only `models:` entry (Eq. 7 / Table 4).

    Entry layout:
        generator:     {z_dim, ngf, alpha}        with atoms ("cgan-cfa")
                       {z_dim, ngf, n_classes}    atoms: null ("cgan", CcGAN's K-class baseline)
        discriminator: {ndf, label_embed_dim (optional, default 0: raw label)}
        atoms:         null | {n_atoms, kernel_size, ode_func, method, rtol, atol, adjoint}
    `train_labels` (normalised training labels) give the cGAN's class cutoffs; leave it None only
    when a checkpoint's state dict will be loaded (it carries the cutoffs).
    """
    from cfa.networks.build import atom_spec_from_params

    gen = _block(model_params, "generator", LABEL_GENERATOR_KEYS, ("z_dim", "ngf"))
    disc = _block(model_params, "discriminator", LABEL_DISCRIMINATOR_KEYS, ("ndf",))
    spec = atom_spec_from_params(model_params)
    discriminator_kwargs = dict(ndf=int(disc["ndf"]), size=int(size))
    if spec is not None:
        if "n_classes" in gen:
            raise UserError("models entry: generator.n_classes is for the cGAN baseline (atoms: null); "
                            "with atoms the label enters through D(alpha * x) only: remove n_classes")
        if "alpha" not in gen:
            raise UserError("models entry: generator.alpha is required with atoms "
                            "(t = alpha * x; 1.0 keeps t in [0, 1])")
        generator = AtomLabelGenerator(z_dim=int(gen["z_dim"]), out_channels=channels, ngf=int(gen["ngf"]),
                                       size=int(size), alpha=float(gen["alpha"]), **spec.to_dict())
        discriminator = LabelProjectionDiscriminator(in_channels=channels, **discriminator_kwargs,
                                                     label_embed_dim=int(disc.get("label_embed_dim", 0)))
        return generator, discriminator
    if "n_classes" not in gen:
        raise UserError("models entry: generator.n_classes is required when atoms is null (the cGAN "
                        "baseline bins labels into classes; CcGAN's UTKFace setting is 60)")
    if "alpha" in gen:
        raise UserError("models entry: generator.alpha only applies with atoms; remove it (atoms: null)")
    if disc.get("label_embed_dim", 0):
        raise UserError("models entry: discriminator.label_embed_dim applies to the continuous-label "
                        "discriminator only; the cGAN baseline embeds classes")
    n_classes = int(gen["n_classes"])
    cutoffs = None if train_labels is None else ccgan_class_cutoffs(train_labels, n_classes)
    generator = ClassLabelGenerator(n_classes=n_classes, z_dim=int(gen["z_dim"]), out_channels=channels,
                                    ngf=int(gen["ngf"]), size=int(size), class_cutoffs=cutoffs)
    discriminator = ClassProjectionDiscriminator(n_classes=n_classes, in_channels=channels,
                                                 **discriminator_kwargs, class_cutoffs=cutoffs)
    return generator, discriminator


__all__ = ["AtomLabelGenerator", "ClassLabelGenerator", "LabelProjectionDiscriminator",
           "ClassProjectionDiscriminator", "ClassConditionalBatchNorm2d", "LabelBins", "ccgan_class_cutoffs",
           "build_label_networks", "n_resolution_steps"]
