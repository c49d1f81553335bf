"""Our continuous-filter-atom network computes what the authors' official code computes.

The reference below is written from the official files (seunghyunni/ECE570_final_project at
commit b6bc761, models/DCF.py and models/networks.py; docs/fidelity.md lists every line used), in
their parameter layout and names, independently of cfa: ConcatConv2d with t as the FIRST channel,
GroupNorm(min(36, C), C), Sigmoid, torchdiffeq odeint_adjoint (dopri5, rtol = atol = 1e-3) from 0
to t on a (1, C, 1, 1) state, the decomposed conv einsum('cvb,bkl->cvkl'), the ResNet block whose
first 3x3 conv is decomposed (BatchNorm, Dropout 0.5), the 9-block ResNet generator, and the
class-name rule of the official init_weights. Our weights are mapped into it by hand
(`official_state_dict`), then outputs are compared. Nothing is downloaded.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cfa.atoms import AtomGenerator, AtomSpec, AuthorsODEFunc
from cfa.networks.build import init_weights
from cfa.networks.pix2pix import ResnetGenerator

N_BLOCKS, N_ATOMS, K = 9, 8, 3
STATE = N_BLOCKS * N_ATOMS * K * K  # 648, the paper's state
RTOL = ATOL = 1e-3                  # official DCF.py line 87
PAPER_TS = [2.5 / 90, 0.25, 42.5 / 90]  # first, middle and last t of the official test sweep


# ---------------------------------------------------------------------------------------------
# The reference, in the official layout (module names and parameter shapes as in b6bc761)


class ConcatConv2d(nn.Module):
    """DCF.py lines 37-50: a conv over cat([t-plane, x]) (t FIRST)."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self._layer = nn.Conv2d(dim_in + 1, dim_out, kernel_size=1, stride=1, padding=0, bias=True)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1, :, :]) * t
        return self._layer(torch.cat([tt, x], 1))


class ODEfunc(nn.Module):
    """DCF.py lines 53-75 (norm = GroupNorm(min(36, dim), dim), line 31)."""

    def __init__(self, dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(36, dim), dim)
        self.relu = nn.Sigmoid()
        self.conv1 = ConcatConv2d(dim, dim)
        self.norm2 = nn.GroupNorm(min(36, dim), dim)
        self.conv2 = ConcatConv2d(dim, dim)
        self.norm3 = nn.GroupNorm(min(36, dim), dim)

    def forward(self, t, x):
        out = self.conv1(t, self.relu(self.norm1(x)))
        out = self.conv2(t, self.relu(self.norm2(out)))
        return self.norm3(out)


class ODEBlock(nn.Module):
    def __init__(self, odefunc):
        super().__init__()
        self.odefunc = odefunc


class RandBaseGenerator(nn.Module):
    """DCF.py lines 127-158: D(t0) `random_vec` (1, C, 1, 1), one solve 0 -> t, view (layers, m, k, k)."""

    def __init__(self, num_layers, num_bases, kernel_size):
        super().__init__()
        dim = num_layers * kernel_size * kernel_size * num_bases
        self.random_vec = nn.Parameter(torch.randn(1, dim, 1, 1))
        self.ode = ODEBlock(ODEfunc(dim))
        self.view_shape = (num_layers, num_bases, kernel_size, kernel_size)

    def forward(self, t: float):
        from torchdiffeq import odeint_adjoint

        times = torch.tensor([0.0, float(t)])  # DCF.py lines 151-154: t = [0, |R2 - R1|]
        out = odeint_adjoint(self.ode.odefunc, self.random_vec, times, rtol=RTOL, atol=ATOL)  # dopri5
        return out[1].view(self.view_shape)


class Conv_DCFre(nn.Module):  # noqa: N801  (the official class name: init_weights matches on "Conv")
    """DCF.py lines 278-321: weight (out, in, m); filter einsum('cvb,bkl->cvkl', weight, bases)."""

    def __init__(self, in_channels, out_channels, num_bases):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, num_bases) / in_channels ** 0.5)
        self.bias = None  # use_bias is False under BatchNorm (networks.py lines 218-221)
        self.bases = None

    def forward(self, x):
        return F.conv2d(x, torch.einsum("cvb,bkl->cvkl", self.weight, self.bases), None, 1, 0)


class ResnetBlockRe(nn.Module):
    """networks.py lines 336-376 with reflect padding, BatchNorm and dropout on."""

    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), Conv_DCFre(dim, dim, N_ATOMS), nn.BatchNorm2d(dim), nn.ReLU(True),
            nn.Dropout(0.5), nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=False),
            nn.BatchNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator_net(nn.Module):  # noqa: N801
    """networks.py lines 209-288 with odefunc=True, n_blocks=9, n_downsampling=2, BatchNorm."""

    def __init__(self, ngf):
        super().__init__()
        bn = functools.partial(nn.BatchNorm2d, affine=True)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=False), bn(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=False),
                      bn(ngf * mult * 2), nn.ReLU(True)]
        self.basis_gen_layers = []
        for _ in range(N_BLOCKS):
            model.append(ResnetBlockRe(ngf * 4))
            self.basis_gen_layers.append(model[-1].conv_block[1])
        self.basis_gen = RandBaseGenerator(N_BLOCKS, N_ATOMS, K)
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=False), bn(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x, t: float):
        for bases, layer in zip(self.basis_gen(t), self.basis_gen_layers):
            layer.bases = bases
        return self.model(x)


def official_init_weights(net, gain=0.02):
    """networks.py lines 44-62, init_type 'normal': the class-name rule."""
    def init_func(m):
        name = m.__class__.__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            nn.init.normal_(m.weight, 0.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.constant_(m.bias, 0.0)
    net.apply(init_func)
    return net


# ---------------------------------------------------------------------------------------------
# Our weights in the official layout


def t_first(weight_t_last: torch.Tensor) -> torch.Tensor:
    """Our (C, C+1) ConcatLinear weight (t LAST) as the official (C, C+1, 1, 1) conv weight (t FIRST)."""
    return torch.cat([weight_t_last[:, -1:], weight_t_last[:, :-1]], 1)[:, :, None, None]


def ode_func_state(func: AuthorsODEFunc, prefix: str = "") -> dict:
    s = {}
    for n in ("norm1", "norm2", "norm3"):
        s[f"{prefix}{n}.weight"] = getattr(func, n).weight
        s[f"{prefix}{n}.bias"] = getattr(func, n).bias
    for n in ("conv1", "conv2"):
        s[f"{prefix}{n}._layer.weight"] = t_first(getattr(func, n).linear.weight)
        s[f"{prefix}{n}._layer.bias"] = getattr(func, n).linear.bias
    return s


def _bn(prefix, bn):
    return {f"{prefix}.weight": bn.weight, f"{prefix}.bias": bn.bias, f"{prefix}.running_mean": bn.running_mean,
            f"{prefix}.running_var": bn.running_var, f"{prefix}.num_batches_tracked": bn.num_batches_tracked}


def official_state_dict(gen: ResnetGenerator) -> dict:
    """Our generator's weights under the official ResnetGenerator_net's state-dict names."""
    s = {"model.1.weight": gen.stem[1].weight, **_bn("model.2", gen.stem[2]),
         "model.4.weight": gen.down[0].weight, **_bn("model.5", gen.down[1]),
         "model.7.weight": gen.down[3].weight, **_bn("model.8", gen.down[4])}
    for i, block in enumerate(gen.blocks):
        p = f"model.{10 + i}.conv_block"
        s[f"{p}.1.weight"] = block.conv1.coefficients
        s.update(_bn(f"{p}.2", block.norm1))
        s[f"{p}.6.weight"] = block.conv2.weight
        s.update(_bn(f"{p}.7", block.norm2))
    s.update({"model.19.weight": gen.up[0].weight, **_bn("model.20", gen.up[1]),
              "model.22.weight": gen.up[3].weight, **_bn("model.23", gen.up[4]),
              "model.26.weight": gen.head[1].weight, "model.26.bias": gen.head[1].bias,
              "basis_gen.random_vec": gen.atom_generator.initial_atoms.view(1, -1, 1, 1)})
    s.update(ode_func_state(gen.atom_generator.func, "basis_gen.ode.odefunc."))
    return {k: v.detach().clone() for k, v in s.items()}


# ---------------------------------------------------------------------------------------------
# Helpers


def rel_max(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def _randomise_affine(module: nn.Module, seed: int) -> None:
    """Non-trivial GroupNorm/BatchNorm affine parameters, so a wrong mapping cannot hide behind 1 and 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))


def _atom_generator(seed: int = 0) -> AtomGenerator:
    torch.manual_seed(seed)
    gen = AtomGenerator(N_BLOCKS, N_ATOMS, K, ode_func="authors", method="dopri5", rtol=RTOL, atol=ATOL, adjoint=True)
    _randomise_affine(gen, seed)
    return gen


def _reference_atoms(gen: AtomGenerator) -> RandBaseGenerator:
    ref = RandBaseGenerator(N_BLOCKS, N_ATOMS, K)
    state = {"random_vec": gen.initial_atoms.detach().view(1, -1, 1, 1).clone(),
             **{k: v.detach().clone() for k, v in ode_func_state(gen.func, "ode.odefunc.").items()}}
    ref.load_state_dict(state, strict=True)
    return ref


def _solver_bound(ref: torch.Tensor) -> torch.Tensor:
    # Twice dopri5's per-step error control |err| <= atol + rtol |y|: adaptive solves taking
    # different step sequences agree to about this, not to float rounding.
    return 2 * (ATOL + RTOL * ref.abs())


# ---------------------------------------------------------------------------------------------
# f(D, t)


def test_ode_function_equals_official_on_the_paper_state():
    gen = _atom_generator()
    ref = _reference_atoms(gen).ode.odefunc
    assert ref.norm1.num_groups == gen.func.norm1.num_groups == 36
    g = torch.Generator().manual_seed(1)
    for t in (0.0, 2.5 / 90, 0.3, 1.0):
        d = torch.randn(1, STATE, generator=g) * 2
        with torch.no_grad():
            ours = gen.func(torch.tensor([t]), d)
            official = ref(torch.tensor(t), d.view(1, STATE, 1, 1)).view(1, STATE)
        assert rel_max(ours, official) < 1e-4, t
    # Per-sample t in one batch (ours) equals one official call per sample.
    ts = torch.tensor([0.1, 0.5, 0.9])
    d = torch.randn(3, STATE, generator=g)
    with torch.no_grad():
        ours = gen.func(ts, d)
        official = torch.cat([ref(t, d[i].view(1, STATE, 1, 1)).view(1, STATE) for i, t in enumerate(ts)])
    assert rel_max(ours, official) < 1e-4


def test_reference_mapping_is_not_vacuous():
    # Mapping t LAST onto t FIRST without moving the column, or normalising with other groups,
    # must show up: the test above can fail.
    gen = _atom_generator()
    ref = _reference_atoms(gen).ode.odefunc
    d = torch.randn(1, STATE)
    with torch.no_grad():
        ref.conv1._layer.weight.copy_(gen.func.conv1.linear.weight[:, :, None, None])
        ref.conv2._layer.weight.copy_(gen.func.conv2.linear.weight[:, :, None, None])
        assert rel_max(gen.func(torch.tensor([0.5]), d), ref(torch.tensor(0.5), d.view(1, STATE, 1, 1)).view(1, -1)) > 1e-2
        other = _reference_atoms(gen).ode.odefunc
        for n in ("norm1", "norm2", "norm3"):
            getattr(other, n).num_groups = 27
        assert rel_max(gen.func(torch.tensor([0.5]), d), other(torch.tensor(0.5), d.view(1, STATE, 1, 1)).view(1, -1)) > 1e-2


# ---------------------------------------------------------------------------------------------
# D(t) and its gradients


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "adjoint_grad"])
def test_atoms_equal_official_within_solver_tolerance(grad):
    gen = _atom_generator()
    ref = _reference_atoms(gen)
    with torch.set_grad_enabled(grad):
        ours_single = [gen(torch.tensor([t]))[0] for t in PAPER_TS]
        ours_batched = gen(torch.tensor(PAPER_TS))
        official = [ref(t) for t in PAPER_TS]
    for t, a, b, c in zip(PAPER_TS, ours_single, ours_batched, official):
        assert torch.all((a - c).abs() <= _solver_bound(c)), t
        assert torch.all((b - c).abs() <= _solver_bound(c)), t
        assert (c - ref.random_vec.view(c.shape)).abs().max() > 0.05  # the atoms really moved
    if not grad:
        # One t solved 0 -> t exactly as the official code does: the same steps, float rounding only.
        torch.testing.assert_close(torch.stack(ours_single), torch.stack(official), rtol=1e-5, atol=1e-5)


def test_atom_gradients_equal_official_within_solver_tolerance():
    gen = _atom_generator()
    ref = _reference_atoms(gen)
    probe = torch.randn(N_BLOCKS, N_ATOMS, K, K, generator=torch.Generator().manual_seed(2))
    for t in (0.4,):
        gen.zero_grad()
        ref.zero_grad()
        (gen(torch.tensor([t]))[0] * probe).sum().backward()
        (ref(t) * probe).sum().backward()
        assert rel_max(gen.initial_atoms.grad, ref.random_vec.grad.view(-1)) < 1e-2
        for n in ("conv1", "conv2"):
            ours = t_first(getattr(gen.func, n).linear.weight.grad)
            assert rel_max(ours, getattr(ref.ode.odefunc, n)._layer.weight.grad) < 1e-2
        assert rel_max(gen.func.norm2.weight.grad, ref.ode.odefunc.norm2.weight.grad) < 1e-2


# ---------------------------------------------------------------------------------------------
# The ResNet-9 generator with atoms


def _generators(ngf: int = 8, size: int = 32):
    torch.manual_seed(0)
    spec = AtomSpec(n_atoms=N_ATOMS, kernel_size=K, ode_func="authors", method="dopri5", rtol=RTOL, atol=ATOL,
                    adjoint=True)
    ours = ResnetGenerator(3, 3, ngf, N_BLOCKS, "batch", 0.5, spec)  # PyTorch default inits: O(1) activations
    _randomise_affine(ours, 3)
    with torch.no_grad():  # realistic BatchNorm running statistics for the eval-mode comparison
        ours.train()
        for _ in range(2):
            ours(torch.rand(2, 3, size, size) * 2 - 1, torch.rand(2))
    ref = ResnetGenerator_net(ngf)
    ref.load_state_dict(official_state_dict(ours), strict=True)
    return ours, ref


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_generator_equals_official(mode):
    ours, ref = _generators()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    for t in (2.5 / 90, 0.3):
        ours.train(mode == "train")
        ref.train(mode == "train")
        with torch.no_grad():
            # Train mode: BatchNorm on batch statistics and Dropout(0.5) on, as the official test.py
            # runs; the same seed gives both the same dropout masks (drawn in block order).
            torch.manual_seed(5)
            a = ours(x, t)
            torch.manual_seed(5)
            b = ref(x, t)
        assert rel_max(a, b) < 1e-4, (mode, t)
        assert b.std() > 1e-3 and (b.abs() < 0.99).float().mean() > 0.5  # neither flat nor saturated


def test_initial_coefficients_have_the_official_std():
    # Official: init_net re-draws Conv_DCFre.weight (A) as N(0, 0.02) by class name; ours must
    # start from the same distribution after cfa.networks.init_weights.
    ours, ref = _generators(ngf=16)
    init_weights(ours, gain=0.02)
    official_init_weights(ref, gain=0.02)
    a_ours = torch.cat([b.conv1.coefficients.detach().flatten() for b in ours.blocks])
    a_ref = torch.cat([ref.model[10 + i].conv_block[1].weight.detach().flatten() for i in range(N_BLOCKS)])
    n = a_ours.numel()  # 9 x 64 x 64 x 8 = 294912: the std's sampling error is 0.02 / sqrt(2 n) ~ 3e-5
    for a in (a_ours, a_ref):
        assert abs(a.std().item() - 0.02) < 10 * 0.02 / (2 * n) ** 0.5
        assert abs(a.mean().item()) < 10 * 0.02 / n ** 0.5
    # Left alone by both: D(t0) ~ N(0, 1) and GroupNorm affine (our randomised values survive).
    assert abs(ours.atom_generator.initial_atoms.std().item() - 1) < 0.1
    assert torch.equal(ref.basis_gen.random_vec.detach().view(-1), ours.atom_generator.initial_atoms.detach())
    for n in ("norm1", "norm2", "norm3"):
        assert torch.equal(getattr(ref.basis_gen.ode.odefunc, n).weight, getattr(ours.atom_generator.func, n).weight)
    # The ODE's 1x1 layers: N(0, 0.02), bias 0 on both sides.
    w_ours = ours.atom_generator.func.conv1.linear.weight
    w_ref = ref.basis_gen.ode.odefunc.conv1._layer.weight
    for w in (w_ours, w_ref):
        assert abs(w.std().item() - 0.02) < 5e-4
    assert not ours.atom_generator.func.conv1.linear.bias.any() and not ref.basis_gen.ode.odefunc.conv1._layer.bias.any()
