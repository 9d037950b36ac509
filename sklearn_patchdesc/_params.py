"""Parameter objects: the scikit-learn parameter protocol for non-estimators.

Samplers, miners, losses and training callbacks are configured like
estimators -- ``get_params`` / ``set_params`` with nested ``a__b`` names, so
``L2NetDescriptor(sampler=PKSampler()).set_params(sampler__n_per_label=8)``
works in ``GridSearchCV`` / ``TPESearchCV`` and ``clone`` rebuilds them --
without being estimators (they are not listed by
:func:`sklearn_patchdesc.utils.all_estimators` and have no ``fit``).

The convention (every such class follows it):

- the constructor's named arguments are the parameters and are stored under
  their own names, unchanged;
- anything computed from them or during training lives in attributes whose
  name ends with ``_`` (``miner_``, ``stage_`` ...), never in ``_name``
  attributes -- skorch's ``Callback.get_params`` would report those as
  parameters and ``clone`` would fail on them;
- a class whose derived state depends on its parameters rebuilds it in
  :meth:`ParamsMixin._params_changed`, which ``set_params`` calls.

scikit-learn's own ``BaseEstimator.get_params`` / ``set_params`` do the work
(nested parameters, validation of names); this mixin only borrows them.
"""
from __future__ import annotations

import inspect

from sklearn.base import BaseEstimator

__all__ = ["ParamsMixin", "REQUIRED", "declared_params", "declared_init"]

#: default of a declared parameter that has none (the caller must give it)
REQUIRED = inspect.Parameter.empty


def declared_params(cls):
    """The constructor parameters ``cls`` and its bases declare, in signature order.

    A class declares its parameters as ``_init_params = {name: default}``; a
    subclass adds its own and may change a base's default by naming it again.
    A class's new names come before those of its bases, so an estimator's own
    parameters lead and the shared training parameters close the list.

    Returns
    -------
    params : dict
        ``{name: default}``; ``REQUIRED`` for a parameter without a default.
    """
    chain = [c for c in cls.__mro__ if "_init_params" in vars(c)]
    order = []
    for i, c in enumerate(chain):
        in_bases = set().union(*(vars(b)["_init_params"] for b in chain[i + 1:]))
        order += [n for n in vars(c)["_init_params"] if n not in in_bases and n not in order]
    defaults = {}
    for c in reversed(chain):
        defaults.update(vars(c)["_init_params"])
    return {name: defaults[name] for name in order}


def declared_init(cls):
    """An ``__init__`` for ``cls`` that stores every declared parameter unchanged.

    Its signature (what ``inspect.signature``, ``help``, scikit-learn's
    ``get_params`` / ``clone`` and the docs read) lists the parameters of
    :func:`declared_params`: the names in ``cls._init_positional`` first and
    positional-or-keyword, the rest keyword-only, then ``**kwargs``, which go
    to ``self._store_kwargs`` (the skorch-prefixed options). This replaces the
    hand-copied argument list and assignments each estimator used to repeat.
    dataclasses would generate the same, but cannot take ``**kwargs``.
    """
    params = declared_params(cls)
    positional = tuple(getattr(cls, "_init_positional", ()))
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(n, P.POSITIONAL_OR_KEYWORD, default=params[n]) for n in positional]
        + [P(n, P.KEYWORD_ONLY, default=d) for n, d in params.items() if n not in positional]
        + [P("kwargs", P.VAR_KEYWORD)])

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__}(): {exc}") from None
        bound.apply_defaults()
        for name in params:
            setattr(self, name, bound.arguments[name])
        self._store_kwargs(bound.arguments["kwargs"])

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = f"Store the parameters of :class:`{cls.__name__}` (see the class)."
    return __init__


class ParamsMixin:
    """``get_params`` / ``set_params`` / a parameter ``repr`` from ``__init__``'s signature."""

    _get_param_names = classmethod(BaseEstimator._get_param_names.__func__)

    def get_params(self, deep=True):
        """Parameters of this object (constructor arguments).

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of parameter values that have
            ``get_params`` (as ``name__subname``).

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return BaseEstimator.get_params(self, deep=deep)

    def set_params(self, **params):
        """Set parameters (nested ``name__subname`` too) and rebuild derived state.

        Parameters
        ----------
        **params : dict
            Parameter names and values.

        Returns
        -------
        self : object
            This object.
        """
        if params:
            BaseEstimator.set_params(self, **params)
            self._params_changed()
        return self

    def _params_changed(self):
        """Rebuild state derived from the parameters (subclass hook)."""

    def __repr__(self):
        import inspect

        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = sig.parameters[name].default
            try:
                same = value is default or bool(value == default)
            except Exception:  # noqa: BLE001 - arrays, tensors: show them
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"
