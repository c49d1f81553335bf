"""The paper's networks, each with continuous atoms or without (the baselines).

`pix2pix` (ResNet generator, PatchGAN), `cyclegan` (two generators, two discriminators), `cgan`
(label-conditional G(z, x) and D(image, x)), `basisgan` (BasisGAN-atom ablation), and `build`
(networks from a params.yaml `models:` entry, pix2pix weight init).
"""

from cfa.atoms import AtomSpec
from cfa.networks.basisgan import BasisResnetGenerator
from cfa.networks.build import build_discriminator, build_generator, init_weights
from cfa.networks.cgan import LabelConditionalGenerator, LabelProjectionDiscriminator
from cfa.networks.cyclegan import CycleGAN, build_cyclegan, build_cyclegan_from_params
from cfa.networks.pix2pix import PatchDiscriminator, ResnetGenerator

__all__ = ["AtomSpec", "ResnetGenerator", "PatchDiscriminator", "CycleGAN", "build_cyclegan",
           "build_cyclegan_from_params", "LabelConditionalGenerator", "LabelProjectionDiscriminator",
           "BasisResnetGenerator", "build_generator", "build_discriminator", "init_weights"]
