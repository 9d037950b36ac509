"""Adapters: operation lists for modules whose forward is more than a chain.

:func:`~._decompose.decompose` walks ``nn.Sequential`` containers. A network
whose ``forward`` does a little more (here: L2-Net resizes patches of another
size before its ``features`` chain) is described as an equivalent list of
``(name, module)`` operations, without touching the network's own code.
Adapters are looked up by class name, so this package does not import the
packages whose networks it adapts.

A network that sets an integer ``input_size`` attribute is inverted only on
patches of that size (the chain alone would silently give other shapes).
"""
from __future__ import annotations

__all__ = ["register_adapter", "find_adapter"]

_ADAPTERS = {}


def register_adapter(class_name, adapter):
    """Register ``adapter(module) -> [(name, module), ...]`` for a class name."""
    _ADAPTERS[class_name] = adapter


def find_adapter(module):
    """The adapter registered for ``type(module)`` (or a base class), or None."""
    for cls in type(module).__mro__:
        if cls.__name__ in _ADAPTERS:
            return _ADAPTERS[cls.__name__]
    return None


def _l2net_operations(module):
    # describe._modules.L2Net.forward = optional resize to input_size, then
    # standardize, features (6 x conv/BN/act, dropout, 8x8 conv, BN), flatten,
    # normalize; at input_size this chain is the forward.
    from torch import nn

    return ([("standardize", module.standardize)]
            + [(f"features.{name}", child) for name, child in module.features.named_children()]
            + [("flatten", nn.Flatten(1)), ("normalize", module.normalize)])


register_adapter("L2Net", _l2net_operations)
