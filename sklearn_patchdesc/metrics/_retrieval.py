"""Patch retrieval: AP of each query's ranked list at several pool sizes.

Protocol (HPatches): queries are ref patches.  For a query and a difficulty,
the list is its 5 counterparts in images 1..5 of that difficulty followed by
the distractors (ref patches) of *other* sequences, in task order; for each
pool size k the AP is computed on the first k entries of the list (the 5
positives and the first k - 5 distractors; ties keep list order, so a
distractor at the same distance as a positive ranks after it; with
``ties="pessimistic"`` it ranks before).  Aggregation as
the official ``results.py``: per difficulty the mean over pool sizes of the
mean AP over queries; the single number is the mean over difficulties.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from ._distances import (_ROW_BLOCK, Timer, augment, bound_in_dtype, cross_keys,
                         key_to_distance, paired_distances, to_key)
from ._ranking import SMALL
from ._tasks import DIFFICULTIES, check_present, shrink_queries

__all__ = ["POOL_SIZES", "retrieval_lists_ap", "record_retrieval_lists", "label_retrieval_lists"]

POOL_SIZES = (100, 500, 1000, 5000, 10000, 15000, 20000)


def _pool_aps(r, col, dm, n_dm, dp, present, pool_sizes, ties):
    """AP per (query, pool size) of the lists of ``nb`` queries.

    ``(r, col, dm)``: exact distances of distractor ``col`` (position in
    the query's list, ``n_dm[r]`` distractors in it) to query ``r``, for at least every distractor that is
    closer than (or, with pessimistic ties, as close as) some positive of
    its query; the others cannot change a rank.  ``dp``: (nb, P) exact
    positive distances, ``present`` which of them exist.
    """
    nb, P = dp.shape
    order = np.argsort(dp, axis=1, kind="stable")  # ties keep list order
    dps = np.take_along_axis(dp, order, 1)
    pres = np.take_along_axis(present, order, 1)
    listpos = np.take_along_axis(np.cumsum(present, axis=1) - 1, order, 1)
    p = present.sum(axis=1)
    ks = np.asarray(pool_sizes)
    L = np.clip(ks[None, :] - np.minimum(p[:, None], ks[None, :]), 0,
                np.asarray(n_dm)[:, None])  # distractors in pool
    bounds = np.unique(np.concatenate(([0], L.ravel())))
    before = np.less_equal if ties == "pessimistic" else np.less  # official: positives first
    thr = np.where(pres, dps, -np.inf).max(axis=1)
    keep = before(dm, thr[r])
    r, col, dm = r[keep], col[keep], dm[keep]
    seg = np.searchsorted(bounds, col, side="right")  # 1..len(bounds); last = beyond all pools
    nseg = len(bounds) + 1
    cell = r * nseg + seg
    cum = np.empty((nb, P, nseg))
    for j in range(P):  # one column at a time: temporaries the size of the candidates
        cum[:, j] = np.bincount(cell, weights=before(dm, dps[:, j][r]),
                                minlength=nb * nseg).reshape(nb, nseg)
    cum = np.cumsum(cum, axis=2)[:, :, :len(bounds)]  # cum[..., b] = count among cols < bounds[b]
    which = np.searchsorted(bounds, L)  # (nb, K)
    out = np.empty((nb, len(ks)))
    for k_i, k in enumerate(ks):
        c = np.take_along_axis(cum, np.broadcast_to(which[:, None, k_i:k_i + 1], (nb, P, 1)), 2)[..., 0]
        inc = pres & (listpos < k)
        kk = np.cumsum(inc, axis=1).astype(np.float64)
        pos = kk - 1 + c
        area = (np.maximum(kk - 1, SMALL) / np.maximum(pos, SMALL)
                + np.maximum(kk, SMALL) / np.maximum(pos + 1, SMALL))
        n = inc.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k_i] = np.where(n > 0, np.where(inc, area, 0).sum(1) / (2.0 * n), np.nan)
    return out


def _exact_pairs(A, B, r, col, distance):
    out = np.empty(r.size)
    for s in range(0, r.size, _ROW_BLOCK):
        sl = slice(s, s + _ROW_BLOCK)
        out[sl] = paired_distances(A[r[sl]], B[col[sl]], distance)
    return out


def _distractor_candidates(A, B, distance, Ba, pos_dists, ties, allowed):
    """Exact distances of the distractors that can change a rank (see ``_pool_aps``).

    The fast keys select every distractor within the error bound of the
    largest positive distance; the ones within the bound of *any* positive
    distance are recomputed exactly (all of the block's distances through
    ``cdist`` when that is most of them, e.g. for collapsed descriptors).
    ``allowed(r, col)`` says which (query, distractor) pairs are listed.
    Returns ``(r, col, dm)`` with ``col`` a column of ``B``.
    """
    K, tol = cross_keys(A, Ba, distance)
    thr = np.full(len(A), -np.inf)
    for dp, present in pos_dists:
        thr = np.maximum(thr, np.where(present, dp, -np.inf).max(axis=1))
    thr_key = np.where(np.isfinite(thr), to_key(thr, distance), -np.inf)
    r, col = np.nonzero(K <= bound_in_dtype(thr_key + tol, K.dtype)[:, None])
    keep = allowed(r, col)
    r, col = r[keep], col[keep]
    kv = K[r, col].astype(np.float64)
    dm = key_to_distance(kv, distance)
    if not tol.any() or r.size == 0:
        return r, col, dm
    unsure = np.zeros(r.size, bool)
    t = tol[r]
    for dp, present in pos_dists:
        pk = to_key(dp, distance)
        for j in range(pk.shape[1]):
            unsure |= np.abs(kv - pk[:, j][r]) <= t
    n_unsure = int(unsure.sum())
    if n_unsure > K.size // 4:
        return r, col, cdist(A, B, _CDIST[distance])[r, col]
    if n_unsure:
        u = np.flatnonzero(unsure)
        dm[u] = _exact_pairs(A, B, r[u], col[u], distance)
    return r, col, dm


_CDIST = {"l2": "euclidean", "l1": "cityblock", "hamming": "cityblock"}


class _Lists:
    """Each query's list: every distractor outside the query's own group, in task order.

    All queries share one distractor matrix (one set of fast keys, blocks of
    any queries); a distractor's position in a query's list is its column
    minus the own-group distractors before it.
    """

    def __init__(self, q_group, d_group):
        self.q_group = np.asarray(q_group, dtype=np.int64)
        self.d_group = np.asarray(d_group, dtype=np.int64)
        n = len(self.d_group)
        order = np.argsort(self.d_group, kind="stable")
        self._groups = self.d_group[order]
        self._keys = self._groups * n + order  # sorted: by group, then column
        self._n = n

    def allowed(self, q, r, col):
        return self.d_group[col] != self.q_group[q[r]]

    def position(self, q, r, col):
        g = self.q_group[q[r]]
        before = (np.searchsorted(self._keys, g * self._n + col)
                  - np.searchsorted(self._groups, g))
        return col - before

    def lengths(self, q):
        g = self.q_group[q]
        own = (np.searchsorted(self._groups, g, side="right")
               - np.searchsorted(self._groups, g))
        return self._n - own


def retrieval_lists_ap(X, distance, q_rows, q_group, positives, d_rows, d_group,
                       pool_sizes=POOL_SIZES, *, timer=None, ties="official",
                       block_elems=1 << 24):
    """AP per query and pool size for every list kind in ``positives``.

    ``positives`` maps a difficulty to an int array (n_queries, P) of rows,
    -1 where absent.  Distractors of the query's own group are skipped.
    Returns ``(aps, n_listed)``: ``{kind: (n_queries, n_pools)}`` and the
    number of distractors in each query's list.
    """
    timer = timer or Timer()
    out = {k: np.full((len(q_rows), len(pool_sizes)), np.nan) for k in positives}
    lists = _Lists(q_group, d_group)
    n_listed = lists.lengths(np.arange(len(q_rows)))
    B = X[d_rows]
    Ba = B if distance == "l1" else augment(B)
    step = max(1, block_elems // max(1, len(B)))
    for s in range(0, len(q_rows), step):
        blk = np.arange(s, min(s + step, len(q_rows)))
        A = X[q_rows[blk]]
        pos_dists = {}
        with timer:
            for kind, pos_rows in positives.items():
                pr = pos_rows[blk]
                present = pr >= 0
                dp = np.full(pr.shape, np.inf)
                i, j = np.nonzero(present)
                dp[i, j] = paired_distances(A[i], X[pr[i, j]], distance)
                pos_dists[kind] = (dp, present)
            if len(B):
                r, col, dm = _distractor_candidates(
                    A, B, distance, Ba, pos_dists.values(), ties,
                    lambda r, col: lists.allowed(blk, r, col))
                col = lists.position(blk, r, col)
            else:
                r = col = np.empty(0, np.int64)
                dm = np.empty(0)
        for kind, (dp, present) in pos_dists.items():
            out[kind][blk] = _pool_aps(r, col, dm, n_listed[blk], dp, present, pool_sizes, ties)
    return out, n_listed


def record_retrieval_lists(index, queries, distractors, strict, source=None):
    qs, qi = queries
    ds, di = distractors
    q_rows = index.rows(qs, np.zeros_like(qs), qi)
    d_rows = index.rows(ds, np.zeros_like(ds), di)
    positives = {}
    for d, diff in enumerate(DIFFICULTIES):
        imgs = np.arange(1, 6) + 5 * d
        rows = index.rows(qs[:, None], imgs[None, :], qi[:, None])
        if strict:
            check_present(rows.ravel(), source or "retrieval queries", index, np.repeat(qs, 5),
                          np.tile(imgs, len(qs)), np.repeat(qi, 5), line_of=lambda k: k // 5)
        positives[diff] = rows
    return q_rows, qs, positives, d_rows, ds


def label_retrieval_lists(labels, n_queries, n_distractors, rng):
    uniq, first, inv, counts = np.unique(labels, return_index=True, return_inverse=True,
                                         return_counts=True)
    multi = np.flatnonzero(counts >= 2)
    chosen = rng.permutation(multi)[:shrink_queries(len(uniq), n_queries, n_distractors)]
    q_rows = first[chosen]
    is_q = np.zeros(len(uniq), bool)
    is_q[chosen] = True
    others = rng.permutation(np.flatnonzero(~is_q))[:n_distractors]
    d_rows = first[others]
    order = np.argsort(inv, kind="stable")
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    P = int(counts[chosen].max()) - 1 if chosen.size else 1
    pos = np.full((len(chosen), max(P, 1)), -1, dtype=np.int64)
    for j in range(P):  # j-th non-first occurrence, vectorised over queries
        has = counts[chosen] > j + 1
        pos[has, j] = order[offsets[chosen[has]] + j + 1]
    return q_rows, np.zeros(len(q_rows), np.int64), {"all": pos}, d_rows, np.ones(len(d_rows), np.int64)


def summarize(aps, pool_sizes):
    """Mean AP per difficulty and pool, mean over pools, single number."""
    table = {}
    for kind, a in aps.items():
        with np.errstate(invalid="ignore"):
            valid = ~np.isnan(a)
            per_pool = np.where(valid.any(0), np.nansum(a, 0) / np.maximum(valid.sum(0), 1), np.nan)
        table[kind] = {"pools": {int(k): float(v) for k, v in zip(pool_sizes, per_pool)},
                       "n_queries": int(valid[:, 0].sum()) if a.size else 0}
        pp = per_pool[~np.isnan(per_pool)]
        table[kind]["mean"] = float(pp.mean()) if pp.size else float("nan")
    means = [t["mean"] for t in table.values() if not np.isnan(t["mean"])]
    return table, (float(np.mean(means)) if means else float("nan"))
