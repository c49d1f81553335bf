"""The image-only objective of Eq. 6: Pix2Pix conditioned on the input image alone, with a random t.

    G* = arg min_G max_D  E_{x,y,t ~ U(t0, t1)} [ L_cGAN(G(x, t), D) ] + lambda_L1 * L_L1(G)

The generator takes no label: t only drives the continuous filter atoms, which makes t a latent
code. In training every sample of every forward pass gets its own t ~ U(t0, t1) (the authors' code
draws one `uniform_(0.2, 1.0)` per forward at batch 1, seunghyunni/ECE570_final_project @ b6bc761
models/DCF.py `rand_base_generator_odenet.forward`); the range is `models.<m>.t_range`. The
discriminator sees (x, y) pairs, as in Eq. 6. At test time the diversity of the outputs for one
input comes from t alone (`random_t`).

The same objective trains the Table 1 rows built from the same backbone:

- `pix2pix-cfa-image` (ours): continuous atoms, t ~ U(t0, t1).
- `basisgan`: BasisGAN's atoms, an MLP on fresh noise at every forward (`generator.arch: basisgan`,
  `generator.condition: none`); t is drawn as for ours but the network never reads it.
- `pix2pix-image`: plain deterministic Pix2Pix (no atoms, `generator.condition: none`).

Augmentation follows pix2pix's aligned loader: resize to `load_size`, one random `crop_size` window
and (with `flip: true`) one horizontal flip per pair, identical for A and B. Crops, flips and t are
all drawn from the generator the loop seeds per step, so they are a function of (seed, step) and a
resumed run repeats them exactly.
"""

from __future__ import annotations

import math

import torch

from cfa.errors import UserError
from cfa.images import resize, resize_and_random_crop, to_float
from cfa.training.objectives.paired import PairedObjective

DEFAULT_T_RANGE = (0.2, 1.0)
PREVIEW_POINTS = 7


def t_range_of(model_params: dict) -> tuple[float, float]:
    """`models.<m>.t_range` as (low, high) with 0 < low < high (t = 0 is the ODE's start point)."""
    value = model_params.get("t_range", list(DEFAULT_T_RANGE))
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"models entry: t_range = {value!r}; give [low, high], e.g. [0.2, 1.0]") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low < high):
        raise UserError(f"models entry: t_range = {value!r}; need 0 < low < high (t = 0 is where the "
                        f"atoms' ODE starts, so it cannot be an end time)")
    return low, high


def flip_pairs(pairs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each (stacked A|B) sample left-right with probability 1/2, one draw per sample."""
    mirror = torch.rand(pairs.shape[0], generator=generator) < 0.5
    if mirror.any():
        pairs = pairs.clone()
        pairs[mirror] = pairs[mirror].flip(-1)
    return pairs


class ImageOnlyObjective(PairedObjective):
    name = "image_only"
    dataset_kinds = ("paired-images",)

    @property
    def t_range(self) -> tuple[float, float]:
        return t_range_of(self.model_params)

    def random_t(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """t ~ U(t0, t1), one per sample (float32, on the CPU)."""
        low, high = self.t_range
        u = torch.rand(int(n), generator=generator, dtype=torch.float64)
        return (low + (high - low) * u).float()

    def t_distribution(self) -> dict:
        """Where this model's diversity comes from, for the metrics records."""
        low, high = self.t_range
        gen = self.model_params.get("generator") or {}
        arch, atoms = gen.get("arch", "resnet"), self.model_params.get("atoms")
        draw = {"t": f"U({low:g}, {high:g}) per output", "t_range": [low, high]}
        if arch == "basisgan":
            uses_t = gen.get("condition", "channel") != "none"
            return {**draw, "diversity": "BasisGAN noise: N(0, I) per output and decomposed layer, "
                                         "from torch's global RNG" + (" (and t)" if uses_t else ""),
                    "t_used": uses_t}
        uses_t = atoms is not None or gen.get("condition", "channel") == "channel"
        return {**draw, "diversity": "t (continuous filter atoms)" if uses_t else
                "none: deterministic generator (t is not an input)", "t_used": uses_t}

    def prepare_batch(self, batch: dict, generator: torch.Generator) -> dict:
        tp = self.train_params
        # Source and target are stacked so that both get the identical crop and flip.
        pair = torch.cat([to_float(batch["source"]), to_float(batch["target"])], 1)
        pair = resize_and_random_crop(pair, tp.get("load_size"), tp.get("crop_size"), generator)
        if tp.get("flip"):
            pair = flip_pairs(pair, generator)
        t = self.random_t(pair.shape[0], generator)
        pair = pair.to(self.device, non_blocking=True)
        channels = pair.shape[1] // 2
        return {"source": pair[:, :channels], "target": pair[:, channels:], "t": t.to(self.device)}

    def working_size(self) -> int | None:
        """The square size generate() runs at: train.test_size (BicycleGAN's test scripts load some
        sets at another size than they crop in training), else the crop, else the load size."""
        tp = self.train_params
        return tp.get("test_size") or tp.get("crop_size") or tp.get("load_size")

    def _forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The generator on x at x's own size (the network is fully convolutional)."""
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1).to(self.device)
        with self.autocast():
            return self.networks["generator"](x.to(self.device), t).float()

    def generate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # A whole stored image at the test size (no crop), the output back at the input's size.
        size = x.shape[-1]
        return resize(self._forward(resize(x.to(self.device), self.working_size()), t), size)

    def t_from_labels(self, labels) -> torch.Tensor:
        """`cfa sample --t` values are t itself (the dataset has no labels)."""
        return torch.as_tensor(labels, dtype=torch.float64).float().reshape(-1)

    @torch.no_grad()
    def preview(self, sources: torch.Tensor | None, labels=None, count: int = 4):
        from cfa.training.samples import sweep

        if labels is None:
            low, high = self.t_range
            labels = torch.linspace(low, high, PREVIEW_POINTS).tolist()
        t = self.t_from_labels(list(labels)).tolist()
        # Preview sources are already at the training view (resized to load_size, centre crop):
        # run them as they are, at the scale the generator trained on.
        return sources, sweep(self._forward, sources.to(self.device), t)


__all__ = ["ImageOnlyObjective", "t_range_of", "flip_pairs", "DEFAULT_T_RANGE"]
