"""The neural-ODE atom generator: batching, t = 0, gradients, adjoint, specs."""

import pytest
import torch

from cfa.atoms import AtomGenerator, AtomSpec
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
@pytest.mark.parametrize("ode_func,tolerance", [("authors", 1e-2), ("mlp", 1e-4)])
def test_batched_solve_equals_per_sample_solves_adaptive(batching, ode_func, tolerance):
    # dopri5 shares its step-size control across the batch (and "union" reads intermediate times
    # from the dense output): agreement within the solver's global error. The authors' GroupNorm
    # dynamics on a tiny test state are stiffer, hence the looser bound.
    gen = _gen(ode_func=ode_func, rtol=1e-5, atol=1e-5, batching=batching)
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
    gen = AtomGenerator(n_layers=9)  # 9 x 8 x 3 x 3 = 648 numbers, GroupNorm needs a divisor of 648
    assert gen.initial_atoms.numel() == 648
    gen(torch.rand(4))
    assert gen.nfe >= 6  # dopri5 uses at least one step of 6 evaluations


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
