"""Handcrafted baselines: mean/std-normalised pixels and SIFT on the whole patch.

Both are stateless transformers (``fit`` only records the patch size) with
the interface of the learned descriptors, computed for all patches at once
(chunks of patches bound the memory, never a loop per patch): raw pixels
with numpy, SIFT by ``kornia.feature.SIFTDescriptor``.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .._data import release_pages, run_batched
from .._validation import check_labels, validate_patch_size
from ._descriptor_mixin import DescriptorMixin

__all__ = ["RawPatchDescriptor", "SIFTPatchDescriptor"]

_CHUNK = 2048  # patches per vectorised step


class _HandcraftedDescriptor(DescriptorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                             BaseEstimator):
    _min_size = 1

    def fit(self, X, y=None):
        """Record the patch size (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
        y : ignored
            Accepted (labels or record array) for pipelines.

        Returns
        -------
        self
        """
        self._check_params()
        X4, _ = validate_patch_size(self, X, reset=True, min_size=self._min_size,
                                    keep_uint8=True)
        try:
            self._check_patch_size(self.patch_size_)
        except ValueError:
            for name in ("patch_size_", "n_features_in_"):  # not fitted after all
                self.__dict__.pop(name, None)
            raise
        if y is not None:
            check_labels(y, X4.shape[0])
        return self

    def _check_patch_size(self, size):
        """Raise a ``ValueError`` for a patch side this descriptor cannot describe (hook)."""

    def transform(self, X):
        """Descriptors ``(n, d)`` float32.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches of the side recorded by ``fit``.

        Returns
        -------
        descriptors : ndarray of shape (n, d), float32
            ``d`` = H*W for raw pixels, 128 for SIFT.
        """
        X4, _ = validate_patch_size(self, X, reset=False, min_size=self._min_size,
                                    keep_uint8=True)
        return self._describe_all(X4)

    def _describe_all(self, X4):
        out = None
        for i in range(0, X4.shape[0], _CHUNK):  # filled in place: no second full-size copy
            d = self._describe(X4[i:i + _CHUNK, 0].astype(np.float32))
            if out is None:
                out = np.empty((X4.shape[0], d.shape[1]), dtype=np.float32)
            out[i:i + len(d)] = d
            release_pages(X4[i:i + _CHUNK])
        return out

    def _check_params(self):
        pass

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags


def _standardize(P, eps=1e-8):
    mean = P.mean(axis=(1, 2), keepdims=True)
    std = P.std(axis=(1, 2), keepdims=True)
    return (P - mean) / np.maximum(std, eps)


class RawPatchDescriptor(_HandcraftedDescriptor):
    """Mean/std-normalised pixels (the "MStd" baseline of HPatches).

    Each patch (optionally resized to ``size`` x ``size``) has its mean
    subtracted and is divided by its standard deviation (flat patches give
    zeros), then flattened.

    Parameters
    ----------
    size : int, optional
        Resize patches to this side first (bilinear, antialiased); None keeps
        them as they are (32x32 -> 1024-d).
    """

    def __init__(self, *, size=None):
        self.size = size

    def _check_params(self):
        if self.size is not None and (not isinstance(self.size, (int, np.integer)) or self.size < 1):
            raise ValueError(f"size must be a positive integer or None; got {self.size!r}.")

    @property
    def _n_features_out(self):
        side = self.size if self.size is not None else self.patch_size_
        return side * side

    def _describe(self, P):
        if self.size is not None and self.size != P.shape[-1]:
            t = torch.from_numpy(np.ascontiguousarray(P))[:, None]
            P = torch.nn.functional.interpolate(
                t, size=(self.size, self.size), mode="bilinear", align_corners=False,
                antialias=True)[:, 0].numpy()
        return _standardize(P).reshape(len(P), -1)


class SIFTPatchDescriptor(_HandcraftedDescriptor):
    """SIFT computed over the whole patch as one keypoint region (upright), by kornia.

    The descriptor is ``kornia.feature.SIFTDescriptor`` (Lowe 2004 sec. 6.1,
    kornia >= 0.9), run on the patches in batches through the library's
    inference loop (its thread policy, memory-mapped input released as it
    goes); this class adds the library's input checks and the scikit-learn
    interface. The parameters map onto kornia's arguments:

    ========== ==================================
    here       ``kornia.feature.SIFTDescriptor``
    ========== ==================================
    patch side ``patch_size`` (recorded by ``fit``)
    n_cells    ``num_spatial_bins``
    n_bins     ``num_ang_bins``
    clip       ``clipval``
    root       ``rootsift``
    ========== ==================================

    What kornia computes: image gradients (central differences, borders
    replicated) weighted by a Gaussian of sigma = side / sqrt(2) centred on
    the patch; each gradient's magnitude is shared linearly between the two
    nearest of ``n_bins`` orientation bins (bin 0 along +x, angles towards
    +y, i.e. down the rows) and pooled into ``n_cells x n_cells`` cells
    ``side // n_cells`` pixels apart by a triangular kernel; the vector is
    L2-normalised, clipped at ``clip`` and renormalised. ``root=True`` gives
    RootSIFT (Arandjelovic & Zisserman 2012): L1 normalisation then
    element-wise square root (kornia adds 1e-10 under the root, so a flat
    patch gives 1e-5 in every entry, and 0 without ``root``). No dominant
    orientation is assigned: HPatches patches are already normalised for
    orientation.

    The only difference from kornia's output is the order of the values:
    kornia's is orientation-major, this one stays cell-major as before
    (cells row by row, the ``n_bins`` orientations of each cell together), so
    ``ours[:, c * n_bins + a] == kornia[:, a * n_cells**2 + c]``.
    ``tests/test_describe_sift_reference.py`` checks the two agree on patches
    cut from real sequences. The side must be one kornia can pool into
    ``n_cells`` cells (at least ``n_cells``; 4 cells take any side from 8
    up, 32 included); ``fit`` says so otherwise.

    Parameters
    ----------
    n_cells : int, default=4
        Spatial cells per side (kornia's ``num_spatial_bins``).
    n_bins : int, default=8
        Orientation bins per cell (kornia's ``num_ang_bins``).
    clip : float, default=0.2
        Clipping value of the normalised histogram (kornia's ``clipval``).
    root : bool, default=False
        RootSIFT (kornia's ``rootsift``; kornia's own default is True).
    """

    def __init__(self, *, n_cells=4, n_bins=8, clip=0.2, root=False):
        self.n_cells = n_cells
        self.n_bins = n_bins
        self.clip = clip
        self.root = root

    def _check_params(self):
        for name in ("n_cells", "n_bins"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        if not (0 < float(self.clip) <= 1):
            raise ValueError(f"clip must be in (0, 1]; got {self.clip!r}.")

    def _check_patch_size(self, size):
        self._sift_module(size)  # kornia must pool this side into n_cells cells

    @property
    def _n_features_out(self):
        return self.n_cells * self.n_cells * self.n_bins

    def _sift_module(self, size):
        from kornia.feature import SIFTDescriptor

        n_cells = int(self.n_cells)
        if not _poolable(size, n_cells):
            below = [s for s in range(size - 1, n_cells - 1, -1) if _poolable(s, n_cells)][:1]
            above = [s for s in range(size + 1, 2 * size + n_cells) if _poolable(s, n_cells)][:1]
            raise ValueError(
                f"kornia's SIFTDescriptor cannot pool {size}x{size} patches into "
                f"n_cells={n_cells} cells per side (a centred grid of cells {size // n_cells} "
                f"px apart); the nearest sides it can: {below + above}. Resize the patches "
                "or change n_cells.")
        return SIFTDescriptor(size, num_ang_bins=int(self.n_bins), num_spatial_bins=n_cells,
                              rootsift=bool(self.root), clipval=float(self.clip))

    def _describe_all(self, X4):
        size, cells, bins = X4.shape[-1], int(self.n_cells) ** 2, int(self.n_bins)
        D = run_batched(self._sift_module(size), X4, batch_size=_CHUNK)
        # kornia's orientation-major layout -> cell-major (see the class doc)
        cell_major = (np.arange(bins)[None, :] * cells + np.arange(cells)[:, None]).ravel()
        return np.ascontiguousarray(D[:, cell_major], dtype=np.float32)


def _poolable(size, n_cells):
    from kornia.feature.siftdesc import get_sift_bin_ksize_stride_pad

    try:
        get_sift_bin_ksize_stride_pad(size, n_cells)
    except ValueError:
        return False
    return True
