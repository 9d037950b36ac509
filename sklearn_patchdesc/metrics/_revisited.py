"""The "revisited" PhotoTour mAP (Mishkin, brown_phototour_revisited, 2020).

The protocol of ``evaluate_mAP_snn_based`` in github.com/ducha-aiki/brown_phototour_revisited
(``nbs/benchmarking.ipynb``): matching as it is done between images, with
Lowe's second-nearest-neighbour (SNN) ratio. Within each image group (the
first column of the sets' ``interest.txt``, the reference image id), every
ordered pair (anchor, positive) of two patches of one 3-D point is a
candidate match; its competitor is the anchor's hardest negative in the same
group (its nearest patch of another point). A pair is correct when the
positive is at most as far as that negative; its confidence is ``1 -
min(d_pos, d_neg) / max(d_pos, d_neg)`` (0/0 counts as a ratio of 1). The
score is scikit-learn's average precision of correctness ranked by
confidence, per group, averaged over the groups. Higher is better.

This is the protocol as described, with every anchor's hardest negative
searched. The published code searches them only in groups of more than
1,000 patches, in blocks of 128 anchors (a last partial block is skipped),
and leaves the negative of the other anchors at the group's first patch, so
its numbers can differ where groups are small. The code here is this
package's own.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.metrics import average_precision_score

from .._validation import check_labels
from ._distances import check_descriptors, check_finite

__all__ = ["phototour_revisited_map"]

_BLOCK = 1024  # anchors per distance block: bounded memory in large groups


def _group_ap(X, labels, metric):
    """Average precision of one group, or None when it holds no positive pair."""
    pos, neg = [], []
    for s in range(0, len(X), _BLOCK):
        D = cdist(X[s:s + _BLOCK], X, metric)  # float64, exact
        same = labels[s:s + _BLOCK, None] == labels[None, :]
        hardest = np.where(same, np.inf, D).min(axis=1)  # inf: no other point in the group
        same[np.arange(len(D)), np.arange(s, s + len(D))] = False  # not the anchor itself
        a, p = np.nonzero(same)
        pos.append(D[a, p])
        neg.append(hardest[a])
    d_pos, d_neg = np.concatenate(pos), np.concatenate(neg)
    if d_pos.size == 0:
        return None
    correct = d_pos <= d_neg
    if not correct.any():
        return 0.0  # nothing to find: scikit-learn would warn and give 0
    with np.errstate(invalid="ignore"):
        ratio = np.minimum(d_pos, d_neg) / np.maximum(d_pos, d_neg)
    ratio[np.isnan(ratio)] = 1.0
    return float(average_precision_score(correct, 1.0 - ratio))


def phototour_revisited_map(descriptors, labels, image_ids, *, distance="l2"):
    """The "revisited" PhotoTour mAP: per-image matching with the SNN ratio.

    See the module notes for the protocol (Mishkin's
    brown_phototour_revisited) and where this implementation departs from
    the published code.

    Parameters
    ----------
    descriptors : array-like of shape (n, d)
        One descriptor per patch.
    labels : array-like of shape (n,) or record array
        3-D point ids (the record array's ``label``).
    image_ids : array-like of shape (n,)
        Image group of each patch (``image_ids`` of
        :func:`~sklearn_patchdesc.datasets.load_phototour`, read from the
        first column of ``interest.txt``).
    distance : {"l2", "l1", "hamming", "masked_l1"}, default="l2"
        As :func:`hpatches_evaluate`; computed exactly in float64.

    Returns
    -------
    map : float
        In [0, 1]; higher is better. Groups without two patches of one point
        have no pair to rank and are left out of the mean.

    Raises
    ------
    ValueError
        Shapes that differ, NaN descriptors (the first bad patch is named), or
        no group with two patches of one point.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[0., 0.], [0., .1], [1., 0.], [1., .3]])
    >>> phototour_revisited_map(D, [0, 0, 1, 1], [7, 7, 7, 7])
    1.0
    """
    X, dist = check_descriptors(descriptors, distance)
    check_finite(X, lambda r: f"patch {r}")
    y = check_labels(labels, len(X), name="labels")
    groups = np.asarray(image_ids)
    if groups.shape != (len(X),):
        raise ValueError(f"image_ids must be 1-D with one entry per descriptor ({len(X)}); "
                         f"got shape {groups.shape}")
    metric = "euclidean" if dist == "l2" else "cityblock"  # hamming: 0/1 floats
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1]])
    aps = [_group_ap(X[rows], y[rows], metric) for rows in np.split(order, starts[1:])]
    aps = [ap for ap in aps if ap is not None]
    if not aps:
        raise ValueError("phototour_revisited_map needs an image group holding two patches "
                         "of one 3-D point; no group does")
    return float(np.mean(aps))
