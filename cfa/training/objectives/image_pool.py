"""CycleGAN's history of generated images for the discriminators (Shrivastava et al. 2017).

The behaviour of junyanz/pytorch-CycleGAN-and-pix2pix `util/image_pool.py`: until the pool holds
`size` images every generated image is stored and returned as it is; afterwards each image is, with
probability 1/2, swapped for a uniformly chosen stored one (which is returned and replaced by it),
else returned as it is. Two changes make a run resumable bit for bit: the random draws come from
the caller (the objective draws them from the loop's per-step generator in `prepare_batch`), and
the stored images are part of the objective's checkpoint state (`state` / `load_state`).
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def draws(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The randomness one `query` of `batch` images needs: a uniform and a slot per image."""
        return {"uniform": torch.rand(batch, generator=generator),
                "slot": torch.randint(0, max(self.size, 1), (batch,), generator=generator)}

    def query(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        """The images the discriminator sees for this batch of generated `images` (detached)."""
        if self.size == 0:
            return images.detach()
        out = []
        for k, image in enumerate(images.detach()):
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(draws["uniform"][k]) > 0.5:
                slot = int(draws["slot"][k])
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> torch.Tensor:
        """The stored images as one (n, C, H, W) tensor (n <= size; empty: shape (0,))."""
        return torch.stack(self.images).cpu() if self.images else torch.zeros(0)

    def load_state(self, stored: torch.Tensor, device: torch.device) -> None:
        if stored.numel() and len(stored) > self.size:
            raise ValueError(f"checkpoint pool holds {len(stored)} images, more than its size {self.size}")
        self.images = [img.to(device) for img in stored] if stored.numel() else []
