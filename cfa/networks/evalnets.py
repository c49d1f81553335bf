"""Evaluation networks of CcGAN's protocol, trained on a dataset's real images (not generators).

Written from `UBCDingXin/improved_CcGAN` (`UTKFace/UTKFace_64x64/CcGAN-improved/models/`):
- `CcGANAutoencoder` (`autoencoder.py`): encoder of 4 down blocks [conv4 s2, BN, ReLU, conv3,
  BN, ReLU] with ch, 2ch, 4ch, 8ch channels (64..512) down to 4x4 at 64x64, then one Linear to
  the 512-d bottleneck (no activation); decoder Linear -> 16ch x 4 x 4, 4 up blocks
  [convT4 s2, BN, ReLU, conv3, BN, ReLU] with 8ch, 4ch, 2ch, ch, the last conv3 to the image
  channels and Tanh. `features(x)` is the bottleneck (Intra-FID's feature space).
- `ResNetRegressor` (`ResNet_regre.py`): conv3 64, BN, ReLU, then 4 stages of BasicBlocks with
  stride 2 each (64, 128, 256, 512 channels), average pool, Linear 512-128, BN, ReLU, Linear
  128-128, BN, ReLU, Linear 128-1, ReLU: the label scaled to [0, 1].
- `ResNetClassifier` (`ResNet_class.py`): the same trunk, average pool, Linear 512-classes.
ResNet-34 is blocks (3, 4, 6, 3) (CcGAN's choice), ResNet-18 (2, 2, 2, 2); `width` scales all
channel counts (64 at paper scale) for a small demo network. CcGAN pools with AvgPool2d(4), which
is the global average at 64x64; we pool globally so that 32x32 images work too. The autoencoder's
Linear takes (image_size / 16)^2 x 8ch inputs (8192 at 64x64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cfa.errors import UserError

RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
KINDS = ("autoencoder", "regressor", "classifier")


def _down_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU()]


class CcGANEncoder(nn.Module):
    def __init__(self, dim_bottleneck: int = 512, ch: int = 64, in_channels: int = 3,
                 image_size: int = 64):
        super().__init__()
        if image_size % 16:
            raise UserError(f"the CcGAN autoencoder halves the image 4 times: image size must be a "
                            f"multiple of 16, got {image_size}")
        self.ch, self.spatial = ch, image_size // 16
        self.conv = nn.Sequential(*_down_block(in_channels, ch), *_down_block(ch, 2 * ch),
                                  *_down_block(2 * ch, 4 * ch), *_down_block(4 * ch, 8 * ch))
        self.linear = nn.Linear(8 * ch * self.spatial ** 2, dim_bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x).flatten(1))


def _up_block(cin: int, cout: int, last_out: int | None = None) -> list[nn.Module]:
    layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU()]
    if last_out is None:
        return layers + [nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU()]
    return layers + [nn.Conv2d(cout, last_out, 3, 1, 1), nn.Tanh()]


class CcGANDecoder(nn.Module):
    def __init__(self, dim_bottleneck: int = 512, ch: int = 64, out_channels: int = 3,
                 image_size: int = 64):
        super().__init__()
        self.ch, self.spatial = ch, image_size // 16
        self.linear = nn.Linear(dim_bottleneck, 16 * ch * self.spatial ** 2)
        self.deconv = nn.Sequential(*_up_block(16 * ch, 8 * ch), *_up_block(8 * ch, 4 * ch),
                                    *_up_block(4 * ch, 2 * ch), *_up_block(2 * ch, ch, out_channels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.linear(z).view(-1, 16 * self.ch, self.spatial, self.spatial)
        return self.deconv(out)


class CcGANAutoencoder(nn.Module):
    def __init__(self, dim_bottleneck: int = 512, ch: int = 64, in_channels: int = 3,
                 image_size: int = 64):
        super().__init__()
        self.encoder = CcGANEncoder(dim_bottleneck, ch, in_channels, image_size)
        self.decoder = CcGANDecoder(dim_bottleneck, ch, in_channels, image_size)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _resnet_trunk(depth: int, width: int, in_channels: int) -> tuple[nn.Sequential, int]:
    if depth not in RESNET_BLOCKS:
        raise UserError(f"evaluation ResNet depth must be one of {sorted(RESNET_BLOCKS)}, got {depth}")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                               nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage, n_blocks in enumerate(RESNET_BLOCKS[depth]):
        cout = width * 2 ** stage
        for i in range(n_blocks):
            layers.append(BasicBlock(cin, cout, 2 if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), cin


class ResNetRegressor(nn.Module):
    """Predicts the label scaled to [0, 1] (ReLU output, as CcGAN)."""

    def __init__(self, depth: int = 34, width: int = 64, in_channels: int = 3):
        super().__init__()
        self.trunk, dim = _resnet_trunk(depth, width, in_channels)
        self.head = nn.Sequential(nn.Linear(dim, 128), nn.BatchNorm1d(128), nn.ReLU(),
                                  nn.Linear(128, 128), nn.BatchNorm1d(128), nn.ReLU(),
                                  nn.Linear(128, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).squeeze(1)


class ResNetClassifier(nn.Module):
    def __init__(self, num_classes: int, depth: int = 34, width: int = 64, in_channels: int = 3):
        super().__init__()
        if num_classes < 2:
            raise UserError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.trunk, dim = _resnet_trunk(depth, width, in_channels)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(x))


def build_evalnet(arch: dict) -> nn.Module:
    """The network an `arch` mapping describes (plain data, as stored in a checkpoint).

    {"kind": "autoencoder", "dim_bottleneck", "ch", "in_channels", "image_size"}
    {"kind": "regressor", "depth", "width", "in_channels"}
    {"kind": "classifier", "num_classes", "depth", "width", "in_channels"}
    """
    kind = arch.get("kind")
    args = {k: v for k, v in arch.items() if k != "kind"}
    try:
        if kind == "autoencoder":
            return CcGANAutoencoder(**args)
        if kind == "regressor":
            return ResNetRegressor(**args)
        if kind == "classifier":
            return ResNetClassifier(**args)
    except TypeError as e:
        raise UserError(f"evaluation network {kind}: bad architecture arguments {args} ({e})") from None
    raise UserError(f"evaluation network kind must be one of {list(KINDS)}, got {kind!r}")
