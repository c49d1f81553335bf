"""The paper's networks, each with continuous atoms or without (the baselines).

`pix2pix` (ResNet generator, PatchGAN), `cyclegan` (two generators, two discriminators), `cgan`
(label-only G(z, x) and D(image, x) on CcGAN's backbone: ours with atoms, the K-class cGAN
baseline; `build_label_networks` builds them), `basisgan` (BasisGAN-atom ablation), and `build`
(networks from a params.yaml `models:` entry, pix2pix weight init).
"""

from cfa.atoms import AtomSpec
from cfa.networks.basisgan import BasisResnetGenerator
from cfa.networks.build import build_discriminator, build_generator, init_weights
from cfa.networks.cgan import (AtomLabelGenerator, ClassLabelGenerator, ClassProjectionDiscriminator,
                               LabelProjectionDiscriminator, build_label_networks, ccgan_class_cutoffs)
from cfa.networks.cyclegan import CycleGAN, build_cyclegan, build_cyclegan_from_params
from cfa.networks.pix2pix import PatchDiscriminator, ResnetGenerator

__all__ = ["AtomSpec", "ResnetGenerator", "PatchDiscriminator", "CycleGAN", "build_cyclegan",
           "build_cyclegan_from_params", "AtomLabelGenerator", "ClassLabelGenerator", "LabelProjectionDiscriminator",
           "ClassProjectionDiscriminator", "build_label_networks", "ccgan_class_cutoffs",
           "BasisResnetGenerator", "build_generator", "build_discriminator", "init_weights"]
