"""Utilities: the list of the library's public estimators and their check set-up.

:func:`all_estimators` is what ``tests/test_estimator_checks.py`` runs
scikit-learn's ``parametrize_with_checks`` over; the expected failures of
those checks, each with its reason, live in one place:
:mod:`sklearn_patchdesc.utils.estimator_checks`.
"""
from __future__ import annotations

import importlib
import inspect

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]

#: packages whose public (``__all__``) names may be estimators
_PACKAGES = ("denoise", "describe", "inversion", "model_selection", "pipeline")


def all_estimators(type_filter=None):
    """Public estimator classes of sklearn_patchdesc, sorted by name.

    Parameters
    ----------
    type_filter : {"transformer", "search"}, optional
        ``"transformer"`` keeps classes with ``transform``; ``"search"`` keeps
        the hyper-parameter searches (meta-estimators that take an estimator).

    Returns
    -------
    estimators : list of (name, class)
        Every concrete ``BaseEstimator`` subclass listed in the ``__all__`` of
        ``denoise``, ``describe``, ``inversion``, ``model_selection`` and
        ``pipeline`` (a package that is not importable is skipped).
    """
    found = {}
    for package in _PACKAGES:
        try:
            mod = importlib.import_module(f"sklearn_patchdesc.{package}")
        except ModuleNotFoundError:
            continue
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if (isinstance(obj, type) and issubclass(obj, BaseEstimator)
                    and not inspect.isabstract(obj) and not name.startswith("_")):
                found[name] = obj
    out = sorted(found.items())
    if type_filter == "transformer":
        out = [(n, c) for n, c in out if hasattr(c, "transform")]
    elif type_filter == "search":
        out = [(n, c) for n, c in out if "estimator" in inspect.signature(c).parameters]
    elif type_filter is not None:
        raise ValueError(f"type_filter must be None, 'transformer' or 'search'; got {type_filter!r}.")
    return out
