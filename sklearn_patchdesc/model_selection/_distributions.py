"""Turn ``RandomizedSearchCV``-style ``param_distributions`` into optuna distributions.

The mapping (also stated in :class:`~sklearn_patchdesc.model_selection.TPESearchCV`):

==============================================  ===========================================
``param_distributions`` value                   optuna distribution
==============================================  ===========================================
``scipy.stats.uniform(loc, scale)``             ``FloatDistribution(loc, loc + scale)``
``scipy.stats.loguniform(a, b)`` (loc = 0)      ``FloatDistribution(a*scale, b*scale, log=True)``
``scipy.stats.randint(low, high)``              ``IntDistribution(low, high - 1)``
other frozen continuous, bounded support        ``FloatDistribution(*support)``, warns
other frozen discrete, bounded support          ``IntDistribution(*support)``, warns
frozen distribution with unbounded support      ``ValueError``
list / tuple / 1-D array                        ``CategoricalDistribution``
optuna ``Float/Int/CategoricalDistribution``    used as is
anything else (str, objects with ``rvs`` ...)   ``TypeError``
==============================================  ===========================================

TPE only uses the bounds of a range (its prior is uniform there, or log-uniform
with ``log=True``), which is why other bounded scipy distributions keep only their
support and trigger a ``UserWarning``. Categorical choices that optuna cannot store
(anything but None, bool, int, float, str; e.g. tuples or estimators) are stored
as their index in the list and decoded back to the original object.
A list of dicts (several sub-spaces, as in ``RandomizedSearchCV``) adds a
categorical optuna parameter ``"__subspace__"`` choosing the dict; the optuna
names of that sub-space's parameters get an ``"@<index>"`` suffix.
"""
import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ._optuna import import_optuna

SUBSPACE_PARAM = "__subspace__"
_PRIMITIVES = (type(None), bool, int, float, str)


def _plain(value):
    """Numpy scalars to Python scalars (optuna stores only the latter)."""
    return value.item() if isinstance(value, np.generic) else value


class _Param:
    """One estimator parameter, its optuna name and distribution."""

    def __init__(self, name, optuna_name, distribution, choices=None):
        self.name = name
        self.optuna_name = optuna_name
        self.distribution = distribution
        self.choices = choices  # original objects when stored by index

    def suggest(self, trial):
        optuna = import_optuna()
        dists = optuna.distributions
        d = self.distribution
        if isinstance(d, dists.FloatDistribution):
            value = trial.suggest_float(self.optuna_name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, dists.IntDistribution):
            value = trial.suggest_int(self.optuna_name, d.low, d.high, step=d.step, log=d.log)
        else:
            value = trial.suggest_categorical(self.optuna_name, d.choices)
        return self.decode(value)

    def decode(self, value):
        if self.choices is not None:
            return self.choices[value]
        return value

    def fingerprint(self):
        if self.choices is not None:
            return {"indexed_choices": len(self.choices),
                    "types": [type(c).__name__ for c in self.choices]}
        return import_optuna().distributions.distribution_to_json(self.distribution)


def _scipy_to_optuna(name, frozen, dists):
    import scipy.stats

    dist_name = getattr(frozen.dist, "name", type(frozen.dist).__name__)
    low, high = frozen.support()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(
            f"Parameter {name!r}: scipy.stats.{dist_name} has unbounded support "
            f"[{low}, {high}], but TPE needs a bounded range. Use scipy.stats.uniform, "
            "loguniform or randint, a list of values, or an optuna distribution."
        )
    if isinstance(frozen.dist, scipy.stats.rv_discrete):
        if dist_name != "randint":
            _warn_support_only(name, dist_name, "IntDistribution")
        return dists.IntDistribution(int(low), int(high))
    if dist_name in ("loguniform", "reciprocal"):
        n_shapes = frozen.dist.numargs
        loc = frozen.args[n_shapes] if len(frozen.args) > n_shapes else frozen.kwds.get("loc", 0)
        if loc != 0:
            raise ValueError(
                f"Parameter {name!r}: a shifted loguniform (loc={loc}) is not log-uniform; "
                "use loc=0 or an optuna FloatDistribution."
            )
        return dists.FloatDistribution(float(low), float(high), log=True)
    if dist_name != "uniform":
        _warn_support_only(name, dist_name, "FloatDistribution")
    return dists.FloatDistribution(float(low), float(high))


def _warn_support_only(name, dist_name, target):
    warnings.warn(
        f"Parameter {name!r}: TPE keeps only the support of scipy.stats.{dist_name} "
        f"(as an optuna {target}); the shape of the distribution is ignored.",
        UserWarning,
        stacklevel=4,
    )


def _to_param(name, value, optuna_name):
    """Convert one ``param_distributions`` entry to a :class:`_Param`."""
    dists = import_optuna().distributions
    if not isinstance(name, str):
        raise TypeError(f"Parameter names must be str, got {name!r}.")
    supported = (dists.FloatDistribution, dists.IntDistribution, dists.CategoricalDistribution)
    if isinstance(value, dists.BaseDistribution):
        if not isinstance(value, supported):
            raise TypeError(
                f"Parameter {name!r}: optuna {type(value).__name__} is not supported; "
                "use FloatDistribution, IntDistribution or CategoricalDistribution."
            )
        return _Param(name, optuna_name, value)
    if hasattr(value, "rvs"):
        if hasattr(value, "dist") and hasattr(value, "support"):
            return _Param(name, optuna_name, _scipy_to_optuna(name, value, dists))
        raise TypeError(
            f"Parameter {name!r}: {type(value).__name__} has rvs() but is not a frozen "
            "scipy.stats distribution, so TPE cannot know its range. Use a scipy.stats "
            "distribution, a list, or an optuna distribution."
        )
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(
            f"Parameter {name!r}: expected a list of values, a frozen scipy.stats "
            f"distribution or an optuna distribution, got {type(value).__name__}."
        )
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(f"Parameter {name!r}: an array of choices must be 1-D.")
    choices = [_plain(v) for v in value]
    if not choices:
        raise ValueError(f"Parameter {name!r}: the list of choices is empty.")
    if all(isinstance(c, _PRIMITIVES) for c in choices):
        return _Param(name, optuna_name, dists.CategoricalDistribution(choices))
    return _Param(
        name, optuna_name, dists.CategoricalDistribution(list(range(len(choices)))), choices
    )


class SearchSpace:
    """A validated, optuna-ready version of ``param_distributions``.

    Parameters
    ----------
    param_distributions : dict or list of dict
        As accepted by :class:`~sklearn_patchdesc.model_selection.TPESearchCV`.
    """

    def __init__(self, param_distributions):
        if isinstance(param_distributions, Mapping):
            spaces = [param_distributions]
        elif isinstance(param_distributions, (list, tuple)) and all(
            isinstance(s, Mapping) for s in param_distributions
        ):
            spaces = list(param_distributions)
        else:
            raise TypeError(
                "param_distributions must be a dict or a list of dicts, got "
                f"{type(param_distributions).__name__}."
            )
        if not spaces or any(len(s) == 0 for s in spaces):
            raise ValueError("param_distributions must not be empty (nor hold an empty dict).")
        self.multi = len(spaces) > 1
        self.subspaces = [
            [
                _to_param(name, space[name], f"{name}@{i}" if self.multi else name)
                for name in sorted(space)
            ]
            for i, space in enumerate(spaces)
        ]

    def suggest(self, trial):
        """Draw one candidate from ``trial`` (an optuna ``Trial``); return its params."""
        index = (
            trial.suggest_categorical(SUBSPACE_PARAM, list(range(len(self.subspaces))))
            if self.multi
            else 0
        )
        return {p.name: p.suggest(trial) for p in self.subspaces[index]}

    def decode(self, optuna_params):
        """Estimator parameters of a stored trial, from its optuna ``params``."""
        try:
            index = optuna_params[SUBSPACE_PARAM] if self.multi else 0
            return {p.name: p.decode(optuna_params[p.optuna_name]) for p in self.subspaces[index]}
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(
                f"Stored trial parameters {optuna_params!r} do not fit param_distributions."
            ) from exc

    def fingerprint(self):
        """JSON text identifying the space, to check a resumed study against."""
        return json.dumps(
            [{p.optuna_name: p.fingerprint() for p in space} for space in self.subspaces],
            sort_keys=True,
        )
