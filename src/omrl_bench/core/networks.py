"""Networks of the actor-critic: MLPs, twin Q, V and the tanh-Gaussian policy."""

from __future__ import annotations

import math

import torch
from torch import nn

from omrl_bench.core.precision import Float32Linear, float32_region

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def detached_params(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's parameters cut from the graph, for ``torch.func.functional_call`` (loss sees, never trains)."""
    return {k: v.detach() for k, v in module.named_parameters()}


def mlp(
    in_dim: int,
    out_dim: int,
    hidden: int,
    depth: int,
    activation: type[nn.Module] = nn.ReLU,
    float32_out: bool = True,
) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden``; the output layer stays float32 under bf16 autocast
    (``float32_out``; off for a trunk whose output is a hidden layer)."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), activation()]
        d = hidden
    layers.append(Float32Linear(d, out_dim) if float32_out else nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class BatchedMLP(nn.Module):
    """``members`` independent MLPs evaluated together: (members, n, in) -> (members, n, out).

    Used for per-task models (MBML's teachers and reward ensembles): the task axis is a
    tensor dimension, one batched matmul per layer instead of a Python loop over networks.
    Initialised like ``nn.Linear``; the output layer stays float32 under bf16 autocast.
    """

    def __init__(self, members: int, in_dim: int, out_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * depth + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(d_in)
            self.weights.append(nn.Parameter(torch.empty(members, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, d_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (m, n, in) through all members, or through the ``members`` selected (m indices)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if members is not None:
                w, b = w[members], b[members]
            if i < last:
                x = torch.relu(torch.baddbmm(b, x, w))
            else:
                with float32_region(x.device):
                    x = torch.baddbmm(b, x.float(), w)
        return x


def make_mlp(in_dim: int, out_dim: int, hidden: int, depth: int, members: int | None = None) -> nn.Module:
    """One MLP (``members`` None) or a ``BatchedMLP`` of ``members`` independent ones."""
    if members is None:
        return mlp(in_dim, out_dim, hidden, depth)
    return BatchedMLP(members, in_dim, out_dim, hidden, depth)


class TwinQ(nn.Module):
    """Two independent Q(s, a, z) networks (clipped double Q)."""

    def __init__(self, in_dim: int, hidden: int, depth: int, members: int | None = None) -> None:
        super().__init__()
        self.q1 = make_mlp(in_dim, 1, hidden, depth, members)
        self.q2 = make_mlp(in_dim, 1, hidden, depth, members)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class TanhGaussianPolicy(nn.Module):
    """pi(a | s, z): a Gaussian squashed by tanh; returns action, mean, log_std, log_prob, pre-tanh."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.trunk = mlp(in_dim, hidden, hidden, depth - 1, float32_out=False)
        self.act = nn.ReLU()
        self.mean = Float32Linear(hidden, action_dim)  # log-probabilities are computed in float32
        self.log_std = Float32Linear(hidden, action_dim)

    def forward(
        self, x: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.act(self.trunk(x))
        mean = self.mean(h)
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        if deterministic:
            pre = mean
        else:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            pre = mean + std * noise
        action = torch.tanh(pre)
        normal_logp = (-0.5 * ((pre - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_pi = normal_logp - torch.log(1 - action.pow(2) + 1e-6).sum(-1)
        return action, mean, log_std, log_pi, pre
