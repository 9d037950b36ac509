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

from sklearn.base import BaseEstimator

__all__ = ["ParamsMixin"]


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
