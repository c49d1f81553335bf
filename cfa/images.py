"""Image conversions and the resize/crop helpers: the one place that defines them.

Datasets store uint8 (N, C, H, W); networks see float32 in [-1, 1], (B, C, H, W). Metrics read
uint8 (as a saved PNG would hold the output) or [0, 1] floats (Inception). Every conversion between
those goes through this module, so a rounding or a resize filter is the same everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _tensor(images) -> torch.Tensor:
    return images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))


def to_float(images) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [-1, 1]; floats are taken to be in [-1, 1] already."""
    x = _tensor(images)
    if x.dtype == torch.uint8:
        return x.float().div(127.5).sub(1.0)
    return x.float()


def to_uint8(images) -> np.ndarray:
    """float in [-1, 1] (any leading shape, channels first) -> uint8, rounded as a PNG stores it."""
    x = _tensor(images).detach().float().cpu().clamp(-1, 1)
    return ((x + 1) * 127.5).round().to(torch.uint8).numpy()


def to_unit_interval(images, device=None) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1] (how pytorch-fid feeds Inception); floats unchanged."""
    x = _tensor(images)
    if device is not None:
        x = x.to(device, non_blocking=True)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def rgb(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) grey -> (B, 3, H, W) by repetition; 3-channel images unchanged."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def to_hwc_rgb(images) -> np.ndarray:
    """float [-1, 1] or uint8 (B, C, H, W) -> uint8 (B, H, W, 3) for pictures."""
    x = _tensor(images)
    x = x.numpy() if x.dtype == torch.uint8 else to_uint8(x)
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Square bicubic resize with antialiasing, clamped to [-1, 1]; `None` or the same size: unchanged."""
    if size and images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                               antialias=True).clamp(-1, 1)
    return images


def random_crops(images: torch.Tensor, crop_size: int | None, generator: torch.Generator) -> torch.Tensor:
    """An independent random crop_size window per sample (pix2pix's random crop on a batch).

    Channels that are stacked in one tensor (source and target of a pair) share the window.
    """
    if not crop_size or crop_size >= images.shape[-1]:
        return images
    span = images.shape[-1] - crop_size + 1
    offsets = torch.randint(0, span, (images.shape[0], 2), generator=generator).tolist()
    return torch.stack([img[:, y:y + crop_size, x:x + crop_size] for img, (y, x) in zip(images, offsets)])


def centre_crop(images: torch.Tensor, crop_size: int | None) -> torch.Tensor:
    if not crop_size or crop_size >= images.shape[-1]:
        return images
    y = (images.shape[-2] - crop_size) // 2
    x = (images.shape[-1] - crop_size) // 2
    return images[..., y:y + crop_size, x:x + crop_size]


def resize_and_random_crop(images: torch.Tensor, load_size: int | None, crop_size: int | None,
                           generator: torch.Generator) -> torch.Tensor:
    """pix2pix's resize_and_crop on a batch: resize to load_size, then a random crop per sample."""
    return random_crops(resize(images, load_size), crop_size, generator)


def training_view(images: torch.Tensor, load_size: int | None, crop_size: int | None) -> torch.Tensor:
    """Inputs at the scale the generator trained on: resize to load_size, centre crop to crop_size.

    Training sees random crop_size windows of images resized to load_size (the paper setting turns
    64x64 RC-49 images into 256x256 crops of 286x286); sample grids feed the generator the same
    scale with the window centred.
    """
    return centre_crop(resize(images, load_size), crop_size)
