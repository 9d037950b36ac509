"""Descriptor validation and blocked distance computations (L2, L1, Hamming).

Distances between many pairs of rows (verification) are computed row-wise in
blocks; distances between two sets (matching, retrieval) use one matrix product
per block for L2 and Hamming (``|a|^2 + |b|^2 - 2 a.b``) and SciPy's ``cdist``
for L1 (no matrix-product form exists for L1, so it is markedly slower).

Hamming descriptors are bits: a bool array, integers holding only 0 and 1 (one
bit per column), or ``np.packbits`` bytes (uint8 with any value above 1, unpacked
here). The Hamming distance is the number of differing bits.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["DISTANCES", "check_descriptors", "rowwise_distances", "cross_distances"]

DISTANCES = ("l2", "l1", "hamming")

# Rows per block of the row-wise and cross computations (bounded memory).
_ROW_BLOCK = 1 << 13


class Timer:
    """Accumulates the wall time spent in distance computations."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._t0


def check_distance(distance):
    if not isinstance(distance, str) or distance.lower() not in DISTANCES:
        raise ValueError(f"Unknown distance {distance!r}; valid options are {DISTANCES}.")
    return distance.lower()


def check_descriptors(descriptors, distance="l2", *, name="descriptors"):
    """Validate descriptors and return them as a float array ready for ``distance``.

    Returns float32 for float32/float16/bits input and float64 otherwise.
    """
    distance = check_distance(distance)
    if hasattr(descriptors, "toarray"):
        raise TypeError(f"{name} is a sparse matrix; pass a dense (n, d) array.")
    X = np.asarray(descriptors)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric (n, d) array; got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d); got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}).")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    if distance == "hamming":
        if X.dtype.kind == "f":
            if not np.isin(X, (0.0, 1.0)).all():
                raise ValueError(
                    f"distance='hamming' needs binary {name} (bool, 0/1 values or "
                    "np.packbits uint8 bytes); got float values other than 0 and 1."
                )
        elif X.dtype == np.uint8 and X.max() > 1:
            X = np.unpackbits(X, axis=1)
        elif X.dtype.kind in "iu" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"distance='hamming' needs binary {name} (bool, 0/1 values or "
                "np.packbits uint8 bytes)."
            )
        return X.astype(np.float32)
    if X.dtype in (np.float32, np.float16):
        return X.astype(np.float32, copy=False)
    return X.astype(np.float64, copy=False)


def rowwise_distances(X, i, j, distance, out=None):
    """Distances between rows ``X[i[k]]`` and ``X[j[k]]`` for every k.

    Computed directly (difference, then norm) in the descriptors' precision
    (float32 descriptors: float32; the official code uses float64, which only
    matters for distances equal to ~1e-7 relative).
    """
    n = len(i)
    out = np.empty(n, dtype=np.float64) if out is None else out
    for s in range(0, n, _ROW_BLOCK):
        a = X[i[s:s + _ROW_BLOCK]]
        a -= X[j[s:s + _ROW_BLOCK]]
        if distance == "l2":
            out[s:s + len(a)] = np.sqrt(np.einsum("ij,ij->i", a, a))
        else:  # l1, and hamming on 0/1 floats (= number of differing bits)
            out[s:s + len(a)] = np.abs(a).sum(axis=1)
    return out


def sq_norms(X):
    return np.einsum("ij,ij->i", X, X)


def cross_distances(A, B, distance, *, b_norms=None):
    """Full distance matrix between the rows of ``A`` and of ``B``.

    For L2 the matrix-product form is used and clipped at 0 before the square
    root; for Hamming the product form is exact (integers).
    """
    if distance == "l1":
        return cdist(A, B, "cityblock").astype(A.dtype, copy=False)
    bn = sq_norms(B) if b_norms is None else b_norms
    D = A @ B.T
    D *= -2
    D += sq_norms(A)[:, None]
    D += bn[None, :]
    if distance == "l2":
        np.maximum(D, 0, out=D)
        np.sqrt(D, out=D)
    return D


def nearest_neighbours(A, B, distance, *, block_elems=1 << 24):
    """Index of the nearest row of ``B`` for every row of ``A`` and its distance.

    Ties go to the first column (``argmin``).  For L2 the neighbour is found on
    ``|b|^2 - 2 a.b`` (same order as the distance) and its distance is then
    recomputed directly in float64, so reported distances are exact.
    """
    nn = np.empty(len(A), dtype=np.int64)
    step = max(1, block_elems // max(1, len(B)))
    bn = None if distance == "l1" else sq_norms(B)
    for s in range(0, len(A), step):
        a = A[s:s + step]
        if distance == "l1":
            D = cdist(a, B, "cityblock")
        else:
            D = a @ B.T
            D *= -2
            D += bn[None, :]
        nn[s:s + step] = np.argmin(D, axis=1)
    diff = A.astype(np.float64) - B[nn]
    if distance == "l2":
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    else:
        dist = np.abs(diff).sum(axis=1)
    return nn, dist
