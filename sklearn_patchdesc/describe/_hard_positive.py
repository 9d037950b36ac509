"""Offline hard-positive mining (seed 000 sec. 3.2.3).

After a warm-up with random triplets, the training set is periodically run
through the current network; each anchor then gets the *farthest* patch of
its own label as positive ("only tough positive patches for each anchor"),
with a random or the nearest (hard) negative.
"""
from __future__ import annotations

import numpy as np
from skorch.callbacks import Callback

from .._params import ParamsMixin
from ._embedding import embed_dataset, pairwise_l2
from ._samplers import (
    RandomTripletSampler,
    check_triplet_labels,
    label_groups,
    triplet_batches,
)

__all__ = ["HardPositiveMiner", "farthest_positives", "nearest_negatives"]


def farthest_positives(embeddings, labels):
    """Index of the farthest same-label row of every row (itself when alone).

    Vectorised per group size: all labels with ``c`` members form one
    ``(L_c, c, c)`` distance block, so memory is ``sum(count ** 2)``.

    Parameters
    ----------
    embeddings : ndarray of shape (n, d)
    labels : ndarray of shape (n,)

    Returns
    -------
    positives : ndarray of shape (n,) of int64
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    inverse, counts = label_groups(labels)
    n = len(inverse)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.arange(n, dtype=np.int64)
    for c in np.unique(counts):
        if c < 2:
            continue
        labs = np.flatnonzero(counts == c)
        members = order[starts[labs][:, None] + np.arange(c)[None, :]]  # (L_c, c)
        e = emb[members]  # (L_c, c, d)
        sq = (e * e).sum(-1)
        d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * np.einsum("lid,ljd->lij", e, e)
        far = np.argmax(d2, axis=2)  # (L_c, c); the diagonal is ~0, never the max
        out[members.ravel()] = np.take_along_axis(members, far, axis=1).ravel()
    return out


def nearest_negatives(embeddings, labels, anchors=None, chunk=1024):
    """Index of the nearest row with another label, for every anchor (chunked).

    Parameters
    ----------
    embeddings : ndarray of shape (n, d)
    labels : ndarray of shape (n,)
    anchors : ndarray of int, optional
        Rows to find negatives for (default all).
    chunk : int, default=1024
        Anchors per distance block (memory ``chunk * n`` floats).

    Returns
    -------
    negatives : ndarray of int64, one per anchor
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    anchors = np.arange(len(emb)) if anchors is None else np.asarray(anchors)
    out = np.empty(len(anchors), dtype=np.int64)
    for s in range(0, len(anchors), chunk):
        a = anchors[s:s + chunk]
        d = pairwise_l2(emb[a], emb)
        d[labels[a][:, None] == labels[None, :]] = np.inf
        out[s:s + chunk] = np.argmin(d, axis=1)
    return out


class HardPositiveMiner(ParamsMixin, Callback):
    """Triplets with the farthest positive, refreshed from the network (seed 000).

    A batch sampler (``L2NetDescriptor(sampler=HardPositiveMiner(...))``)
    that is also a skorch callback, registered by the descriptor estimators.
    During the first ``warmup_epochs`` epochs it yields random triplets
    exactly like :class:`RandomTripletSampler`. Then, at the start of the
    epoch and every ``refresh_every`` epochs after, it embeds the whole
    training set with the current network (eval mode) and builds triplets
    whose positive is the anchor's farthest same-label patch in descriptor
    space (seed 000 sec. 3.2.3: "using only tough positive patches for each
    anchor"; the seed's table 5 reports PV/IM/PR 0.701/0.117/0.387 without
    and 0.823/0.359/0.392 with it, after 50 epochs of 10000 triplets). The
    negative is drawn at random among the other labels (``negatives=
    "random"``) or is the anchor's nearest patch of another label
    (``"hard"``). Between refreshes the positives stay fixed (the seed mined
    them once per refresh, offline) while anchors' order and random
    negatives are redrawn every epoch.

    Batches are laid out ``[anchors; positives; negatives]``, the layout of
    ``TripletMarginLoss(miner="given")`` (the default loss).

    Parameters
    ----------
    warmup_epochs : int, default=1
        Epochs of random triplets before the first mining (seed 000 mined
        "after initial training").
    refresh_every : int, default=1
        Re-embed the training set every this many epochs after warm-up.
    negatives : {"random", "hard"}, default="random"
    n_triplets : int, optional
        Triplets per epoch; default: one per patch that has a positive.
    embed_batch_size : int, default=512
        Batch size of the embedding pass.

    Attributes
    ----------
    embeddings_ : ndarray of shape (n, d) or None
        Descriptors of the training set at the last refresh.
    positives_ : ndarray of shape (n,) or None
        Farthest positive of every training row at the last refresh.
    n_refreshes_ : int
        Embedding passes done so far.
    labels_ : ndarray of shape (n,) or None
        Labels of the training set at the last refresh.

    Notes
    -----
    Each refresh records ``hard_positive_distance`` (mean anchor to
    farthest-positive distance) in the epoch's history row.

    Examples
    --------
    >>> from sklearn_patchdesc.describe import HardPositiveMiner, L2NetDescriptor
    >>> est = L2NetDescriptor(sampler=HardPositiveMiner(warmup_epochs=2), max_epochs=5)
    """

    def __init__(self, warmup_epochs=1, refresh_every=1, negatives="random", n_triplets=None,
                 embed_batch_size=512):
        self.warmup_epochs = warmup_epochs
        self.refresh_every = refresh_every
        self.negatives = negatives
        self.n_triplets = n_triplets
        self.embed_batch_size = embed_batch_size

    # ------------------------------------------------------------ callback
    def _check(self):
        for name in ("warmup_epochs", "refresh_every"):
            v = getattr(self, name)
            low = 0 if name == "warmup_epochs" else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {v!r}.")
        if self.negatives not in ("random", "hard"):
            raise ValueError(f"negatives must be 'random' or 'hard'; got {self.negatives!r}.")

    def initialize(self):
        self._check()
        self.embeddings_ = None
        self.positives_ = None
        self.n_refreshes_ = 0
        self.labels_ = None
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        epoch = len(net.history) - 1  # 0-based; skorch added this epoch's row already
        since = epoch - int(self.warmup_epochs)
        if since < 0 or since % int(self.refresh_every):
            return
        self.refresh(net, dataset_train)
        net.history.record("hard_positive_distance", self._mean_positive_distance())

    def refresh(self, net, dataset):
        """Embed ``dataset`` with ``net.module_`` and recompute the farthest positives.

        Parameters
        ----------
        net : skorch.NeuralNet
            The descriptor net being trained.
        dataset : torch Dataset
            The training patches and their labels.

        Returns
        -------
        self
        """
        from ._embedding import dataset_labels

        self.embeddings_ = embed_dataset(net, dataset, self.embed_batch_size)
        self.labels_ = dataset_labels(dataset)
        self.positives_ = farthest_positives(self.embeddings_, self.labels_)
        self.n_refreshes_ += 1
        return self

    def _mean_positive_distance(self):
        e, p = self.embeddings_, self.positives_
        has = p != np.arange(len(p))
        if not has.any():
            return 0.0
        return float(np.linalg.norm(e[has] - e[p[has]], axis=1).mean())

    # ------------------------------------------------------------- sampler
    def triplets(self, labels, rng):
        """``(anchors, positives, negatives)`` for one epoch (mined once refreshed).

        Parameters
        ----------
        labels : array-like of shape (n,)
            Labels of the dataset last given to :meth:`refresh`.
        rng : numpy.random.Generator, int or None
            Draws the anchors and the negatives.

        Returns
        -------
        anchors, positives, negatives : ndarray of shape (n_triplets,)
            Each anchor's positive is its farthest one after a refresh (random
            before the first).
        """
        labels = np.asarray(labels)
        check_triplet_labels(labels)
        random = RandomTripletSampler(n_triplets=self.n_triplets)
        a, p, n = random.triplets(labels, rng)
        if getattr(self, "positives_", None) is None:
            return a, p, n  # warm-up: random triplets
        if len(self.positives_) != len(labels) or not np.array_equal(self.labels_, labels):
            raise ValueError(
                "HardPositiveMiner: the loader's labels differ from the embedded training "
                f"set ({len(labels)} vs {len(self.positives_)} rows); it must sample the "
                "dataset it refreshed on.")
        p = self.positives_[a]
        if self.negatives == "hard":
            n = nearest_negatives(self.embeddings_, labels, anchors=a)
        return a, p, n

    def batches(self, labels, batch_size, rng):
        yield from triplet_batches(*self.triplets(labels, rng), batch_size)

    def n_batches(self, labels, batch_size):
        return RandomTripletSampler(self.n_triplets).n_batches(labels, batch_size)
