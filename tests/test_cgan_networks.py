"""Label-only networks on CcGAN's backbone (Eq. 7, Table 4): ours with atoms and the K-class cGAN.

Reference numbers were measured by instantiating the classes of `UBCDingXin/improved_CcGAN`
(UTKFace/UTKFace_64x64/{CcGAN,CcGAN-improved}/models/*.py) and counting their parameters.
"""

import copy
import io
import math

import pytest
import torch
from torch import nn

from cfa.continuity import measure_continuity
from cfa.errors import UserError
from cfa.layers import AtomConv2d
from cfa.networks import (AtomLabelGenerator, ClassLabelGenerator, ClassProjectionDiscriminator,
                          LabelProjectionDiscriminator, build_label_networks, ccgan_class_cutoffs)
from cfa.networks.cgan import ClassConditionalBatchNorm2d, LabelBins

AGES = torch.arange(1, 61, dtype=torch.float32) / 60  # CcGAN: ages 1..60 divided by max_age = 60
TINY = dict(z_dim=8, ngf=4)
TINY_ATOMS = dict(n_atoms=4, kernel_size=3)

CFA_ENTRY = {"objective": "label_only", "generator": {"z_dim": 8, "ngf": 4, "alpha": 1.0},
             "discriminator": {"ndf": 4},
             "atoms": {"n_atoms": 4, "kernel_size": 3, "ode_func": "authors", "method": "dopri5",
                       "rtol": 0.001, "atol": 0.001, "adjoint": False}}
CGAN_ENTRY = {"objective": "label_only", "generator": {"z_dim": 8, "ngf": 4, "n_classes": 20},
              "discriminator": {"ndf": 4}, "atoms": None}


def _z(batch, dim=8, seed=0):
    return torch.randn(batch, dim, generator=torch.Generator().manual_seed(seed))


def _cutoffs(n_classes=20):
    return ccgan_class_cutoffs(AGES, n_classes)


def _ccgan_binning_loop(unique_labels, n_classes):
    """CcGAN main.py:186-207 as written there (a loop over sorted unique labels), for comparison."""
    unique_labels = sorted(set(unique_labels))
    per_class = len(unique_labels) // n_classes
    label2class, cutoffs, current = {}, [unique_labels[0]], 0
    for i, u in enumerate(unique_labels):
        label2class[u] = current
        if (i + 1) % per_class == 0 and current + 1 != n_classes:
            current += 1
            cutoffs.append(unique_labels[i + 1])
    cutoffs.append(unique_labels[-1])
    return label2class, cutoffs


# --- shapes, ranges, layout ---------------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_ranges(size):
    torch.manual_seed(0)
    x = torch.tensor([0.1, 0.5, 0.9])
    gens = [AtomLabelGenerator(**TINY, size=size, **TINY_ATOMS),
            ClassLabelGenerator(n_classes=20, **TINY, size=size, class_cutoffs=_cutoffs())]
    discs = [LabelProjectionDiscriminator(ndf=4, size=size),
             LabelProjectionDiscriminator(ndf=4, size=size, label_embed_dim=16),
             ClassProjectionDiscriminator(n_classes=20, ndf=4, size=size, class_cutoffs=_cutoffs())]
    for gen in gens:
        y = gen(_z(3), x)
        assert y.shape == (3, 3, size, size)
        assert y.abs().max() <= 1 and y.std() > 0.05  # tanh output, not collapsed at init
        for disc in discs:
            out = disc(y, x)
            assert out.shape == (3,) and torch.isfinite(out).all()


def test_one_channel_and_scalar_label_broadcast():
    torch.manual_seed(0)
    gen = AtomLabelGenerator(**TINY, out_channels=1, size=16, **TINY_ATOMS).eval()
    disc = LabelProjectionDiscriminator(in_channels=1, ndf=4, size=16).eval()
    with torch.no_grad():
        y = gen(_z(2), 0.4)
        assert y.shape == (2, 1, 16, 16)
        assert torch.equal(y, gen(_z(2), torch.tensor([0.4, 0.4])))
        assert torch.equal(disc(y, 0.4), disc(y, torch.tensor([0.4, 0.4])))


def test_atom_generator_layout_is_ccgan_backbone_with_atoms_and_plain_bn():
    gen = AtomLabelGenerator(**TINY, size=64, **TINY_ATOMS)
    blocks = gen.backbone.blocks
    # CcGAN 64x64: 4 ResBlocks 16 -> 8 -> 4 -> 2 -> 1 times ngf, 2 convs each, plus the final conv.
    assert [(b.conv1.in_channels, b.conv1.out_channels) for b in blocks] == [(64, 32), (32, 16), (16, 8), (8, 4)]
    assert gen.atom_generator.atom_shape == (9, 4, 3, 3)
    atom_convs = [m for m in gen.modules() if isinstance(m, AtomConv2d)]
    assert len(atom_convs) == 9
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1) for m in gen.modules())
    assert not any(isinstance(m, (ClassConditionalBatchNorm2d, nn.Embedding)) for m in gen.modules())
    assert all(type(b.norm1) is nn.BatchNorm2d and b.norm1.affine for b in blocks)
    baseline = ClassLabelGenerator(n_classes=5, **TINY, size=64, class_cutoffs=[0, .2, .4, .6, .8, 1])
    assert all(isinstance(b.norm1, ClassConditionalBatchNorm2d) for b in baseline.backbone.blocks)
    assert not any(isinstance(m, AtomConv2d) for m in baseline.modules())


def test_label_reaches_atom_generator_only_through_the_atoms():
    torch.manual_seed(0)
    gen = AtomLabelGenerator(**TINY, size=16, alpha=0.0, **TINY_ATOMS).eval()
    z = _z(2)
    with torch.no_grad():
        assert torch.equal(gen(z, torch.tensor([0.1, 0.1])), gen(z, torch.tensor([0.9, 0.9])))
        gen.alpha = 2.0
        a = gen.atoms(torch.tensor([0.25]))
        assert torch.allclose(a, gen.atom_generator(torch.tensor([0.5])))


# --- behaviour ------------------------------------------------------------------------------------

def test_fixed_z_different_x_gives_different_outputs():
    torch.manual_seed(0)
    z = _z(1).expand(2, 8)
    gen = AtomLabelGenerator(**TINY, size=32, **TINY_ATOMS).eval()
    base = ClassLabelGenerator(n_classes=20, **TINY, size=32, class_cutoffs=_cutoffs()).eval()
    with torch.no_grad():
        y = gen(z, torch.tensor([10 / 60, 40 / 60]))
        assert (y[0] - y[1]).abs().mean() > 1e-3
        y = base(z, torch.tensor([10 / 60, 40 / 60]))  # classes 3 and 13
        # Small at init, as in CcGAN: the spectral norm of the (K, 2C) gamma/beta table divides
        # every gamma ~ 1 by about sqrt(K C), so classes differ by ~0.02 / sqrt(K C) before training.
        assert (y[0] - y[1]).abs().mean() > 1e-5
        y = base(z, torch.tensor([10 / 60, 12 / 60]))  # ages 10..12 share class 3: identical images
        assert torch.equal(y[0], y[1])


def test_same_inputs_are_deterministic_in_eval_mode():
    torch.manual_seed(0)
    nets = [AtomLabelGenerator(**TINY, size=32, **TINY_ATOMS).eval(),
            ClassLabelGenerator(n_classes=20, **TINY, size=32, class_cutoffs=_cutoffs()).eval()]
    x = torch.tensor([0.2, 0.7])
    with torch.no_grad():
        for gen in nets:
            assert torch.equal(gen(_z(2), x), gen(_z(2), x))
        disc = LabelProjectionDiscriminator(ndf=4, size=32).eval()
        image = gen(_z(2), x)
        assert torch.equal(disc(image, x), disc(image, x))


def test_training_mode_batchnorm_and_gradients_reach_atoms_ode_and_label_heads():
    torch.manual_seed(0)
    gen = AtomLabelGenerator(**TINY, size=16, n_atoms=4, adjoint=True)
    disc = LabelProjectionDiscriminator(ndf=4, size=16, label_embed_dim=8)
    x = torch.tensor([0.2, 0.7, 0.5])
    disc(gen(_z(3), x), x).mean().backward()
    for conv in (m for m in gen.modules() if isinstance(m, AtomConv2d)):
        assert conv.coefficients.grad.abs().sum() > 0
    assert gen.atom_generator.initial_atoms.grad.abs().sum() > 0
    for name, p in gen.atom_generator.func.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert disc.project.parametrizations.weight.original.grad.abs().sum() > 0
    assert all(p.grad is not None for p in disc.embed.parameters())


def test_continuity_lipschitz_ratio_bounded_on_fine_label_grid():
    """Ours: refining the grid 40x leaves the ratio bounded; the binned baseline's ratio explodes."""
    torch.manual_seed(0)
    z = _z(2)
    gen = AtomLabelGenerator(**TINY, size=16, **TINY_ATOMS)
    coarse = measure_continuity(gen, z, torch.linspace(0, 1, 6), progress=False)
    fine = measure_continuity(gen, z, torch.linspace(0.4, 0.6, 41), progress=False)  # step 0.005
    assert 0 < fine["max_ratio"] < 2 * coarse["max_ratio"]
    assert max(fine["pair_ratios"]) / min(fine["pair_ratios"]) < 2  # smooth, no spikes
    assert fine["atom_max_ratio"] < 2 * coarse["atom_max_ratio"]  # alpha = 1: D(x) is what G uses
    base = ClassLabelGenerator(n_classes=20, **TINY, size=16, class_cutoffs=_cutoffs())
    b_coarse = measure_continuity(base, z, torch.linspace(0, 1, 6), progress=False)
    b_fine = measure_continuity(base, z, torch.linspace(0.4, 0.6, 41), progress=False)
    assert b_fine["max_ratio"] > 10 * b_coarse["max_ratio"]  # a jump at a class boundary
    assert min(b_fine["pair_ratios"]) == 0  # flat inside a class


# --- the baseline's class binning -----------------------------------------------------------------

@pytest.mark.parametrize("n_classes", [60, 20, 7, 1])
def test_class_binning_matches_ccgan_loop_on_utkface_ages(n_classes):
    ages = list(range(1, 61))
    label2class, cutoffs = _ccgan_binning_loop(ages, n_classes)
    assert ccgan_class_cutoffs(ages, n_classes) == [float(c) for c in cutoffs]
    bins = LabelBins(n_classes, ccgan_class_cutoffs(AGES, n_classes))
    got = bins(AGES).tolist()
    assert got == [label2class[a] for a in ages]
    assert len(set(got)) == n_classes


def test_class_binning_documented_classes():
    # 60 classes (CcGAN's UTKFace run): one per age, class = age - 1.
    assert LabelBins(60, _cutoffs(60))(AGES).tolist() == list(range(60))
    # 20 classes (opts.py default): 3 ages each, class = (age - 1) // 3.
    assert LabelBins(20, _cutoffs(20))(AGES).tolist() == [(a - 1) // 3 for a in range(1, 61)]
    # 7 classes: 60 // 7 = 8 ages per class, the last class takes the remaining 12 (ages 49..60).
    assert LabelBins(7, _cutoffs(7))(AGES).tolist() == [min((a - 1) // 8, 6) for a in range(1, 61)]


def test_class_binning_between_labels_and_out_of_range_follows_sampling_rule():
    bins = LabelBins(20, _cutoffs(20))  # cutoffs 1, 4, 7, ..., 58, 60 (over 60)
    # Train_cGAN.py:165-182: [c_j, c_{j+1}) -> j; labels from float64 arithmetic still hit cutoffs.
    x = torch.tensor([3.5 / 60, 4 / 60, float(torch.tensor(4 / 60, dtype=torch.float64) - 1e-9), 59.5 / 60, 0.0, 2.0])
    assert bins(x).tolist() == [0, 1, 1, 19, 0, 19]


def test_class_binning_non_uniform_labels():
    labels = [0.0, 0.05, 0.07, 0.2, 0.21, 0.5, 0.55, 0.9, 1.0, 1.0, 0.2]  # 9 unique, repeats ignored
    label2class, cutoffs = _ccgan_binning_loop(labels, 4)
    bins = LabelBins(4, ccgan_class_cutoffs(labels, 4))
    unique = sorted(set(labels))
    assert bins(torch.tensor(unique)).tolist() == [label2class[u] for u in unique]


def test_class_binning_errors():
    with pytest.raises(UserError, match="only 3 distinct"):
        ccgan_class_cutoffs([0.1, 0.2, 0.3], 4)
    with pytest.raises(UserError, match="n_classes \\+ 1"):
        LabelBins(3, [0.0, 1.0])
    with pytest.raises(UserError, match="not set"):
        LabelBins(3)(torch.tensor([0.5]))


# --- init and sizes against CcGAN -----------------------------------------------------------------

def test_init_matches_ccgan_xavier():
    torch.manual_seed(0)
    base = ClassLabelGenerator(n_classes=5, z_dim=16, ngf=16, size=16, class_cutoffs=[0, .2, .4, .6, .8, 1])
    conv = base.backbone.blocks[0].conv1  # 64 -> 32, 3x3, xavier_uniform gain sqrt(2)
    xavier_std = math.sqrt(2) * math.sqrt(2 / (64 * 9 + 32 * 9))
    assert conv.weight.std().item() == pytest.approx(xavier_std, rel=0.05)
    gamma = base.backbone.blocks[0].norm1.embed.parametrizations.weight.original[:, :64]
    assert gamma.mean().item() == pytest.approx(1.0, abs=0.01)
    gen = AtomLabelGenerator(z_dim=16, ngf=16, size=16, n_atoms=8)
    atom_conv = gen.backbone.blocks[0].conv1
    filters = torch.einsum("oim,mkl->oikl", atom_conv.coefficients,
                           gen.atom_generator.initial(1)[0, 0])  # A . D(t0), what the layer applies at x = 0
    assert filters.std().item() == pytest.approx(xavier_std, rel=0.25)  # D(t0) is one N(0,1) draw of 72 numbers


def test_parameter_counts_at_64x64_against_ccgan():
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    cut = _cutoffs(60)
    # Same architecture as CcGAN's cGAN (60 classes): cond_cnn_generator(nz=128, num_classes=60) and
    # cond_cnn_discriminator(num_classes=60) have exactly these counts.
    assert n(ClassLabelGenerator(n_classes=60, z_dim=128, ngf=64, size=64, class_cutoffs=cut)) == 12_560_515
    assert n(ClassProjectionDiscriminator(n_classes=60, ndf=64, size=64, class_cutoffs=cut)) == 19_604_161
    # Continuous-label D: NLI cont_cond_cnn_discriminator 19,574,465; ILI 21,655,233 + net_y2h 67,328.
    assert n(LabelProjectionDiscriminator(ndf=64, size=64)) == 19_574_465
    assert n(LabelProjectionDiscriminator(ndf=64, size=64, label_embed_dim=128)) == 21_655_233 + 67_328
    # Ours: 8 atoms per 3x3 filter instead of 9 weights, no label embeddings, plus the ODE.
    ours = AtomLabelGenerator(z_dim=128, ngf=64, size=64, n_atoms=8)
    assert n(ours) == 12_022_939 and n(ours.atom_generator) == 846_936
    assert abs(n(ours) / 12_957_955 - 1) < 0.1  # CcGAN-improved cont_cond_cnn_generator(nz=128)


# --- builder and checkpoints ----------------------------------------------------------------------

def test_build_label_networks_from_entries():
    gen, disc = build_label_networks(CFA_ENTRY, size=32, channels=3)
    assert isinstance(gen, AtomLabelGenerator) and isinstance(disc, LabelProjectionDiscriminator)
    assert gen.alpha == 1.0 and gen.atom_generator.atom_shape == (7, 4, 3, 3)
    gen, disc = build_label_networks(CGAN_ENTRY, size=32, channels=3, train_labels=AGES)
    assert isinstance(gen, ClassLabelGenerator) and isinstance(disc, ClassProjectionDiscriminator)
    assert gen.bins.cutoffs.tolist() == disc.bins.cutoffs.tolist() == torch.tensor(_cutoffs(20)).tolist()
    x = torch.tensor([0.1, 0.9])
    assert disc(gen(_z(2), x), x).shape == (2,)


def test_build_label_networks_errors_name_the_key():
    cases = [(("generator", "ngf"), None, "ngf"), (("generator", "alpha"), None, "alpha"),
             (("discriminator", "ndf"), None, "ndf")]
    for (block, key), _, match in cases:
        bad = copy.deepcopy(CFA_ENTRY)
        del bad[block][key]
        with pytest.raises(UserError, match=match):
            build_label_networks(bad)
    bad = copy.deepcopy(CFA_ENTRY)
    bad["generator"]["n_classes"] = 60
    with pytest.raises(UserError, match="n_classes"):
        build_label_networks(bad)
    bad = copy.deepcopy(CGAN_ENTRY)
    del bad["generator"]["n_classes"]
    with pytest.raises(UserError, match="n_classes"):
        build_label_networks(bad)
    bad = copy.deepcopy(CFA_ENTRY)
    bad["generator"]["n_blocks"] = 9
    with pytest.raises(UserError, match="unknown key"):
        build_label_networks(bad)
    with pytest.raises(UserError, match="4 \\* 2\\^n"):
        build_label_networks(CFA_ENTRY, size=48)


def test_checkpoint_round_trip_carries_class_cutoffs():
    torch.manual_seed(0)
    gen, disc = build_label_networks(CGAN_ENTRY, size=16, train_labels=AGES)
    buffer = io.BytesIO()
    torch.save({"g": gen.state_dict(), "d": disc.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh_g, fresh_d = build_label_networks(CGAN_ENTRY, size=16)  # no labels: cutoffs come from the checkpoint
    with pytest.raises(UserError, match="not set"):
        fresh_g(_z(2), 0.5)
    fresh_g.load_state_dict(state["g"])
    fresh_d.load_state_dict(state["d"])
    gen.eval(), fresh_g.eval(), disc.eval(), fresh_d.eval()
    with torch.no_grad():
        x = torch.tensor([0.3, 0.8])
        assert torch.equal(gen(_z(2), x), fresh_g(_z(2), x))
        image = gen(_z(2), x)
        assert torch.equal(disc(image, x), fresh_d(image, x))
