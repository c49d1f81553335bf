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


# ---- the resize/crop policy of training, sampling and evaluation (docs/evaluation.md) -----------
#
# The generator always sees WHOLE images at ONE scale: resized to the working size (crop_size, else
# load_size, else native). Training adds a random shift of up to load_size - crop_size pixels at that
# scale (edge-replicated border, then a random crop_size window); sampling and evaluation feed the
# unshifted whole image and resize the output back. pix2pix's "resize to load_size, random-crop
# crop_size" would train at load_size/native scale while the whole-image evaluation runs at
# crop_size/native, showing objects ~10% smaller than in training (64 -> 286 vs 64 -> 256).

def resize_and_random_crop(images: torch.Tensor, load_size: int | None, crop_size: int | None,
                           generator: torch.Generator) -> torch.Tensor:
    """pix2pix's resize_and_crop on a batch: resize to load_size, then a random crop per sample.

    The published recipe of the pix2pix sets (Table 1, BicycleGAN's scripts), whose test protocol
    is its own (`test_size`); the rotation sets use `random_shift_view` below instead.
    """
    return random_crops(resize(images, load_size), crop_size, generator)


def working_size(load_size: int | None, crop_size: int | None) -> int | None:
    """The square size the generator works at: crop_size, else load_size, else None (native)."""
    return crop_size or load_size or None


def training_view(images: torch.Tensor, load_size: int | None, crop_size: int | None) -> torch.Tensor:
    """Whole images at the working size: what sampling and evaluation feed the generator.

    The same scale training uses (`random_shift_view` without the shift), so a paper-scale run
    (64x64 images, load 286 / crop 256) is fed 256x256 images of the whole 64x64 picture.
    """
    return resize(images, working_size(load_size, crop_size))


def random_shift_view(images: torch.Tensor, load_size: int | None, crop_size: int | None,
                      generator: torch.Generator) -> torch.Tensor:
    """Training augmentation: the whole image at the working size, shifted at random.

    With load_size > crop_size the image is edge-padded by margin = load_size - crop_size pixels
    (half on each side; renders have a plain background) and a random crop_size window is taken:
    per axis a window offset in [0, margin], the same range as pix2pix's random crop of a load_size
    resize, but without its change of scale (so the shift is at most margin / 2 from centred).
    Channels stacked in one tensor (source and target of a pair) share the window.
    """
    images = training_view(images, load_size, crop_size)
    if not (load_size and crop_size) or load_size <= crop_size:
        return images
    margin = load_size - crop_size
    padded = F.pad(images, (margin // 2, margin - margin // 2, margin // 2, margin - margin // 2),
                   mode="replicate")
    return random_crops(padded, crop_size, generator)
