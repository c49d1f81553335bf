"""The neural-ODE atom generator: batching, t = 0, gradients, adjoint, specs."""

import pytest
import torch

from cfa.atoms import AtomGenerator, AtomSpec, group_count
from cfa.errors import UserError


def _gen(**kw):
    torch.manual_seed(0)
    return AtomGenerator(n_layers=2, n_atoms=4, kernel_size=3, **kw)


@pytest.mark.parametrize("ode_func", ["authors", "mlp"])
def test_rescaled_batch_equals_per_sample_solves_fixed_grid(ode_func):
    # With a fixed-step solver every sample sees the same s-grid, batched or alone, so the
    # rescaling must reproduce the per-sample solves to float rounding.
    gen = _gen(ode_func=ode_func, method="rk4", batching="rescale")
    ts = torch.tensor([0.05, 0.3, 0.0, 0.9, 0.6])
    with torch.no_grad():
        batched = gen(ts)
        single = torch.cat([gen(t.reshape(1)) for t in ts])
    assert batched.shape == (5, 2, 4, 3, 3)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
    # Different t must give different atoms, otherwise the comparison would be vacuous.
    assert (batched[1] - batched[3]).abs().max() > 1e-2


@pytest.mark.parametrize("batching", ["union", "rescale"])
@pytest.mark.parametrize("ode_func,tolerance", [("authors", 1e-3), ("mlp", 1e-4)])
def test_batched_solve_equals_per_sample_solves_adaptive(batching, ode_func, tolerance):
    # dopri5 shares its step-size control across the batch (and "union" reads intermediate times
    # from the dense output): agreement within the solver's global error (measured 2e-4 for the
    # authors' function, rescale). The authors' function runs on its official 648-number state (36 groups of 18): on a tiny
    # state its GroupNorm groups hold 2 numbers each, normalise to +-1, and f becomes a step function.
    torch.manual_seed(0)
    size = dict(n_layers=9, n_atoms=8) if ode_func == "authors" else dict(n_layers=2, n_atoms=4)
    gen = AtomGenerator(kernel_size=3, ode_func=ode_func, rtol=1e-5, atol=1e-5, batching=batching, **size)
    ts = torch.tensor([0.05, 0.3, 0.0, 0.9, 0.6])
    with torch.no_grad():
        batched = gen(ts)
        single = torch.cat([gen(t.reshape(1)) for t in ts])
        moved = (batched - gen.initial(5)).abs().max()
    torch.testing.assert_close(batched, single, rtol=0, atol=tolerance)
    assert moved > 50 * tolerance  # the atoms really moved, far beyond the tolerance


@pytest.mark.parametrize("batching", ["union", "rescale"])
def test_solve_matches_plain_integration_from_0_to_t(batching):
    from torchdiffeq import odeint

    gen = _gen(ode_func="mlp", rtol=1e-7, atol=1e-7, batching=batching)
    func = gen.func
    y0 = gen.initial_atoms.detach().unsqueeze(0)
    ts = torch.tensor([0.7, -0.4, 0.2])
    with torch.no_grad():
        ours = gen(ts).reshape(3, -1)
        for i, t_end in enumerate(ts):
            direct = odeint(lambda t, y: func(t.reshape(1), y), y0, torch.stack([torch.tensor(0.0), t_end]),
                            rtol=1e-7, atol=1e-7)[-1]
            torch.testing.assert_close(ours[i:i + 1], direct, rtol=1e-4, atol=1e-4)


def test_t_zero_returns_initial_atoms_exactly():
    gen = _gen()
    out = gen(torch.zeros(3))
    assert torch.equal(out, gen.initial(3))
    assert gen.nfe == 0
    mixed = gen(torch.tensor([0.0, 0.5]))
    assert torch.equal(mixed[0], gen.initial(1)[0])
    assert gen.nfe > 0


@pytest.mark.parametrize("batching", ["auto", "union", "rescale"])
@pytest.mark.parametrize("adjoint", [False, True])
def test_gradients_reach_initial_atoms_and_ode_parameters(adjoint, batching):
    gen = _gen(adjoint=adjoint, batching=batching)
    out = gen(torch.tensor([0.2, 0.8]))
    (out ** 2).sum().backward()
    assert gen.initial_atoms.grad is not None and gen.initial_atoms.grad.abs().sum() > 0
    for name, p in gen.func.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_adjoint_and_direct_gradients_agree_with_two_solves_before_backward():
    # Two forwards before one backward (CycleGAN's identity pass does this): each adjoint solve must
    # keep its own end times for the backward pass.
    grads = []
    for adjoint in (False, True):
        gen = _gen(ode_func="mlp", adjoint=adjoint, rtol=1e-6, atol=1e-6)
        assert gen.batching == "auto"
        first = gen(torch.tensor([0.4, 0.9]))
        second = gen(torch.tensor([0.05]))
        (first.pow(2).sum() + second.sum()).backward()
        grads.append([gen.initial_atoms.grad.clone(), gen.func.fc1.linear.weight.grad.clone()])
    for direct, adjoint in zip(*grads):
        torch.testing.assert_close(direct, adjoint, rtol=1e-3, atol=1e-3)


def test_solve_stays_float32_under_autocast():
    gen = _gen()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gen(torch.tensor([0.5]))
    assert out.dtype == torch.float32


def test_same_seed_same_atoms():
    a = _gen()(torch.tensor([0.3]))
    b = _gen()(torch.tensor([0.3]))
    assert torch.equal(a, b)


def test_authors_size_state_and_nfe_reported():
    gen = AtomGenerator(n_layers=9)  # 9 x 8 x 3 x 3 = 648 numbers
    assert gen.initial_atoms.numel() == 648
    # Official GroupNorm(min(36, 648), 648): models/DCF.py line 31.
    assert [gen.func.norm1.num_groups, gen.func.norm2.num_groups, gen.func.norm3.num_groups] == [36, 36, 36]
    gen(torch.rand(4))
    assert gen.nfe >= 6  # dopri5 uses at least one step of 6 evaluations


def test_group_count_is_the_official_rule_with_a_fallback():
    # min(36, C) wherever the official GroupNorm(min(36, C), C) runs on a (1, C, 1, 1) state ...
    for c in (72, 144, 360, 648, 1296):
        assert group_count(c) == min(36, c) == 36
    # ... and the largest divisor of C not above 36 with at least 2 numbers per group elsewhere.
    assert [group_count(c) for c in (45, 400, 36, 37, 18, 2)] == [15, 25, 18, 1, 9, 1]
    for c in range(2, 500):
        g = group_count(c)
        assert c % g == 0 and g <= 36 and c // g >= 2
        assert all(c % h for h in range(g + 1, min(36, c // 2) + 1))
    with pytest.raises(UserError, match="at least 2"):
        group_count(1)
    gen = AtomGenerator(n_layers=1, n_atoms=5, kernel_size=3)  # C = 45: the official code fails here
    assert gen.func.norm1.num_groups == 15
    assert gen(torch.tensor([0.3])).shape == (1, 1, 5, 3, 3)


def test_spec_errors_name_the_key():
    with pytest.raises(UserError, match="ode_func"):
        AtomSpec.from_dict({"ode_func": "nope"})
    with pytest.raises(UserError, match="unknown key"):
        AtomSpec.from_dict({"n_atom": 8})
    spec = AtomSpec.from_dict({"n_atoms": 4, "method": "rk4"})
    assert spec.n_atoms == 4 and spec.to_dict()["method"] == "rk4"


@pytest.mark.parametrize("batching", ["union", "rescale"])
def test_repeated_end_times_are_solved_once_and_broadcast(batching):
    gen = _gen(method="rk4", batching=batching)
    ts = torch.tensor([0.5, 0.2, 0.5, 0.5])
    with torch.no_grad():
        out = gen(ts)
        alone = gen(torch.tensor([0.2, 0.5])).flip(0)
    assert out.shape == (4, 2, 4, 3, 3)
    torch.testing.assert_close(out[[0, 2, 3]], alone[0].expand(3, -1, -1, -1, -1))
    torch.testing.assert_close(out[1], alone[1])
