"""Classical denoisers without training, with the network denoisers' interface."""
from __future__ import annotations

import numbers

import numpy as np
from joblib import Parallel, delayed
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from .._validation import restore_patches, validate_patch_size
from ._base import patch_psnr_score

__all__ = ["GaussianDenoiser", "NLMeansDenoiser"]


class _ClassicalDenoiser(TransformerMixin, BaseEstimator):
    """Shared fit / transform / score of the training-free denoisers."""

    def _check_params(self):
        """Validate parameters (subclass hook)."""

    def fit(self, X, y=None):
        """Validate ``X`` and record the patch size; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
        y : ignored
            Accepted so the denoiser fits in any pipeline.

        Returns
        -------
        self
        """
        self._check_params()
        validate_patch_size(self, X, reset=True)
        return self

    def _validate(self, X):
        return validate_patch_size(self, X, reset=False)

    def transform(self, X):
        """Denoise patches; same layout and dtype as ``X`` (uint8 -> uint8).

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)

        Returns
        -------
        X_denoised : ndarray
        """
        self._check_params()
        X4, layout = self._validate(X)
        return restore_patches(self._denoise(X4[:, 0])[:, None], layout)

    def score(self, X, y):
        """Mean per-patch PSNR (dB, [0, 1] scale) of ``transform(X)`` against clean ``y``.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Noisy patches.
        y : array-like of X's shape
            Their clean versions.

        Returns
        -------
        score : float
            Mean PSNR in dB; higher is better.
        """
        return patch_psnr_score(X, y, self.transform(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.requires_fit = True
        return tags


class GaussianDenoiser(_ClassicalDenoiser):
    """Gaussian smoothing of every patch (classical baseline, no training).

    Parameters
    ----------
    sigma : float, default=1.0
        Standard deviation of the Gaussian kernel, in pixels (0 = identity).
    mode : str, default="reflect"
        Border handling of :func:`scipy.ndimage.gaussian_filter`.

    Attributes
    ----------
    patch_size_ : int
    n_features_in_ : int

    Notes
    -----
    Used in a pipeline as is (``fit`` only records the patch size), or
    through :class:`sklearn.frozen.FrozenEstimator` like the network
    denoisers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_patchdesc.denoise import GaussianDenoiser
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 32, 32)).astype(np.uint8)
    >>> GaussianDenoiser(sigma=1.0).fit(X).transform(X).dtype
    dtype('uint8')
    """

    def __init__(self, *, sigma=1.0, mode="reflect"):
        self.sigma = sigma
        self.mode = mode

    def _check_params(self):
        if (not isinstance(self.sigma, numbers.Real) or isinstance(self.sigma, bool)
                or not np.isfinite(self.sigma) or self.sigma < 0):
            raise ValueError(f"sigma must be a finite number >= 0; got {self.sigma!r}.")

    def _denoise(self, X3):
        return ndimage.gaussian_filter(X3, sigma=(0, self.sigma, self.sigma), mode=self.mode)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def estimate_noise_sigma(X3):
    """Per-patch Gaussian noise std by Immerkaer's method (1996).

    The patch is filtered with the difference of two Laplacians (which
    cancels smooth content); ``sigma = sqrt(pi / 2) * mean|response| / 6``
    over the interior pixels. No PyWavelets needed.

    Parameters
    ----------
    X3 : ndarray of shape (n, H, W)

    Returns
    -------
    sigma : ndarray of shape (n,)
    """
    X3 = np.asarray(X3, dtype=np.float64)
    if X3.shape[-1] < 3 or X3.shape[-2] < 3:
        return np.zeros(len(X3))
    resp = ndimage.correlate(X3, _IMMERKAER[None], mode="constant")[:, 1:-1, 1:-1]
    return np.sqrt(np.pi / 2.0) * np.abs(resp).mean(axis=(1, 2)) / 6.0


def _nl_means_one(patch, h, sigma, patch_size, patch_distance, fast_mode):
    from skimage.restoration import denoise_nl_means

    if h is None:
        h = 0.8 * sigma
    if h <= 0:
        return patch
    return denoise_nl_means(patch, h=h, sigma=sigma, patch_size=patch_size,
                            patch_distance=patch_distance, fast_mode=fast_mode)


class NLMeansDenoiser(_ClassicalDenoiser):
    """Non-local means per patch (scikit-image), classical baseline, no training.

    Parameters
    ----------
    h : float or None, default=None
        Filtering strength on the [0, 1] scale; ``None`` uses ``0.8 * sigma``
        (scikit-image's suggested setting with a noise estimate).
    sigma : float or None, default=None
        Noise standard deviation on the [0, 1] scale; ``None`` estimates it
        per patch (Immerkaer's Laplacian-difference estimator).
    patch_size : int, default=5
        Side of the comparison windows.
    patch_distance : int, default=6
        Search radius.
    fast_mode : bool, default=True
    n_jobs : int or None, default=None
        Parallel jobs over patches (joblib).

    Attributes
    ----------
    patch_size_ : int
        Side of the patches seen in ``fit`` (not the NL-means window).
    n_features_in_ : int
    """

    def __init__(self, *, h=None, sigma=None, patch_size=5, patch_distance=6, fast_mode=True,
                 n_jobs=None):
        self.h = h
        self.sigma = sigma
        self.patch_size = patch_size
        self.patch_distance = patch_distance
        self.fast_mode = fast_mode
        self.n_jobs = n_jobs

    def _check_params(self):
        for name in ("h", "sigma"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool)
                                  or not np.isfinite(v) or v < 0):
                raise ValueError(f"{name} must be None or a finite number >= 0; got {v!r}.")
        for name in ("patch_size", "patch_distance"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")

    def _denoise(self, X3):
        X3 = X3.astype(np.float64)
        # windows no larger than the patch itself (tiny patches)
        side = X3.shape[-1]
        ps = max(1, min(self.patch_size, side))
        pd = max(1, min(self.patch_distance, side))
        sigmas = (estimate_noise_sigma(X3) if self.sigma is None
                  else np.full(len(X3), float(self.sigma)))
        args = (ps, pd, self.fast_mode)
        if self.n_jobs in (None, 1):
            out = [_nl_means_one(p, self.h, s, *args) for p, s in zip(X3, sigmas)]
        else:
            out = Parallel(n_jobs=self.n_jobs)(
                delayed(_nl_means_one)(p, self.h, s, *args) for p, s in zip(X3, sigmas))
        return np.stack(out).astype(np.float32)
