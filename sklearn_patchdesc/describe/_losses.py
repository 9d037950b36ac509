"""Triplet and contrastive losses as small torch modules.

Every loss is called as ``loss(embeddings, labels)`` (what skorch passes:
the network output of the batch and the batch's point labels) and returns a
scalar. Which pieces come from pytorch-metric-learning (PML) and which are
written here is said in each docstring.
"""
from __future__ import annotations

import math

import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.reducers import AvgNonZeroReducer, MeanReducer
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch import nn
from torch.nn import functional as F

from ._miners import DISTANCES, BatchHardMiner, make_distance

__all__ = ["TripletMarginLoss", "ContrastiveLoss", "given_triplets"]

_REDUCERS = {"mean": MeanReducer, "nonzero": AvgNonZeroReducer}
_MINING = ("given", "batch_all", "batch_hard")


def given_triplets(n, device=None):
    """Triplet indices of a batch laid out as ``[anchors; positives; negatives]``."""
    if n % 3:
        raise ValueError(
            f"mining='given' needs batches laid out as [anchors; positives; negatives] "
            f"(a multiple of 3 rows); got {n} rows. Use RandomTripletSampler, or "
            "mining='batch_hard' / 'batch_all' with PKSampler."
        )
    t = n // 3
    idx = torch.arange(t, device=device)
    return idx, idx + t, idx + 2 * t


class TripletMarginLoss(nn.Module):
    """Triplet loss: hinge, soft margin or "lossless", on given or mined triplets.

    For a triplet with anchor-positive distance ``d_ap`` and anchor-negative
    distance ``d_an``:

    - hinge (default): ``max(0, margin + d_ap - d_an)`` (seed 000 sec. 2.1);
    - ``soft=True``: ``softplus(margin + d_ap - d_an) = ln(1 + exp(...))``,
      the soft margin of Hermans et al. 2017 (seed 001, used with margin 0);
    - ``lossless=True``: the "lossless triplet loss" of M.-O. Arsenault
      (2018 blog post, compared in seed 000 table 4), on squared Euclidean
      distances bounded by ``upper``:
      ``-ln(1 - d_ap / beta + eps) - ln(1 - (upper - d_an) / beta + eps)``.
      The original assumes sigmoid outputs of dimension N (``upper = beta =
      N``, ``eps = 1e-8``); for the unit-norm descriptors here the squared
      distance is at most 4, the default ``upper``. ``margin`` and ``soft``
      are ignored; ``distance`` must be ``"sqeuclidean"``.

    The loss is the mean over the selected triplets (``reducer="mean"``, the
    1/N sum of seed 000) or over the triplets with non-zero loss
    (``reducer="nonzero"``, Hermans et al.'s "BA!=0").

    Hinge and soft margin are computed by PML's ``TripletMarginLoss``
    (``smooth_loss`` = soft margin) with its ``LpDistance`` and reducers; the
    lossless formulation and the ``[a; p; n]`` batch layout are written here.

    Parameters
    ----------
    margin : float, default=1.0
    soft : bool, default=False
    distance : {"l2", "sqeuclidean", "l1"}, default="l2"
        Euclidean, squared Euclidean (seed 001) or Manhattan
        ("TL-Manhattan", seed 000 table 4).
    mining : {"given", "batch_all", "batch_hard"} or callable, default="given"
        ``"given"``: the batch is laid out ``[anchors; positives; negatives]``
        (what :class:`RandomTripletSampler` yields). ``"batch_all"`` /
        ``"batch_hard"``: every valid triplet / the hardest one per anchor
        among the batch's labels (:class:`BatchHardMiner`; use
        :class:`PKSampler` batches). A callable ``miner(embeddings, labels)``
        returning ``(a, p, n)`` index tensors (any PML triplet miner too).
    reducer : {"mean", "nonzero"}, default="mean"
    lossless : bool, default=False
    upper : float, optional
        Largest possible squared distance for ``lossless`` (default 4.0, unit
        vectors).
    beta : float, optional
        Scale of ``lossless`` (default ``upper``).
    eps : float, default=1e-8
        Keeps the logarithms of ``lossless`` finite.

    Attributes
    ----------
    collapse_value : float
        The loss when every descriptor is the same point (``d_ap = d_an =
        0``): ``margin`` for the hinge, ``softplus(margin)`` (ln 2 at margin
        0) for the soft margin. Training schedules compare the loss with it.
    last_n_triplets : int
        Number of triplets used in the last call.
    """

    def __init__(self, margin=1.0, soft=False, distance="l2", mining="given",
                 reducer="mean", lossless=False, upper=None, beta=None, eps=1e-8):
        super().__init__()
        self.margin = float(margin)
        self.soft = bool(soft)
        self.distance = distance
        self.mining = mining
        self.reducer = reducer
        self.lossless = bool(lossless)
        self.upper = upper
        self.beta = beta
        self.eps = float(eps)
        self._distance = make_distance(distance)
        if reducer not in _REDUCERS:
            raise ValueError(f"reducer must be one of {sorted(_REDUCERS)}; got {reducer!r}.")
        if isinstance(mining, str):
            if mining not in _MINING:
                raise ValueError(f"mining must be one of {_MINING} or a miner; got {mining!r}.")
            self._miner = None if mining == "given" else BatchHardMiner(
                mode="all" if mining == "batch_all" else "hard", distance=distance)
        elif callable(mining):
            self._miner = mining
        else:
            raise TypeError(f"mining must be a name or a callable miner; got {mining!r}.")
        if self.lossless and distance != "sqeuclidean":
            raise ValueError("lossless=True is defined on squared Euclidean distances; "
                             "use distance='sqeuclidean'.")
        self._pml = pml_losses.TripletMarginLoss(
            margin=self.margin, smooth_loss=self.soft, distance=self._distance,
            reducer=_REDUCERS[reducer]())
        self.last_n_triplets = 0

    @property
    def collapse_value(self):
        if self.lossless:
            upper = 4.0 if self.upper is None else float(self.upper)
            beta = upper if self.beta is None else float(self.beta)
            return -math.log(1 + self.eps) - math.log(1 - upper / beta + self.eps)
        if self.soft:
            return math.log1p(math.exp(self.margin))
        return self.margin

    def triplets(self, embeddings, labels):
        """Index tensors ``(a, p, n)`` of the triplets this loss uses for a batch."""
        if self._miner is None:
            return given_triplets(len(embeddings), embeddings.device)
        labels = torch.as_tensor(labels, device=embeddings.device)
        out = tuple(t.to(embeddings.device) for t in self._miner(embeddings, labels))
        if len(out) == 4:  # a pair miner: PML turns its pairs into triplets
            out = lmu.convert_to_triplets(out, labels, labels, t_per_anchor="all")
        return out

    def forward(self, embeddings, labels=None):
        a, p, n = self.triplets(embeddings, labels)
        self.last_n_triplets = len(a)
        if len(a) == 0:
            # no valid triplet in this batch: a zero that keeps the graph
            return embeddings.sum() * 0.0
        if self.lossless:
            return self._lossless(embeddings, a, p, n)
        return self._pml(embeddings, labels, indices_tuple=(a, p, n))

    def _lossless(self, emb, a, p, n):
        upper = 4.0 if self.upper is None else float(self.upper)
        beta = upper if self.beta is None else float(self.beta)
        d_ap = (emb[a] - emb[p]).pow(2).sum(1).clamp(0.0, upper)
        d_an = (emb[a] - emb[n]).pow(2).sum(1).clamp(0.0, upper)
        loss = (-torch.log(1.0 - d_ap / beta + self.eps)
                - torch.log(1.0 - (upper - d_an) / beta + self.eps))
        if self.reducer == "nonzero":
            nz = loss > 0
            return loss[nz].mean() if nz.any() else loss.sum() * 0.0
        return loss.mean()

    def extra_repr(self):
        return (f"margin={self.margin}, soft={self.soft}, distance={self.distance!r}, "
                f"mining={self.mining!r}, lossless={self.lossless}")


class ContrastiveLoss(nn.Module):
    """Contrastive loss of Hadsell, Chopra & LeCun 2006 (seed 004 eq. 1).

    ``0.5 * d^2`` for a positive pair and ``0.5 * max(0, margin - d)^2`` for
    a negative pair, averaged over all pairs used. PML's ``ContrastiveLoss``
    uses un-squared hinge terms without the 1/2, a different function, so
    this one is written here (on PML's distances and pair miners).

    Parameters
    ----------
    margin : float, default=1.0
    distance : {"l2", "l1"}, default="l2"
        ``d`` above.
    pairs : {"all", "given"}, default="all"
        ``"all"``: every pair of the batch (positive = same label).
        ``"given"``: the batch is laid out ``[first; second]`` and row ``i``
        pairs with row ``i + n/2``; the pair is positive when labels agree.
    miner : callable, optional
        ``miner(embeddings, labels)`` returning pair indices ``(a1, p, a2,
        n)`` (PML convention); overrides ``pairs``. The online pair miner of
        seed 004 plugs in here.

    Attributes
    ----------
    last_n_pairs : tuple of int
        (positive, negative) pairs used in the last call.
    """

    def __init__(self, margin=1.0, distance="l2", pairs="all", miner=None):
        super().__init__()
        if distance not in ("l2", "l1"):
            raise ValueError(f"distance must be 'l2' or 'l1'; got {distance!r}.")
        if pairs not in ("all", "given"):
            raise ValueError(f"pairs must be 'all' or 'given'; got {pairs!r}.")
        self.margin = float(margin)
        self.distance = distance
        self.pairs = pairs
        self.miner = miner
        self._p = DISTANCES[distance][0]
        self.last_n_pairs = (0, 0)

    def pair_indices(self, embeddings, labels):
        """``(a1, p, a2, n)``: positive pairs ``(a1, p)``, negative pairs ``(a2, n)``."""
        labels = torch.as_tensor(labels, device=embeddings.device)
        if self.miner is not None:
            return tuple(t.to(embeddings.device) for t in self.miner(embeddings, labels))
        if self.pairs == "given":
            if len(embeddings) % 2:
                raise ValueError("pairs='given' needs an even number of rows [first; second].")
            h = len(embeddings) // 2
            i = torch.arange(h, device=embeddings.device)
            same = labels[:h] == labels[h:]
            return i[same], i[same] + h, i[~same], i[~same] + h
        return lmu.get_all_pairs_indices(labels)

    def forward(self, embeddings, labels):
        a1, p, a2, n = self.pair_indices(embeddings, labels)
        self.last_n_pairs = (len(a1), len(a2))
        if len(a1) + len(a2) == 0:
            return embeddings.sum() * 0.0
        diff_pos = embeddings[a1] - embeddings[p]
        if self._p == 2:  # d^2 without the square root: finite gradient at d = 0
            d2_pos = diff_pos.pow(2).sum(1)
        else:
            d2_pos = diff_pos.abs().sum(1).pow(2)
        d_neg = F.pairwise_distance(embeddings[a2], embeddings[n], p=self._p)
        loss = torch.cat([0.5 * d2_pos, 0.5 * F.relu(self.margin - d_neg).pow(2)])
        return loss.mean()
