"""Set-up of scikit-learn's estimator checks for every public estimator.

:func:`check_instances` gives one small, fast instance per public estimator
(:func:`~sklearn_patchdesc.utils.all_estimators` finds them; a new estimator
needs no registration here unless it has a required argument). scikit-learn's checks that
feed tabular data (:data:`PORTED_CHECKS`) run as square-patch ports instead
(:mod:`sklearn_patchdesc.utils._patch_checks`, on the instances of
:func:`patch_check_instances`); :func:`replaced_by_port` says which checks an
estimator skips for that reason. :data:`EXPECTED_FAILED_CHECKS` is the **one**
place where checks that cannot pass are listed, each with its reason;
:func:`expected_failed_checks` hands them to scikit-learn
(``tests/test_estimator_checks.py`` shows the use).
"""
from __future__ import annotations

import inspect

from torch import nn

from . import all_estimators

__all__ = ["check_instance", "check_instances", "patch_check_instances", "expected_failed_checks",
           "replaced_by_port", "EXPECTED_FAILED_CHECKS", "PORTED_CHECKS"]


def _tiny_feature_network():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


def _tiny_descriptor_network():
    # any patch side, 1x1 included (adaptive pooling), to a 8-d descriptor
    return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4, 8))


def _row_means(batch):
    """A numpy descriptor for the checks: the mean of every patch row."""
    return batch[:, 0].mean(axis=2)


#: small, fast settings given to every estimator that takes them
_TINY = {"max_epochs": 1, "random_state": 0, "batch_size": 16}


def _table():
    """Per-estimator settings on top of :data:`_TINY`: arguments an estimator cannot
    do without (a network, an inner estimator) and sizes that keep the checks fast.

    An estimator missing here is checked with :data:`_TINY` alone (the settings of
    it that its ``__init__`` takes), so a new public estimator needs no entry
    unless it has a required argument.
    """
    from sklearn.linear_model import Ridge

    from ..denoise import ShallowUNetDenoiser
    from ..describe import L2NetDescriptor

    # no module__ widths here: prefixed options are stored as attributes by
    # __init__ (skorch style), which check_no_attributes_set_in_init reports.
    return {
        "DnCNNDenoiser": {"depth": 3},
        "FeatureInverter": {"network": _tiny_feature_network(), "layer": -1},
        "FunctionDescriptor": {"func": _row_means, "inference_batch_size": 4},
        "JointDenoiseDescribe": {"batch_size": 24, "denoiser": ShallowUNetDenoiser(),
                                 "descriptor": L2NetDescriptor()},
        "HardNetDescriptor": {"batch_size": 8},
        "L2NetDescriptor": {"batch_size": 24},
        "MultiScaleDescriptor": {"batch_size": 24, "out_features": 16, "depth": 1,
                                 "deep_features": 16, "shallow_channels": 4},
        # error_score="raise": a failing fit must surface its own message
        "TPESearchCV": {"estimator": Ridge(), "param_distributions": {"alpha": [0.1, 1.0]},
                        "n_trials": 2, "cv": 2, "error_score": "raise"},
        "TaskAwareDenoiser": {"denoiser": ShallowUNetDenoiser(), "consistency_weight": 0.0},
        "TorchModuleDescriptor": {"module": _tiny_descriptor_network(),
                                  "inference_batch_size": 4},
        "UNetDenoiser": {"depth": 1},
    }


def check_instance(cls, table=None):
    """One small instance of the estimator class ``cls`` for the estimator checks.

    Parameters
    ----------
    cls : estimator class
    table : dict, optional
        ``{class name: settings}``; default: the library's own.

    Returns
    -------
    estimator : instance of ``cls``
        With the settings of :data:`_TINY` that ``cls`` takes, then its own.

    Raises
    ------
    TypeError
        If ``cls`` has a required argument the table does not give, naming it.
    """
    table = _table() if table is None else table
    params = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in _TINY.items() if k in params}
    kwargs.update(table.get(cls.__name__, {}))
    required = [name for name, p in params.items()
                if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and name not in kwargs]
    if required:
        raise TypeError(
            f"{cls.__name__} needs {required} to be built for the estimator checks: give "
            "them in sklearn_patchdesc.utils.estimator_checks._table.")
    return cls(**kwargs)


def check_instances():
    """One small instance per public estimator, for the estimator checks.

    Every public estimator (:func:`~sklearn_patchdesc.utils.all_estimators`)
    is found and built by :func:`check_instance`; networks are tiny and train
    one epoch, so the whole check suite runs on a CPU in minutes.

    Returns
    -------
    estimators : list of estimators
        In the order of :func:`~sklearn_patchdesc.utils.all_estimators`.
    """
    table = _table()
    return [check_instance(cls, table) for _, cls in all_estimators()]


#: narrower networks for the square-patch port (its checks fit many times);
#: ``module__`` options are given through ``set_params``, as a user would
_PORT_OPTIONS = {
    "ConvAutoencoderDenoiser": {"module__channels": (4, 4, 8, 8, 8),
                                "optimizer__lbfgs_steps": 1, "optimizer__lbfgs_max_iter": 2},
    "DnCNNDenoiser": {"module__channels": 8},
    "ShallowUNetDenoiser": {"module__channels": (4, 8, 8)},
    "TaskAwareDenoiser": {"denoiser__module__channels": (4, 8, 8)},
    "TernausNetDenoiser": {"module__base_channels": 4},
    "UNetDenoiser": {"module__base_channels": 4},
}


def patch_check_instances():
    """The instances of :func:`check_instances`, narrowed for the square-patch port.

    Returns
    -------
    estimators : list of estimators
        As :func:`check_instances`, with the ``module__`` widths of
        ``_PORT_OPTIONS`` set, so that 32x32 patches train in a blink.
    """
    return [est.set_params(**_PORT_OPTIONS.get(type(est).__name__, {}))
            for est in check_instances()]


# ------------------------------------------------------------------ ports
#: scikit-learn checks that feed tabular ``(n, d)`` data with d = 2, 3, 5 or 10
#: (not a square number of pixels, refused by every patch estimator); each runs
#: instead as its square-patch port (:mod:`._patch_checks`, same assertions on
#: ``(n, 32*32)`` patches, ``tests/test_patch_checks.py``)
PORTED_CHECKS = frozenset({
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in", "check_pipeline_consistency",
    "check_readonly_memmap_input", "check_transformer_data_not_an_array",
    "check_transformer_general", "check_transformer_preserve_dtypes",
})


def replaced_by_port(estimator):
    """Checks whose scikit-learn version ``estimator`` skips because its port runs.

    Every patch estimator; not the searches, which take whatever their inner
    estimator takes (scikit-learn's own versions pass for them).

    Parameters
    ----------
    estimator : estimator instance

    Returns
    -------
    checks : frozenset of str
    """
    searches = {name for name, _ in all_estimators("search")}
    return frozenset() if type(estimator).__name__ in searches else PORTED_CHECKS


# ------------------------------------------------------------------ reasons
_MULTIPLE_OF_32 = ("TernausNet's VGG encoder needs patch sides that are a multiple of 32; "
                   "the check's 2x2 patches are refused with a ValueError")

_SIFT_CELLS = ("kornia's SIFTDescriptor pools the patch into 4x4 cells by default, which "
               "needs a side of at least 4; the check's {} patches are refused with a "
               "ValueError that names the sides it can pool")

#: ``{estimator class name: {check name: reason}}`` -- the only list of checks
#: that are expected to fail, for every public estimator.
EXPECTED_FAILED_CHECKS = {
    "ConvAutoencoderDenoiser": {
        "check_positive_only_tag_during_fit": (
            "the check trains on iris as 2x2 'patches' centred to -3..4 (patches are expected "
            "in [0, 1]); with the seed-002 defaults (hybrid L-BFGS/SGD, lr 0.05) the loss "
            "diverges and the shared NaN stop raises TrainingError, as designed"),
    },
    "FeatureInverter": {
        "check_fit2d_1feature": "1x1 patches cannot go through the inverted network (its "
                                "pooling empties them); the ValueError says so, not in "
                                "scikit-learn's '1 feature(s)' wording",
    },
    "SIFTPatchDescriptor": {
        "check_fit2d_1feature": _SIFT_CELLS.format("1x1"),
        "check_n_features_in_after_fitting": _SIFT_CELLS.format("2x2"),
        "check_positive_only_tag_during_fit": _SIFT_CELLS.format("2x2"),
    },
    "TPESearchCV": {
        "check_supervised_y_2d": "DataConversionWarning not caught (the same expected failure "
                                 "scikit-learn lists for its own GridSearchCV)",
    },
    "TernausNetDenoiser": {
        "check_n_features_in_after_fitting": _MULTIPLE_OF_32,
        "check_positive_only_tag_during_fit": _MULTIPLE_OF_32,
    },
}


def expected_failed_checks(estimator):
    """Expected failures of ``estimator`` as ``{check name: reason}``.

    The ``expected_failed_checks`` callable of ``parametrize_with_checks``.
    """
    return dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
