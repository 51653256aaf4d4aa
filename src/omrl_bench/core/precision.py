"""Mixed precision: ``fp32`` (float32 throughout) or ``bf16`` (bfloat16 autocast for the forward passes).

With ``bf16`` the hidden layers' matmuls run in bfloat16 under ``torch.autocast``, on CPU and CUDA. What
bfloat16 breaks stays in float32 (measured by ``benchmarks/bench_precision.py``, see
``docs/results/benchmarks.md``):

- parameters, gradients and optimiser state (autocast casts copies of the float32 master weights);
- every network's output layer (``Float32Linear`` and the last layer of ``BatchedMLP``): Q and V values,
  the policy's mean and log-std, the divergence critic's logits, the encoders' embeddings, the VAEs' and
  reward models' outputs. bfloat16 keeps 8 significant bits, so a Q value near 1000 would be rounded to a
  multiple of 4;
- everything computed from those outputs: Q targets, log-probabilities, the KL dual estimate, the DML
  distances and every loss reduction (elementwise ops on float32 tensors stay float32 under autocast);
- matmuls inside losses, which autocast would otherwise lower: the InfoNCE logits run in ``float32_region``.

No gradient scaler is needed: bfloat16 has float32's exponent range.

bf16 pays only where the CPU has native bfloat16 arithmetic (oneDNN's AVX-512 kernels and up; the `cpu`
preset's 2.4x to 3.0x was measured on an AVX-512 BF16 machine). On an AVX2-only CPU oneDNN has no bfloat16
kernels and autocast is emulated: there a `cpu`-preset step is about 13x slower in bf16 than in fp32, and a
run says so before it starts (``bf16_warning``).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """The forward-pass context of a run: bfloat16 autocast for ``bf16``, nothing for ``fp32``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` has fast bfloat16 matmuls: oneDNN's bfloat16 kernels on CPU (AVX-512 or newer),
    ``torch.cuda.is_bf16_supported`` on CUDA. Where torch cannot tell, true (no warning on a guess)."""
    try:
        if device.type == "cpu":
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        if device.type == "cuda":
            return bool(torch.cuda.is_bf16_supported())
    except (AttributeError, RuntimeError):
        pass
    return True


def bf16_warning(device: torch.device, precisions: set[str]) -> str | None:
    """A one-line warning when runs about to start in bf16 would emulate it (None otherwise)."""
    if "bf16" not in precisions or native_bf16(device):
        return None
    capability = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else device.type
    return (
        f"this {device.type.upper()} ({capability}) has no native bfloat16, so bf16 runs emulate it and take "
        "about 13x longer than fp32 (a cpu-preset step); add --precision fp32"
    )


def float32_region(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """A region that runs in float32 even inside ``autocast`` (a no-op when autocast is off)."""
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is of a lower-precision float type (float64 stays float64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class Float32Linear(nn.Linear):
    """An output layer that stays float32 under autocast (same parameters and state-dict keys as ``nn.Linear``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with float32_region(x.device):
            return super().forward(x.float())
