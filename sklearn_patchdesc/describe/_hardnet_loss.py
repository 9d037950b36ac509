"""HardNet's hardest-in-batch triplet loss and SOSNet's second-order regulariser.

Written here, not taken from pytorch-metric-learning: PML's miners pick the
hardest negative of each *anchor* among all embeddings, while HardNet
(Mishchuk et al., "Working hard to know your neighbor's margins", NIPS 2017)
works on a matrix of anchor-to-positive distances only, with "anchor swap"
(the hardest negative of a pair is the closer of the anchor's and the
positive's) and a filter for near-duplicate patches. Both are a few tensor
operations on the ``(P, P)`` distance matrix, with no per-sample Python.
"""
from __future__ import annotations

import torch
from torch import nn

from .._params import ParamsMixin

__all__ = ["HardNetLoss", "pair_indices"]

#: DagnyT/hardnet: a "negative" closer than this is taken to be the same
#: patch (a duplicate in the data) and never mined
NEAR_DUPLICATE = 0.008


def pair_indices(labels):
    """Anchor and positive rows of a batch: consecutive members of each label.

    Members of one label (in batch order) are paired 1-2, 3-4, ...; a last odd
    member is left out. With :class:`PKSampler` batches of ``K = 2`` (HardNet's
    layout), every row is in exactly one pair.

    Parameters
    ----------
    labels : Tensor of shape (n,)

    Returns
    -------
    anchors, positives : LongTensor of shape (P,)
    """
    labels = labels.reshape(-1)
    n = labels.shape[0]
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    pos = torch.arange(n, device=labels.device)
    first = torch.ones(n, dtype=torch.bool, device=labels.device)
    first[1:] = sorted_labels[1:] != sorted_labels[:-1]
    start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    rank = pos - start
    nxt_same = torch.zeros(n, dtype=torch.bool, device=labels.device)
    nxt_same[:-1] = sorted_labels[1:] == sorted_labels[:-1]
    is_anchor = (rank % 2 == 0) & nxt_same
    a = pos[is_anchor]
    return order[a], order[a + 1]


def _pairwise_l2(x, y, eps=1e-6):
    # sqrt(|x|^2 + |y|^2 - 2 x.y + eps): the form HardNet uses; eps keeps the
    # gradient finite at distance 0
    sq = (x * x).sum(1, keepdim=True) + (y * y).sum(1).unsqueeze(0) - 2.0 * x @ y.T
    return torch.sqrt(sq.clamp_min(0.0) + eps)


def _sos_regulariser(anchors, positives, k):
    """SOSNet's second-order similarity term (Tian et al., CVPR 2019, eq. 4-5).

    For pair ``i``, over the union of the ``k`` nearest anchors of anchor ``i``
    and the ``k`` nearest positives of positive ``i``: the root of the summed
    squared differences between anchor-anchor and positive-positive
    distances; the mean over pairs.
    """
    p = anchors.shape[0]
    k = min(int(k), p - 1)
    if k < 1:
        return anchors.new_zeros(())
    da = _pairwise_l2(anchors, anchors)
    dp = _pairwise_l2(positives, positives)
    eye = torch.eye(p, dtype=torch.bool, device=anchors.device)
    big = torch.finfo(da.dtype).max
    with torch.no_grad():
        na = da.masked_fill(eye, big).topk(k, dim=1, largest=False).indices
        npos = dp.masked_fill(eye, big).topk(k, dim=1, largest=False).indices
        mask = torch.zeros(p, p, dtype=torch.bool, device=anchors.device)
        mask.scatter_(1, na, True)
        mask.scatter_(1, npos, True)
    diff = ((da - dp) ** 2) * mask
    return torch.sqrt(diff.sum(1) + 1e-8).mean()


class HardNetLoss(ParamsMixin, nn.Module):
    """HardNet triplet margin loss with hardest-in-batch negatives.

    The batch is split into anchor/positive pairs (:func:`pair_indices`:
    consecutive members of a label; :class:`PKSampler` with ``K = 2`` gives
    HardNet's layout). With ``D`` the ``(P, P)`` matrix of Euclidean distances
    from anchors to positives, pair ``i`` has positive distance ``D[i, i]``
    and hardest negative distance ``min_j D[i, j]`` over positives of other
    labels (with ``anchor_swap``: also ``min_j D[j, i]`` over anchors of other
    labels, whichever is smaller). Distances below 0.008 are not mined
    (DagnyT/hardnet's filter for duplicate patches). The loss is the mean of
    ``max(0, margin + D[i, i] - d_neg(i))`` (Mishchuk et al. 2017, eq. 2).

    Parameters
    ----------
    margin : float, default=1.0
        Triplet margin (HardNet: 1.0).
    anchor_swap : bool, default=True
        Mine the hardest negative of both the anchor and the positive.
    sos_weight : float, default=0.0
        Weight of SOSNet's second-order similarity regulariser (Tian et al.,
        CVPR 2019; 1.0 in SOSNet); 0 turns it off.
    sos_k : int, default=8
        Nearest neighbours of the regulariser (8 in SOSNet).
    """

    def __init__(self, margin=1.0, anchor_swap=True, sos_weight=0.0, sos_k=8):
        super().__init__()
        self.margin = margin
        self.anchor_swap = anchor_swap
        self.sos_weight = sos_weight
        self.sos_k = sos_k

    def forward(self, embeddings, labels):
        """Loss of one batch: ``embeddings`` ``(n, d)``, point ``labels`` ``(n,)``."""
        labels = labels.reshape(-1).to(embeddings.device)
        a, p = pair_indices(labels)
        if a.numel() < 2:
            raise ValueError(
                f"HardNetLoss needs at least two anchor/positive pairs of different labels "
                f"per batch; this batch of {labels.numel()} rows has {a.numel()}. Use "
                "PKSampler(n_per_label=2) batches of at least 4 patches.")
        anchors, positives = embeddings[a], embeddings[p]
        dist = _pairwise_l2(anchors, positives)
        positive = dist.diagonal()
        not_negative = (labels[a].unsqueeze(1) == labels[p].unsqueeze(0)) | (dist < NEAR_DUPLICATE)
        # masked entries get +10 (more than any distance of unit vectors, 2),
        # HardNet's way, so a pair without any negative has loss 0 and no NaN
        masked = dist + 10.0 * not_negative
        negative = masked.min(dim=1).values
        if self.anchor_swap:
            negative = torch.minimum(negative, masked.min(dim=0).values)
        loss = torch.clamp(float(self.margin) + positive - negative, min=0.0).mean()
        if self.sos_weight:
            loss = loss + float(self.sos_weight) * _sos_regulariser(anchors, positives, self.sos_k)
        return loss
