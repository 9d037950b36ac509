"""Triplet and contrastive losses as small torch modules.

Every loss is called as ``loss(embeddings, labels)`` (what skorch passes:
the network output of the batch and the batch's point labels) and returns a
scalar. Which pieces come from pytorch-metric-learning (PML) and which are
written here is said in each docstring.

Losses are parameter objects (:class:`~sklearn_patchdesc._params.ParamsMixin`):
``get_params`` / ``set_params`` work, the constructor arguments are kept as
given and everything built from them (the PML distance, miner and loss)
lives in ``*_`` attributes rebuilt by ``set_params``. The estimators use a
criterion *instance* as given and apply their ``criterion__...`` options on
top of it with ``set_params``. Every loss takes its miner through the one
keyword ``miner=``; distances are names (``"l2"``, ``"sqeuclidean"``,
``"l1"``) or pytorch-metric-learning distance objects.
"""
from __future__ import annotations

import math

import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.reducers import AvgNonZeroReducer, MeanReducer
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch import nn
from torch.nn import functional as F

from .._params import ParamsMixin
from ._miners import BatchHardMiner, lp_parameters, make_distance

__all__ = ["TripletMarginLoss", "ContrastiveLoss", "given_triplets"]

_REDUCERS = {"mean": MeanReducer, "nonzero": AvgNonZeroReducer}
_MINERS = ("given", "batch_all", "batch_hard")
#: marks an unused deprecated argument


def given_triplets(n, device=None):
    """Triplet indices of a batch laid out as ``[anchors; positives; negatives]``."""
    if n % 3:
        raise ValueError(
            f"miner='given' needs batches laid out as [anchors; positives; negatives] "
            f"(a multiple of 3 rows); got {n} rows. Use RandomTripletSampler, or "
            "miner='batch_hard' / 'batch_all' with PKSampler."
        )
    t = n // 3
    idx = torch.arange(t, device=device)
    return idx, idx + t, idx + 2 * t


class TripletMarginLoss(ParamsMixin, nn.Module):
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
    (``smooth_loss`` = soft margin) with its distances and reducers; the
    lossless formulation and the ``[a; p; n]`` batch layout are written here.

    Parameters
    ----------
    margin : float, default=1.0
        Margin of the hinge / soft margin.
    soft : bool, default=False
        Soft margin instead of the hinge.
    distance : {"l2", "sqeuclidean", "l1"} or PML distance, default="l2"
        Euclidean, squared Euclidean (seed 001) or Manhattan
        ("TL-Manhattan", seed 000 table 4), or a pytorch-metric-learning
        distance object (``LpDistance(...)``, ``CosineSimilarity()`` ...).
    miner : {"given", "batch_all", "batch_hard"} or callable, default="given"
        ``"given"`` (or None): the batch is laid out ``[anchors; positives;
        negatives]`` (what :class:`RandomTripletSampler` yields).
        ``"batch_all"`` / ``"batch_hard"``: every valid triplet / the
        hardest one per anchor among the batch's labels
        (:class:`BatchHardMiner` on ``distance``; use :class:`PKSampler`
        batches). A callable ``miner(embeddings, labels)`` returning ``(a,
        p, n)`` (or PML pair) index tensors: any PML miner too.
    reducer : {"mean", "nonzero"}, default="mean"
        Average over all selected triplets or over those with non-zero loss.
    lossless : bool, default=False
        Use the lossless triplet loss.
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
    distance_ : pytorch_metric_learning distance
        The distance object built from ``distance``.
    miner_ : callable or None
        The miner called on every batch (None for given triplets).
    last_n_triplets_ : int
        Number of triplets used in the last call.

    Examples
    --------
    >>> loss = TripletMarginLoss(margin=0.3, miner="batch_hard")
    >>> loss.set_params(margin=0.5).get_params()["margin"]
    0.5
    """

    def __init__(self, margin=1.0, soft=False, distance="l2", miner="given",
                 reducer="mean", lossless=False, upper=None, beta=None, eps=1e-8):
        super().__init__()
        self.margin = margin
        self.soft = soft
        self.distance = distance
        self.miner = miner
        self.reducer = reducer
        self.lossless = lossless
        self.upper = upper
        self.beta = beta
        self.eps = eps
        self._params_changed()

    def _params_changed(self):
        if self.reducer not in _REDUCERS:
            raise ValueError(f"reducer must be one of {sorted(_REDUCERS)}; got {self.reducer!r}.")
        self.distance_ = make_distance(self.distance)
        miner = self.miner
        if miner is None or (isinstance(miner, str) and miner == "given"):
            self.miner_ = None
        elif isinstance(miner, str):
            if miner not in _MINERS:
                raise ValueError(f"miner must be one of {_MINERS}, None or a callable miner; "
                                 f"got {miner!r}.")
            self.miner_ = BatchHardMiner(mode="all" if miner == "batch_all" else "hard",
                                         distance=self.distance)
        elif callable(miner):
            self.miner_ = miner
        else:
            raise TypeError(f"miner must be a name or a callable miner; got {miner!r}.")
        if self.lossless and lp_parameters(self.distance) != (2.0, 2.0):
            raise ValueError("lossless=True is defined on squared Euclidean distances; "
                             "use distance='sqeuclidean'.")
        self.pml_loss_ = pml_losses.TripletMarginLoss(
            margin=float(self.margin), smooth_loss=bool(self.soft), distance=self.distance_,
            reducer=_REDUCERS[self.reducer]())
        self.last_n_triplets_ = 0

    @property
    def mines(self):
        """Whether triplets are mined in the batch (False: given ``[a; p; n]``)."""
        return self.miner_ is not None

    @property
    def collapse_value(self):
        """The loss when every descriptor is the same point (see the class docstring)."""
        if self.lossless:
            upper = 4.0 if self.upper is None else float(self.upper)
            beta = upper if self.beta is None else float(self.beta)
            return -math.log(1 + self.eps) - math.log(1 - upper / beta + self.eps)
        if self.soft:
            return math.log1p(math.exp(float(self.margin)))
        return float(self.margin)

    def triplets(self, embeddings, labels):
        """Index tensors ``(a, p, n)`` of the triplets this loss uses for a batch.

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
            Descriptors of the batch.
        labels : Tensor of shape (n,)
            Their point labels.

        Returns
        -------
        a, p, n : Tensor of int64
            Anchor, positive and negative rows.
        """
        if self.miner_ is None:
            return given_triplets(len(embeddings), embeddings.device)
        labels = torch.as_tensor(labels, device=embeddings.device)
        out = tuple(t.to(embeddings.device) for t in self.miner_(embeddings, labels))
        if len(out) == 4:  # a pair miner: PML turns its pairs into triplets
            out = lmu.convert_to_triplets(out, labels, labels, t_per_anchor="all")
        return out

    def forward(self, embeddings, labels=None):
        """Loss of a batch (a scalar tensor).

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
            Descriptors of the batch.
        labels : Tensor of shape (n,), optional
            Their point labels (needed by mined triplets).

        Returns
        -------
        loss : Tensor
            The scalar loss.
        """
        a, p, n = self.triplets(embeddings, labels)
        self.last_n_triplets_ = len(a)
        if len(a) == 0:
            # no valid triplet in this batch: a zero that keeps the graph
            return embeddings.sum() * 0.0
        if self.lossless:
            return self._lossless(embeddings, a, p, n)
        return self.pml_loss_(embeddings, labels, indices_tuple=(a, p, n))

    def _lossless(self, emb, a, p, n):
        upper = 4.0 if self.upper is None else float(self.upper)
        beta = upper if self.beta is None else float(self.beta)
        eps = float(self.eps)
        d_ap = (emb[a] - emb[p]).pow(2).sum(1).clamp(0.0, upper)
        d_an = (emb[a] - emb[n]).pow(2).sum(1).clamp(0.0, upper)
        loss = (-torch.log(1.0 - d_ap / beta + eps)
                - torch.log(1.0 - (upper - d_an) / beta + eps))
        if self.reducer == "nonzero":
            nz = loss > 0
            return loss[nz].mean() if nz.any() else loss.sum() * 0.0
        return loss.mean()


class ContrastiveLoss(ParamsMixin, nn.Module):
    """Contrastive loss of Hadsell, Chopra & LeCun 2006 (seed 004 eq. 1).

    ``0.5 * d^2`` for a positive pair and ``0.5 * max(0, margin - d)^2`` for
    a negative pair, averaged over all pairs used. PML's ``ContrastiveLoss``
    uses un-squared hinge terms without the 1/2, a different function, so
    this one is written here (on PML's distances and pair miners).

    Parameters
    ----------
    margin : float, default=1.0
        Margin of the negative pairs.
    distance : {"l2", "l1"} or PML distance, default="l2"
        ``d`` above: Euclidean, Manhattan, or a pytorch-metric-learning
        distance object (a distance, not a similarity such as
        ``CosineSimilarity``).
    pairs : {"all", "given"}, default="all"
        Without a miner: ``"all"``, every pair of the batch (positive = same
        label); ``"given"``, the batch is laid out ``[first; second]`` and
        row ``i`` pairs with row ``i + n/2``; the pair is positive when
        labels agree.
    miner : callable, optional
        ``miner(embeddings, labels)`` returning pair indices ``(a1, p, a2,
        n)`` (PML convention); overrides ``pairs``. The online pair miner of
        seed 004 plugs in here.

    Attributes
    ----------
    distance_ : pytorch_metric_learning distance
        The distance object built from ``distance``.
    last_n_pairs_ : tuple of int
        (positive, negative) pairs used in the last call.

    Examples
    --------
    >>> ContrastiveLoss(margin=0.5).set_params(pairs="given")
    ContrastiveLoss(margin=0.5, pairs='given')
    """

    def __init__(self, margin=1.0, distance="l2", pairs="all", miner=None):
        super().__init__()
        self.margin = margin
        self.distance = distance
        self.pairs = pairs
        self.miner = miner
        self._params_changed()

    def _params_changed(self):
        if isinstance(self.distance, str) and self.distance not in ("l2", "l1"):
            raise ValueError(f"distance must be 'l2', 'l1' or a pytorch_metric_learning "
                             f"distance; got {self.distance!r}.")
        self.distance_ = make_distance(self.distance)
        if self.distance_.is_inverted:
            raise ValueError(f"ContrastiveLoss needs a distance, not the similarity "
                             f"{type(self.distance_).__name__}.")
        if self.pairs not in ("all", "given"):
            raise ValueError(f"pairs must be 'all' or 'given'; got {self.pairs!r}.")
        if self.miner is not None and not callable(self.miner):
            raise TypeError(f"miner must be None or a callable pair miner; got {self.miner!r}.")
        self.last_n_pairs_ = (0, 0)

    def pair_indices(self, embeddings, labels):
        """Positive pairs ``(a1, p)`` and negative pairs ``(a2, n)`` of a batch.

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
            Descriptors of the batch.
        labels : Tensor of shape (n,)
            Their point labels.

        Returns
        -------
        a1, p, a2, n : Tensor of int64
            Row indices of the pairs.
        """
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

    def _pair_distance(self, x, y):
        if lp_parameters(self.distance_) in ((2.0, 1.0), (1.0, 1.0)):
            return F.pairwise_distance(x, y, p=lp_parameters(self.distance_)[0])
        return self.distance_.pairwise_distance(x, y)

    def _squared_positive_distance(self, x, y):
        lp = lp_parameters(self.distance_)
        if lp == (2.0, 1.0):  # d^2 without the square root: finite gradient at d = 0
            return (x - y).pow(2).sum(1)
        if lp == (1.0, 1.0):
            return (x - y).abs().sum(1).pow(2)
        return self._pair_distance(x, y).pow(2)

    def forward(self, embeddings, labels):
        """Loss of a batch (a scalar tensor).

        Parameters
        ----------
        embeddings : Tensor of shape (n, d)
            Descriptors of the batch.
        labels : Tensor of shape (n,)
            Their point labels.

        Returns
        -------
        loss : Tensor
            The scalar loss.
        """
        a1, p, a2, n = self.pair_indices(embeddings, labels)
        self.last_n_pairs_ = (len(a1), len(a2))
        if len(a1) + len(a2) == 0:
            return embeddings.sum() * 0.0
        d2_pos = self._squared_positive_distance(embeddings[a1], embeddings[p])
        d_neg = self._pair_distance(embeddings[a2], embeddings[n])
        loss = torch.cat([0.5 * d2_pos, 0.5 * F.relu(float(self.margin) - d_neg).pow(2)])
        return loss.mean()
