"""Square-patch ports of scikit-learn's estimator checks that need tabular data.

scikit-learn's checks fit on ``(n, d)`` arrays with ``d`` = 2, 3, 5 or 10,
which are not square patches and are refused by every patch estimator. Each
check here makes the same assertions as the scikit-learn check of the same
name (``sklearn/utils/estimator_checks.py``, scikit-learn 1.9), on patch-shaped
data: ``(n, H*W)`` arrays of square 32x32 patches (the flat layout, so that
"features" means pixels exactly as in scikit-learn's checks), floats in
[0, 1] or integers in 0..255 (the library's input scale), and labels in pairs
(two views of each 3-D point) as ``y``. Data are kept tiny (8 patches) and
the instances of :func:`~sklearn_patchdesc.utils.estimator_checks.patch_check_instances`
train one epoch, so the whole port runs in minutes on a CPU.

The checks take ``(name, estimator)`` as scikit-learn's do;
:data:`PATCH_CHECKS` lists them in order.
"""
from __future__ import annotations

import pickle
import re
import tempfile
from copy import deepcopy
from functools import partial
from inspect import signature
from pathlib import Path

import joblib
import numpy as np
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from .._training import BasePatchNet

__all__ = ["PATCH_CHECKS", "PATCH_SIDE", "check_name", "patch_checks", "patch_data"]

#: side of the check patches: 32 is the smallest that every network accepts
#: (TernausNet's VGG encoder pools five times)
PATCH_SIDE = 32
#: the methods scikit-learn's checks call after fit, when the estimator has them
_METHODS = ("predict", "transform", "decision_function", "predict_proba")
_INVARIANCE_METHODS = ("predict", "transform", "decision_function", "score_samples",
                       "predict_proba")


def patch_data(n_samples=8, *, dtype=np.float64, target="labels", random_state=0):
    """Square patches ``(n_samples, PATCH_SIDE**2)`` and a target, for the checks.

    Parameters
    ----------
    n_samples : int, default=8
        Even number of patches.
    dtype : numpy dtype, default=np.float64
        Float dtypes give values in [0, 1]; integer dtypes give 0..255.
    target : {"labels", "clean"}, default="labels"
        ``"labels"``: point labels ``[0, 0, 1, 1, ...]`` (two patches per
        label, int64); ``"clean"``: the patches without their noise (what a
        denoiser's supervised ``fit`` and ``score`` take), in ``X``'s dtype.
    random_state : int, default=0
        Seed of the pixel values.

    Returns
    -------
    X : ndarray of shape (n_samples, PATCH_SIDE**2)
        Noisy patches.
    y : ndarray
        The target of ``target``.
    """
    rng = np.random.RandomState(random_state)
    # smooth random shapes (a 4x4 grid of grey levels, bilinearly enlarged) plus a
    # little noise: patches a denoiser can learn from (pure noise would teach it a
    # constant, which the training guard rightly reports as a collapse)
    coarse = rng.uniform(size=(n_samples, 4, 4))
    t = np.linspace(0, 3, PATCH_SIDE)
    i0 = np.minimum(t.astype(int), 2)
    w = (t - i0)[None, :]
    rows = coarse[:, i0, :] * (1 - w[..., None]) + coarse[:, i0 + 1, :] * w[..., None]
    X = rows[:, :, i0] * (1 - w[:, None, :]) + rows[:, :, i0 + 1] * w[:, None, :]
    clean = X.reshape(n_samples, -1)
    X = np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0, 1)
    if np.issubdtype(dtype, np.integer):
        X, clean = np.round(255 * X), np.round(255 * clean)
    if target == "clean":
        return X.astype(dtype), clean.astype(dtype)
    if target != "labels":
        raise ValueError(f"target must be 'labels' or 'clean'; got {target!r}")
    return X.astype(dtype), np.arange(n_samples, dtype=np.int64) // 2


def _data(estimator, n_samples=8, **kwargs):
    """:func:`patch_data` with the target ``estimator`` takes: clean patches for the
    denoisers (their ``score`` needs them; scikit-learn's checks adapt ``y`` to the
    estimator alike), point labels for everything else."""
    is_denoiser = type(estimator).__module__.startswith("sklearn_patchdesc.denoise")
    return patch_data(n_samples, target="clean" if is_denoiser else "labels", **kwargs)


def _fresh(estimator, random_state=0):
    """``clone(estimator)`` with ``random_state`` set when it has one (as scikit-learn's
    ``set_random_state``)."""
    est = clone(estimator)
    if "random_state" in est.get_params():
        est.set_params(random_state=random_state)
    return est


def _outputs(estimator, X):
    return {m: getattr(estimator, m)(X) for m in _METHODS if hasattr(estimator, m)}


def _readonly_memmap(obj):
    """``obj`` dumped with joblib and loaded back as read-only memory maps."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.pkl"
        joblib.dump(obj, path)
        # the maps stay valid after the folder is gone on POSIX (the file is open)
        return joblib.load(path, mmap_mode="r")


class _NotAnArray:
    """An array-like that is not an ndarray (``__array__`` only), as scikit-learn's."""

    def __init__(self, data):
        self.data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)


def _raises(exc_type, fn, *args, match=None, may_pass=False, err_msg=None):
    """Call ``fn``; it must raise ``exc_type`` whose message matches one of ``match``."""
    patterns = [match] if isinstance(match, str) else list(match or [])
    try:
        fn(*args)
    except exc_type as exc:
        if patterns and not any(re.search(p, str(exc)) for p in patterns):
            raise AssertionError(
                f"{err_msg or ''} The message {str(exc)!r} of {type(exc).__name__} matches "
                f"none of {patterns}") from exc
        return
    if not may_pass:
        raise AssertionError(err_msg or f"{exc_type.__name__} not raised")


# ------------------------------------------------------------------ the checks
def check_dict_unchanged(name, estimator_orig):
    """Prediction-time methods leave ``__dict__`` as it is."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig, 1).fit(X, y)
    for method in _METHODS:
        if hasattr(estimator, method):
            before = estimator.__dict__.copy()
            getattr(estimator, method)(X)
            assert estimator.__dict__ == before, f"{name} changes __dict__ during {method}"


def _is_public_parameter(attr):
    return not (attr.startswith("_") or attr.endswith("_"))


def check_dont_overwrite_parameters(name, estimator_orig):
    """fit adds or rebinds no public attribute (only ``_x`` / ``x_`` ones)."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig, 1)
    before = estimator.__dict__.copy()
    estimator.fit(X, y)
    public = [k for k in estimator.__dict__ if _is_public_parameter(k)]
    added = [k for k in public if k not in before]
    assert not added, (f"{name} adds public attribute(s) during fit (only _x or x_ "
                       f"attributes may be added): {', '.join(added)}")
    changed = [k for k in public if before[k] is not estimator.__dict__[k]]
    assert not changed, (f"{name} changes public attribute(s) during fit (only _x or x_ "
                         f"attributes may change): {', '.join(changed)}")


def check_dtype_object(name, estimator_orig):
    """Object arrays of numbers are accepted; a dict in them is a TypeError."""
    X, y = _data(estimator_orig)
    X = X.astype(object)
    estimator = _fresh(estimator_orig).fit(X, y)
    _outputs(estimator, X)
    _raises(Exception, estimator.fit, X, y.astype(object), match="Unknown label type",
            may_pass=True, err_msg="y of unknown label type raises without a proper message.")
    if not get_tags(estimator_orig).input_tags.string:
        X[0, 0] = {"foo": "bar"}
        _raises(TypeError, estimator.fit, X, y, match="argument must be .* string.* number")


def check_estimators_dtypes(name, estimator_orig):
    """fit and the methods work on float32, float64, int64 and int32 patches."""
    for dtype in (np.float32, np.float64, np.int64, np.int32):
        X, y = _data(estimator_orig, dtype=dtype)
        _outputs(_fresh(estimator_orig, 1).fit(X, y), X)


def check_estimators_fit_returns_self(name, estimator_orig):
    """fit returns the estimator itself."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    assert estimator.fit(X, y) is estimator


def check_estimators_nan_inf(name, estimator_orig):
    """NaN or infinity in the patches is a ValueError naming it, in fit and after."""
    X_finite, y = _data(estimator_orig)
    for bad in (np.nan, np.inf):
        X_bad = X_finite.copy()
        X_bad[0, 0] = bad
        estimator = _fresh(estimator_orig, 1)
        _raises(ValueError, estimator.fit, X_bad, y, match=["inf", "NaN"],
                err_msg=f"{name} doesn't check for NaN and inf in fit.")
        estimator.fit(X_finite, y)
        for method in ("predict", "transform"):
            if hasattr(estimator, method):
                _raises(ValueError, getattr(estimator, method), X_bad, match=["inf", "NaN"],
                        err_msg=f"{name} doesn't check for NaN and inf in {method}.")


def _content_hash(value):
    """``joblib.hash`` of a parameter; a torch module by its content (class, repr,
    train/eval flags, tensors), since a deep copy of a module pickles differently."""
    import torch

    if isinstance(value, torch.nn.Module):
        value = (type(value), repr(value), [m.training for m in value.modules()],
                 {k: t.detach().cpu().numpy() for k, t in value.state_dict().items()},
                 [p.requires_grad for p in value.parameters()])
    return joblib.hash(value)


def check_estimators_overwrite_params(name, estimator_orig):
    """fit neither changes nor mutates any parameter (deep comparison by hash)."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    original = deepcopy(estimator.get_params())
    estimator.fit(X, y)
    new = estimator.get_params()
    for key, value in original.items():
        assert _content_hash(new[key]) == _content_hash(value), (
            f"{name} should not change or mutate the parameter {key} from {value} to "
            f"{new[key]} during fit.")


def check_estimators_pickle(name, estimator_orig, readonly_memmap=False):
    """A pickled (or read-only memory-mapped) fitted estimator gives the same outputs."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig).fit(X, y)
    if readonly_memmap:
        copy = _readonly_memmap(estimator)
    else:
        copy = pickle.loads(pickle.dumps(estimator))
    for method, result in _outputs(estimator, X).items():
        assert_allclose(getattr(copy, method)(X), result, rtol=1e-7,
                        err_msg=f"{method} differs after unpickling")


def check_f_contiguous_array_estimator(name, estimator_orig):
    """Fortran-ordered patches are accepted."""
    X, y = _data(estimator_orig)
    X = np.asfortranarray(X)
    _outputs(_fresh(estimator_orig).fit(X, y), X)


def check_fit2d_1sample(name, estimator_orig):
    """One patch: fit works or raises a ValueError that says so."""
    X, y = _data(estimator_orig, 2)
    msgs = ["1 sample", "n_samples = 1", "n_samples=1", "one sample", "1 class",
            "one class"]
    _raises(ValueError, _fresh(estimator_orig, 1).fit, X[:1], y[:1], match=msgs,
            may_pass=True)


def check_fit2d_predict1d(name, estimator_orig):
    """One 1-D patch row given to a method is a ValueError asking to reshape."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig, 1).fit(X, y)
    for method in _METHODS:
        if hasattr(estimator, method):
            _raises(ValueError, getattr(estimator, method), X[0], match="Reshape your data")


def check_fit_check_is_fitted(name, estimator_orig):
    """check_is_fitted fails before fit and passes after it."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    if get_tags(estimator).requires_fit:
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            pass
        else:
            raise AssertionError(f"{name} passes check_is_fitted before being fit!")
    estimator.fit(X, y)
    check_is_fitted(estimator)


def check_fit_idempotent(name, estimator_orig):
    """Fitting twice with the same random_state gives the same outputs."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    if "warm_start" in estimator.get_params():
        estimator.set_params(warm_start=False)
    X_test, _ = _data(estimator_orig, 4, random_state=1)
    first = _outputs(estimator.fit(X, y), X_test)
    estimator = _fresh(estimator)
    for method, result in _outputs(estimator.fit(X, y), X_test).items():
        result = np.asarray(result)
        kind = result.dtype if np.issubdtype(result.dtype, np.floating) else np.float64
        tol = 2 * np.finfo(kind).eps
        assert_allclose(first[method], result, atol=max(tol, 1e-9), rtol=max(tol, 1e-7),
                        err_msg=f"Idempotency check failed for method {method}")


def check_fit_score_takes_y(name, estimator_orig):
    """fit, score and fit_transform take ``y`` as their second argument."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    for func_name in ("fit", "score", "partial_fit", "fit_predict", "fit_transform"):
        func = getattr(estimator, func_name, None)
        if func is not None:
            func(X, y)
            args = [p for p in signature(func).parameters if p != "self"]
            assert args[1] in ("y", "Y"), (f"Expected y or Y as second argument for method "
                                           f"{func_name} of {name}. Got arguments: {args}.")


#: tolerance of the subset check for the torch networks, which compute in float32:
#: the kernels torch picks depend on the batch size, so one patch alone and the
#: same patch among others agree to float32 rounding (measured: up to 2e-6 after
#: a dozen layers), not to scikit-learn's atol=1e-7, which is below float32's
#: spacing near 1 (1.2e-7)
_FLOAT32_SUBSET_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _same_results(name, estimator_orig, *, subsets):
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig, 1).fit(X, y)
    torch_net = isinstance(estimator, BasePatchNet)
    for method in _INVARIANCE_METHODS:
        if not hasattr(estimator, method):
            continue
        func = getattr(estimator, method)
        if subsets:
            whole = np.ravel(func(X))
            parts = np.ravel([func(row.reshape(1, -1)) for row in X])
            # float32 results (e.g. FeatureInverter's torch modules, which return them
            # cast to float64 for float64 input): float32 resolution too
            in_float32 = np.array_equal(whole, whole.astype(np.float32))
            tol = _FLOAT32_SUBSET_TOL if torch_net or in_float32 else {"atol": 1e-7}
            assert_allclose(whole, parts, **tol, err_msg=(
                f"{method} of {name} is not invariant when applied to a subset."))
        else:
            idx = np.random.RandomState(0).permutation(len(X))
            assert_allclose(np.asarray(func(X))[idx], func(X[idx]), atol=1e-9, err_msg=(
                f"{method} of {name} is not invariant when applied to a dataset with "
                "different sample order."))


def check_methods_sample_order_invariance(name, estimator_orig):
    """Outputs do not depend on the order of the patches."""
    _same_results(name, estimator_orig, subsets=False)


def check_methods_subset_invariance(name, estimator_orig):
    """Outputs do not depend on which other patches are in the same call.

    scikit-learn's tolerance (atol=1e-7) for everything but the torch networks
    and float32 outputs, which are held to float32 resolution
    (``_FLOAT32_SUBSET_TOL``).
    """
    _same_results(name, estimator_orig, subsets=True)


def check_n_features_in(name, estimator_orig):
    """``n_features_in_`` is absent before fit and the number of pixels after it."""
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    assert not hasattr(estimator, "n_features_in_")
    estimator.fit(X, y)
    assert estimator.n_features_in_ == X.shape[1]


def check_pipeline_consistency(name, estimator_orig):
    """The estimator alone and in a one-step Pipeline give the same results."""
    if get_tags(estimator_orig).non_deterministic:
        return  # scikit-learn skips it too
    X, y = _data(estimator_orig)
    estimator = _fresh(estimator_orig)
    pipeline = make_pipeline(estimator)
    estimator.fit(X, y)
    pipeline.fit(X, y)
    for func_name in ("score", "fit_transform"):
        func = getattr(estimator, func_name, None)
        if func is not None:
            assert_allclose(func(X, y), getattr(pipeline, func_name)(X, y), rtol=1e-7)


def check_readonly_memmap_input(name, estimator_orig):
    """Read-only memory-mapped patches and labels can be fitted (joblib workers)."""
    X, y = _readonly_memmap(_data(estimator_orig))
    estimator = _fresh(estimator_orig)
    assert estimator.fit(X, y) is estimator


def _check_transformer(name, transformer_orig, X, y):
    n_samples = len(np.asarray(X))
    transformer = _fresh(transformer_orig)
    transformer.fit(X, y)
    X_pred = clone(transformer).fit_transform(X, y=y)
    assert X_pred.shape[0] == n_samples
    X_pred2 = transformer.transform(X)
    X_pred3 = transformer.fit_transform(X, y=y)
    if get_tags(transformer_orig).non_deterministic:
        return  # scikit-learn skips the comparisons too
    assert_allclose(X_pred, X_pred2, atol=1e-2,
                    err_msg=f"fit_transform and transform outcomes not consistent in {name}")
    assert_allclose(X_pred, X_pred3, atol=1e-2,
                    err_msg=f"consecutive fit_transform outcomes not consistent in {name}")
    assert len(X_pred2) == n_samples and len(X_pred3) == n_samples
    if hasattr(X, "shape") and get_tags(transformer).requires_fit:
        _raises(ValueError, transformer.transform, X[:, :-1], err_msg=(
            f"The transformer {name} does not raise an error when the number of features "
            "in transform is different from the number of features in fit."))


def check_transformer_general(name, transformer, readonly_memmap=False):
    """fit_transform equals fit + transform, twice; other pixel counts are refused."""
    X, y = _data(transformer)
    if readonly_memmap:
        X, y = _readonly_memmap((X, y))
    _check_transformer(name, transformer, X, y)


def check_transformer_data_not_an_array(name, transformer):
    """The transformer contract holds for array-likes and for nested lists."""
    X, y = _data(transformer)
    _check_transformer(name, transformer, _NotAnArray(X), _NotAnArray(y))
    _check_transformer(name, transformer, X.tolist(), y.tolist())


def check_transformer_preserve_dtypes(name, transformer_orig):
    """Output dtype equals input dtype for every dtype the tags say is preserved."""
    X, y = _data(transformer_orig)
    transformer = clone(transformer_orig)
    for dtype in get_tags(transformer_orig).transformer_tags.preserves_dtype:
        X_cast = X.astype(dtype)
        transformer = _fresh(transformer)
        for Xt, method in ((transformer.fit_transform(X_cast, y), "fit_transform"),
                           (transformer.fit(X_cast, y).transform(X_cast), "transform")):
            assert Xt.dtype == dtype, (f"{name} (method={method}) does not preserve dtype. "
                                       f"Original/Expected dtype={dtype}, got {Xt.dtype}.")


_ANY = (
    check_dict_unchanged, check_dont_overwrite_parameters, check_dtype_object,
    check_estimators_dtypes, check_estimators_fit_returns_self, check_estimators_nan_inf,
    check_estimators_overwrite_params, check_estimators_pickle,
    partial(check_estimators_pickle, readonly_memmap=True),
    check_f_contiguous_array_estimator, check_fit2d_1sample, check_fit2d_predict1d,
    check_fit_check_is_fitted, check_fit_idempotent, check_fit_score_takes_y,
    check_methods_sample_order_invariance, check_methods_subset_invariance,
    check_n_features_in, check_pipeline_consistency, check_readonly_memmap_input,
)
_TRANSFORMER = (
    check_transformer_data_not_an_array, check_transformer_general,
    partial(check_transformer_general, readonly_memmap=True),
    check_transformer_preserve_dtypes,
)
#: every ported check (transformer checks apply to estimators with ``transform``)
PATCH_CHECKS = _ANY + _TRANSFORMER


def check_name(check):
    """The scikit-learn name of a check (``partial`` unwrapped)."""
    while isinstance(check, partial) and not hasattr(check, "__name__"):
        check = check.func
    return check.__name__


def patch_checks(estimator):
    """The ported checks that apply to ``estimator``: ``(check name, check)`` pairs,
    each ``check(estimator)`` ready to call."""
    name = type(estimator).__name__
    checks = _ANY + (_TRANSFORMER if hasattr(estimator, "transform") else ())
    for check in checks:
        label = check_name(check)
        if isinstance(check, partial) and check.keywords:
            label += "(" + ", ".join(f"{k}={v}" for k, v in check.keywords.items()) + ")"
        yield label, partial(check, name)
