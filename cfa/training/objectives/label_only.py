"""The label-only objective of Eq. 7 (paper Section 3.4; Table 4): a cGAN conditioned on a label alone.

    min_G max_D  E_{x ~ p(x), y ~ p(y|x)} [log D(x, y)] + E_{x ~ p(x), z ~ N(0, I)} [log(1 - D(x, G(z; D(alpha x))))]

x is the normalised label (label / label_scale: ages / 60 as CcGAN trains, angles / 90), z a fresh
N(0, I) vector per sample, G and D the networks of `cfa.networks.cgan` (`build_label_networks`):
- `cgan-cfa` (ours): CcGAN's generator with plain BatchNorm and every 3x3 conv an atom conv whose
  atoms come from one ODE integrated to t = alpha * x; D the continuous-label projection D.
- `cgan` (baseline): CcGAN's cGAN (K classes), x binned into K classes by CcGAN's rule.

The step follows CcGAN's `Train_cGAN.py` (UBCDingXin/improved_CcGAN,
UTKFace/UTKFace_64x64/CcGAN-improved/Train_cGAN.py:101-141): per iteration a batch of real images
with their labels (so x ~ p(x), the training distribution), a fresh z per sample, the generator
step first, then the discriminator step on the same (detached) fakes and the same labels.
- vanilla (CcGAN's setting, scripts/run_train.sh:28 LOSS_TYPE='vanilla'): D's logits through a
  sigmoid, g_loss = -mean log(D(G(z), x) + 1e-20), d_loss = mean[-log(D(y, x) + 1e-20)
  - log(1 - D(G(z), x) + 1e-20)] (the two terms summed, not halved as in pix2pix);
- hinge: g_loss = -mean D(G(z), x), d_loss = mean[relu(1 - D(y, x)) + relu(1 + D(G(z), x))].
Adam for both with CcGAN's betas (0.5, 0.999) (Train_cGAN.py:36-37) and lr 1e-4 (run_train.sh:19-20),
constant (CcGAN has no decay: set the model's `train.epochs_decay: 0`).

Images are used at the dataset's own size (CcGAN: 64x64, no crop, no flip): `train.load_size` and
`crop_size` must be null for these models. Labels are never rebalanced: CcGAN replicates images of
rare ages up to 200 per age (main.py:142-166, MAX_N_IMG_PER_LABEL_AFTER_REPLICA); here every real
image is drawn once per epoch (docs/table4.md).

Reproducibility: z comes from the per-step generator the loop passes to `prepare_batch`, so a
resumed run draws the same noise as an uninterrupted one. `generate(None, t)` draws z from the
caller's torch RNG (so `cfa sample --seed` and the evaluation's seed repeat their pictures).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from cfa.errors import UserError
from cfa.training.objectives import Objective
from cfa.training.schedule import linear_decay_scheduler

GAN_MODES = ("vanilla", "hinge")
# CcGAN's defaults (see the module docstring).
DEFAULT_LR = 1e-4
DEFAULT_BETAS = (0.5, 0.999)
LOG_EPS = 1e-20
# Progress pictures: this many labels spread over the training range, with noise seeded by train.seed.
PREVIEW_LABELS = 8


def _set_requires_grad(net: torch.nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


class LabelOnlyObjective(Objective):
    name = "label_only"
    dataset_kinds = ("labelled",)
    inference_networks = ("generator",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._warned_range = False

    # -- labels -------------------------------------------------------------------------------
    @property
    def t_scale(self) -> float:
        return float(self.data_info.get("t_scale") or 1.0)

    def t_from_labels(self, labels) -> torch.Tensor:
        """Labels in the dataset's unit -> the normalised label x (divided in double precision)."""
        return (torch.as_tensor(labels, dtype=torch.float64) / self.t_scale).float()

    def _train_values(self) -> list[float]:
        values = self.data_info.get("label_values")
        if not values:
            raise UserError("label_only: the run's data_info has no `label_values` (the normalised training "
                            "labels); the dataset must be read by the `labelled` reader")
        return [float(v) for v in values]

    def check_label_range(self, x: torch.Tensor) -> None:
        """Warn (once) when labels lie outside the range seen in training: there the atoms come from
        D(alpha x) integrated past the trained interval (ours) or from the first/last class (cGAN)."""
        if self._warned_range or x.numel() == 0:
            return
        values = self._train_values()
        lo, hi = min(values), max(values)
        tol = 1e-6 * max(hi - lo, 1e-12)
        outside = torch.unique(x[(x < lo - tol) | (x > hi + tol)].double().cpu())
        if not outside.numel():
            return
        self._warned_range = True
        scale = self.t_scale
        unit = self.data_info.get("label_unit") or "label units"
        shown = ", ".join(f"{v * scale:.4g}" for v in outside[:5].tolist()) + (", ..." if outside.numel() > 5 else "")
        alpha = self.model_params.get("generator", {}).get("alpha")
        if alpha is not None:
            what = (f"t = alpha * x (alpha = {alpha:g}) = {', '.join(f'{alpha * v:.4g}' for v in outside[:5].tolist())} "
                    f"lies outside the t range trained on [{alpha * lo:.4g}, {alpha * hi:.4g}]: the atoms are "
                    f"extrapolated along the ODE")
        else:
            what = "the cGAN baseline puts such labels in its first or last class"
        print(f"cfa: WARNING: sampling at label(s) {shown} {unit}, outside the range seen in training "
              f"({lo * scale:.4g} .. {hi * scale:.4g} {unit}); {what}", file=sys.stderr)

    # -- networks -----------------------------------------------------------------------------
    def build_networks(self) -> None:
        from cfa.networks.cgan import build_label_networks

        tp = self.train_params
        if tp.get("load_size") or tp.get("crop_size"):
            raise UserError(f"label-only models train at the dataset's own image size (CcGAN: 64x64, no crop); "
                            f"train.load_size = {tp.get('load_size')}, crop_size = {tp.get('crop_size')}: set "
                            f"both to null in the model's `train` block (params.yaml models.<name>.train)")
        size, channels = int(self.data_info["size"]), int(self.data_info.get("channels", 3))
        generator, discriminator = build_label_networks(self.model_params, size=size, channels=channels,
                                                        train_labels=self._train_values())
        # CcGAN's own initialisation is in the constructors: no pix2pix init_weights here.
        self.networks = {"generator": generator.to(self.device), "discriminator": discriminator.to(self.device)}

    def build_optimizers(self, total_steps: int, decay_start: int) -> None:
        mp = self.model_params
        optim = mp.get("optim") or {}
        lr = float(optim.get("lr", DEFAULT_LR))
        betas = (float(optim.get("beta1", DEFAULT_BETAS[0])), float(optim.get("beta2", DEFAULT_BETAS[1])))
        self.optimizers = {k: torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
                           for k, net in self.networks.items()}
        # Constant unless the run's train section asks for pix2pix's linear decay (CcGAN: none).
        self.schedulers = {k: linear_decay_scheduler(o, total_steps, decay_start) for k, o in self.optimizers.items()}
        mode = (mp.get("loss") or {}).get("gan_mode", "vanilla")
        if mode not in GAN_MODES:
            raise UserError(f"loss.gan_mode = {mode!r}: the label-only objective takes one of {list(GAN_MODES)} "
                            f"(CcGAN's losses)")
        self.gan_mode = mode

    @property
    def z_dim(self) -> int:
        return int(self.networks["generator"].z_dim)

    # -- training -----------------------------------------------------------------------------
    def prepare_batch(self, batch: dict, generator: torch.Generator) -> dict:
        images = torch.as_tensor(batch["image"]).float()
        labels = torch.as_tensor(batch["label"], dtype=torch.float32).reshape(-1)
        # A fresh z per sample, drawn on the CPU from the loop's per-step generator: bit-exact resume,
        # the same noise on every device.
        z = torch.randn(images.shape[0], self.z_dim, generator=generator)
        return {"image": images.to(self.device, non_blocking=True), "label": labels.to(self.device),
                "z": z.to(self.device)}

    def _g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        fake_logits = fake_logits.float()
        if self.gan_mode == "vanilla":
            return -torch.log(torch.sigmoid(fake_logits) + LOG_EPS).mean()
        return -fake_logits.mean()

    def _d_losses(self, real_logits: torch.Tensor, fake_logits: torch.Tensor):
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        if self.gan_mode == "vanilla":
            real = -torch.log(torch.sigmoid(real_logits) + LOG_EPS)
            fake = -torch.log(1 - torch.sigmoid(fake_logits) + LOG_EPS)
        else:
            real, fake = torch.relu(1.0 - real_logits), torch.relu(1.0 + fake_logits)
        return real.mean(), fake.mean()

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        real, x, z = batch["image"], batch["label"], batch["z"]

        # Generator first (CcGAN's order), with D frozen.
        _set_requires_grad(disc, False)
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake = gen(z, x)
            loss_g = self._g_loss(disc(fake, x))
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        _set_requires_grad(disc, True)

        # Discriminator on the real batch and the same fakes, detached.
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            real_logits = disc(real, x)
            fake_logits = disc(fake.detach(), x)
            loss_d_real, loss_d_fake = self._d_losses(real_logits, fake_logits)
            loss_d = loss_d_real + loss_d_fake
        self.scaler.scale(loss_d).backward()
        self.scaler.step(opt_d)
        self.scaler.update()

        for sched in self.schedulers.values():
            sched.step()
        with torch.no_grad():
            d_real = real_logits.float().sigmoid().mean() if self.gan_mode == "vanilla" else real_logits.float().mean()
            d_fake = fake_logits.float().sigmoid().mean() if self.gan_mode == "vanilla" else fake_logits.float().mean()
        return {"loss_g": loss_g.detach(), "loss_d": loss_d.detach(), "loss_d_real": loss_d_real.detach(),
                "loss_d_fake": loss_d_fake.detach(), "d_out_real": d_real.detach(), "d_out_fake": d_fake.detach()}

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate_from(self, z: torch.Tensor, t) -> torch.Tensor:
        """G(z; x) in [-1, 1] for given noise z (B, z_dim) and normalised labels x (B,)."""
        x = torch.as_tensor(t, dtype=torch.float32).reshape(-1).to(self.device)
        if x.numel() == 1 and z.shape[0] > 1:
            x = x.expand(z.shape[0])
        self.check_label_range(x)
        with self.autocast():
            return self.networks["generator"](z.to(self.device), x).float()

    def generate(self, x: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor:
        """Label-only: x must be None; one fresh z per condition from the caller's torch RNG (drawn
        on the CPU, so a seed gives the same images on every device)."""
        if x is not None:
            raise UserError("the label-only objective takes no input image (x must be None)")
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
        z = torch.randn(t.shape[0], self.z_dim)
        return self.generate_from(z, t)

    def default_labels(self, count: int = PREVIEW_LABELS) -> list[float]:
        """`count` labels (dataset units) spread evenly over the range seen in training."""
        values = self._train_values()
        return np.linspace(min(values) * self.t_scale, max(values) * self.t_scale, count).tolist()

    @torch.no_grad()
    def preview(self, sources: torch.Tensor | None, labels=None, count: int = 4):
        """Rows of fixed z (`count` of them), columns sweeping `labels` (dataset units). Without
        labels (the training loop's progress pictures) the labels span the training range and the
        noise is seeded by train.seed, so every picture of a run shows the same faces; with labels
        (`cfa sample`) the noise comes from the caller's torch RNG."""
        if labels is None:
            labels = self.default_labels()
            z = torch.randn(count, self.z_dim, generator=torch.Generator().manual_seed(int(self.train_params.get("seed", 0))))
        else:
            z = torch.randn(count, self.z_dim)
        labels = [float(v) for v in labels]
        x = self.t_from_labels(labels)
        n_labels = len(labels)
        zs = z.repeat_interleave(n_labels, 0)
        xs = x.repeat(count)
        batch = 256
        out = torch.cat([self.generate_from(zs[i:i + batch], xs[i:i + batch]) for i in range(0, len(xs), batch)])
        return None, out.reshape(count, n_labels, *out.shape[1:]).cpu()


__all__ = ["LabelOnlyObjective", "GAN_MODES"]
