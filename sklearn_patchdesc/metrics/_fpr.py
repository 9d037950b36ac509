"""False positive rate at a given recall: the Brown / PhotoTour protocol (FPR95).

Definition (Brown, Hua & Winder, PAMI 2011; the number every descriptor paper
reports on Liberty / Notre Dame / Yosemite): a pair is declared a match when
its descriptor distance is at most a threshold ``t``; ``t`` is the smallest
distance at which at least ``recall`` of the matching pairs are declared
matches; the score is the share of the non-matching pairs declared matches at
that ``t``. Lower is better.

Ties: every pair at distance ``t`` is declared a match together (the point of
the ROC curve at that threshold), so the value does not depend on the order of
tied pairs. Without ties at ``t`` it equals HardNet's ``ErrorRateAt95Recall``
(which counts the negatives ranked before the threshold positive in one sort).
"""
from __future__ import annotations

import numpy as np

from ._distances import check_descriptors, check_distance, check_finite, rowwise_distances

__all__ = ["fpr_at_recall", "phototour_fpr95", "PhotoTourScorer", "phototour_fpr95_scorer"]


def _check_is_match(is_match, n):
    m = np.asarray(is_match)
    if m.ndim != 1 or m.shape[0] != n:
        raise ValueError(f"is_match must be 1-D with one entry per pair ({n}); got shape "
                         f"{m.shape}")
    if m.dtype != bool:
        if m.dtype.kind not in "iuf" or not np.isin(m, (0, 1)).all():
            raise ValueError("is_match must be bool or hold only 0 and 1")
        m = m.astype(bool)
    return m


def fpr_at_recall(distances, is_match, *, recall=0.95, higher_is_closer=False):
    """False positive rate at the threshold reaching ``recall`` of the matches.

    Parameters
    ----------
    distances : array-like of shape (m,)
        One value per pair: a distance (smaller = more alike), or a
        similarity score with ``higher_is_closer=True``.
    is_match : array-like of shape (m,), bool or 0/1
        Whether each pair shows the same 3-D point.
    recall : float in (0, 1], default=0.95
        Share of the matching pairs that must be accepted.
    higher_is_closer : bool, default=False
        ``distances`` are similarities (e.g. cosine scores).

    Returns
    -------
    fpr : float
        In [0, 1]; lower is better.

    Raises
    ------
    ValueError
        Shapes that differ, NaN values (the first bad pair is named), a
        ``recall`` outside (0, 1], or no matching or no non-matching pair.

    Notes
    -----
    The threshold ``t`` is the ``k``-th smallest distance of the matching
    pairs, ``k`` the smallest integer with ``k >= recall * n_matches``; the
    result is the share of non-matching pairs with distance ``<= t`` (ties
    at ``t`` accepted together). O(m log m): 100,000 pairs take a few ms.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"distances must be 1-D (one value per pair); got shape {d.shape}")
    m = _check_is_match(is_match, d.shape[0])
    bad = np.flatnonzero(np.isnan(d))
    if bad.size:
        raise ValueError(f"distances contain NaN at {bad.size} pair(s); the first is pair "
                         f"{int(bad[0])}")
    r = float(recall)
    if not 0.0 < r <= 1.0:
        raise ValueError(f"recall must be in (0, 1], got {recall!r}")
    if higher_is_closer:
        d = -d
    pos, neg = np.sort(d[m]), np.sort(d[~m])
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"fpr_at_recall needs matching and non-matching pairs; got "
                         f"{pos.size} matching and {neg.size} non-matching")
    k = min(int(np.ceil(r * pos.size)), pos.size)
    t = pos[k - 1]
    return float(np.searchsorted(neg, t, side="right") / neg.size)


def phototour_fpr95(descriptors, pairs, is_match=None, *, distance="l2", recall=0.95):
    """FPR at 95 % recall of descriptors on evaluation pairs (the PhotoTour protocol).

    Parameters
    ----------
    descriptors : array-like of shape (n, d)
        One descriptor per patch (rows in patch-id order, as
        :func:`~sklearn_patchdesc.datasets.load_phototour` returns them).
    pairs : array-like of shape (m, 2) or (m, 3)
        Patch ids (rows of ``descriptors``) of each pair; a third column is
        ``is_match`` (torchvision's ``matches`` layout).
    is_match : array-like of shape (m,), optional
        Whether each pair matches; required for two-column ``pairs``.
    distance : {"l2", "l1", "hamming", "masked_l1"}, default="l2"
        As :func:`hpatches_evaluate`; computed exactly in float64.
    recall : float, default=0.95

    Returns
    -------
    fpr : float
        Lower is better (see :func:`fpr_at_recall`).

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0., 0.], [0., .1], [1., 0.], [1., .3]])
    >>> pairs = np.array([[0, 1], [2, 3], [0, 2], [1, 3]])
    >>> phototour_fpr95(D, pairs, [True, True, False, False])
    0.0
    """
    P = np.asarray(pairs)
    if P.ndim != 2 or P.shape[1] not in (2, 3) or P.dtype.kind not in "iu":
        raise ValueError(f"pairs must be integer patch ids of shape (m, 2) or (m, 3); got "
                         f"{P.dtype} {P.shape}")
    if P.shape[1] == 3:
        if is_match is not None:
            raise ValueError("give is_match either as the third column of pairs or as "
                             "is_match, not both")
        is_match = P[:, 2]
    elif is_match is None:
        raise ValueError("is_match is required with two-column pairs")
    X, dist = check_descriptors(descriptors, distance)
    check_finite(X, lambda r: f"patch {r}")
    i, j = P[:, 0].astype(np.int64), P[:, 1].astype(np.int64)
    out = np.flatnonzero((i < 0) | (j < 0) | (i >= len(X)) | (j >= len(X)))
    if out.size:
        k = int(out[0])
        raise ValueError(f"pair {k} names patches {int(i[k])} and {int(j[k])}, but there are "
                         f"{len(X)} descriptors")
    is_match = _check_is_match(is_match, len(P))
    return fpr_at_recall(rowwise_distances(X, i, j, dist), is_match, recall=recall)


class PhotoTourScorer:
    """Scorer ``phototour_fpr95``: minus the FPR at 95 % recall (greater is better).

    ``scorer(estimator, X, y)`` describes ``X`` with ``estimator.transform``
    and scores pairs drawn from the labels ``y`` (1-D point ids, or the
    record array's ``label``): ``n_pairs`` matching pairs (two patches of
    one point) and as many non-matching ones, drawn with ``random_state``
    (the same pairs for every estimator scored on the same ``y``). The
    value is negated like scikit-learn's ``neg_*`` scorers, so searches
    maximise it; the name keeps the protocol's.

    Parameters
    ----------
    n_pairs : int, optional
        Matching pairs (and non-matching pairs) drawn; by default as many as
        the patches scored, at most 50,000 (the official files hold 50,000
        of each).
    random_state : int, default=0
    distance : str, default="l2"
    recall : float, default=0.95
    """

    def __init__(self, n_pairs=None, random_state=0, distance="l2", recall=0.95):
        self.n_pairs = n_pairs
        self.random_state = random_state
        self.distance = check_distance(distance)
        self.recall = recall

    def __call__(self, estimator, X, y, **score_params):
        """``-phototour_fpr95`` of ``estimator.transform(X)`` on pairs drawn from ``y``."""
        from .._validation import check_labels
        from ._verification import label_verification_pairs

        if y is None:
            raise ValueError("phototour_fpr95 needs y: the 3-D point ids of the patches.")
        labels = check_labels(y, np.shape(X)[0])
        rng = np.random.default_rng(self.random_state)
        n_pairs = min(50000, len(labels)) if self.n_pairs is None else int(self.n_pairs)
        kinds = label_verification_pairs(labels, n_pairs, None, rng)["all"]
        pos, neg = kinds["pos"], kinds["different_label"]
        if len(pos[0]) == 0 or len(neg[0]) == 0:
            raise ValueError("phototour_fpr95 needs a point with at least two patches and at "
                             "least two points among the labels of X")
        pairs = np.concatenate([np.stack(pos, 1), np.stack(neg, 1)])
        is_match = np.r_[np.ones(len(pos[0]), bool), np.zeros(len(neg[0]), bool)]
        D = estimator.transform(X)
        return -phototour_fpr95(D, pairs, is_match, distance=self.distance, recall=self.recall)

    def __repr__(self):
        return "PhotoTourScorer()"


phototour_fpr95_scorer = PhotoTourScorer()
