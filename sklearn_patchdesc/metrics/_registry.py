"""Teach scikit-learn our scorer names (it has no public registry; RFC #17168).

Two places hold the valid names, and both must learn ours:

1. ``sklearn.metrics._scorer._SCORERS``: the dict that ``get_scorer(name)``
   looks names up in (and ``get_scorer_names()`` lists).
2. Parameter validation: functions and estimators declare
   ``"scoring": [StrOptions(set(get_scorer_names())), callable, ...]``.  That
   set is built once, when the sklearn module defining the function/estimator
   is imported (in 1.9: ``cross_val_score``, ``cross_validate``,
   ``learning_curve``, ``validation_curve``, ``permutation_test_score``,
   ``BaseSearchCV`` / ``GridSearchCV`` / ``RandomizedSearchCV`` / halving
   searches, ``check_scoring``, ``permutation_importance``,
   ``SequentialFeatureSelector``, ``LogisticRegressionCV``, ``RidgeCV``,
   ``TunedThresholdClassifierCV``...).

So ``register_scorers`` (1) adds our scorers to ``_SCORERS`` -- any sklearn
module imported *later* then builds its sets with our names -- and (2) walks
the sklearn modules imported *earlier* and adds our names to every
``StrOptions`` constraint that holds the built-in scorer names.  Constraints
live in ``_parameter_constraints`` of classes and in the
``_skl_parameter_constraints`` attribute that ``@validate_params`` puts on
functions.  ``tests/test_metrics_registry.py`` checks both import orders in
fresh interpreters, so a scikit-learn release that moves these breaks loudly.
"""
from __future__ import annotations

import inspect
import sys

__all__ = ["register_scorers"]

# Names every scikit-learn release has; a StrOptions holding them all is a
# "valid scorer names" constraint.
_MARKERS = frozenset({"accuracy", "roc_auc", "neg_mean_squared_error", "r2"})


def _scorer_constraints(constraints):
    from sklearn.utils._param_validation import Hidden, StrOptions

    for options in (constraints or {}).values():
        for c in options if isinstance(options, (list, tuple)) else ():
            c = c.constraint if isinstance(c, Hidden) else c
            if isinstance(c, StrOptions) and _MARKERS <= c.options:
                yield c


def register_scorers(scorers):
    """Make ``scorers`` (name -> callable) usable as ``scoring=`` strings.

    Idempotent.

    Parameters
    ----------
    scorers : dict of str to callable
        Scorer name -> scorer ``(estimator, X, y) -> float``.

    Returns
    -------
    n_updated : int
        Number of already-built parameter validation sets that now accept the names.
    """
    from sklearn.metrics import _scorer

    _scorer._SCORERS.update(scorers)
    names = set(scorers)
    seen, n = set(), 0
    for modname, module in list(sys.modules.items()):
        if not modname.startswith("sklearn") or module is None:
            continue
        for obj in list(vars(module).values()):
            holders = [obj]
            if inspect.isclass(obj):
                holders += [m for m in vars(obj).values() if callable(m)]
            for h in holders:
                for attr in ("_parameter_constraints", "_skl_parameter_constraints"):
                    cons = getattr(h, attr, None) if (attr != "_parameter_constraints"
                                                      or inspect.isclass(h)) else None
                    if not isinstance(cons, dict):
                        continue
                    for c in _scorer_constraints(cons):
                        if id(c) not in seen:
                            seen.add(id(c))
                            c.options |= names
                            n += 1
    return n
