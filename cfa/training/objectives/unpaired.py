"""The unpaired objective (Table 3, Figure 6): CycleGAN conditioned on the label gap t.

As the authors' compiled `cycle_gan_model` does it (REFERENCE.md section 1), with R1 = 0 the
source label and R2 the target's condition (the reader's t):

    fake_B = G_A(real_A, t)      rec_A = G_B(fake_B, t)      t = |R2 - R1|
    fake_A = G_B(real_B, t)      rec_B = G_A(fake_A, t)
    idt_A  = G_A(real_B, 0.01)   idt_B = G_B(real_A, 0.01)   (R2 -> R2 + 0.01: identity_t)

    L_G = GAN(D_A(fake_B)) + GAN(D_B(fake_A)) + lambda_A |rec_A - real_A| + lambda_B |rec_B - real_B|
          + lambda_identity (lambda_B |idt_A - real_B| + lambda_A |idt_B - real_A|)
    L_D_A = (GAN(D_A(real_B), real) + GAN(D_A(pool_B(fake_B)), fake)) / 2, D_B the same on A,

with junyanz's defaults lambda_A = lambda_B = 10, lambda_identity = 0.5, LSGAN, a history pool of
50 generated images per discriminator, one Adam over both generators and one over both
discriminators, the discriminators judging images alone. How t reaches the generators is the
model's `generator.label_input`: `atoms` (ours: continuous filter atoms in both generators),
`channel` (t as a constant input channel: our labelled baseline, not in the paper) or `none` (the
paper's CycleGAN baseline: no label, one deterministic mapping). Test: G_A(A, R1 -> R1 + t).

Labels in the dataset's units (cells, years, degrees, time of day) map to t through the file's
label encoding (`cfa.datasets.domains`), which is how `cfa sample` sweeps Figure 6.
"""

from __future__ import annotations

import itertools

import torch

from cfa.errors import UserError
from cfa.images import resize, resize_and_random_crop, to_float
from cfa.training.objectives import Objective
from cfa.training.objectives.image_pool import ImagePool
from cfa.training.objectives.paired import GANLoss, _set_requires_grad
from cfa.training.schedule import linear_decay_scheduler

LOSS_KEYS = ("gan_mode", "lambda_A", "lambda_B", "lambda_identity", "identity_t", "pool_size")
POOLS = ("fake_A", "fake_B")


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().mean()


class UnpairedObjective(Objective):
    name = "unpaired"
    dataset_kinds = ("unpaired-with-label",)
    # Test translates sources (domain A) to targets: G_A alone.
    inference_networks = ("G_A",)

    @property
    def encoding(self) -> dict:
        from cfa.datasets.domains import IDENTITY_ENCODING

        return self.data_info.get("label_encoding") or IDENTITY_ENCODING

    def build_networks(self) -> None:
        from cfa.networks.build import init_weights
        from cfa.networks.cyclegan import build_cyclegan_from_params

        channels = int(self.data_info.get("channels", 3))
        gain = float(self.train_params.get("init_gain", 0.02))
        nets = build_cyclegan_from_params(self.model_params, channels, channels)
        self.networks = {}
        for name in ("G_A", "G_B", "D_A", "D_B"):
            net = getattr(nets, name)
            init_weights(net, gain=gain)
            self.networks[name] = net.to(self.device)

    def _loss_params(self) -> dict:
        loss = self.model_params.get("loss") or {}
        missing = [k for k in LOSS_KEYS if k not in loss]
        if missing:
            raise UserError(f"models entry (objective unpaired): loss lacks {missing}; the CycleGAN settings are "
                            f"gan_mode: lsgan, lambda_A: 10, lambda_B: 10, lambda_identity: 0.5, "
                            f"identity_t: 0.01, pool_size: 50 (params.yaml models.cyclegan-cfa)")
        return loss

    def build_optimizers(self, total_steps: int, decay_start: int) -> None:
        optim = self.model_params.get("optim") or {}
        lr = float(optim.get("lr", 2e-4))
        betas = (float(optim.get("beta1", 0.5)), float(optim.get("beta2", 0.999)))
        n = self.networks
        self.optimizers = {
            "generators": torch.optim.Adam(itertools.chain(n["G_A"].parameters(), n["G_B"].parameters()),
                                           lr=lr, betas=betas),
            "discriminators": torch.optim.Adam(itertools.chain(n["D_A"].parameters(), n["D_B"].parameters()),
                                               lr=lr, betas=betas),
        }
        self.schedulers = {k: linear_decay_scheduler(o, total_steps, decay_start) for k, o in self.optimizers.items()}
        loss = self._loss_params()
        self.gan_loss = GANLoss(loss["gan_mode"])
        self.lambda_A, self.lambda_B = float(loss["lambda_A"]), float(loss["lambda_B"])
        self.lambda_identity = float(loss["lambda_identity"])
        self.identity_t = float(loss["identity_t"])
        self.pools = {k: ImagePool(int(loss["pool_size"])) for k in POOLS}

    # -- state: the pools' images travel with the checkpoint ---------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["image_pools"] = {k: pool.state() for k, pool in self.pools.items()}
        return state

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        super().load_state_dict(state, source)
        stored = state.get("image_pools")
        if stored is None or set(stored) != set(self.pools):
            raise UserError(f"{source} holds no CycleGAN image pools {list(POOLS)}; it was not written by "
                            f"this objective")
        for k, pool in self.pools.items():
            pool.load_state(stored[k], self.device)

    # -- data ----------------------------------------------------------------------------------
    def prepare_batch(self, batch: dict, generator: torch.Generator) -> dict:
        # Unpaired: source and target are cropped independently (CycleGAN's unaligned loader);
        # no flips (a mirrored driving frame would steer the other way). The pools' coin flips are
        # drawn here too, so that every random choice of a step comes from the step's generator.
        tp = self.train_params
        load, crop = tp.get("load_size"), tp.get("crop_size")
        source = resize_and_random_crop(to_float(batch["source"]), load, crop, generator)
        target = resize_and_random_crop(to_float(batch["target"]), load, crop, generator)
        t = torch.as_tensor(batch["t"], dtype=torch.float32).reshape(-1)
        draws = {k: pool.draws(len(t), generator) for k, pool in self.pools.items()}
        return {"source": source.to(self.device, non_blocking=True),
                "target": target.to(self.device, non_blocking=True), "t": t.to(self.device), "pool_draws": draws}

    def working_size(self) -> int | None:
        tp = self.train_params
        return tp.get("crop_size") or tp.get("load_size")

    # -- inference -----------------------------------------------------------------------------
    def generate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """G_A(x, R1 -> R1 + t): a source translated to condition t, at the training scale."""
        size = x.shape[-1]
        x = resize(x.to(self.device), self.working_size())
        with self.autocast():
            y = self.networks["G_A"](x, torch.as_tensor(t, dtype=torch.float32).to(self.device)).float()
        return resize(y, size)

    def t_from_labels(self, labels) -> torch.Tensor:
        from cfa.datasets.domains import encode_labels

        return torch.from_numpy(encode_labels(self.encoding, labels))

    @torch.no_grad()
    def preview(self, sources: torch.Tensor | None, labels=None, count: int = 4):
        from cfa.training.samples import parse_t_spec, sweep

        labels = parse_t_spec(self.encoding["figure"]) if labels is None else list(labels)
        t = self.t_from_labels(labels).tolist()
        return sources, sweep(self.generate, sources.to(self.device), t)

    # -- training ------------------------------------------------------------------------------
    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        G_A, G_B, D_A, D_B = (self.networks[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        opt_g, opt_d = self.optimizers["generators"], self.optimizers["discriminators"]
        real_A, real_B, t = batch["source"], batch["target"], batch["t"]
        identity_t = torch.full_like(t, self.identity_t)

        with self.autocast():
            fake_B = G_A(real_A, t)        # R1 -> R2
            rec_A = G_B(fake_B, t)         # R2 -> R1: the same gap
            fake_A = G_B(real_B, t)        # R2 -> R1
            rec_B = G_A(fake_A, t)         # R1 -> R2

        # Generators, with the discriminators frozen.
        _set_requires_grad(D_A, False)
        _set_requires_grad(D_B, False)
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_G_A = self.gan_loss(D_A(fake_B), True)
            loss_G_B = self.gan_loss(D_B(fake_A), True)
            if self.lambda_identity > 0:
                idt_A = G_A(real_B, identity_t)     # R2 -> R2 + identity_t
                idt_B = G_B(real_A, identity_t)
        loss_cycle_A = _l1(rec_A, real_A) * self.lambda_A
        loss_cycle_B = _l1(rec_B, real_B) * self.lambda_B
        if self.lambda_identity > 0:
            loss_idt_A = _l1(idt_A, real_B) * self.lambda_B * self.lambda_identity
            loss_idt_B = _l1(idt_B, real_A) * self.lambda_A * self.lambda_identity
        else:
            loss_idt_A = loss_idt_B = torch.zeros((), device=real_A.device)
        loss_g = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)

        # Discriminators: real images against the pools' history of generated ones.
        _set_requires_grad(D_A, True)
        _set_requires_grad(D_B, True)
        opt_d.zero_grad(set_to_none=True)
        pooled_B = self.pools["fake_B"].query(fake_B.float(), batch["pool_draws"]["fake_B"])
        pooled_A = self.pools["fake_A"].query(fake_A.float(), batch["pool_draws"]["fake_A"])
        with self.autocast():
            loss_D_A = 0.5 * (self.gan_loss(D_A(real_B), True) + self.gan_loss(D_A(pooled_B), False))
            loss_D_B = 0.5 * (self.gan_loss(D_B(real_A), True) + self.gan_loss(D_B(pooled_A), False))
        self.scaler.scale(loss_D_A + loss_D_B).backward()
        self.scaler.step(opt_d)
        self.scaler.update()

        for sched in self.schedulers.values():
            sched.step()
        losses = {"loss_g": loss_g, "loss_d": loss_D_A + loss_D_B, "loss_g_A": loss_G_A, "loss_g_B": loss_G_B,
                  "loss_cycle_A": loss_cycle_A, "loss_cycle_B": loss_cycle_B, "loss_idt_A": loss_idt_A,
                  "loss_idt_B": loss_idt_B, "loss_d_A": loss_D_A, "loss_d_B": loss_D_B}
        return {k: v.detach().float() for k, v in losses.items()}
