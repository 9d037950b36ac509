"""Error maps of reconstructions, renormalised as in seed 003's figures.

Differences between an image and its reconstruction are often too small to
see, so seed 003 shows two renormalised maps per image: the signed difference
mapped to [0, 1] with no error at mid-grey, and the absolute difference mapped
to [0, 1] with no error at black. Renormalisation is per image, so intensities
show where the error is within an image, not how large it is compared to other
images.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_patches

__all__ = ["error_maps"]


def error_maps(X, reconstructions):
    """Signed and absolute error maps of ``reconstructions`` against ``X``.

    Parameters
    ----------
    X, reconstructions : array-like of patches
        Same number and size of patches, any accepted layout (``(n, H, W)``,
        ``(n, 1, H, W)``, ``(n, H*W)``); uint8 is read on the 0..255 scale,
        float on [0, 1].

    Returns
    -------
    signed : ndarray of shape (n, H, W), float32
        ``0.5 + d / (2 max|d|)`` with ``d = X - reconstruction``: 0.5 (grey) is
        no error, lighter means the reconstruction is too dark.
    absolute : ndarray of shape (n, H, W), float32
        ``|d| / max|d|``: 0 (black) is no error.
        An exact reconstruction gives all-grey and all-black maps.
    """
    X4, lx = check_patches(X, name="X")
    R4, lr = check_patches(reconstructions, name="reconstructions")
    if X4.shape != R4.shape:
        raise ValueError(
            f"X and reconstructions must hold the same patches; got {len(X4)} patches of "
            f"{lx.size}x{lx.size} and {len(R4)} of {lr.size}x{lr.size}."
        )
    d = (X4 - R4)[:, 0]
    scale = np.abs(d).reshape(len(d), -1).max(axis=1).reshape(-1, 1, 1)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return (0.5 + d / (2 * scale)).astype(np.float32), (np.abs(d) / scale).astype(np.float32)
