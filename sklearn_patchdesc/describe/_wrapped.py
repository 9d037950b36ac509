"""Any descriptor as a fitted transformer: a user's torch module or numpy function.

:class:`TorchModuleDescriptor` wraps a ``torch.nn.Module`` mapping grey
patches ``(B, 1, S, S)`` to descriptors ``(B, D)`` (e.g. ``kornia.feature``'s
``HardNet``, ``SOSNet``, ``HyNet`` or ``TFeat`` with the user's weights, or the
user's own network); :class:`FunctionDescriptor` wraps a numpy function of
the same contract. Both get the library's input checks (layouts, the uint8 /
float scale rule, the fitted patch size), batching (the one inference loop,
:func:`~sklearn_patchdesc._data.run_batched`) and output checks, so they drop
into ``Pipeline``, :func:`~sklearn_patchdesc.metrics.hpatches_evaluate`, the
scorers and ``export`` like the trained descriptors. Nothing is learned:
``fit`` checks the patches and the callable's output and records them.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._data import run_batched
from .._precision import resolve_precision
from .._training import check_device
from .._validation import check_labels, validate_patch_size
from ._descriptor_mixin import DescriptorMixin

__all__ = ["TorchModuleDescriptor", "FunctionDescriptor"]


class _BaseWrapped(DescriptorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                   BaseEstimator):
    """Shared fit / transform of the wrappers (not public API)."""

    _what = "callable"

    def _precision(self):
        return "fp32"

    def _check_batch_size(self):
        bs = self.inference_batch_size
        if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1:
            raise ValueError(f"inference_batch_size must be a positive integer; got {bs!r}.")

    def _checked_output(self, out, n_in, n_features):
        """The batch output as a float tensor, or ValueError naming its shape."""
        shape = tuple(out.shape)
        if len(shape) != 2 or shape[0] != n_in:
            raise ValueError(
                f"the wrapped {self._what} returned shape {shape} for a batch of {n_in} patches "
                f"of shape {(n_in, 1, self.patch_size_, self.patch_size_)}; a descriptor must "
                f"return (B, D) = ({n_in}, D)"
                + (" (flatten its output, e.g. end the module with nn.Flatten())"
                   if len(shape) > 2 and shape[0] == n_in else "") + ".")
        if n_features is not None and shape[1] != n_features:
            raise ValueError(
                f"the wrapped {self._what} returned {shape[1]} features per patch, but "
                f"{n_features} when fitted; the descriptor length must not change.")
        return out

    def _describe(self, X4, n_features):
        first = [None]

        def call(xb):
            out = self._checked_output(self._call(xb), xb.shape[0], n_features or first[0])
            first[0] = out.shape[1]
            return out

        D = run_batched(call, X4, batch_size=int(self.inference_batch_size), device=self._device(),
                        precision=self._precision())
        if D.dtype.kind != "f":
            D = D.astype(np.float32)
        sums = np.add.reduce(D, axis=1, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(sums))
        if bad.size:
            bad = bad[~np.isfinite(D[bad]).all(axis=1)]
        if bad.size:
            r = int(bad[0])
            col = int(np.flatnonzero(~np.isfinite(D[r]))[0])
            raise ValueError(
                f"the wrapped {self._what} returned NaN or infinity for {bad.size} patch(es); "
                f"the first is row {r} of X (value {float(D[r, col])} in column {col}).")
        return D.astype(np.float32, copy=False)

    def fit(self, X, y=None):
        """Check the patches and the wrapped descriptor's output on them.

        Runs the descriptor on up to two patches to learn its length; nothing
        is trained.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            uint8 (0..255) or float ([0, 1]) patches; the wrapped descriptor
            receives float32 batches ``(B, 1, H, W)`` in [0, 1].
        y : ignored
            Accepted (labels or record array) for pipelines.

        Returns
        -------
        self
        """
        self.__dict__.pop("n_descriptor_features_", None)  # a failed refit is not fitted
        self._check_batch_size()
        self._prepare()
        X4, _ = validate_patch_size(self, X, reset=True, keep_uint8=True)
        if y is not None:
            check_labels(y, X4.shape[0])
        self.n_descriptor_features_ = int(self._describe(X4[:2], None).shape[1])
        return self

    def transform(self, X):
        """Descriptors ``(n, D)`` float32, as the wrapped descriptor returns them.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches of the side seen in ``fit``.

        Returns
        -------
        descriptors : ndarray of shape (n, D), float32
            Not normalised here (the wrapped descriptor decides).

        Raises
        ------
        ValueError
            An output that is not ``(B, D)`` with the length seen in ``fit``
            (the message gives the shape), or that holds NaN or infinity (the
            message names the first bad row of ``X``).
        """
        check_is_fitted(self, "n_descriptor_features_")
        X4, _ = validate_patch_size(self, X, reset=False, keep_uint8=True)
        return self._describe(X4, self.n_descriptor_features_)

    @property
    def _n_features_out(self):
        check_is_fitted(self, "n_descriptor_features_")
        return self.n_descriptor_features_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags


class TorchModuleDescriptor(_BaseWrapped):
    """A user's torch module as a fitted patch descriptor.

    The module maps float32 grey patches ``(B, 1, S, S)`` in [0, 1] to
    descriptors ``(B, D)``. ``fit`` copies it (``module_``, in eval mode, on
    ``device``: the ``module`` parameter itself is never changed), checks the
    patches and records the patch size and ``D``; ``transform`` runs it in
    batches under ``torch.inference_mode`` with the library's input checks,
    and checks every output.

    Parameters
    ----------
    module : torch.nn.Module
        E.g. ``kornia.feature.HardNet()`` with the user's weights
        (``load_state_dict``), ``kornia.feature.SOSNet``, ``HyNet``,
        ``TFeat``, or the user's own network. Patches must have the side it
        takes (kornia's HardNet: 32).
    inference_batch_size : int, default=256
        Patches per forward pass.
    device : str, default="cpu"
        Where the copy runs (``"cuda"``, ``"cuda:1"`` ...); results come
        back as numpy arrays on the CPU. ``set_params(device=...)`` after
        ``fit`` moves the copy.
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Precision of the forward passes (autocast; the descriptors come back
        as float32), as for the library's own networks; see the user guide,
        "Precision, devices and threads".

    Attributes
    ----------
    module_ : torch.nn.Module
        The copy of ``module`` that runs (eval mode, on ``device``).
    n_descriptor_features_ : int
        Descriptor length ``D``.
    patch_size_, n_features_in_ : int
        Side and pixel count of the patches seen in ``fit``.

    See Also
    --------
    FunctionDescriptor : the same for a numpy function.

    Notes
    -----
    :func:`sklearn_patchdesc.persistence.save` refuses a descriptor wrapping
    a module of a class it cannot rebuild without pickle (any class outside
    this library), with a message naming the class: store the module's
    ``state_dict`` yourself (e.g. with safetensors) and wrap it again, or use
    joblib (pickle) for files you trust.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())  # 16-d "descriptor"
    >>> X = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    >>> TorchModuleDescriptor(net).fit(X).transform(X).shape
    (5, 16)
    """

    _what = "module"
    _required_parameters = ["module"]

    def __init__(self, module, *, inference_batch_size=256, device="cpu", precision="fp32"):
        self.module = module
        self.inference_batch_size = inference_batch_size
        self.device = device
        self.precision = precision

    def _prepare(self):
        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(
                f"module must be a torch.nn.Module mapping (B, 1, S, S) patches to (B, D); got "
                f"{type(self.module).__name__}. Wrap a numpy function with FunctionDescriptor.")
        check_device(self.device)
        resolve_precision(self.precision, self.device)
        self.module_ = copy.deepcopy(self.module).to(self.device).eval()

    def _device(self):
        device = check_device(self.device)
        self.module_.to(device)  # follows set_params(device=...) after fit
        return device

    def _precision(self):
        return resolve_precision(self.precision, self.device)

    def _call(self, xb):
        try:
            out = self.module_(xb)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(
                f"the wrapped module failed on a batch of shape {tuple(xb.shape)}: "
                f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the wrapped module returned {type(out).__name__}, not a tensor "
                            "(B, D)")
        return out.float()


class FunctionDescriptor(_BaseWrapped):
    """A numpy function as a fitted patch descriptor.

    ``func(batch)`` receives float32 numpy patches ``(B, 1, S, S)`` in
    [0, 1] and returns an array-like ``(B, D)``; batching, input and output
    checks are those of :class:`TorchModuleDescriptor`.

    Parameters
    ----------
    func : callable
        The descriptor function (picklable, e.g. a module-level function, if
        the estimator is to be cloned into joblib workers).
    inference_batch_size : int, default=256
        Patches per call.

    Attributes
    ----------
    n_descriptor_features_ : int
    patch_size_, n_features_in_ : int

    See Also
    --------
    TorchModuleDescriptor : the same for a torch module.

    Examples
    --------
    >>> import numpy as np
    >>> def mean_rows(batch):               # 16-d: the mean of every row
    ...     return batch[:, 0].mean(axis=2)
    >>> X = np.random.default_rng(0).integers(0, 256, (5, 16, 16), dtype=np.uint8)
    >>> FunctionDescriptor(mean_rows).fit(X).transform(X).shape
    (5, 16)
    """

    _what = "function"
    _required_parameters = ["func"]

    def __init__(self, func, *, inference_batch_size=256):
        self.func = func
        self.inference_batch_size = inference_batch_size

    def _prepare(self):
        if not callable(self.func) or isinstance(self.func, torch.nn.Module):
            raise TypeError(f"func must be a numpy function (B, 1, S, S) -> (B, D); got "
                            f"{type(self.func).__name__} (wrap torch modules with "
                            "TorchModuleDescriptor).")

    def _device(self):
        return "cpu"

    def _call(self, xb):
        out = np.asarray(self.func(xb.numpy()))
        if out.dtype.kind not in "biuf":
            raise TypeError(f"the wrapped function returned dtype {out.dtype}; descriptors "
                            "must be numbers")
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
