"""Average precision and ROC AUC exactly as the HPatches benchmark defines them.

Definitions (HPatches ``metrics.py`` semantics, re-derived here):

* Items are ranked by increasing distance with a *stable* sort, i.e. ties keep
  the order in which the items were listed (``argsort(-scores, kind="mergesort")``
  with ``scores = -distance``).
* Walking down the ranking, ``tp(m)`` / ``fp(m)`` count positives / negatives in
  the first ``m`` items, with the curve starting at ``m = 0``.
* ``precision(m) = max(tp, 1e-10) / max(tp + fp, 1e-10)`` (so the curve starts
  at precision 1), ``recall(m) = tp / numpos`` (``numpos`` may exceed the number
  of listed positives: the missing ones are never retrieved), and AP is the
  trapezoid area under precision-vs-recall.  This differs from scikit-learn's
  ``average_precision_score`` (a step sum); it equals
  ``sklearn.metrics.auc(recall, precision)`` on ``precision_recall_curve`` when
  no two scores tie.
* ROC AUC is the trapezoid area under TPR-vs-FPR of the same walk; without ties
  it equals ``roc_auc_score``; with ties the stable order decides (no half
  credit).

Only the ranks of the positives are needed: if the k-th positive (k = 1..P)
sits at 0-based position ``r_k``, the PR trapezoid over its recall step is
``(precision(r_k) + precision(r_k + 1)) / 2 / numpos`` and negatives add no
area.  Everything below works from those ranks, vectorised.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "SMALL",
    "ap_from_positions",
    "verification_ap_auc",
    "pr_roc_curves",
    "precision_recall_official",
]

SMALL = 1e-10


def _precision(tp, m):
    return np.maximum(tp, SMALL) / np.maximum(m, SMALL)


def ap_from_positions(positions, numpos, valid=None):
    """AP from the sorted 0-based ranks of the positives.

    Parameters
    ----------
    positions : ndarray (..., P)
        Ranks of the positives in increasing order along the last axis
        (entries outside ``valid`` are ignored; valid entries must come first).
    numpos : float or ndarray (...)
        Number of positives that recall is relative to.
    valid : bool ndarray (..., P), optional
        Which entries are real positives.

    Returns
    -------
    ap : ndarray (...) float64; NaN where ``numpos`` is 0.
    """
    positions = np.asarray(positions, dtype=np.float64)
    k = np.arange(1, positions.shape[-1] + 1, dtype=np.float64)
    area = _precision(k - 1, positions) + _precision(k, positions + 1)
    if valid is not None:
        area = np.where(valid, area, 0.0)
    numpos = np.asarray(numpos, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = area.sum(axis=-1) / (2.0 * numpos)
    return np.where(numpos > 0, ap, np.nan)


def _negatives_before(d_pos_sorted, d_neg_sorted):
    # Negatives are listed before positives ([negatives; positives]), so a
    # negative at the same distance as a positive ranks first.
    return np.searchsorted(d_neg_sorted, d_pos_sorted, side="right")


def verification_ap_auc(d_pos, d_neg, *, with_positions=False, presorted=False):
    """AP and ROC AUC of ``[negatives; positives]`` ranked by distance.

    Returns ``(ap, auc)`` (NaN when either side is empty) and, with
    ``with_positions``, the sorted positive ranks for curve drawing.
    ``presorted=True`` says both arrays are already in increasing order.
    Only the values matter (how many negatives precede each positive), so
    the sorts need no stability.
    """
    d_pos = np.asarray(d_pos, dtype=np.float64)
    d_neg = np.asarray(d_neg, dtype=np.float64)
    P, N = d_pos.size, d_neg.size
    if P == 0 or N == 0:
        out = (np.nan, np.nan)
        return out + (np.empty(0),) if with_positions else out
    dp = d_pos if presorted else np.sort(d_pos)
    dn = d_neg if presorted else np.sort(d_neg)
    c = _negatives_before(dp, dn)
    positions = np.arange(P) + c
    ap = float(ap_from_positions(positions, P))
    auc = float((N - c).sum(dtype=np.float64) / (float(P) * float(N)))
    return (ap, auc, positions) if with_positions else (ap, auc)


def pr_roc_curves(positions, numpos, n_items, n_neg, max_points=1001):
    """Subsampled PR and ROC curves of a ranking (at most ``max_points`` points).

    ``positions``: sorted 0-based ranks of the positives among ``n_items``.
    Returns a dict with ``precision``, ``recall``, ``fpr``, ``tpr`` (float64).
    """
    positions = np.asarray(positions)
    m = np.unique(np.round(np.linspace(0, n_items, max(2, max_points))).astype(np.int64))
    tp = np.searchsorted(positions, m, side="left").astype(np.float64)
    fp = m - tp
    return {
        "precision": _precision(tp, m),
        "recall": tp / max(numpos, SMALL),
        "fpr": fp / max(n_neg, SMALL),
        "tpr": tp / max(numpos, SMALL),
    }


def precision_recall_official(distances, labels, numpos=None):
    """Full PR curve and AP of one ranked list (for small lists and tests).

    Parameters
    ----------
    distances : array (n,)
        Smaller is better; ties keep list order.
    labels : array (n,) of bool/0-1
    numpos : int, optional
        Number of positives recall is relative to (default: ``labels.sum()``).

    Returns
    -------
    precision, recall : ndarray (n + 1,)
    ap : float
    """
    distances = np.asarray(distances, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(distances, kind="stable")
    lab = labels[order]
    tp = np.concatenate(([0], np.cumsum(lab)))
    fp = np.concatenate(([0], np.cumsum(~lab)))
    p = labels.sum() if numpos is None else numpos
    precision = _precision(tp, tp + fp)
    recall = tp / max(p, SMALL)
    ap = float(ap_from_positions(np.flatnonzero(lab), p)) if p > 0 else np.nan
    return precision, recall, ap
