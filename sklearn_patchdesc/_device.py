"""The devices the networks run on: ``"cpu"`` and ``"cuda"`` / ``"cuda:N"``.

Apart from :mod:`sklearn_patchdesc._training` (which re-exports
:func:`check_device`) so that :mod:`sklearn_patchdesc.persistence`, which
``_training`` imports, can check a saved model's device without importing it back.
"""
from __future__ import annotations

import torch

__all__ = ["check_device"]


def check_device(device):
    """Return ``device`` if torch knows it and it is present, else raise ValueError."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={device!r} is not supported: the networks here run on 'cpu' and 'cuda' "
            "('cuda:N') only.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but no CUDA device is available.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s).")
    return device
