"""Patch retrieval: AP of each query's ranked list at several pool sizes.

Protocol (HPatches): queries are ref patches.  For a query and a difficulty,
the list is its 5 counterparts in images 1..5 of that difficulty followed by
the distractors (ref patches) of *other* sequences, in task order; for each
pool size k the AP is computed on the first k entries of the list (the 5
positives and the first k - 5 distractors; ties keep list order, so a
distractor at the same distance as a positive ranks after it).  Aggregation as
the official ``results.py``: per difficulty the mean over pool sizes of the
mean AP over queries; the single number is the mean over difficulties.
"""
from __future__ import annotations

import numpy as np

from ._distances import Timer, cross_distances, sq_norms
from ._ranking import SMALL
from ._tasks import DIFFICULTIES, check_present, shrink_queries

__all__ = ["POOL_SIZES", "retrieval_lists_ap", "record_retrieval_lists", "label_retrieval_lists"]

POOL_SIZES = (100, 500, 1000, 5000, 10000, 15000, 20000)


def _pair_distances(A, Bp, distance):
    """Distances between A[q] and Bp[q, j], in the same form as cross_distances."""
    if distance == "l1":
        return np.abs(A[:, None, :] - Bp).sum(-1)
    d = -2.0 * np.einsum("qd,qjd->qj", A, Bp)
    d += sq_norms(A)[:, None]
    d += np.einsum("qjd,qjd->qj", Bp, Bp)
    if distance == "l2":
        np.maximum(d, 0, out=d)
        np.sqrt(d, out=d)
    return d


def _pool_aps(Dm, dp, present, pool_sizes):
    """AP per (query, pool size) from distractor distances ``Dm`` (list order)."""
    nb, P = dp.shape
    n_dm = Dm.shape[1]
    order = np.argsort(dp, axis=1, kind="stable")  # ties keep list order
    dps = np.take_along_axis(dp, order, 1)
    pres = np.take_along_axis(present, order, 1)
    listpos = np.take_along_axis(np.cumsum(present, axis=1) - 1, order, 1)
    p = present.sum(axis=1)
    ks = np.asarray(pool_sizes)
    L = np.clip(ks[None, :] - np.minimum(p[:, None], ks[None, :]), 0, n_dm)  # distractors in pool
    bounds = np.unique(np.concatenate(([0], L.ravel())))
    # Only distractors closer than some positive can change a rank: keep those
    # (sparse for useful descriptors), then count them per pool segment.
    thr = np.where(pres, dps, -np.inf).max(axis=1)
    r, col = np.nonzero(Dm < thr[:, None])
    seg = np.searchsorted(bounds, col, side="right")  # 1..len(bounds); last = beyond all pools
    nseg = len(bounds) + 1
    cmp = Dm[r, col][:, None] < dps[r]
    cum = np.empty((nb, P, nseg))
    for j in range(P):
        cum[:, j] = np.bincount(r * nseg + seg, weights=cmp[:, j], minlength=nb * nseg).reshape(nb, nseg)
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


def retrieval_lists_ap(X, distance, q_rows, q_group, positives, d_rows, d_group,
                       pool_sizes=POOL_SIZES, *, timer=None, block_elems=1 << 24):
    """AP per query and pool size for every list kind in ``positives``.

    ``positives`` maps a difficulty to an int array (n_queries, P) of rows,
    -1 where absent.  Distractors of the query's own group are skipped.
    """
    timer = timer or Timer()
    ft = X.dtype  # distances in the descriptors' precision
    out = {k: np.full((len(q_rows), len(pool_sizes)), np.nan) for k in positives}
    P = max([v.shape[1] for v in positives.values()] + [1])
    for g in np.unique(q_group):
        qi = np.flatnonzero(q_group == g)
        B = X[d_rows[d_group != g]].astype(ft)
        bn = None if distance == "l1" else sq_norms(B)
        step = max(1, block_elems // max(1, P * max(1, len(B))))
        for s in range(0, len(qi), step):
            blk = qi[s:s + step]
            A = X[q_rows[blk]].astype(ft)
            with timer:
                Dm = cross_distances(A, B, distance, b_norms=bn)
            for kind, pos_rows in positives.items():
                pr = pos_rows[blk]
                present = pr >= 0
                with timer:
                    Bp = X[np.where(present, pr, q_rows[blk][:, None])].astype(ft)
                    dp = _pair_distances(A, Bp, distance)
                dp[~present] = np.inf
                out[kind][blk] = _pool_aps(Dm, dp, present, pool_sizes)
    return out


def record_retrieval_lists(index, queries, distractors, strict):
    qs, qi = queries
    ds, di = distractors
    q_rows = index.rows(qs, np.zeros_like(qs), qi)
    d_rows = index.rows(ds, np.zeros_like(ds), di)
    positives = {}
    for d, diff in enumerate(DIFFICULTIES):
        imgs = np.arange(1, 6) + 5 * d
        rows = index.rows(qs[:, None], imgs[None, :], qi[:, None])
        if strict:
            check_present(rows.ravel(), "retrieval queries (counterparts of the ref patch)",
                          index, np.repeat(qs, 5), np.tile(imgs, len(qs)), np.repeat(qi, 5))
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
