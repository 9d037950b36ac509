"""HardNet / L2-Net / TFeat weights: the shipped ones by name, published ones from a file.

Files are read by the library's one weight loader
(:mod:`sklearn_patchdesc._state_dict`: a state dict, a ``.safetensors`` file,
or a PyTorch file read with ``torch.load(..., weights_only=True)``, never
unpickled in the unsafe sense). DagnyT/hardnet's checkpoints (``{"epoch": ...,
"state_dict": ...}``), ``kornia.feature.HardNet().state_dict()`` and state
dicts saved from ``nn.DataParallel`` (keys starting ``module.``) all load.
"""
from __future__ import annotations

from pathlib import Path

from .._shipped import resolve_shipped
from .._state_dict import load_weights
from ._modules import TFeat

__all__ = ["PRETRAINED_DIR", "load_hardnet_weights", "resolve_weights"]

#: the shipped descriptors: ``<name>.safetensors`` beside its model card ``<name>.json``
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def resolve_weights(pretrained):
    """Path of the weights file meant by ``pretrained`` (a shipped name or a path)."""
    return resolve_shipped(PRETRAINED_DIR, pretrained, "descriptor")


def _layout_name(module):
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
        A state dict, a ``.safetensors`` file, or a ``.pth`` / ``.pt`` file
        (read with ``weights_only=True``).

    Returns
    -------
    module : L2Net or TFeat

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be read as weights, or naming the first tensor
        whose name or shape does not match the network (nothing is copied then).
    """
    return load_weights(module, source, _layout_name(module), "HardNet weights")
