"""Online pair mining strategy, OPMS (seed 004, SimNet, algorithm 1).

Per mini-batch: all positive pairs, plus negative pairs drawn at random with
a difficulty weight set by a curriculum parameter lambda that grows from 0 to
1 over the epochs ("model is fed the hardest negative pairs at the end of
training"), after pruning the pairs that already satisfy the margin
constraint (seed 004 eq. 2). Used with ``ContrastiveLoss(margin=1)``.
"""
from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import Callback

from .._params import ParamsMixin
from ._embedding import torch_seeded_rng

__all__ = ["OnlinePairMiner"]


class OnlinePairMiner(ParamsMixin, Callback):
    """Curriculum pair miner for :class:`ContrastiveLoss` (seed 004's OPMS).

    Plug it into the contrastive loss: ``criterion=ContrastiveLoss,
    criterion__miner=OnlinePairMiner()`` (the descriptor estimators deep-copy
    it and register it as callback ``"miner"``, which moves lambda every
    epoch). :class:`MultiScaleDescriptor` uses it by default.

    On every training batch, with descriptors ``x`` and margin ``m``:

    1. positive pairs: every pair of distinct rows with the same label;
       negative pairs: every pair with different labels;
    2. pruning (seed 004 eq. 2, ``prune=True``): an anchor whose farthest
       positive and nearest negative satisfy ``max D(q, p)^2 + m < min
       D(q, n)^2`` is already well separated; its pairs are dropped.
       Negative pairs at distance ``>= m`` (zero contrastive loss) are dropped
       too;
    3. ``negatives_per_positive`` x (number of positive pairs) negatives are
       drawn without replacement from the remaining ones with probability
       ``(1 - lambda) / N + lambda * h_i / sum(h)``, where ``h_i = m - d_i``
       is the pair's contrastive hinge: uniform at lambda = 0, proportional
       to difficulty at lambda = 1.

    The curriculum follows algorithm 1 of seed 004: with ``E`` epochs,
    lambda is ``lambda_start + (lambda_end - lambda_start) * e / E`` in
    epoch ``e = 1..E`` (so it reaches ``lambda_end`` in the last epoch).
    ``lambda_start == lambda_end`` gives a fixed lambda (seed 004 table 2
    compares fixed values 0.2 .. 1.0). The seed's "curriculum sort" of the
    pairs does not change a mean loss and is not done.

    Parameters
    ----------
    lambda_start : float, default=0.0
    lambda_end : float, default=1.0
    n_epochs : int, optional
        Length of the curriculum; default the net's ``max_epochs``.
    margin : float, optional
        ``m``; default the loss's ``margin`` (1.0 in seed 004).
    negatives_per_positive : float, default=1.0
    prune : bool, default=True
    random : bool, default=False
        Plain random pairs (seed 004 table 2, row F): no pruning, uniform
        negatives (lambda ignored). For comparisons.

    Attributes
    ----------
    lambda_ : float
        Current lambda.
    last_counts_ : tuple of int
        (positive pairs, negative pairs, pruned pairs) of the last batch.

    Notes
    -----
    Records ``opms_lambda``, ``opms_positive_pairs``, ``opms_negative_pairs``
    and ``opms_pruned`` (mean per batch) in every epoch's history row.

    Examples
    --------
    >>> import torch
    >>> miner = OnlinePairMiner(lambda_start=1.0, lambda_end=1.0)
    >>> emb = torch.tensor([[0., 0.], [0., .1], [0., .3], [0., .4]])
    >>> a1, p, a2, n = miner(emb, torch.tensor([0, 0, 1, 1]))
    >>> len(a1), len(a2)  # 4 ordered positive pairs, as many negatives
    (4, 4)
    """

    def __init__(self, lambda_start=0.0, lambda_end=1.0, n_epochs=None, margin=None,
                 negatives_per_positive=1.0, prune=True, random=False):
        self.lambda_start = lambda_start
        self.lambda_end = lambda_end
        self.n_epochs = n_epochs
        self.margin = margin
        self.negatives_per_positive = negatives_per_positive
        self.prune = prune
        self.random = random

    # ------------------------------------------------------------ schedule
    def lambda_at(self, epoch, n_epochs):
        """Lambda of 1-based ``epoch`` out of ``n_epochs`` (seed 004 algorithm 1).

        Parameters
        ----------
        epoch : int
            1-based epoch.
        n_epochs : int
            Epochs of the whole fit.

        Returns
        -------
        lam : float
            Linear from ``lambda_start`` to ``lambda_end``.
        """
        start, end = float(self.lambda_start), float(self.lambda_end)
        frac = min(max(epoch / max(int(n_epochs), 1), 0.0), 1.0)
        return start + (end - start) * frac

    def initialize(self):
        for name in ("lambda_start", "lambda_end"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {v!r}.")
        if float(self.negatives_per_positive) <= 0:
            raise ValueError("negatives_per_positive must be > 0; got "
                             f"{self.negatives_per_positive!r}.")
        self.lambda_ = float(self.lambda_end)
        self.rng_ = None
        self.last_counts_ = (0, 0, 0)
        self.epoch_counts_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.rng_ = torch_seeded_rng()
        self.n_epochs_ = int(self.n_epochs or net.max_epochs)
        if self.margin is None:
            self.net_margin_ = float(getattr(net.criterion_, "margin", 1.0))

    def on_epoch_begin(self, net, **kwargs):
        self.lambda_ = self.lambda_at(len(net.history), self.n_epochs_)
        self.epoch_counts_ = []

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.epoch_counts_.append(self.last_counts_)

    def on_epoch_end(self, net, **kwargs):
        net.history.record("opms_lambda", self.lambda_)
        c = np.asarray(self.epoch_counts_, dtype=float).reshape(-1, 3)
        means = c.mean(0) if len(c) else np.zeros(3)
        for key, v in zip(("opms_positive_pairs", "opms_negative_pairs", "opms_pruned"), means):
            net.history.record(key, float(v))

    # --------------------------------------------------------------- miner
    def _margin(self):
        if self.margin is not None:
            return float(self.margin)
        return getattr(self, "net_margin_", 1.0)

    def mine(self, dist, labels, rng, lam):
        """Pair indices from a distance matrix (numpy); see the class docstring.

        Parameters
        ----------
        dist : ndarray of shape (b, b)
            Distances between the descriptors of a batch.
        labels : array-like of shape (b,)
            Their point labels.
        rng : numpy.random.Generator
            Source of the random draws.
        lam : float
            Current lambda (see :meth:`lambda_at`).

        Returns
        -------
        a1, p, a2, n : ndarray
            Positive pairs ``(a1, p)`` and negative pairs ``(a2, n)``.
        n_pruned : int
            Pairs dropped as easy (anchors that already meet the margin, negatives
            beyond it).
        """
        labels = np.asarray(labels)
        m = self._margin()
        nb = len(labels)
        same = labels[:, None] == labels[None, :]
        offdiag = ~np.eye(nb, dtype=bool)
        pos = same & offdiag
        neg = ~same
        keep_anchor = np.ones(nb, dtype=bool)
        n_pruned = 0
        if self.prune and not self.random:
            dpos = np.where(pos, dist, -np.inf).max(1)
            dneg = np.where(neg, dist, np.inf).min(1)
            easy = (dpos ** 2 + m < dneg ** 2) & np.isfinite(dpos) & np.isfinite(dneg)
            keep_anchor = ~easy
            n_before = int(pos.sum() + neg.sum())
            pos = pos & keep_anchor[:, None]
            neg = neg & keep_anchor[:, None] & (dist < m)
            n_pruned = n_before - int(pos.sum() + neg.sum())
        a1, p = np.nonzero(pos)
        a2_all, n_all = np.nonzero(neg)
        k = int(round(float(self.negatives_per_positive) * max(len(a1), 1)))
        k = min(k, len(a2_all))
        if k == 0:
            return a1, p, a2_all[:0], n_all[:0], n_pruned
        if self.random or lam <= 0.0:
            pick = rng.choice(len(a2_all), size=k, replace=False)
        else:
            h = np.maximum(m - dist[a2_all, n_all], 0.0)
            w = (1.0 - lam) / len(h) + (lam * h / h.sum() if h.sum() > 0 else lam / len(h))
            w = w / w.sum()
            nz = int((w > 0).sum())
            pick = rng.choice(len(a2_all), size=min(k, nz), replace=False, p=w)
        return a1, p, a2_all[pick], n_all[pick], n_pruned

    def __call__(self, embeddings, labels):
        labels = torch.as_tensor(labels, device=embeddings.device)
        rng = getattr(self, "rng_", None)
        if rng is None:
            rng = self.rng_ = np.random.default_rng(0)
        lam = getattr(self, "lambda_", float(self.lambda_end))
        with torch.no_grad():
            dist = torch.cdist(embeddings.detach().float(), embeddings.detach().float())
        a1, p, a2, n, pruned = self.mine(dist.cpu().numpy(), labels.cpu().numpy(), rng, lam)
        self.last_counts_ = (len(a1), len(a2), pruned)
        dev = embeddings.device
        return tuple(torch.as_tensor(t, dtype=torch.long, device=dev) for t in (a1, p, a2, n))
