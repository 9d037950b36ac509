"""Numeric precision of the networks: float32, or mixed bf16 / fp16 under autocast.

One ``precision`` parameter, shared by every network estimator, picks how
forward passes run:

``"fp32"``
    float32 everywhere (the default; bit-reproducible on one machine).
``"bf16"``
    forward passes under ``torch.autocast(dtype=torch.bfloat16)`` with float32
    master weights; needs hardware with bf16 units (a CPU with AVX512-BF16 /
    AMX, or a CUDA GPU that reports bf16 support). Without them bf16 is
    emulated and slower than float32 -- on this project's AMD EPYC (Zen 3) CI
    cores an L2-Net training step ran ~10x slower in bf16 and a bf16 matrix
    product ~100x slower than float32 (``benchmarks/bench_describe_throughput.py
    --precision fp32,bf16``) -- so it is refused there, never a silent slowdown.
``"fp16"``
    float16 autocast with a gradient scaler, CUDA only (on CPU float16 has no
    fast kernels and no gradient scaling is needed for bf16: refused).
``"auto"``
    ``"bf16"`` where the device has bf16 units, else ``"fp32"``.

What stays in float32 whatever the precision: the weights and optimizer state,
the network outputs given to every loss (so distance matrices, hardest-negative
mining and the losses themselves run in float32), the final L2 normalisation
of a descriptor (see :class:`~sklearn_patchdesc.describe.L2Net`) and every
array the estimators return.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "resolve_precision", "autocast", "full_precision", "grad_scaler",
           "has_native_bf16"]

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _device_type(device):
    return torch.device(device).type


def has_native_bf16(device="cpu"):
    """True when ``device`` computes bf16 in hardware (not emulated).

    On CPU: oneDNN's own test for AVX512-BF16 / AMX-BF16 units. On CUDA:
    ``torch.cuda.is_bf16_supported()`` (compute capability 8.0 and newer).
    """
    kind = _device_type(device)
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if kind == "cpu":
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision, device="cpu"):
    """The concrete precision (``"fp32"``, ``"bf16"`` or ``"fp16"``) used on ``device``.

    Parameters
    ----------
    precision : {"fp32", "bf16", "fp16", "auto"}
    device : str or torch.device, default="cpu"

    Returns
    -------
    precision : str

    Raises
    ------
    ValueError
        For an unknown name, ``"fp16"`` off CUDA, or ``"bf16"`` where the
        device has no bf16 units (the message names the device and the way out).
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; "
                         f"got {precision!r}.")
    kind = _device_type(device)
    if precision == "auto":
        return "bf16" if has_native_bf16(device) else "fp32"
    if precision == "fp16" and kind != "cuda":
        raise ValueError(
            f"precision='fp16' runs on CUDA only (device={str(device)!r}): CPUs have no fast "
            "float16 kernels. Use precision='bf16' on a CPU with bf16 units, or 'auto'.")
    if precision == "bf16" and not has_native_bf16(device):
        raise ValueError(
            f"precision='bf16' but device={str(device)!r} has no bf16 units (a CPU needs "
            "AVX512-BF16 or AMX, a GPU compute capability 8.0+); emulated bf16 is several times "
            "slower than float32. Use precision='fp32', or 'auto' to get bf16 only where it "
            "is fast.")
    return precision


def autocast(device, precision):
    """Context running forward passes in ``precision`` (a resolved name) on ``device``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device_type(device), dtype=_DTYPES[precision])


def full_precision(device):
    """Context that turns autocast off: the float32 islands (losses, normalisation)."""
    return torch.autocast(device_type=_device_type(device), enabled=False)


def grad_scaler(device, precision):
    """A ``torch.amp.GradScaler`` for fp16 training, else None (bf16 needs no scaling)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(_device_type(device))
