"""Weights shipped inside the package: one rule for every kind of network.

A shipped network is ``<folder>/<name>.safetensors`` (weights only:
safetensors never runs code) beside ``<folder>/<name>.json``, its model card.
The descriptors live in ``describe/pretrained``, the denoisers in
``denoise/pretrained``; each package names its folder and what it holds
(``kind``, used in messages).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["shipped_names", "shipped_path", "shipped_card", "resolve_shipped"]


def shipped_names(folder):
    """Sorted names of the networks shipped in ``folder`` (weights and card both present)."""
    return sorted(p.stem for p in Path(folder).glob("*.safetensors")
                  if p.with_suffix(".json").is_file())


def shipped_path(folder, name, kind):
    """The weights file of shipped ``name``; ValueError listing the names if there is none."""
    names = shipped_names(folder)
    if name not in names:
        raise ValueError(f"no pretrained {kind} named {name!r}; available: "
                         f"{', '.join(map(repr, names)) or 'none'} (or pass a path to a "
                         "weights file).")
    return Path(folder) / f"{name}.safetensors"


def shipped_card(folder, name, kind):
    """The model card (a dict) of shipped ``name``."""
    return json.loads(shipped_path(folder, name, kind).with_suffix(".json").read_text())


def resolve_shipped(folder, pretrained, kind):
    """Path of the weights meant by ``pretrained``: a shipped name, or a file path."""
    if isinstance(pretrained, (str, os.PathLike)):
        if isinstance(pretrained, str) and pretrained in shipped_names(folder):
            return Path(folder) / f"{pretrained}.safetensors"
        path = Path(pretrained)
        if path.suffix in (".pth", ".pt", ".safetensors") or path.exists():
            if not path.is_file():
                raise FileNotFoundError(f"weights file not found: {path}")
            return path
        shipped_path(folder, str(pretrained), kind)  # raises, listing the shipped names
    raise TypeError(f"pretrained must be a shipped name, a path or None; got {pretrained!r}.")
