"""Networks from one params.yaml `models:` entry, and the pix2pix weight initialisation.

A model entry has `generator: {ngf, n_blocks, norm, dropout}`, `discriminator: {ndf, n_layers,
norm}` and `atoms: null | {n_atoms, kernel_size, ode_func, method, rtol, atol, adjoint}`.
`generator.arch` (optional, default "resnet") selects the generator family: "resnet" is the
pix2pix ResNet generator (with atoms when `atoms` is set, else the t-channel baseline), "basisgan"
the BasisGAN ablation (its atoms block, if any, gives n_atoms and kernel_size).
`generator.condition` (optional) says whether t also enters as one constant input channel:
"channel" (the default for generators without continuous atoms: the t-channel baseline and the
BasisGAN ablation) or "none" (no label input: image-only translation, Table 1). A ResNet generator
with atoms takes t through its atoms only, unless `condition: channel` adds the channel too.
"""

from __future__ import annotations

from torch import nn

from cfa.atoms import AtomSpec
from cfa.errors import UserError
from cfa.layers import AtomConv2d, AtomConvTranspose2d
from cfa.networks.basisgan import BasisResnetGenerator
from cfa.networks.pix2pix import NORMS, PatchDiscriminator, ResnetGenerator

GENERATOR_ARCHS = ("resnet", "basisgan")
CONDITIONS = ("channel", "none")


def section(model_params: dict, name: str, required: tuple[str, ...]) -> dict:
    """model_params[name] with its required keys checked; UserError names what is missing."""
    if not isinstance(model_params, dict):
        raise UserError(f"a models: entry must be a mapping, got {type(model_params).__name__}")
    block = model_params.get(name)
    if not isinstance(block, dict):
        raise UserError(f"models entry: `{name}` must be a mapping with keys {list(required)}, got {block!r}")
    missing = [k for k in required if k not in block]
    if missing:
        raise UserError(f"models entry: `{name}` lacks key(s) {missing}; add them (see params.yaml models.pix2pix)")
    if "norm" in block and block["norm"] not in NORMS:
        raise UserError(f"models entry: {name}.norm = {block['norm']!r}; choose one of {list(NORMS)}")
    return block


def atom_spec_from_params(model_params: dict) -> AtomSpec | None:
    atoms = model_params.get("atoms")
    if atoms is None:
        return None
    if not isinstance(atoms, dict):
        raise UserError(f"models entry: `atoms` must be null or a mapping, got {atoms!r}")
    return AtomSpec.from_dict(dict(atoms), where="atoms")


def build_generator(model_params: dict, in_channels: int = 3, out_channels: int = 3) -> nn.Module:
    """The generator of one `models:` entry; call `gen(x, t)`."""
    gen = section(model_params, "generator", ("ngf", "n_blocks", "norm", "dropout"))
    spec = atom_spec_from_params(model_params)
    arch = gen.get("arch", "resnet")
    condition = gen.get("condition")
    if condition is not None and condition not in CONDITIONS:
        raise UserError(f"models entry: generator.condition = {condition!r}; choose one of {list(CONDITIONS)} "
                        f"(channel: t as a constant input channel; none: no label input)")
    common = dict(in_channels=in_channels, out_channels=out_channels, ngf=int(gen["ngf"]),
                  n_blocks=int(gen["n_blocks"]), norm=gen["norm"], dropout=float(gen["dropout"]))
    if arch == "resnet":
        channel = None if condition is None else condition == "channel"
        return ResnetGenerator(**common, atoms=spec, time_channel=channel)
    if arch == "basisgan":
        extra = {} if spec is None else dict(n_atoms=spec.n_atoms, kernel_size=spec.kernel_size)
        return BasisResnetGenerator(**common, **extra, time_channel=condition != "none")
    raise UserError(f"models entry: generator.arch = {arch!r}; choose one of {list(GENERATOR_ARCHS)}")


def build_discriminator(model_params: dict, in_channels: int = 6) -> PatchDiscriminator:
    """The PatchGAN of one `models:` entry (in_channels = condition + image channels for pix2pix)."""
    disc = section(model_params, "discriminator", ("ndf", "n_layers", "norm"))
    return PatchDiscriminator(in_channels, int(disc["ndf"]), int(disc["n_layers"]), disc["norm"])


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The official pix2pix "normal" init, module by module as the authors' `init_net` does it.

    seunghyunni/ECE570_final_project @ b6bc761, models/networks.py lines 44-62 (`init_weights`,
    applied to the whole generator by `define_G` -> `init_net`, lines 68-74 and 91): every module
    whose class name contains "Conv" or "Linear" and has a `weight` gets weight ~ N(0, gain) and
    bias 0; every BatchNorm2d gets weight ~ N(1, gain), bias 0; everything else keeps its own init.
    Consequences we reproduce:
    - The atom coefficients A: the official decomposed conv is the class `Conv_DCFre` (its A is
      called `weight`), so init_net re-draws A ~ N(0, gain) (std 0.02), replacing the constructor's
      N(0, 1/sqrt(in)). Our AtomConv2d / AtomConvTranspose2d get the same: A ~ N(0, gain), bias 0.
    - The ODE function's 1x1 layers (official `ConcatConv2d._layer`, an nn.Conv2d; ours nn.Linear):
      weight ~ N(0, gain), bias 0.
    - Untouched, as in the official code: D(t0) ~ N(0, 1) (`random_vec`, a parameter of a module
      with no "Conv" in its class name), GroupNorm affine (PyTorch default weight 1, bias 0),
      InstanceNorm (no affine).
    """
    for module in net.modules():
        if isinstance(module, (AtomConv2d, AtomConvTranspose2d)):
            nn.init.normal_(module.coefficients, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


__all__ = ["build_generator", "build_discriminator", "init_weights", "atom_spec_from_params", "section",
           "GENERATOR_ARCHS", "CONDITIONS"]
