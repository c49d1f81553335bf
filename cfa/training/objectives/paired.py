"""The paired objective of Eq. 8: Pix2Pix conditioned on the source image and the gap label t.

    G* = arg min_G max_D  L_cGAN(G, D) + lambda_L1 * L_L1(G)

with G(x, t) the generator (atoms: filters built from D(t); baselines: t as a constant input
channel, or no t at all, `generator.condition`; all inside `cfa.networks`) and D a PatchGAN on
concat(x, y), as in the authors' code. Unlike the official code, a batch mixes samples with
different t.

Used by the models `pix2pix` (the paper's baseline, no label), `pix2pix-label` (t as a channel)
and `pix2pix-cfa` (ours) on rotation sets, where the condition is the angle gap:
t = (target angle - source angle) / 90. Images follow the one resize/crop policy of
`cfa.images` (docs/evaluation.md): whole images at the working size, a random shift in training.
"""

from __future__ import annotations

import torch
from torch import nn

from cfa.errors import UserError
from cfa.images import random_shift_view, resize, to_float, training_view, working_size
from cfa.networks.pix2pix import as_time_batch
from cfa.training.objectives import Objective
from cfa.training.schedule import linear_decay_scheduler

GAN_MODES = ("vanilla", "lsgan")
# Progress pictures: each input under these angle gaps (degrees).
PREVIEW_DEGREES = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)


class GANLoss(nn.Module):
    """vanilla: BCE on logits (the authors' default); lsgan: least squares."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in GAN_MODES:
            raise UserError(f"loss.gan_mode = {mode!r}: choose one of {list(GAN_MODES)}")
        self.mode = mode
        self.criterion = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()

    def forward(self, prediction: torch.Tensor, is_real: bool) -> torch.Tensor:
        prediction = prediction.float()
        target = torch.ones_like(prediction) if is_real else torch.zeros_like(prediction)
        return self.criterion(prediction, target)


def _set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


class PairedObjective(Objective):
    name = "paired"
    dataset_kinds = ("rotation",)

    @property
    def t_scale(self) -> float:
        return float(self.data_info.get("t_scale", 90.0))

    def build_networks(self) -> None:
        from cfa.networks.build import build_discriminator, build_generator, init_weights

        mp = self.model_params
        channels = int(self.data_info.get("channels", 3))
        gain = float(self.train_params.get("init_gain", 0.02))
        generator = build_generator(mp, in_channels=channels, out_channels=channels)
        discriminator = build_discriminator(mp, in_channels=2 * channels)
        init_weights(generator, gain=gain)
        init_weights(discriminator, gain=gain)
        self.networks = {"generator": generator.to(self.device),
                         "discriminator": discriminator.to(self.device)}

    def build_optimizers(self, total_steps: int, decay_start: int) -> None:
        mp = self.model_params
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        optim = mp.get("optim") or {}
        lr = float(optim.get("lr", 2e-4))
        betas = (float(optim.get("beta1", 0.5)), float(optim.get("beta2", 0.999)))
        self.optimizers = {
            "generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
            "discriminator": torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas),
        }
        self.schedulers = {k: linear_decay_scheduler(o, total_steps, decay_start)
                           for k, o in self.optimizers.items()}
        loss = mp.get("loss") or {}
        self.gan_loss = GANLoss(loss.get("gan_mode", "vanilla"))
        self.lambda_l1 = float(loss.get("lambda_l1", 0.0))

    def prepare_batch(self, batch: dict, generator: torch.Generator) -> dict:
        # Source and target are stacked so that both get the identical random shift.
        tp = self.train_params
        pair = torch.cat([to_float(batch["source"]), to_float(batch["target"])], 1)
        pair = random_shift_view(pair, tp.get("load_size"), tp.get("crop_size"), generator)
        pair = pair.to(self.device, non_blocking=True)
        channels = pair.shape[1] // 2
        return {"source": pair[:, :channels], "target": pair[:, channels:],
                "t": torch.as_tensor(batch["t"], dtype=torch.float32).reshape(-1).to(self.device)}

    def working_size(self) -> int | None:
        """The square size the generator trained at (crop_size, else load_size, else native)."""
        tp = self.train_params
        return working_size(tp.get("load_size"), tp.get("crop_size"))

    def generate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # The whole input at the working size, as in training (no crop: every output pixel must
        # line up with the true image for the metrics); the output resized back to the input's size.
        tp = self.train_params
        size = x.shape[-1]
        x = training_view(x.to(self.device), tp.get("load_size"), tp.get("crop_size"))
        t = as_time_batch(torch.as_tensor(t), x.shape[0], self.device)
        if self._depends_only_on_x():
            # Deterministic given x (no label, no active dropout): one forward per distinct input,
            # so equal inputs give bit-identical outputs whatever the batch composition.
            unique, inverse = torch.unique(x, dim=0, return_inverse=True)
            return resize(self._forward(unique, t[:len(unique)])[inverse], size)
        return resize(self._forward(x, t), size)

    def _forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        generator = self.networks["generator"]
        with self.autocast():
            if self.network_mode == "official":
                # The authors' test.py runs batch 1 in train mode: each image's BatchNorm statistics
                # are its own, so it is fed one image at a time.
                return torch.cat([generator(x[i:i + 1], t[i:i + 1]).float() for i in range(len(x))])
            return generator(x, t).float()

    def _depends_only_on_x(self) -> bool:
        """True when each output is a function of its own input alone: no label, no active dropout,
        and BatchNorm not pooling statistics over the batch (eval mode, or official one-by-one)."""
        generator = self.networks["generator"]
        if getattr(generator, "takes_condition", True):
            return False
        for m in generator.modules():
            if isinstance(m, nn.Dropout) and m.training and m.p > 0:
                return False
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and self.network_mode != "official":
                return False
        return True

    def t_from_labels(self, labels) -> torch.Tensor:
        """Angle gaps in degrees -> t (divided in double precision, like the reader's t)."""
        return (torch.as_tensor(labels, dtype=torch.float64) / self.t_scale).float()

    @torch.no_grad()
    def preview(self, sources: torch.Tensor | None, labels=None, count: int = 4):
        from cfa.training.samples import sweep

        labels = PREVIEW_DEGREES if labels is None else labels
        t = self.t_from_labels(list(labels)).tolist()
        return sources, sweep(self.generate, sources.to(self.device), t)

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        real_a, real_b, t = batch["source"], batch["target"], batch["t"]

        with self.autocast():
            fake_b = gen(real_a, t)

        # Discriminator: real pairs vs generated pairs (generator frozen by detach).
        _set_requires_grad(disc, True)
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_fake = self.gan_loss(disc(torch.cat([real_a, fake_b.detach()], 1)), False)
            loss_d_real = self.gan_loss(disc(torch.cat([real_a, real_b], 1)), True)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(opt_d)

        # Generator: fool the (now frozen) discriminator, plus the weighted L1 to the target.
        _set_requires_grad(disc, False)
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_gan = self.gan_loss(disc(torch.cat([real_a, fake_b], 1)), True)
        # L1 is logged even when lambda_L1 = 0 (the authors' RC-49 setting): it tracks fidelity.
        loss_l1 = (fake_b.float() - real_b.float()).abs().mean()
        loss_g = loss_g_gan + self.lambda_l1 * loss_l1 if self.lambda_l1 else loss_g_gan
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        self.scaler.update()
        _set_requires_grad(disc, True)

        for sched in self.schedulers.values():
            sched.step()
        return {"loss_g": loss_g.detach(), "loss_g_gan": loss_g_gan.detach(),
                "loss_l1": loss_l1.detach(), "loss_d": loss_d.detach(),
                "loss_d_real": loss_d_real.detach(), "loss_d_fake": loss_d_fake.detach()}
