"""The continuous atom generator: filter atoms D(t) that evolve along a neural ODE.

The authors' design (REFERENCE.md section 1): one learnable initial state D(t0) holding the atoms
of every decomposed layer (n_layers x n_atoms x k x k numbers, N(0,1) init), and an ODE function
f(D, t; theta) made of GroupNorm, Sigmoid and 1x1 convolutions that see t as an extra constant
channel. D(t) is the end state of integrating dD/dt = f(D, t) from 0 to t (torchdiffeq).

The official code solves one t per batch. `AtomGenerator` solves a batch of different end times
in one call with the exact time rescaling s = tau / t_b, s in [0, 1]:

    dD_b/ds = t_b * f(D_b, s * t_b)

so every sample shares the integration interval [0, 1] while following its own trajectory. This is
exact (not an approximation) as long as f treats every sample independently, which holds because
GroupNorm normalises each sample on its own and the 1x1 convolutions act per sample. Only the
adaptive step-size control is shared across the batch, so batched and per-sample solves agree
within the solver tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from cfa.errors import UserError

ODE_FUNCS = ("authors", "mlp")
ODE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "euler", "midpoint", "rk4",
               "explicit_adams", "implicit_adams")


@dataclass(frozen=True)
class AtomSpec:
    """How a generator builds its atoms: the `atoms:` block of a params.yaml model entry."""

    n_atoms: int = 8
    kernel_size: int = 3
    ode_func: str = "authors"
    method: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-3
    adjoint: bool = False

    @classmethod
    def from_dict(cls, d: dict, where: str = "atoms") -> "AtomSpec":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(known)}")
        spec = cls(**d)
        spec.validate(where)
        return spec

    def validate(self, where: str = "atoms") -> None:
        if int(self.n_atoms) < 1:
            raise UserError(f"{where}.n_atoms = {self.n_atoms!r}: must be a positive integer")
        if int(self.kernel_size) < 1:
            raise UserError(f"{where}.kernel_size = {self.kernel_size!r}: must be a positive integer")
        if self.ode_func not in ODE_FUNCS:
            raise UserError(f"{where}.ode_func = {self.ode_func!r}: choose one of {list(ODE_FUNCS)}")
        if self.method not in ODE_METHODS:
            raise UserError(f"{where}.method = {self.method!r}: choose one of {list(ODE_METHODS)}")
        if not (self.rtol > 0 and self.atol > 0):
            raise UserError(f"{where}.rtol/atol = {self.rtol!r}/{self.atol!r}: both must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)


OFFICIAL_MAX_GROUPS = 36


def group_count(channels: int, max_groups: int = OFFICIAL_MAX_GROUPS) -> int:
    """GroupNorm groups for the ODE state: the official `min(36, C)`, or a fallback where it fails.

    The authors' ODE function normalises with `nn.GroupNorm(min(36, dim), dim)`
    (seunghyunni/ECE570_final_project @ b6bc761, models/DCF.py line 31, `norm`) on the state seen
    as (1, C, 1, 1): 36 groups of 18 numbers for the paper's C = 648 = 9 blocks x 8 atoms x 3 x 3.
    That rule works only where C is a multiple of 36 above 36 (with 8 atoms of 3x3 every block
    count gives a multiple of 72, so it always works there). Elsewhere the official code raises:
    GroupNorm(36, C) rejects a C that 36 does not divide (e.g. C = 45: 5 atoms of 3x3 in one block;
    C = 400: 16 atoms of 5x5), and for C <= 36 every group holds one number, which PyTorch refuses
    to normalise ("Expected more than 1 value per channel"; a one-number group would normalise to 0
    anyway). Our documented fallback for those sizes: the largest divisor of C not above 36 that
    leaves at least 2 numbers per group (45 -> 15, 400 -> 25, 36 -> 18, 37 -> 1). Wherever the
    official code runs, the result is its `min(36, C)`.
    """
    channels = int(channels)
    if channels < 2:
        raise UserError(f"the authors' ODE function needs a state of at least 2 numbers "
                        f"(n_layers x n_atoms x kernel_size^2), got {channels}")
    if channels > max_groups and channels % max_groups == 0:
        return max_groups  # the official rule
    for g in range(min(max_groups, channels // 2), 0, -1):
        if channels % g == 0:
            return g
    return 1


class _ConcatLinear(nn.Module):
    """A 1x1 convolution on a (B, C, 1, 1) state with t appended as one constant channel.

    On a 1x1 spatial map a 1x1 conv is a Linear layer; we keep the (C+1 -> C) weight shape of the
    authors' ConcatConv2d (models/DCF.py lines 37-50) and compute it as a matmul. The official
    layer puts t FIRST (`cat([t, x])`, DCF.py line 49); ours puts it LAST. The two are the same
    function once the weight's t column is moved: official[:, 0] == ours[:, -1] and
    official[:, 1:] == ours[:, :-1] (docs/fidelity.md; tests/test_official_fidelity.py maps it).
    """

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.linear = nn.Linear(dim_in + 1, dim_out)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([x, t.unsqueeze(1)], dim=1))


class AuthorsODEFunc(nn.Module):
    """f(D, t) = GN(conv_t(Sigmoid(GN(conv_t(Sigmoid(GN(D))))))), state (B, C) seen as (B, C, 1, 1).

    The official `ODEfunc` (models/DCF.py lines 53-75). GroupNorm groups follow `group_count`
    (36 for the paper's 648-number state, as DCF.py line 31); its affine parameters keep PyTorch's
    defaults (weight 1, bias 0), which the official `init_net` does not touch either.
    """

    def __init__(self, dim: int):
        super().__init__()
        groups = group_count(dim)
        self.norm1 = nn.GroupNorm(groups, dim)
        self.conv1 = _ConcatLinear(dim, dim)
        self.norm2 = nn.GroupNorm(groups, dim)
        self.conv2 = _ConcatLinear(dim, dim)
        self.norm3 = nn.GroupNorm(groups, dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # t: (B,) per-sample time; x: (B, C). GroupNorm on (B, C) normalises each sample alone.
        out = torch.sigmoid(self.norm1(x))
        out = self.conv1(t, out)
        out = torch.sigmoid(self.norm2(out))
        out = self.conv2(t, out)
        return self.norm3(out)


class MLPODEFunc(nn.Module):
    """A lighter alternative: f(D, t) = W2 [tanh(W1 [D, t]), t] with a hidden width of `hidden`."""

    def __init__(self, dim: int, hidden: int = 256):
        super().__init__()
        self.fc1 = _ConcatLinear(dim, hidden)
        self.fc2 = _ConcatLinear(hidden, dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(t, torch.tanh(self.fc1(t, x)))


class _RescaledDynamics(nn.Module):
    """dD/ds = t_b * f(D, s * t_b) on s in [0, 1]; counts function evaluations.

    One instance per solve: the adjoint backward pass calls it again later, so its end times must
    not be overwritten by another forward in between (CycleGAN calls a generator twice per step).
    """

    def __init__(self, func: nn.Module, end_times: torch.Tensor):
        super().__init__()
        self.func = func
        self.end_times = end_times
        self.nfe = 0

    def forward(self, s: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        t_b = self.end_times
        return t_b.unsqueeze(1) * self.func(s * t_b, state)


class _SharedTrajectoryDynamics(nn.Module):
    """dD/dt = f(D, t) for a single trajectory (state (1, C)); counts function evaluations."""

    def __init__(self, func: nn.Module, direction: float):
        super().__init__()
        self.func = func
        self.direction = direction
        self.nfe = 0

    def forward(self, tau: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        # Integrating towards negative t runs on tau = |t| with dD/dtau = -f(D, -tau).
        self.nfe += 1
        t = (self.direction * tau).reshape(1).expand(state.shape[0])
        return self.direction * self.func(t, state)


BATCHING_MODES = ("auto", "union", "rescale")


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class AtomGenerator(nn.Module):
    """Atoms for `n_layers` decomposed layers from one neural ODE shared by the whole generator.

    `gen(t)` with t a 1-D tensor of B end times returns atoms of shape
    (B, n_layers, n_atoms, kernel_size, kernel_size): sample b is D(t0) integrated from 0 to t[b],
    all samples in one solve. `gen.nfe` holds the number of ODE function evaluations of the last
    forward solve (0 when every t is 0: D(0) = D(t0) exactly, no solve is run).

    Every sample starts from the same D(t0) and follows the same dynamics, so all samples lie on ONE
    trajectory D(t) and differ only in where they read it. `batching="union"` therefore solves that
    single trajectory once over the sorted union of the requested times (torchdiffeq returns
    intermediate times from its dense output at no extra steps): a batch of 64 distinct t costs
    about one solve to max(t). `batching="rescale"` integrates every sample on s in [0, 1] with
    dD_b/ds = t_b f(D_b, s t_b) as a (B, C) state; it is exact too, reproduces per-sample solves
    bit-for-bit with fixed-step methods, and costs B times the arithmetic. `batching="auto"`
    (default) uses "rescale" when adjoint gradients will be needed (torchdiffeq's adjoint runs one
    backward solve per output time, ruinous for a union of 64 times: measured 43x) and "union"
    otherwise (no-grad sampling, direct backpropagation).

    The solve always runs in float32 with autocast disabled: adaptive step control in half
    precision is unreliable and the state is tiny.
    """

    def __init__(self, n_layers: int, n_atoms: int = 8, kernel_size: int = 3, ode_func: str = "authors",
                 method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-3, adjoint: bool = False,
                 batching: str = "auto"):
        super().__init__()
        if batching not in BATCHING_MODES:
            raise ValueError(f"batching {batching!r} is not one of {BATCHING_MODES}")
        self.batching = batching
        AtomSpec(n_atoms, kernel_size, ode_func, method, rtol, atol, adjoint).validate("AtomGenerator")
        if int(n_layers) < 1:
            raise UserError(f"AtomGenerator n_layers = {n_layers!r}: must be a positive integer")
        self.n_layers, self.n_atoms, self.kernel_size = int(n_layers), int(n_atoms), int(kernel_size)
        self.method, self.rtol, self.atol, self.adjoint = method, float(rtol), float(atol), bool(adjoint)
        self.ode_func_name = ode_func
        self.dim = self.n_layers * self.n_atoms * self.kernel_size ** 2
        # D(t0) ~ N(0, 1): official `random_vec` (models/DCF.py lines 135 and 147, std = 1.0); the
        # official init_net leaves it alone (its module's class name has no "Conv"), so does ours.
        self.initial_atoms = nn.Parameter(torch.randn(self.dim))
        self.func = AuthorsODEFunc(self.dim) if ode_func == "authors" else MLPODEFunc(self.dim)
        self.nfe = 0

    @classmethod
    def from_spec(cls, n_layers: int, spec: AtomSpec) -> "AtomGenerator":
        return cls(n_layers, spec.n_atoms, spec.kernel_size, spec.ode_func, spec.method, spec.rtol,
                   spec.atol, spec.adjoint)

    @property
    def atom_shape(self) -> tuple[int, int, int, int]:
        return (self.n_layers, self.n_atoms, self.kernel_size, self.kernel_size)

    def initial(self, batch: int = 1) -> torch.Tensor:
        """D(t0) shaped like the output of `forward`, for `batch` samples."""
        return self.initial_atoms.view(1, *self.atom_shape).expand(batch, *self.atom_shape)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.dim() == 0:
            t = t.unsqueeze(0)
        if t.dim() != 1:
            raise ValueError(f"AtomGenerator expects a 1-D tensor of end times, got shape {tuple(t.shape)}")
        world = _world_size() if self.training else 1
        if world > 1:
            # Data-parallel training: every rank solves for the whole batch's times, so all ranks
            # get the atoms (and adaptive solver steps) of a one-process run, then keeps its share.
            import torch.distributed as dist

            gathered = [torch.empty_like(t) for _ in range(world)]
            dist.all_gather(gathered, t.detach().contiguous())
            rank = dist.get_rank()
            return self._atoms(torch.cat(gathered))[rank * t.shape[0]:(rank + 1) * t.shape[0]]
        return self._atoms(t)

    def _atoms(self, t: torch.Tensor) -> torch.Tensor:
        batch = t.shape[0]
        device = self.initial_atoms.device
        with torch.autocast(device_type=device.type, enabled=False):
            t = t.to(device=device, dtype=torch.float32)
            y0 = self.initial_atoms.float().unsqueeze(0).expand(batch, self.dim).contiguous()
            if batch == 0 or not bool((t != 0).any()):
                # Zero-length integration: D(0) = D(t0). Skipping the solver keeps this exact and
                # cheap; gradient still reaches D(t0) through y0.
                self.nfe = 0
                return y0.view(batch, *self.atom_shape)
            mode = self.batching
            if mode == "auto":
                mode = "rescale" if self.adjoint and torch.is_grad_enabled() else "union"
            if mode == "rescale":
                return self._solve_rescaled(t, y0)
            return self._solve_union(t)

    def _odeint(self, dynamics: nn.Module, y0: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        from torchdiffeq import odeint, odeint_adjoint

        if self.adjoint:
            # Adjoint parameters are the ODE function's only: the end times are data, not weights.
            # The seminorm leaves the parameter-gradient channels out of the backward step-size
            # control (Kidger et al. 2021): same gradients to tolerance, fewer evaluations.
            return odeint_adjoint(dynamics, y0, times, rtol=self.rtol, atol=self.atol, method=self.method,
                                  adjoint_params=tuple(self.func.parameters()),
                                  adjoint_options={"norm": "seminorm"})
        return odeint(dynamics, y0, times, rtol=self.rtol, atol=self.atol, method=self.method)

    def _solve_union(self, t: torch.Tensor) -> torch.Tensor:
        batch = t.shape[0]
        unique_t, inverse = torch.unique(t, return_inverse=True)  # sorted ascending
        y0 = self.initial_atoms.float().unsqueeze(0)
        states = torch.empty(unique_t.shape[0], self.dim, device=t.device)
        self.nfe = 0
        parts = []
        for direction, mask in ((1.0, unique_t > 0), (-1.0, unique_t < 0)):
            if bool(mask.any()):
                idx = mask.nonzero().squeeze(1)
                if direction < 0:
                    idx = idx.flip(0)  # |t| ascending
                # One solve from 0 through every requested |t| in increasing order.
                times = torch.cat([unique_t.new_zeros(1), direction * unique_t[idx]])
                dynamics = _SharedTrajectoryDynamics(self.func, direction)
                ys = self._odeint(dynamics, y0, times)[1:, 0]
                self.nfe += dynamics.nfe
                parts.append((idx, ys))
        zero = (unique_t == 0).nonzero().squeeze(1)
        if zero.numel():
            parts.append((zero, y0.expand(zero.numel(), self.dim)))
        # index_put keeps the autograd graph of every part.
        for idx, ys in parts:
            states = states.index_put((idx,), ys)
        return states[inverse].view(batch, *self.atom_shape)

    def _solve_rescaled(self, t: torch.Tensor, y0: torch.Tensor) -> torch.Tensor:
        batch = t.shape[0]
        # Repeated end times (sampling one t for a whole batch) are solved once.
        unique_t, inverse = torch.unique(t, return_inverse=True)
        deduplicate = unique_t.numel() < batch
        if deduplicate:
            y0 = y0[: unique_t.numel()]
        dynamics = _RescaledDynamics(self.func, unique_t if deduplicate else t)
        states = self._odeint(dynamics, y0, torch.tensor([0.0, 1.0], device=t.device))
        self.nfe = dynamics.nfe
        end = states[-1]
        if deduplicate:
            end = end[inverse]
        return end.view(batch, *self.atom_shape)

    def extra_repr(self) -> str:
        return (f"n_layers={self.n_layers}, n_atoms={self.n_atoms}, kernel_size={self.kernel_size}, "
                f"ode_func={self.ode_func_name!r}, method={self.method!r}, rtol={self.rtol}, "
                f"atol={self.atol}, adjoint={self.adjoint}, batching={self.batching!r}")


__all__ = ["AtomSpec", "AtomGenerator", "BATCHING_MODES", "AuthorsODEFunc", "MLPODEFunc", "ODE_FUNCS", "ODE_METHODS",
           "OFFICIAL_MAX_GROUPS", "group_count"]

