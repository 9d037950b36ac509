"""The one weight loader: network weights from a file or a dict, read safely, checked by name.

Every network that takes published weights (HardNet / L2-Net / TFeat
descriptors, TernausNet's VGG encoder, the VGG16 / AlexNet feature
extractors, the shipped denoisers) reads them here:

- :func:`read_state_dict` accepts a state dict, a ``.safetensors`` file or a
  PyTorch file read with ``torch.load(..., weights_only=True)`` -- PyTorch's
  restricted loader, which refuses to run code, so no file is ever unpickled
  in the unsafe sense; DagnyT/hardnet checkpoints (``{"state_dict": ...}``)
  and ``nn.DataParallel`` keys (``module.`` prefix) are unwrapped;
- :func:`matched_state` checks the tensors against the network's own state
  dict and names the first missing, misshapen or extra tensor;
- :func:`load_weights` does both and copies the tensors in (all or nothing).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["read_state_dict", "select_prefix", "matched_state", "load_weights"]


def read_state_dict(source, what="network weights"):
    """Return a ``{name: tensor}`` dict from a state dict or a weights file.

    Parameters
    ----------
    source : dict or path-like
        A state dict, a ``.safetensors`` file, or a ``.pth`` / ``.pt`` file
        (read with ``weights_only=True``).
    what : str, default="network weights"
        What the file should hold, for messages (e.g. ``"VGG16 weights"``).

    Returns
    -------
    state : dict of str to Tensor
        ``module.`` prefixes removed.

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
            raise FileNotFoundError(f"the {what} file {str(path)!r} does not exist (nothing is "
                                    "ever downloaded: pass the path of a weights file).")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise ValueError(f"cannot read {str(path)!r} as {what} (safetensors, or a PyTorch "
                             f"state dict readable with weights_only=True): {exc}") from exc
        where = repr(str(path))
    else:
        state, where = source, "the given state dict"
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # DagnyT/hardnet checkpoint layout
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{where} holds no state dict (a mapping of names to tensors).")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{where}: entry {key!r} is a {type(value).__name__}, not a tensor.")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def select_prefix(state, prefix, layout):
    """The tensors under ``prefix`` (e.g. ``"features."``), the prefix removed.

    Raises
    ------
    ValueError
        If no tensor name starts with ``prefix``.
    """
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        raise ValueError(f"the weights have no '{prefix}N.weight' keys; expected the layout "
                         f"of {layout} (they hold {len(state)} tensors, e.g. "
                         f"{sorted(state)[:3]}).")
    return out


def matched_state(expected, state, layout, prefix=""):
    """``state`` checked against the network's state dict ``expected``, in its dtypes.

    Parameters
    ----------
    expected : dict of str to Tensor
        The network's ``state_dict()``.
    state : dict of str to Tensor
        The weights read (:func:`read_state_dict`).
    layout : str
        The layout the weights should follow, named in messages.
    prefix : str, default=""
        Put before tensor names in messages (the prefix :func:`select_prefix`
        removed), so a message names the tensor as the file does.

    Returns
    -------
    state : dict of str to Tensor
        One tensor per key of ``expected``, cast to its dtype.

    Raises
    ------
    ValueError
        Naming the first tensor the network needs that the weights lack, the
        first whose shape differs, or the first the network does not have.
    """
    for key, tensor in expected.items():
        if key not in state:
            raise ValueError(
                f"the weights have no tensor '{prefix}{key}' (shape {tuple(tensor.shape)}) that "
                f"the network needs; they hold {len(state)} tensors, e.g. "
                f"{[prefix + k for k in sorted(state)[:3]]}. Expected the layout of {layout}.")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"tensor '{prefix}{key}' has shape {tuple(state[key].shape)} in the weights but "
                f"{tuple(tensor.shape)} in the network (expected the layout of {layout}; the "
                "output size, input size or architecture differ).")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ValueError(f"the weights hold tensors the network does not have, first "
                         f"'{prefix}{extra[0]}' ({len(extra)} in all); expected the layout "
                         f"of {layout}.")
    return {k: state[k].to(dtype=v.dtype) for k, v in expected.items()}


def load_weights(module, source, layout, what="network weights"):
    """Copy the weights of ``source`` into ``module`` (in place, all or nothing).

    Parameters
    ----------
    module : torch.nn.Module
    source : dict or path-like
        See :func:`read_state_dict`.
    layout : str
        The layout the weights should follow, named in messages.
    what : str, default="network weights"

    Returns
    -------
    module : torch.nn.Module
    """
    state = matched_state(module.state_dict(), read_state_dict(source, what), layout)
    with torch.no_grad():
        for key, tensor in module.state_dict().items():
            tensor.copy_(state[key])
    return module
