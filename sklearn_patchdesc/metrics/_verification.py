"""Patch verification: balanced ROC AUC and imbalanced AP per difficulty and negative kind.

Protocol (HPatches): every pair of the task is scored at the easy, hard and
tough versions of its images.  Per difficulty and negative kind (intra / inter
sequence), the pairs are listed as ``[negatives; positives]`` and ranked by
distance; *balanced* = ROC AUC over all of them, *imbalanced* = AP over the
first ``N_pos + int(0.2 * N_pos)`` rows of that list (with as many negatives as
positives: all negatives and the first 20 % of the positives).  The single
number is the mean imbalanced AP over {inter, intra} x {easy, hard, tough}.
"""
from __future__ import annotations

import numpy as np

from ._distances import Timer, fast_rowwise_distances, near_other, rowwise_distances
from ._ranking import pr_roc_curves, verification_ap_auc
from ._tasks import DIFFICULTIES, check_present, image_of

__all__ = ["verification_from_pairs", "record_verification_pairs", "label_verification_pairs"]


def record_verification_pairs(index, tasks, strict):
    """Row pairs per difficulty: ``{diff: {"pos"|"intra"|"inter": (r1, r2)}}``."""
    out = {}
    for d, diff in enumerate(DIFFICULTIES):
        out[diff] = {}
        for kind, t in tasks.items():
            r1 = index.rows(t["s1"], image_of(t["t1"], d), t["idx1"])
            r2 = index.rows(t["s2"], image_of(t["t2"], d), t["idx2"])
            if strict:
                src = t.get("_source", kind)
                check_present(r1, src, index, t["s1"], image_of(t["t1"], d), t["idx1"])
                check_present(r2, src, index, t["s2"], image_of(t["t2"], d), t["idx2"])
            keep = (r1 >= 0) & (r2 >= 0)
            out[diff][kind] = (r1[keep], r2[keep])
    return out


def label_verification_pairs(labels, n_pairs, n_negatives, rng):
    """Label-only pairs: two occurrences of one label vs a different label."""
    uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")  # rows grouped by label, sample order inside
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    multi = np.flatnonzero(counts >= 2)
    n_neg = n_pairs if n_negatives is None else n_negatives
    none = (np.empty(0, np.int64),) * 2
    if multi.size == 0 or n_pairs == 0:
        return {"all": {"pos": none, "different_label": none}}
    lab = rng.choice(multi, n_pairs)
    i1 = (rng.random(n_pairs) * counts[lab]).astype(np.int64)
    i2 = (rng.random(n_pairs) * (counts[lab] - 1)).astype(np.int64)
    i2 += i2 >= i1
    r1, r2 = order[offsets[lab] + i1], order[offsets[lab] + i2]
    if uniq.size < 2 or n_neg == 0:
        neg = none
    else:
        reps = np.resize(np.arange(n_pairs), n_neg)
        a = r1[reps]
        other = rng.integers(0, len(labels) - counts[inv[a]], n_neg)
        # pick the other-th row among rows whose label differs from a's label
        start = offsets[inv[a]]
        other += (other >= start) * counts[inv[a]]
        neg = (a, order[other])
    return {"all": {"pos": (r1, r2), "different_label": neg}}


def _fast_distances(X, distance, kinds):
    """Fast distances of every pair kind; kinds sharing their left rows gather them once."""
    groups = {}
    for kind, (r1, _) in kinds.items():
        key = next((k for k in groups if np.array_equal(kinds[k][0], r1)), kind)
        groups.setdefault(key, []).append(kind)
    out, rel = {}, 0.0
    for key, members in groups.items():
        ds, rel = fast_rowwise_distances(X, kinds[key][0], [kinds[k][1] for k in members],
                                         distance)
        out.update(zip(members, ds))
    return out, rel


def _distances_keeping_ties(X, distance, kinds):
    """Distances of every pair kind, exact wherever a positive and a negative may tie.

    Fast distances (descriptors' precision) decide every positive-negative
    order they can; a distance within the joint error bound of a distance of
    the other label is recomputed exactly (float64, the official arithmetic),
    so exactly tied pairs stay tied and every order equals the exact one.
    Only positive-vs-negative orders matter to AP and AUC.
    """
    out, rel = _fast_distances(X, distance, kinds)
    d_pos = out["pos"]
    pos_sorted = np.sort(d_pos)  # values only: stability is irrelevant, the fast sort serves
    redo_pos = np.zeros(d_pos.size, bool)
    for kind, d in out.items():
        if kind == "pos":
            continue
        d_sorted = np.sort(d)
        redo_pos |= near_other(d_pos, pos_sorted, rel, d_sorted)
        redo = np.flatnonzero(near_other(d, d_sorted, rel, pos_sorted))
        d[redo] = rowwise_distances(X, kinds[kind][0][redo], kinds[kind][1][redo], distance)
    redo = np.flatnonzero(redo_pos)
    d_pos[redo] = rowwise_distances(X, kinds["pos"][0][redo], kinds["pos"][1][redo], distance)
    return out


def verification_from_pairs(X, distance, pairs, *, curve_points=1001, timer=None):
    """Score row pairs; returns ``{diff: {kind: {...}}}`` and the single number."""
    timer = timer or Timer()
    results = {}
    for diff, kinds in pairs.items():
        with timer:
            dists = _distances_keeping_ties(X, distance, kinds)
        d_pos = dists["pos"]
        pos_sorted = np.sort(d_pos)
        P = d_pos.size
        results[diff] = {}
        for kind in kinds:
            if kind == "pos":
                continue
            d_neg = dists[kind]
            neg_sorted = np.sort(d_neg)
            N = d_neg.size
            _, auc, pos_bal = verification_ap_auc(pos_sorted, neg_sorted, with_positions=True,
                                                  presorted=True)
            n_imb = P + int(P * 0.2)
            neg_imb = neg_sorted if n_imb >= N else np.sort(d_neg[:n_imb])
            pos_imb = np.sort(d_pos[: max(0, n_imb - N)])
            ap, _, pos_imb_ranks = verification_ap_auc(pos_imb, neg_imb, with_positions=True,
                                                       presorted=True)
            res = {"auc": auc, "ap": ap, "n_pos": P, "n_neg": N,
                   "n_pos_imbalanced": pos_imb.size, "n_neg_imbalanced": neg_imb.size}
            if curve_points and P and N:
                roc = pr_roc_curves(pos_bal, P, P + N, N, curve_points)
                pr = pr_roc_curves(pos_imb_ranks, pos_imb.size, pos_imb.size + neg_imb.size,
                                   neg_imb.size, curve_points)
                res["roc"] = {"fpr": roc["fpr"], "tpr": roc["tpr"]}
                res["pr"] = {"precision": pr["precision"], "recall": pr["recall"]}
            results[diff][kind] = res
    aps = [r["ap"] for k in results.values() for r in k.values()]
    aucs = [r["auc"] for k in results.values() for r in k.values()]
    return results, _nanmean(aps), _nanmean(aucs)


def _nanmean(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")
