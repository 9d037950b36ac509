"""The package's environment variables: one prefix, ``SKPD_``.

Every variable the library, its examples, docs build and benchmarks read is
``SKPD_<NAME>``. Two were documented under the long prefix
``SKLEARN_PATCHDESC_`` before the package settled on ``SKPD_``
(``SKLEARN_PATCHDESC_CACHE``, ``SKLEARN_PATCHDESC_SPLITS``); they still work,
with a ``DeprecationWarning``, and the ``SKPD_`` name wins when both are set.
"""
from __future__ import annotations

import os
import warnings

__all__ = ["PREFIX", "getenv"]

PREFIX = "SKPD_"
_OLD_PREFIX = "SKLEARN_PATCHDESC_"
#: names documented under the old prefix, still read from it (with a warning)
_DOCUMENTED_UNDER_OLD_PREFIX = frozenset({"CACHE", "SPLITS"})


def getenv(name, default=None):
    """The value of ``SKPD_<name>`` (or of its deprecated long name), else ``default``.

    Parameters
    ----------
    name : str
        The name without prefix, e.g. ``"CACHE"``.
    default : object, default=None

    Returns
    -------
    value : str or default
    """
    value = os.environ.get(PREFIX + name)
    if value is not None:
        return value
    if name in _DOCUMENTED_UNDER_OLD_PREFIX:
        old = os.environ.get(_OLD_PREFIX + name)
        if old is not None:
            warnings.warn(f"the environment variable {_OLD_PREFIX}{name} is deprecated and "
                          f"will stop working; set {PREFIX}{name} instead.",
                          DeprecationWarning, stacklevel=2)
            return old
    return default
