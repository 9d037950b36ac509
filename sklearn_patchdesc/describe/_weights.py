"""Loading published HardNet / L2-Net weights into :class:`L2Net`, safely.

Accepted sources: a state dict (``{name: tensor}``), a ``.safetensors`` file,
or a PyTorch file (``.pth`` / ``.pt``) read with ``torch.load(...,
weights_only=True)`` -- PyTorch's restricted loader that accepts tensors and
plain containers and refuses to run code, so no file is ever unpickled in the
unsafe sense. DagnyT/hardnet's checkpoints (``{"epoch": ..., "state_dict":
...}``), ``kornia.feature.HardNet().state_dict()`` and state dicts saved from
``nn.DataParallel`` (keys starting ``module.``) all load.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_hardnet_weights", "read_state_dict"]


def read_state_dict(source):
    """Return a ``{name: tensor}`` dict from a state dict or a weights file.

    Parameters
    ----------
    source : dict or path-like
        A state dict, a ``.safetensors`` file, or a ``.pth`` / ``.pt`` file
        (read with ``weights_only=True``).

    Returns
    -------
    state : dict of str to Tensor

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be read as weights, or holds no tensors.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise ValueError(f"cannot read {path} as network weights (safetensors, or a "
                             f"PyTorch state dict readable with weights_only=True): {exc}"
                             ) from exc
        where = str(path)
    else:
        state, where = source, "the state dict"
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # DagnyT/hardnet checkpoint layout
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{where} holds no state dict (a mapping of names to tensors).")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{where}: entry {key!r} is a {type(value).__name__}, not a tensor.")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def _layout_name(module):
    from ._modules import TFeat

    if isinstance(module, TFeat):
        return "kornia.feature.TFeat"
    return "DagnyT/hardnet or kornia.feature.HardNet"


def load_hardnet_weights(module, source):
    """Copy HardNet / L2-Net (or TFeat) weights into a trunk (in place).

    The key layout is DagnyT/hardnet's and ``kornia.feature.HardNet``'s
    (``features.0.weight`` ... ``features.20.running_var``), which is also the
    layout of :class:`L2Net`'s ``features``; a :class:`TFeat` takes
    ``kornia.feature.TFeat``'s (``features.1``, ``features.4``, ``descr.0``).

    Parameters
    ----------
    module : L2Net or TFeat
    source : dict or path-like
        See :func:`read_state_dict`.

    Returns
    -------
    module : L2Net or TFeat

    Raises
    ------
    ValueError
        Naming the first tensor whose name or shape does not match the
        network (nothing is copied then).
    """
    state = read_state_dict(source)
    own = module.state_dict()
    for key, tensor in own.items():
        if key not in state:
            raise ValueError(
                f"the weights have no tensor {key!r} (shape {tuple(tensor.shape)}) that the "
                f"network needs; they hold {len(state)} tensors, e.g. {sorted(state)[:3]}. "
                f"Expected the layout of {_layout_name(module)}.")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"tensor {key!r} has shape {tuple(state[key].shape)} in the weights but "
                f"{tuple(tensor.shape)} in the network (out_features, input_size or the "
                "architecture differ).")
    extra = sorted(set(state) - set(own))
    if extra:
        raise ValueError(f"the weights hold tensors the network does not have, first "
                         f"{extra[0]!r} ({len(extra)} in all).")
    with torch.no_grad():
        for key, tensor in own.items():
            tensor.copy_(state[key].to(dtype=tensor.dtype))
    return module
