"""Networks with and without atoms: shapes at 64 and 256, gradients, seeding, builders, continuity.

The label-only (cGAN) networks are tested in test_cgan_networks.py.
"""

import copy
from pathlib import Path

import pytest
import torch
import yaml

from cfa.atoms import AtomSpec
from cfa.continuity import measure_continuity
from cfa.errors import UserError
from cfa.layers import AtomConv2d
from cfa.networks import (AtomLabelGenerator, BasisResnetGenerator, PatchDiscriminator, ResnetGenerator,
                          build_cyclegan, build_cyclegan_from_params, build_discriminator, build_generator,
                          init_weights)

SPEC = AtomSpec(n_atoms=4, kernel_size=3)
ROOT = Path(__file__).resolve().parents[1]


def _images(batch, size, channels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("size,batch", [(64, 2), (256, 1)])
@pytest.mark.parametrize("atoms", [None, SPEC])
def test_pix2pix_shapes(size, batch, atoms):
    torch.manual_seed(0)
    gen = ResnetGenerator(ngf=4, n_blocks=2, atoms=atoms)
    disc = PatchDiscriminator(in_channels=6, ndf=4, n_layers=3)
    x = _images(batch, size)
    y = gen(x, torch.rand(batch))
    assert y.shape == x.shape and y.abs().max() <= 1
    patches = size // 8 - 2  # 3 stride-2 convs then two 4x4 stride-1 convs with padding 1
    assert disc(torch.cat([x, y], 1)).shape == (batch, 1, patches, patches)
    assert (gen.atom_generator is None) == (atoms is None)


def test_pix2pix_atom_layout():
    gen = ResnetGenerator(ngf=4, n_blocks=3, atoms=SPEC)
    assert gen.atom_generator.atom_shape == (3, 4, 3, 3)
    for block in gen.blocks:
        assert isinstance(block.conv1, AtomConv2d) and not isinstance(block.conv2, AtomConv2d)
    baseline = ResnetGenerator(ngf=4, n_blocks=3, atoms=None)
    assert baseline.stem[1].in_channels == 4  # t enters as one extra constant channel


def test_t_changes_output_and_scalar_t_broadcasts():
    torch.manual_seed(0)
    for atoms in (None, SPEC):
        gen = ResnetGenerator(ngf=4, n_blocks=2, atoms=atoms, dropout=0.0).eval()
        x = _images(2, 32)
        with torch.no_grad():
            a, b = gen(x, torch.tensor([0.1, 0.1])), gen(x, 0.9)
            assert torch.equal(a, gen(x, 0.1))
        assert (a - b).abs().max() > 1e-4


def test_gradients_reach_coefficients_initial_atoms_and_ode():
    torch.manual_seed(0)
    gen = ResnetGenerator(ngf=4, n_blocks=2, atoms=AtomSpec(n_atoms=4, adjoint=True))
    gen(_images(2, 32), torch.tensor([0.3, 0.7])).pow(2).mean().backward()
    for block in gen.blocks:
        assert block.conv1.coefficients.grad.abs().sum() > 0
    assert gen.atom_generator.initial_atoms.grad.abs().sum() > 0
    for name, p in gen.atom_generator.func.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_same_seed_same_outputs():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        gens = [ResnetGenerator(ngf=4, n_blocks=2, atoms=SPEC), BasisResnetGenerator(ngf=4, n_blocks=1, n_atoms=4),
                AtomLabelGenerator(z_dim=8, ngf=4, size=32, n_atoms=SPEC.n_atoms, kernel_size=SPEC.kernel_size)]
        x, z = _images(2, 32), torch.randn(2, 8)
        outs.append([gens[0](x, torch.tensor([0.2, 0.5])), gens[1](x, torch.tensor([0.2, 0.5])),
                     gens[2](z, torch.tensor([0.2, 0.5]))])
    for a, b in zip(*outs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("size,batch", [(64, 2), (256, 1)])
def test_cyclegan_shapes(size, batch):
    torch.manual_seed(0)
    nets = build_cyclegan(ngf=4, n_blocks=1, ndf=4, atoms=SPEC)
    assert nets.G_A.atom_generator is not nets.G_B.atom_generator
    x = _images(batch, size)
    t = torch.rand(batch)
    fake_b = nets.G_A(x, t)
    rec_a = nets.G_B(fake_b, t)
    assert fake_b.shape == rec_a.shape == x.shape
    assert nets.D_A(fake_b).shape == nets.D_B(rec_a).shape == (batch, 1, size // 8 - 2, size // 8 - 2)


@pytest.mark.parametrize("size,batch", [(64, 2), (256, 1)])
def test_basisgan_shapes_and_fresh_atoms(size, batch):
    torch.manual_seed(0)
    gen = BasisResnetGenerator(ngf=4, n_blocks=1, n_atoms=4, dropout=0.0).eval()
    x = _images(batch, size)
    with torch.no_grad():
        a, b = gen(x, torch.zeros(batch)), gen(x, torch.zeros(batch))
    assert a.shape == x.shape
    assert (a - b).abs().max() > 1e-6  # a new N(0, I) draw each forward


def _model_entries():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return params["models"]


def test_build_from_params_yaml_entries():
    # Label-only entries build with build_label_networks instead: tests/test_label_only.py.
    entries = {k: v for k, v in _model_entries().items() if v.get("objective") != "label_only"}
    for name, entry in entries.items():
        entry = copy.deepcopy(entry)
        entry["generator"].update(ngf=4, n_blocks=2)
        entry["discriminator"].update(ndf=4)
        gen = build_generator(entry, in_channels=3, out_channels=3)
        disc = build_discriminator(entry, in_channels=6)
        x = _images(2, 32)
        y = gen(x, torch.rand(2))
        assert y.shape == x.shape, name
        assert disc(torch.cat([x, y], 1)).shape[0] == 2
        if entry["generator"].get("arch", "resnet") == "basisgan":
            assert isinstance(gen, BasisResnetGenerator), name
        else:
            assert (gen.atom_generator is not None) == (entry["atoms"] is not None), name
    entry["generator"]["arch"] = "basisgan"
    assert isinstance(build_generator(entry), BasisResnetGenerator)
    assert isinstance(build_cyclegan_from_params(entry).G_A, ResnetGenerator)


def test_build_errors_name_the_key():
    entry = copy.deepcopy(next(iter(_model_entries().values())))
    bad = copy.deepcopy(entry)
    del bad["generator"]["ngf"]
    with pytest.raises(UserError, match="ngf"):
        build_generator(bad)
    bad = copy.deepcopy(entry)
    bad["atoms"] = {"n_atoms": 8, "kernel_size": 5}
    bad["generator"].pop("condition", None)  # an atoms entry takes t through the atoms
    with pytest.raises(UserError, match="kernel_size"):
        build_generator(bad)
    bad = copy.deepcopy(entry)
    bad["generator"]["condition"] = "label"
    with pytest.raises(UserError, match="condition"):
        build_generator(bad)
    both = copy.deepcopy(entry)  # atoms and the t channel together: allowed, t enters both ways
    both["atoms"] = {"n_atoms": 8, "kernel_size": 3}
    both["generator"].update(condition="channel", ngf=4, n_blocks=1)
    assert build_generator(both).stem[1].in_channels == 4
    bad = copy.deepcopy(entry)
    bad["generator"]["arch"] = "unet"
    with pytest.raises(UserError, match="arch"):
        build_generator(bad)


def test_generator_condition_none_ignores_t_and_channel_takes_it():
    """`generator.condition`: none = the paper's label-free baseline, channel = t as an input channel."""
    torch.manual_seed(0)
    entries = _model_entries()
    base = copy.deepcopy(entries["pix2pix"])
    base["generator"].update(ngf=4, n_blocks=2)
    assert base["generator"]["condition"] == "none" and base["generator"]["dropout"] == 0.0
    plain = build_generator(base).eval()
    assert plain.stem[1].in_channels == 3 and not plain.takes_condition
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())  # official Dropout(0.0)
    x = _images(2, 32)
    with torch.no_grad():
        assert torch.equal(plain(x, torch.tensor([0.1, 0.9])), plain(x, 0.5))
    labelled = copy.deepcopy(entries["pix2pix-label"])
    labelled["generator"].update(ngf=4, n_blocks=2)
    gen = build_generator(labelled).eval()
    assert gen.stem[1].in_channels == 4 and gen.takes_condition
    # An entry without `condition` keeps working as before: t as a channel.
    del labelled["generator"]["condition"]
    assert build_generator(labelled).stem[1].in_channels == 4
    ours = copy.deepcopy(entries["pix2pix-cfa"])
    ours["generator"].update(ngf=4, n_blocks=2)
    with_atoms = build_generator(ours)
    assert with_atoms.takes_condition and with_atoms.stem[1].in_channels == 3
    with pytest.raises(UserError, match="condition"):
        build_generator({**base, "generator": {**base["generator"], "condition": "label"}})


def test_init_weights_follows_the_official_init_net():
    # Official init_net (models/networks.py lines 44-62): every "Conv"/"Linear" weight N(0, 0.02),
    # the decomposed conv's A included; BatchNorm N(1, 0.02); D(t0) and GroupNorm untouched.
    torch.manual_seed(0)
    gen = ResnetGenerator(ngf=16, n_blocks=3, atoms=AtomSpec(n_atoms=8, kernel_size=3))
    d0 = gen.atom_generator.initial_atoms.detach().clone()
    gn = gen.atom_generator.func.norm1
    init_weights(gen, gain=0.02)
    coeffs = torch.cat([b.conv1.coefficients.detach().flatten() for b in gen.blocks])
    # 3 x 64 x 64 x 8 = 98304 draws: the std's sampling error is about 0.02 / sqrt(2 n) = 5e-5.
    assert abs(coeffs.std().item() - 0.02) < 5e-4 and abs(coeffs.mean().item()) < 5e-4
    assert torch.equal(gen.atom_generator.initial_atoms, d0)
    assert abs(d0.std().item() - 1) < 0.1  # D(t0) ~ N(0, 1), 216 numbers
    assert torch.equal(gn.weight, torch.ones_like(gn.weight)) and torch.equal(gn.bias, torch.zeros_like(gn.bias))
    linear = gen.atom_generator.func.conv1.linear
    assert abs(linear.weight.std().item() - 0.02) < 0.002 and torch.equal(linear.bias, torch.zeros_like(linear.bias))
    plain = gen.blocks[0].conv2.weight
    assert abs(plain.std().item() - 0.02) < 0.002
    bn = gen.blocks[0].norm1
    assert abs(bn.weight.mean().item() - 1) < 0.02 and torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_measure_continuity_fresh_generator():
    torch.manual_seed(0)
    gen = ResnetGenerator(ngf=4, n_blocks=2, atoms=SPEC)
    gen.train()
    ts = [0.0, 0.25, 0.5, 0.75, 1.0]
    report = measure_continuity(gen, _images(1, 32), ts, progress=False)
    assert gen.training  # mode restored
    assert report["ts"] == ts and len(report["pair_ratios"]) == 4
    assert report["max_ratio"] == max(report["pair_ratios"]) > 0
    assert len(report["atom_pair_ratios"]) == 4 and report["atom_max_ratio"] > 0
    assert report["nfe"][0] == 0 and report["max_nfe"] > 0
    # The ratio must be the actual finite difference of the outputs.
    gen.eval()
    with torch.no_grad():
        x = _images(1, 32)
        diff = (gen(x, torch.tensor([0.25])) - gen(x, torch.tensor([0.0]))).norm().item() / 0.25
    assert report["pair_ratios"][0] == pytest.approx(diff, rel=1e-4)


def test_measure_continuity_baseline_and_basisgan():
    torch.manual_seed(0)
    base = measure_continuity(ResnetGenerator(ngf=4, n_blocks=1), _images(2, 16), [0.5, 0.0, 1.0], progress=False)
    assert base["ts"] == [0.0, 0.5, 1.0] and base["atom_pair_ratios"] is None and base["max_nfe"] == 0
    # Reseeding per forward makes the stochastic BasisGAN comparable: same t -> zero change.
    basis = BasisResnetGenerator(ngf=4, n_blocks=1, n_atoms=2)
    rep = measure_continuity(basis, _images(1, 16), [0.0, 1e-6], progress=False)
    assert rep["max_ratio"] < 1e3
    with pytest.raises(ValueError, match="two distinct"):
        measure_continuity(basis, _images(1, 16), [0.3, 0.3])
