"""CycleGAN networks with continuous atoms: two ResNet generators and two image discriminators.

As in the authors' CycleGAN setting (REFERENCE.md section 1), both generators carry atoms:
fake_B = G_A(real_A, t), rec_A = G_B(fake_B, t) with t the label gap of the translation, and the
discriminators judge images alone (no condition): D_A judges domain-B images (G_A's outputs),
D_B judges domain-A images, following junyanz's naming.
"""

from __future__ import annotations

from torch import nn

from cfa.atoms import AtomSpec
from cfa.errors import UserError
from cfa.networks.pix2pix import PatchDiscriminator, ResnetGenerator, conv_bias

# How the label reaches a generator: through its atoms (ours), as one constant input channel (a
# labelled baseline), or not at all (the paper's CycleGAN baseline: one mapping, deterministic).
LABEL_INPUTS = ("atoms", "channel", "none")


class LabelChannelResnetGenerator(ResnetGenerator):
    """The ResNet generator with t as one constant input channel, its 7x7 stem zero-padded.

    Under instance norm a constant plane that is reflection-padded reaches the first norm as a
    constant per channel, which the norm subtracts: t would never reach the output (measured: a
    relative change of 1e-6 between t = 0.2 and 0.8). Zero padding, as StarGAN pads its label
    channels, makes the plane's contribution differ near the borders, so t survives the norm.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: float = 0.0):
        super().__init__(in_channels, out_channels, ngf, n_blocks, norm, dropout, atoms=None)
        self.stem[0] = nn.ZeroPad2d(3)


class LabelFreeResnetGenerator(ResnetGenerator):
    """The ResNet generator without any label input: `gen(x, t)` ignores t (CycleGAN as published)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: float = 0.0):
        super().__init__(in_channels, out_channels, ngf, n_blocks, norm, dropout, atoms=None)
        # the parent's first conv expects the extra t channel; this one sees the image alone
        self.stem[1] = nn.Conv2d(in_channels, ngf, 7, padding=0, bias=conv_bias(norm))

    def forward(self, x, t=None):
        h = self.down(self.stem(x))
        for block in self.blocks:
            h = block(h)
        return self.head(self.up(h))


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
                   disc_norm: str = "instance", atoms: AtomSpec | None = None,
                   label_input: str | None = None) -> CycleGAN:
    """CycleGAN's defaults: instance norm, no dropout, 9 ResNet blocks, 3-layer PatchGANs.

    Each generator gets its own AtomGenerator (its own ODE and D(t0)) when `atoms` is given.
    `label_input` (LABEL_INPUTS; default: "atoms" with atoms, else "channel") says how t enters.
    """
    label_input = label_input or ("atoms" if atoms is not None else "channel")
    if label_input not in LABEL_INPUTS:
        raise UserError(f"generator.label_input = {label_input!r}: choose one of {list(LABEL_INPUTS)}")
    if (label_input == "atoms") != (atoms is not None):
        raise UserError(f"generator.label_input = {label_input!r} with atoms {'set' if atoms else 'null'}: "
                        f"label_input 'atoms' needs an atoms block, 'channel' and 'none' need atoms: null")
    if label_input == "none":
        G_A = LabelFreeResnetGenerator(channels_a, channels_b, ngf, n_blocks, norm, dropout)
        G_B = LabelFreeResnetGenerator(channels_b, channels_a, ngf, n_blocks, norm, dropout)
    elif label_input == "channel":
        G_A = LabelChannelResnetGenerator(channels_a, channels_b, ngf, n_blocks, norm, dropout)
        G_B = LabelChannelResnetGenerator(channels_b, channels_a, ngf, n_blocks, norm, dropout)
    else:
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
                          atom_spec_from_params(model_params), gen.get("label_input"))


__all__ = ["CycleGAN", "build_cyclegan", "build_cyclegan_from_params", "LabelFreeResnetGenerator",
           "LabelChannelResnetGenerator", "LABEL_INPUTS"]
