"""Denoising quality per patch: PSNR and SSIM, vectorised over a patch stack.

Data range conventions: uint8 patches are on the 0..255 scale (data range
255); float patches on [0, 1] (data range 1.0, and held to the library's
input-scale rule) unless ``data_range`` is given, which names their scale.
When one input is uint8 and the other float, the uint8 one is divided by 255
and the float one is taken on [0, 1].
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from .._validation import check_patches

__all__ = ["patch_psnr", "patch_ssim"]


def _as_float(A, layout):
    # validated by check_patches; re-read in float64 (check_patches gives float32)
    A = np.asarray(A)
    return A.reshape(A.shape[0], layout.size, layout.size).astype(np.float64)


def _pair(clean, denoised, data_range=None):
    # a data_range names the float scale: the [0, 1] rule holds only without one
    scale = data_range is None
    _, lc = check_patches(clean, name="clean", float_scale=scale)
    _, ld = check_patches(denoised, name="denoised", float_scale=scale)
    c, d = _as_float(clean, lc), _as_float(denoised, ld)
    if c.shape != d.shape:
        raise ValueError(f"clean has {c.shape[0]} patches of {lc.size}x{lc.size} but denoised has "
                         f"{d.shape[0]} of {ld.size}x{ld.size}; they must match.")
    if lc.is_uint8 and ld.is_uint8:
        return c, d, 255.0
    if lc.is_uint8:
        c /= 255.0
    if ld.is_uint8:
        d /= 255.0
    return c, d, 1.0


def _check_range(data_range, default):
    if data_range is None:
        return default
    if not np.isscalar(data_range) or not data_range > 0:
        raise ValueError(f"data_range must be a positive number; got {data_range!r}.")
    return float(data_range)


def patch_psnr(clean, denoised, *, data_range=None, average=True):
    """Peak signal-to-noise ratio of each patch, in dB.

    Parameters
    ----------
    clean, denoised : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
        uint8 (0..255) or float patches.
    data_range : float, optional
        Peak value range: 255 for uint8 inputs, 1.0 for float inputs by default.
    average : bool, default=True
        Return the mean over patches (else one value per patch).

    Returns
    -------
    psnr : float or ndarray of shape (n,)
        ``10 log10(data_range^2 / MSE)`` per patch; +inf for identical patches.
    """
    c, d, default = _pair(clean, denoised, data_range)
    rng = _check_range(data_range, default)
    mse = ((c - d) ** 2).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(rng ** 2 / mse)
    return float(psnr.mean()) if average else psnr


def patch_ssim(clean, denoised, *, data_range=None, win_size=7, average=True):
    """Structural similarity (Wang et al. 2004) of each patch.

    Same definition as ``skimage.metrics.structural_similarity`` with its
    defaults (uniform ``win_size`` x ``win_size`` window, K1 = 0.01, K2 = 0.03,
    sample covariance, mean over the window-valid area), vectorised.

    Parameters
    ----------
    clean, denoised : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
    data_range : float, optional
        255 for uint8 inputs, 1.0 for float inputs by default.
    win_size : int, default=7
        Odd window side, at most the patch side.
    average : bool, default=True
        Return the mean over patches (else one value per patch).

    Returns
    -------
    ssim : float or ndarray of shape (n,)
    """
    c, d, default = _pair(clean, denoised, data_range)
    rng = _check_range(data_range, default)
    if not isinstance(win_size, (int, np.integer)) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer >= 3; got {win_size!r}.")
    if win_size > c.shape[-1]:
        raise ValueError(f"win_size={win_size} exceeds the patch side {c.shape[-1]}.")
    f = lambda a: uniform_filter(a, size=win_size, axes=(1, 2))  # noqa: E731
    npix = win_size ** 2
    cov_norm = npix / (npix - 1)
    ux, uy = f(c), f(d)
    vx = cov_norm * (f(c * c) - ux * ux)
    vy = cov_norm * (f(d * d) - uy * uy)
    vxy = cov_norm * (f(c * d) - ux * uy)
    C1, C2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    S = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux ** 2 + uy ** 2 + C1) * (vx + vy + C2))
    pad = (win_size - 1) // 2
    ssim = S[:, pad:S.shape[1] - pad, pad:S.shape[2] - pad].mean(axis=(1, 2))
    return float(ssim.mean()) if average else ssim
