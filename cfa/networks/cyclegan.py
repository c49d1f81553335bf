"""CycleGAN networks with continuous atoms: two ResNet generators and two image discriminators.

As in the authors' CycleGAN setting (REFERENCE.md section 1), both generators carry atoms:
fake_B = G_A(real_A, t), rec_A = G_B(fake_B, t) with t the label gap of the translation, and the
discriminators judge images alone (no condition): D_A judges domain-B images (G_A's outputs),
D_B judges domain-A images, following junyanz's naming.
"""

from __future__ import annotations

from torch import nn

from cfa.atoms import AtomSpec
from cfa.networks.pix2pix import PatchDiscriminator, ResnetGenerator


class CycleGAN(nn.Module):
    """A container of G_A (A -> B), G_B (B -> A), D_A (on B images) and D_B (on A images)."""

    def __init__(self, G_A: ResnetGenerator, G_B: ResnetGenerator, D_A: PatchDiscriminator,
                 D_B: PatchDiscriminator):
        super().__init__()
        self.G_A, self.G_B, self.D_A, self.D_B = G_A, G_B, D_A, D_B

    def generators(self) -> nn.ModuleList:
        return nn.ModuleList([self.G_A, self.G_B])

    def discriminators(self) -> nn.ModuleList:
        return nn.ModuleList([self.D_A, self.D_B])


def build_cyclegan(channels_a: int = 3, channels_b: int = 3, ngf: int = 64, n_blocks: int = 9,
                   norm: str = "instance", dropout: float = 0.0, ndf: int = 64, n_layers: int = 3,
                   disc_norm: str = "instance", atoms: AtomSpec | None = None) -> CycleGAN:
    """CycleGAN's defaults: instance norm, no dropout, 9 ResNet blocks, 3-layer PatchGANs.

    Each generator gets its own AtomGenerator (its own ODE and D(t0)) when `atoms` is given.
    """
    G_A = ResnetGenerator(channels_a, channels_b, ngf, n_blocks, norm, dropout, atoms)
    G_B = ResnetGenerator(channels_b, channels_a, ngf, n_blocks, norm, dropout, atoms)
    D_A = PatchDiscriminator(channels_b, ndf, n_layers, disc_norm)
    D_B = PatchDiscriminator(channels_a, ndf, n_layers, disc_norm)
    return CycleGAN(G_A, G_B, D_A, D_B)


def build_cyclegan_from_params(model_params: dict, channels_a: int = 3, channels_b: int = 3) -> CycleGAN:
    """The same from one params.yaml `models:` entry (generator / discriminator / atoms blocks)."""
    from cfa.networks.build import atom_spec_from_params, section

    gen = section(model_params, "generator", ("ngf", "n_blocks", "norm", "dropout"))
    disc = section(model_params, "discriminator", ("ndf", "n_layers", "norm"))
    return build_cyclegan(channels_a, channels_b, int(gen["ngf"]), int(gen["n_blocks"]), gen["norm"],
                          float(gen["dropout"]), int(disc["ndf"]), int(disc["n_layers"]), disc["norm"],
                          atom_spec_from_params(model_params))


__all__ = ["CycleGAN", "build_cyclegan", "build_cyclegan_from_params"]
