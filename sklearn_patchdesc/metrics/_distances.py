"""Descriptor validation and distances that keep exact ties exact.

**Tie rule.**  The official HPatches code computes every distance in float64
with SciPy (``cdist`` on the float32 descriptors: exact differences, squares
summed dimension by dimension in order, then the square root) and ranks with a
stable sort, so two distances are tied exactly when those float64 values are
equal.  Every distance this module *returns* is computed the same way
(:func:`paired_distances`: float64, sequential sum, bit-identical to ``cdist``).

Speed comes from the matrix-product form ``|a|^2 + |b|^2 - 2 a.b`` in the
descriptors' precision, used only to *select*: its rounding error is bounded
(:func:`cross_keys`), and every decision the product cannot make safely (two
candidates within that bound of each other, or of a positive's distance) is
taken on exact values recomputed for those few pairs.  L1 has no product form;
SciPy's ``cdist`` is used directly (it is the official computation).

Hamming descriptors are bits: a bool array, integers holding only 0 and 1 (one
bit per column), or ``np.packbits`` bytes (uint8 with any value above 1, unpacked
here).  The Hamming distance is the number of differing bits (= L1 on 0/1).
``masked_l1`` is the official masked distance: the first half of the columns
are values, the second half their masks, distance = L1 of ``values * mask``.

**Scale.**  Squared distances of descriptors near 1e200 overflow and those
near 1e-200 underflow (every distance 0 or inf: all tied).  A descriptor set
whose largest magnitude lies outside ``[2**-SAFE_EXPONENT, 2**SAFE_EXPONENT]``
is multiplied by a power of two that brings it to ``[0.5, 1)``
(:func:`unit_scale`): exact in floating point, so every distance scales by
the same power of two, every rounding and tie is the one of the unscaled
arithmetic, and the scores do not depend on the scale.  Sets inside the range
(any real descriptor) are left untouched, bit for bit.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["DISTANCES", "check_descriptors", "check_finite", "unit_scale", "paired_distances",
           "rowwise_distances", "fast_rowwise_distances", "near_other", "cross_keys", "key_to_distance", "nearest_neighbours"]

DISTANCES = ("l2", "l1", "hamming", "masked_l1")

# Rows per block of the row-wise computations (bounded memory).
_ROW_BLOCK = 1 << 13
#: magnitudes within 2**+-SAFE_EXPONENT square and sum without overflow or
#: underflow even in float32 over 10**5 dimensions (float32 spans 2**+-126)
SAFE_EXPONENT = 20


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


def _bad_bits(name):
    return ValueError(f"distance='hamming' needs binary {name} (bool, 0/1 values or "
                      "np.packbits uint8 bytes)")


def check_descriptors(descriptors, distance="l2", *, name="descriptors"):
    """Validate descriptors and return ``(X, distance)`` ready for the tasks.

    ``X`` is float32 for float32/float16/bits input and float64 otherwise;
    ``masked_l1`` descriptors come back as ``values * mask`` with distance
    ``"l1"``.  Finiteness is checked separately (:func:`check_finite`) so the
    error can name the patch.
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
    if distance == "hamming":
        if X.dtype.kind == "f":
            if not np.isin(X, (0.0, 1.0)).all():
                raise _bad_bits(name)
        elif X.dtype == np.uint8 and X.max() > 1:
            X = np.unpackbits(X, axis=1)
        elif X.dtype.kind in "iu" and (X.min() < 0 or X.max() > 1):
            raise _bad_bits(name)
        return X.astype(np.float32), distance
    X = X.astype(np.float32 if X.dtype in (np.float32, np.float16) else np.float64, copy=False)
    if distance == "masked_l1":
        if X.shape[1] % 2:
            raise ValueError(f"distance='masked_l1' needs {name} with an even number of "
                             f"columns (values, then masks); got {X.shape[1]}.")
        h = X.shape[1] // 2
        # the product in the descriptors' dtype, as official
        return unit_scale(X[:, :h] * X[:, h:]), "l1"
    return unit_scale(X), distance


def unit_scale(X):
    """``X`` times the power of two bringing its largest magnitude to [0.5, 1), if needed.

    Only when that magnitude is outside ``[2**-SAFE_EXPONENT,
    2**SAFE_EXPONENT]`` (else ``X`` itself); see the module notes.  Sets
    holding NaN or infinity are returned as given (:func:`check_finite`
    names them).
    """
    with np.errstate(invalid="ignore"):
        top = max(abs(float(X.max())), abs(float(X.min())))
    if not np.isfinite(top) or top == 0:
        return X
    exponent = int(np.frexp(top)[1])  # top = m * 2**exponent, 0.5 <= m < 1
    if abs(exponent) <= SAFE_EXPONENT:
        return X
    return np.ldexp(X, -exponent).astype(X.dtype, copy=False)


def check_finite(X, describe_row, *, name="descriptors"):
    """ValueError naming the first row holding NaN or infinity.

    ``describe_row(r)`` returns a phrase naming row ``r`` (e.g. its sequence,
    image and patch index).  Row sums in float64 find candidate rows without a
    full-size boolean temporary.
    """
    sums = np.add.reduce(X, axis=1, dtype=np.float64)
    suspect = np.flatnonzero(~np.isfinite(sums))
    if suspect.size == 0:
        return
    bad = suspect[~np.isfinite(X[suspect]).all(axis=1)]
    if bad.size == 0:  # float64 overflow of a finite row
        return
    r = int(bad[0])
    col = int(np.flatnonzero(~np.isfinite(X[r]))[0])
    raise ValueError(
        f"{name} contain NaN or infinity in {bad.size} row(s); the first is row {r} "
        f"({describe_row(r)}), value {float(X[r, col])} in column {col}."
    )


# ------------------------------------------------------------ exact distances
def paired_distances(A, B, distance):
    """Exact distance between ``A[k]`` and ``B[k]`` for every k (float64).

    The arithmetic of SciPy's ``cdist``: float64 differences, terms summed
    over the dimensions in order (a reduction along the first axis of the
    transposed block is a sequential sum per column; ``sum(axis=1)`` would be
    pairwise and round differently), square root for L2.
    """
    D = np.asarray(A, dtype=np.float64) - B
    if distance == "l2":
        D *= D
    else:
        np.abs(D, out=D)
    s = np.add.reduce(np.ascontiguousarray(D.T), axis=0)
    return np.sqrt(s, out=s) if distance == "l2" else s


def rowwise_distances(X, i, j, distance, out=None):
    """Exact distances between rows ``X[i[k]]`` and ``X[j[k]]`` for every k."""
    n = len(i)
    out = np.empty(n, dtype=np.float64) if out is None else out
    for s in range(0, n, _ROW_BLOCK):
        out[s:s + _ROW_BLOCK] = paired_distances(X[i[s:s + _ROW_BLOCK]], X[j[s:s + _ROW_BLOCK]],
                                                 distance)
    return out


def fast_rowwise_distances(X, i, js, distance):
    """Distances between rows ``X[i[k]]`` and ``X[j[k]]``, float64, any summation order.

    ``js`` is a sequence of index arrays sharing the left rows ``i`` (e.g. a
    positive and its negatives: the left row is gathered once for all of
    them).  Returns ``([d, ...], rel)``: float64 values per ``j`` and a
    relative error bound against :func:`paired_distances`, ``|d - exact| <=
    rel * d``.  The differences are the official float64 ones; only the
    summation order differs (vectorised instead of sequential), so ``rel =
    (2 d + 8) u`` in float64 (generous; 0 for Hamming, whose 0/1 sums are
    exact) and only true ties or values within ~1e-14 need the exact
    recomputation.  Random row reads are the cost here, not the arithmetic:
    rows are gathered with ``np.take`` into reused buffers.
    """
    n = len(i)
    step = _ROW_BLOCK // 2  # keeps the float64 block within the L2 cache
    outs = [np.empty(n, dtype=np.float64) for _ in js]
    b_buf = np.empty((min(n, step), X.shape[1]), dtype=X.dtype)
    a_buf = np.empty(b_buf.shape, dtype=np.float64)
    diff_buf = np.empty_like(a_buf)
    for s in range(0, n, step):
        b = b_buf[:len(i[s:s + step])]
        a, diff = a_buf[:len(b)], diff_buf[:len(b)]
        np.take(X, i[s:s + step], axis=0, out=b)
        np.copyto(a, b)
        for j, out in zip(js, outs):
            np.take(X, j[s:s + step], axis=0, out=b)
            np.copyto(diff, b)  # then a - b in float64 (cheaper than a casting subtract)
            np.subtract(a, diff, out=diff)
            if distance == "l2":
                np.sqrt(np.einsum("ij,ij->i", diff, diff), out=out[s:s + len(a)])
            else:
                np.abs(diff, out=diff)
                np.add.reduce(diff, axis=1, out=out[s:s + len(a)])
    rel = 0.0 if distance == "hamming" else (2 * X.shape[1] + 8) * np.finfo(np.float64).eps / 2
    return outs, rel


def near_other(values, values_sorted, rel, other_sorted):
    """Which ``values`` lie within the joint error bound of some value of ``other_sorted``.

    ``values_sorted`` is ``np.sort(values)``: the search runs on sorted
    needles (cache-friendly), and the few values found near are then looked
    up in ``values`` through a search into that short list.
    """
    if values.size == 0 or other_sorted.size == 0:
        return np.zeros(values.size, bool)
    if rel == 0:
        lo = hi = values_sorted
    else:
        lo = values_sorted * ((1 - rel) / (1 + rel))
        hi = values_sorted * ((1 + rel) / (1 - rel))
    near = (np.searchsorted(other_sorted, hi, side="right")
            > np.searchsorted(other_sorted, lo, side="left"))
    found = values_sorted[near]
    if found.size == 0:
        return np.zeros(values.size, bool)
    pos = np.minimum(np.searchsorted(found, values), found.size - 1)
    return found[pos] == values


# ------------------------------------------------------------ fast selection
def sq_norms(X):
    return np.einsum("ij,ij->i", X, X)


def augment(B):
    """``[B, 1, |b|^2]``: the right operand of :func:`cross_keys` (build once per set)."""
    Ba = np.empty((len(B), B.shape[1] + 2), dtype=B.dtype)
    Ba[:, :-2] = B
    Ba[:, -2] = 1
    Ba[:, -1] = sq_norms(B)
    return Ba


def cross_keys(A, B_aug, distance, *, row_constant=True):
    """Fast ``(len(A), len(B))`` matrix of distance *keys* and a per-row error bound.

    ``B_aug``: ``augment(B)`` (``B`` itself for L1).  The key is the squared
    distance for L2, the Hamming distance (0/1: exact) or the exact L1
    distance (``cdist``).  For L2 and Hamming one matrix product of ``[-2 a,
    |a|^2, 1]`` and ``[b, 1, |b|^2]`` gives ``|a|^2 + |b|^2 - 2 a.b`` without
    further passes over the matrix.  ``tol[i]`` bounds ``|key - exact key|``
    on row ``i``: in unit roundoff ``u`` with ``d`` dimensions, ``(2 d + 8) u
    (|a|^2 + max |b|^2)`` (the dot-product error bound over the ``d + 2``
    terms, whose magnitudes sum to at most ``2 (|a|^2 + |b|^2)``), 0 when
    exact.  ``row_constant=False`` leaves out ``|a|^2`` (same order within a
    row; the bound still holds).
    """
    if distance == "l1":
        return cdist(A, B_aug, "cityblock"), np.zeros(len(A))
    an = sq_norms(A)
    Aa = np.empty((len(A), A.shape[1] + 2), dtype=B_aug.dtype)
    np.multiply(A, -2, out=Aa[:, :-2])
    Aa[:, -2] = an if (row_constant or distance == "hamming") else 0
    Aa[:, -1] = 1
    K = Aa @ B_aug.T
    if distance == "hamming":
        return K, np.zeros(len(A))
    u = np.finfo(K.dtype).eps / 2
    tol = (2 * A.shape[1] + 8) * u * (an.astype(np.float64)
                                      + float(B_aug[:, -1].max(initial=0.0)))
    return K, tol


def bound_in_dtype(t, dtype):
    """Largest values of ``dtype`` not above ``t`` (float64): ``x <= t`` iff ``x <= bound``.

    For every ``x`` of ``dtype``; so a float32 matrix is compared with a
    float64 threshold in float32 (no float64 copy of the matrix).
    """
    t, dtype = np.asarray(t, dtype=np.float64), np.dtype(dtype)
    if dtype == np.float64:
        return t
    with np.errstate(over="ignore"):
        b = t.astype(dtype)
    return np.where(b > t, np.nextafter(b, dtype.type(-np.inf)), b)


def to_key(d, distance):
    """Key (see :func:`cross_keys`) of exact distances ``d``."""
    return d * d if distance == "l2" else d


def key_to_distance(K, distance):
    """Distances from keys (square root of the clipped squared distance for L2)."""
    K = np.asarray(K, dtype=np.float64)
    return np.sqrt(np.maximum(K, 0)) if distance == "l2" else K


def nearest_neighbours(A, B, distance, *, against=None, block_elems=1 << 24):
    """Index of the nearest row of ``B`` for every row of ``A`` and its exact distance.

    Exact ties (equal float64 distances, see the module notes) go to the first
    column, as ``argmin`` on the official distance matrix.  With ``against =
    (a_keys, b_keys)`` they go to the first tied column whose key differs from
    the row's (ties counted against a correct match).
    Candidates are the columns whose fast key is within twice the error bound
    of the row's smallest key; only rows with several candidates get more than
    one exact distance.
    """
    nn = np.empty(len(A), dtype=np.int64)
    step = max(1, block_elems // max(1, len(B)))
    Ba = B if distance == "l1" else augment(B)
    for s in range(0, len(A), step):
        a = A[s:s + step]
        K, tol = cross_keys(a, Ba, distance, row_constant=False)
        rows = np.arange(len(a))
        first = np.argmin(K, axis=1)
        lo = K[rows, first]
        nn[s:s + step] = first
        thr = lo + 3 * tol + np.abs(lo) * 1e-15
        # a second candidate exists iff the row's second-smallest key is within
        # the bound: two cheap reductions instead of a full comparison matrix
        K[rows, first] = np.inf
        several = np.flatnonzero(K.min(axis=1) <= thr)
        if several.size == 0:
            continue
        K[rows, first] = lo
        r, c = np.nonzero(K[several] <= thr[several, None])
        r = several[r]
        d = np.empty(r.size)
        for b in range(0, r.size, _ROW_BLOCK):
            sl = slice(b, b + _ROW_BLOCK)
            d[sl] = paired_distances(a[r[sl]], B[c[sl]], distance)
        penal = (np.zeros(r.size, bool) if against is None
                 else against[1][c] == against[0][s + r])
        order = np.lexsort((c, penal, d, r))  # per row: smallest, wrong first, first
        r, c = r[order], c[order]
        head = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        nn[s + r[head]] = c[head]
    dist = rowwise_pairs(A, B, nn, distance)
    return nn, dist


def rowwise_pairs(A, B, cols, distance):
    """Exact distances between ``A[k]`` and ``B[cols[k]]``."""
    out = np.empty(len(A))
    for s in range(0, len(A), _ROW_BLOCK):
        out[s:s + _ROW_BLOCK] = paired_distances(A[s:s + _ROW_BLOCK], B[cols[s:s + _ROW_BLOCK]],
                                                 distance)
    return out
