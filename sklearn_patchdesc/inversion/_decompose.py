"""Split a network into the list of operations that feature inversion walks.

Seed 003 inverts a network one operation at a time (convolution, ReLU,
pooling...). Here a network is turned into a flat list of operations whose
composition is the network's forward pass:

- a fitted estimator is replaced by its torch module ``net_.module_``;
- a module with an ``inversion_operations()`` method gives its own list of
  ``(name, module)`` (the adapter protocol for modules whose ``forward`` is
  more than a chain, see :mod:`._adapters`);
- ``nn.Sequential`` containers are flattened recursively;
- any other module inside a ``Sequential`` is one atomic operation.
"""
from __future__ import annotations

from dataclasses import dataclass

from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._adapters import find_adapter

__all__ = ["Operation", "resolve_network", "decompose", "resolve_layer"]


@dataclass(frozen=True)
class Operation:
    """One operation of a decomposed network.

    Attributes
    ----------
    path : str
        Dotted position inside the network (``"3"``, ``"features.0"``...).
    alias : str
        Kind and rank, 1-based: ``conv1``, ``relu2``, ``pool1``, ``bn3``...
    module : torch.nn.Module
    """

    path: str
    alias: str
    module: nn.Module


def _kind(module):
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "deconv"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return "bn"
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._AdaptiveAvgPoolNd,
                           nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd)):
        return "pool"
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return "dropout"
    return type(module).__name__.lower()


def is_spatial(module):
    """True for operations that start a block: convolutions and poolings."""
    return _kind(module) in ("conv", "deconv", "pool")


def resolve_network(network):
    """Return the torch module of ``network`` (a module or a fitted estimator).

    Raises
    ------
    NotFittedError
        If ``network`` is an estimator that has not been fitted.
    TypeError
        If ``network`` is neither a torch module nor an estimator with ``net_``.
    """
    if isinstance(network, nn.Module):
        return network
    if hasattr(network, "fit") and hasattr(network, "get_params"):
        try:
            check_is_fitted(network)
        except NotFittedError as exc:
            raise NotFittedError(
                f"The network {type(network).__name__} is not fitted; fit it before "
                "inverting its features. (clone() returns unfitted copies: wrap a "
                "fitted estimator in sklearn.frozen.FrozenEstimator to keep it "
                "fitted through clone.)"
            ) from exc
        module = getattr(getattr(network, "net_", None), "module_", None)
        if isinstance(module, nn.Module):
            return module
        raise TypeError(
            f"The fitted estimator {type(network).__name__} has no torch module at "
            "net_.module_; pass the torch module to invert instead."
        )
    raise TypeError(
        "network must be a torch.nn.Module or a fitted estimator exposing "
        f"net_.module_ (e.g. L2NetDescriptor); got {type(network).__name__}."
    )


def _walk(module, prefix, out):
    if hasattr(module, "inversion_operations"):
        for name, op in module.inversion_operations():
            if isinstance(op, nn.Sequential):
                _walk(op, f"{prefix}{name}.", out)
            else:
                out.append((f"{prefix}{name}", op))
        return
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _walk(child, f"{prefix}{name}.", out)
        return
    out.append((prefix.rstrip("."), module))


def decompose(module):
    """Flatten ``module`` into its list of :class:`Operation`.

    Parameters
    ----------
    module : torch.nn.Module
        A ``Sequential`` (nested ones are flattened), a module with an
        ``inversion_operations()`` method, or a module a registered adapter
        knows.

    Returns
    -------
    operations : list of Operation

    Raises
    ------
    TypeError
        If the module's forward pass is not a known chain of operations.
    """
    adapter = find_adapter(module)
    if adapter is not None:
        pairs = adapter(module)
    elif hasattr(module, "inversion_operations") or isinstance(module, nn.Sequential):
        pairs = []
        _walk(module, "", pairs)
    elif not list(module.children()):
        pairs = [("0", module)]
    else:
        raise TypeError(
            f"Cannot split {type(module).__name__} into a chain of operations: it is "
            "not an nn.Sequential and has no inversion_operations() method. Pass an "
            "nn.Sequential whose forward equals the network's, or give the module an "
            "inversion_operations() method returning [(name, module), ...]."
        )
    counts, operations = {}, []
    for path, op in pairs:
        kind = _kind(op)
        counts[kind] = counts.get(kind, 0) + 1
        operations.append(Operation(path=str(path), alias=f"{kind}{counts[kind]}", module=op))
    if not operations:
        raise ValueError("The network has no operations to invert (empty Sequential).")
    return operations


def resolve_layer(layer, operations):
    """Index of ``layer`` (int, path or alias) in ``operations``.

    Raises
    ------
    ValueError
        If ``layer`` is out of range or names no operation.
    TypeError
        If ``layer`` is neither an int nor a str.
    """
    n = len(operations)
    listing = ", ".join(f"{i}:{op.alias}" for i, op in enumerate(operations))
    if isinstance(layer, bool) or not (isinstance(layer, str) or hasattr(layer, "__index__")):
        raise TypeError(f"layer must be an int index or an operation name; got {layer!r}.")
    if isinstance(layer, str):
        for i, op in enumerate(operations):
            if layer in (op.path, op.alias):
                return i
        raise ValueError(f"layer={layer!r} names no operation of the network ({listing}).")
    index = int(layer)
    if not -n <= index < n:
        raise ValueError(
            f"layer={index} is out of range: the network has {n} operations, "
            f"indices 0..{n - 1} (or -{n}..-1): {listing}."
        )
    return index % n
