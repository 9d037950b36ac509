"""Online triplet selection inside a batch, and the distances the losses share.

Miner protocol (the one of pytorch-metric-learning, so its miners plug in
as-is): ``miner(embeddings, labels)`` returns index tensors, either a triplet
tuple ``(anchors, positives, negatives)`` or a pair tuple
``(anchors_pos, positives, anchors_neg, negatives)``. Every loss takes its
miner through the one keyword ``miner=`` (``TripletMarginLoss(miner=...)``,
``ContrastiveLoss(miner=...)``) and calls it on every batch. Miners that change during training (e.g. a curriculum) can
also be skorch callbacks; the descriptor estimators register them.
"""
from __future__ import annotations

import torch
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning.distances import BaseDistance, LpDistance
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from .._params import ParamsMixin

__all__ = ["BatchHardMiner", "make_distance", "DISTANCES"]

#: distance name -> (p, power) of pytorch-metric-learning's LpDistance
DISTANCES = {"l2": (2, 1), "sqeuclidean": (2, 2), "l1": (1, 1)}


def make_distance(distance):
    """A pytorch-metric-learning distance from a name, or the given distance object.

    Parameters
    ----------
    distance : {"l2", "sqeuclidean", "l1"} or pytorch_metric_learning distance
        A name gives an ``LpDistance`` that uses the embeddings as given
        (``normalize_embeddings=False``: the networks here already
        L2-normalise their output). A PML distance object (``LpDistance``,
        ``CosineSimilarity`` ...) is returned as is.

    Returns
    -------
    distance : pytorch_metric_learning.distances.BaseDistance
        The distance object.
    """
    if isinstance(distance, BaseDistance):
        return distance
    try:
        p, power = DISTANCES[distance]
    except (KeyError, TypeError):
        raise ValueError(
            f"distance={distance!r} is not known; use one of {sorted(DISTANCES)} or a "
            "pytorch_metric_learning.distances object (e.g. LpDistance())."
        ) from None
    return LpDistance(normalize_embeddings=False, p=p, power=power)


def lp_parameters(distance):
    """``(p, power)`` of an Lp distance given by name or ``LpDistance``; None otherwise."""
    distance = make_distance(distance)
    if type(distance) is LpDistance:
        return float(distance.p), float(distance.power)
    return None


class BatchHardMiner(ParamsMixin):
    """Batch-hard or batch-all triplet selection inside a batch.

    ``mode="hard"``: for every anchor with a positive and a negative in the
    batch, its farthest positive and its nearest negative (Hermans, Beyer &
    Leibe 2017; seed 001 eq. loss_BH). Built on pytorch-metric-learning's
    ``BatchHardMiner``.
    ``mode="all"``: every valid triplet ``(a, p, n)`` of the batch, ``a != p``
    (batch-all), from pytorch-metric-learning's ``get_all_triplets_indices``;
    note it materialises a ``B x B x B`` mask, fine up to a few hundred
    patches per batch.

    Parameters
    ----------
    mode : {"hard", "all"}, default="hard"
    distance : {"l2", "sqeuclidean", "l1"} or PML distance, default="l2"
        Distance used to rank pairs (batch-hard only; the squared and plain
        Euclidean distances give the same selection). A
        pytorch-metric-learning distance object is used as given.

    Examples
    --------
    >>> import torch
    >>> emb = torch.tensor([[0., 0.], [0., 1.], [0., 3.], [5., 0.]])
    >>> a, p, n = BatchHardMiner()(emb, torch.tensor([0, 0, 0, 1]))
    >>> a.tolist(), p.tolist(), n.tolist()
    ([0, 1, 2], [2, 2, 0], [3, 3, 3])
    """

    def __init__(self, mode="hard", distance="l2"):
        self.mode = mode
        self.distance = distance

    def __call__(self, embeddings, labels):
        labels = torch.as_tensor(labels, device=embeddings.device)
        if self.mode == "all":
            return lmu.get_all_triplets_indices(labels)
        if self.mode != "hard":
            raise ValueError(f"mode must be 'hard' or 'all'; got {self.mode!r}.")
        miner = pml_miners.BatchHardMiner(distance=make_distance(self.distance))
        with torch.no_grad():
            return miner(embeddings, labels)
