"""Input validation shared by every estimator: patch layouts and targets.

Patches arrive as ``(n, H, W)``, ``(n, 1, H, W)`` or ``(n, H*W)`` with a square
``H*W``. One scale rule holds for every estimator and metric:

- integers (uint8, and any other integer dtype, e.g. lists of ints) are on the
  0..255 scale; values outside 0..255 (uint16 images) are refused;
- floats are on the [0, 1] scale and taken as given, with room for what
  noise, overshoot or centring put outside it; a float array reaching above
  ``FLOAT_SCALE_MAX`` (5), or of whole numbers above 1.5, holds data on
  another scale (0..255 cast to float, with or without fractions) and is
  refused;
- object arrays are read like the same values in a list (ints are integers).

Estimators work on float32 ``(n, 1, H, W)`` tensors in [0, 1] and hand results
back in the caller's layout and dtype (integers rounded and clipped to 0..255,
or to the dtype's maximum when smaller: never wrapped around).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PatchLayout",
    "check_patches",
    "restore_patches",
    "is_record_target",
    "check_labels",
    "validate_patch_size",
    "check_fitted_patch_size",
]

RECORD_FIELDS = ("label", "sequence", "image")
#: largest value a float patch array may reach: [0, 1] plus room for unclipped
#: noise, overshoot and centred data (scikit-learn's own checks feed 3 * uniform
#: and iris centred to -3.4..4.4); 0..255 data reaches far above it
FLOAT_SCALE_MAX = 5.0


@dataclass(frozen=True)
class PatchLayout:
    """How the caller laid out its patches, so outputs can be given back alike.

    Attributes
    ----------
    kind : {"nhw", "n1hw", "flat"}
        ``(n, H, W)``, ``(n, 1, H, W)`` or ``(n, H*W)``.
    dtype : numpy.dtype
        dtype of the caller's array (uint8 means the 0..255 scale).
    size : int
        Side of the square patch.
    """

    kind: str
    dtype: np.dtype
    size: int

    @property
    def is_uint8(self):
        """True for integer input: the 0..255 scale (any integer dtype holding 0..255)."""
        return self.dtype.kind in "iu"


def _layout_of(X, name):
    if X.ndim == 3:
        kind, h, w = "nhw", X.shape[1], X.shape[2]
    elif X.ndim == 4:
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} has shape {X.shape}: 4-D patches must be (n, 1, H, W) "
                "grey patches with one channel."
            )
        kind, h, w = "n1hw", X.shape[2], X.shape[3]
    elif X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1] or side == 0:
            raise ValueError(
                f"{name} has shape {X.shape}: flat patches need a square number of "
                f"pixels per row, got {X.shape[1]}."
            )
        kind, h, w = "flat", side, side
    else:
        hint = (f" Reshape your data with {name}.reshape(1, -1) if it is one flat patch."
                if X.ndim == 1 else "")
        raise ValueError(
            f"{name} must be patches of shape (n, H, W), (n, 1, H, W) or (n, H*W); "
            f"got an array of rank {X.ndim} with shape {X.shape}.{hint}"
        )
    if h != w:
        raise ValueError(f"{name} holds non-square patches of {h}x{w}; patches must be square.")
    return PatchLayout(kind=kind, dtype=X.dtype, size=int(h))


def _on_the_scale(X, name, float_scale=True):
    """Apply the one input-scale rule; return uint8 for any integer input.

    Integers (any dtype, e.g. lists of ints, int64, uint16) are on the 0..255
    scale: values in 0..255 are converted to uint8 exactly, others refused.
    Floats are on the [0, 1] scale and taken as given, except float arrays of
    whole numbers above 1.5 (``X.astype(float)``) or reaching above
    ``FLOAT_SCALE_MAX`` (``X.astype(float) + 0.25``): that is data on another
    scale, refused rather than read as very bright patches.
    """
    if X.dtype.kind in "iu" and X.dtype != np.uint8:
        lo, hi = X.min(), X.max()
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{name} holds {X.dtype} values from {lo} to {hi}, but integer patches are "
                "read on the 0..255 scale (uint8). Give uint8 patches, or float patches in "
                f"[0, 1] (e.g. 16-bit data divided by 65535: {name} / 65535.0)."
            )
        return X.astype(np.uint8)
    if X.dtype.kind == "f" and float_scale:
        lo, hi = X.min(), X.max()
        if 1.5 < hi <= 255 and lo >= 0 and np.array_equal(X, np.floor(X)):
            raise ValueError(
                f"{name} holds {X.dtype} whole numbers up to {hi:g}: 0..255 data in a float "
                "array. Float patches are read on the [0, 1] scale; give uint8 patches "
                f"({name}.astype(np.uint8)) or {name} / 255.")
        if hi > FLOAT_SCALE_MAX:
            raise ValueError(
                f"{name} holds {X.dtype} values from {lo:g} to {hi:g}, but float patches are "
                f"read on the [0, 1] scale (values up to {FLOAT_SCALE_MAX:g} are accepted for "
                "noise and overshoot). For 0..255 data give uint8 patches or "
                f"{name} / 255; for other scales divide by the scale's maximum.")
    return X


def check_patches(X, *, name="X", min_size=None, multiple_of=None, min_samples=1,
                  keep_uint8=False, float_scale=True):
    """Validate patches and return them as float32 ``(n, 1, H, W)`` plus their layout.

    Parameters
    ----------
    X : array-like
        Patches, ``(n, H, W)``, ``(n, 1, H, W)`` or ``(n, H*W)``; uint8 or float.
    name : str, default="X"
        Name used in error messages.
    min_size : int, optional
        Smallest accepted patch side.
    multiple_of : int, optional
        The patch side must be a multiple of this (e.g. 32 for VGG encoders).
    min_samples : int, default=1
        Fewest patches accepted.
    keep_uint8 : bool, default=False
        Return uint8 input as a uint8 ``(n, 1, H, W)`` view instead of a float
        copy (training sets kept as uint8 tensors: 4x less memory; the
        conversion to [0, 1] then happens per batch in
        :class:`~sklearn_patchdesc._data.PatchDataset`).
    float_scale : bool, default=True
        Hold float input to the [0, 1] scale rule. ``False`` where the caller
        names the scale itself (the metrics' ``data_range``).

    Returns
    -------
    X4 : ndarray of shape (n, 1, H, W), float32
        Patches on the [0, 1] scale for uint8 input, as given for float input
        (uint8 0..255 with ``keep_uint8=True``).
    layout : PatchLayout
        What :func:`restore_patches` needs to give results back alike.

    Raises
    ------
    TypeError
        If ``X`` is not numeric (strings, bool, objects that are not numbers;
        object arrays are read like the same values in a list).
    ValueError
        If ``X`` is complex, empty (no patches or 0 features), has a wrong
        rank, non-square patches, NaN or inf values, values off the input
        scale (see the module notes), or a patch size the
        caller cannot take. Messages use scikit-learn's wording where it has
        one (``Complex data not supported``, ``0 feature(s)``, ``n_features``).
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a sparse matrix; patches must be a dense array.")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must hold real numbers "
                         "(uint8 0..255 or float).")
    if X.dtype == object:
        # read like the same values in a list: ints stay integers (0..255 scale)
        try:
            X = np.asarray(X.tolist())
        except ValueError as exc:  # ragged entries
            raise TypeError(f"{name} must hold numbers (uint8 0..255 or float); got an "
                            f"object array numpy cannot read as one array ({exc}).") from None
    if X.dtype == object:  # e.g. numbers mixed with None
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers (uint8 0..255 or float); got dtype "
                            f"object with an entry that is not a number ({exc}).") from None
    if X.dtype.kind not in "uif":
        raise TypeError(
            f"{name} must hold numbers (uint8 0..255 or float); got dtype {X.dtype}."
        )
    if X.ndim == 0 or X.shape[0] < min_samples:
        n = 0 if X.ndim == 0 else X.shape[0]
        raise ValueError(
            f"{name} holds {n} patch(es) (n_samples={n}); at least {min_samples} required."
        )
    if X.ndim == 2 and X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of "
                         f"1 is required: {name} holds empty patches.")
    layout = _layout_of(X, name)
    if X.size == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}).")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    X = _on_the_scale(X, name, float_scale)
    if min_size is not None and layout.size < min_size:
        raise ValueError(
            f"{name} holds {layout.size}x{layout.size} patches (n_features = "
            f"{layout.size ** 2}); this estimator needs at least {min_size}x{min_size}."
        )
    if multiple_of is not None and layout.size % multiple_of:
        raise ValueError(
            f"{name} holds {layout.size}x{layout.size} patches (n_features = "
            f"{layout.size ** 2}); this estimator needs a side that is a multiple of "
            f"{multiple_of}."
        )
    X4 = X.reshape(X.shape[0], 1, layout.size, layout.size)
    if X.dtype == np.uint8 and keep_uint8:
        return X4, layout
    if X.dtype == np.uint8:
        X4 = X4.astype(np.float32) / np.float32(255.0)
    else:
        X4 = X4.astype(np.float32, copy=False)
    return X4, layout


def restore_patches(Y4, layout):
    """Give float ``(n, 1, H, W)`` patches back in the caller's layout and dtype.

    uint8 callers get values rounded and clipped to 0..255; float callers get
    their own float dtype, unclipped.
    """
    Y4 = np.asarray(Y4)
    n, size = Y4.shape[0], Y4.shape[-1]
    if layout.kind == "nhw":
        Y = Y4.reshape(n, size, size)
    elif layout.kind == "flat":
        Y = Y4.reshape(n, size * size)
    else:
        Y = Y4.reshape(n, 1, size, size)
    if layout.is_uint8:  # any integer dtype: 0..255, never wrapped around
        top = min(255, np.iinfo(layout.dtype).max)
        return np.clip(np.rint(Y * 255.0), 0, top).astype(layout.dtype)
    return Y.astype(layout.dtype, copy=False)


def is_record_target(y):
    """True when ``y`` is the loaders' record array (fields label/sequence/image)."""
    names = getattr(getattr(y, "dtype", None), "names", None)
    return names is not None and all(f in names for f in RECORD_FIELDS)


def check_labels(y, n_samples, *, name="y"):
    """Return the int64 point labels of a 1-D label array or a record-array target.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or record array
        Integer labels (same label = same 3-D point), or the record array of
        the loaders, whose ``label`` field is used.
    n_samples : int
        Number of patches the labels must match.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    """
    if y is None:
        raise ValueError(f"{name} is required: give point labels or the loaders' record array.")
    if is_record_target(y):
        labels = np.asarray(y["label"])
    else:
        labels = np.asarray(y)
        if labels.dtype.names is not None:
            raise ValueError(
                f"{name} is a record array without the fields {RECORD_FIELDS}; "
                f"got fields {labels.dtype.names}."
            )
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels; got shape {labels.shape}.")
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} labels for {n_samples} patches; they must match."
        )
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise ValueError(f"{name} contains NaN or infinity.")
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{name} must hold integer point labels; got non-integer floats.")
    elif labels.dtype.kind not in "iub":
        # "Unknown label type": the words scikit-learn's checks and users look for
        raise TypeError(f"Unknown label type: {name} must hold integer point labels; got "
                        f"dtype {labels.dtype}.")
    return labels.astype(np.int64)


def validate_patch_size(estimator, X, *, reset, **checks):
    """Validate ``X`` for ``estimator``: on ``reset`` remember its patch size, else check it.

    The one place the fitted-patch-size rule lives. ``reset=True`` (in
    ``fit``) sets ``patch_size_`` and ``n_features_in_``; ``reset=False``
    (``transform``, ``score``) needs a fitted estimator and patches of the
    size it was fitted on, and raises scikit-learn's ``n_features_in_``
    message otherwise. ``checks`` go to :func:`check_patches`.

    Returns
    -------
    X4, layout
        As :func:`check_patches`.
    """
    from sklearn.utils.validation import check_is_fitted

    if not reset:
        check_is_fitted(estimator, "patch_size_")
    X4, layout = check_patches(X, **checks)
    if reset:
        estimator.patch_size_ = layout.size
        estimator.n_features_in_ = layout.size * layout.size
    elif layout.size != estimator.patch_size_:
        raise ValueError(
            f"X has {layout.size * layout.size} features, but {type(estimator).__name__} "
            f"is expecting {estimator.n_features_in_} features as input (it was fitted on "
            f"{estimator.patch_size_}x{estimator.patch_size_} patches, got "
            f"{layout.size}x{layout.size}).")
    return X4, layout


def check_fitted_patch_size(estimator):
    """Check the fitted patch size of ``estimator`` as :func:`validate_patch_size` sets it.

    For state that did not come from ``fit`` (a loaded model file):
    ``patch_size_`` must be a positive int, ``n_features_in_`` its square,
    and the side must meet the estimator's own size rules (``_patch_checks``:
    ``min_size``, ``multiple_of``). An estimator with neither attribute
    (unfitted, or not a patch estimator) passes.

    Raises
    ------
    ValueError
        Naming the attribute and its value.
    """
    name = type(estimator).__name__
    has_size, has_n = hasattr(estimator, "patch_size_"), hasattr(estimator, "n_features_in_")
    if not (has_size or has_n):
        return
    size = getattr(estimator, "patch_size_", None)
    if not isinstance(size, numbers.Integral) or isinstance(size, (bool, np.bool_)) or size < 1:
        raise ValueError(f"{name}.patch_size_ must be a positive integer (the side of the "
                         f"fitted patches); got {size!r}.")
    n = getattr(estimator, "n_features_in_", None)
    if not isinstance(n, numbers.Integral) or isinstance(n, (bool, np.bool_)) or \
            n != size * size:
        raise ValueError(f"{name}.n_features_in_ is {n!r}, but patch_size_ = {size} means "
                         f"{size * size} features ({size}x{size} patches).")
    rules = estimator._patch_checks() if hasattr(estimator, "_patch_checks") else {}
    min_size, multiple = rules.get("min_size"), rules.get("multiple_of")
    if (min_size is not None and size < min_size) or (multiple and size % multiple):
        raise ValueError(f"{name}.patch_size_ = {size} breaks the estimator's size rule "
                         f"({rules}).")
