"""Batch formation for triplet training, vectorised with numpy.

Sampler protocol (read by :class:`~sklearn_patchdesc._data.PatchLoader`
once per epoch): ``batches(labels, batch_size, rng)`` yields integer index
arrays into the training set; ``n_batches(labels, batch_size)`` returns
exactly how many (the loader's ``len``, what progress bars count); it must
not depend on the random draw. ``batch_size`` counts patches per training
step, whatever the sampler makes of them (triplets, S labels x K patches):
the estimators' ``batch_size`` has this one meaning.
Attributes are read at the start of each epoch, so a callback may change them
between epochs (e.g. growing PK batches). A sampler that is also a skorch
``Callback`` is registered by the descriptor estimators, so it can look at the
network (e.g. to mine hard positives) before each epoch.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._params import ParamsMixin

__all__ = ["RandomTripletSampler", "PKSampler", "BatchSizeUnitWarning", "check_triplet_labels",
           "label_groups", "triplets_per_batch", "triplet_batches"]


class BatchSizeUnitWarning(FutureWarning):
    """``batch_size`` now counts patches per step, where it counted triplets or pairs.

    Raised, for one release, where a descriptor's ``batch_size`` is set away
    from its default (its meaning changed: ``L2NetDescriptor(batch_size=128)``
    was 128 triplets, 384 patches, and is now 42 triplets, 126 patches) and
    where :class:`PKSampler` is given ``n_labels_per_batch`` (deprecated: it
    overrides ``batch_size``). Silence it with
    ``warnings.filterwarnings("ignore", category=BatchSizeUnitWarning)``.
    """


def triplets_per_batch(batch_size):
    """Triplets a batch of ``batch_size`` patches holds (3 patches each).

    Raises
    ------
    ValueError
        If ``batch_size`` holds no triplet.
    """
    n = int(batch_size) // 3
    if n < 1:
        raise ValueError(f"batch_size={batch_size} patches holds no triplet (anchor, positive "
                         "and negative: 3 patches); batch_size counts patches per step, so "
                         "use at least 3.")
    return n


def triplet_batches(anchors, positives, negatives, batch_size):
    """Index batches ``[anchors; positives; negatives]`` of ``batch_size`` patches each.

    The layout ``TripletMarginLoss(miner="given")`` reads: ``batch_size // 3``
    triplets per batch, the last batch shorter.
    """
    t = triplets_per_batch(batch_size)
    for start in range(0, len(anchors), t):
        sl = slice(start, start + t)
        yield np.concatenate([anchors[sl], positives[sl], negatives[sl]])


def label_groups(labels):
    """Group patch indices by label.

    Returns
    -------
    inverse : ndarray of shape (n,)
        Label id ``0..L-1`` of every patch.
    counts : ndarray of shape (L,)
        Patches per label.
    """
    _, inverse, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def check_triplet_labels(labels, name="y"):
    """Raise a ``ValueError`` unless ``labels`` allow at least one triplet.

    A triplet needs a label seen at least twice (anchor and positive) and a
    second label (negative).
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError(f"{name} is empty; triplet training needs labelled patches.")
    _, counts = label_groups(labels)
    if len(counts) < 2:
        raise ValueError(
            f"{name} holds a single label ({labels.flat[0].item()!r}) for all {labels.size} "
            "patches (one class): no negative exists, so no triplet can be formed. Give "
            "patches of at least two different 3-D points."
        )
    if counts.max() < 2:
        raise ValueError(
            f"every label in {name} occurs once ({len(counts)} labels for {labels.size} "
            "patches): no anchor has a positive, so no triplet can be formed. Patches "
            "of the same 3-D point must share a label (record arrays: y['label'])."
        )


def _sorted_groups(inverse, counts, rng):
    """Patch indices grouped by label, each group in random order, and group starts."""
    n = len(inverse)
    perm = rng.permutation(n)
    order = perm[np.argsort(inverse[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts


class RandomTripletSampler(ParamsMixin):
    """Fresh random valid triplets every epoch (the baseline generator of seed 000).

    Each anchor gets a positive drawn uniformly among the other patches with
    its label and a negative drawn uniformly among the patches with another
    label. Batches are laid out ``[anchors; positives; negatives]``, the layout
    of ``TripletMarginLoss(miner="given")``; a batch of ``batch_size`` patches
    holds ``batch_size // 3`` triplets.

    Parameters
    ----------
    n_triplets : int, optional
        Triplets per epoch. By default every patch that has a positive is the
        anchor of one triplet per epoch, in random order (the data is
        covered); with a number, anchors are drawn at random among them.
    """

    def __init__(self, n_triplets=None):
        self.n_triplets = n_triplets

    def triplets(self, labels, rng):
        """Return ``(anchors, positives, negatives)`` index arrays for one epoch.

        Parameters
        ----------
        labels : array-like of shape (n,)
            Point labels of the training patches.
        rng : numpy.random.Generator, int or None
            Source of the random draws.

        Returns
        -------
        anchors, positives, negatives : ndarray of shape (n_triplets,)
            Indices into the training patches.
        """
        check_triplet_labels(labels)
        rng = np.random.default_rng(rng)
        inverse, counts = label_groups(labels)
        n = len(inverse)
        order, starts = _sorted_groups(inverse, counts, rng)
        rank = np.empty(n, dtype=np.int64)  # position of each patch inside its group
        rank[order] = np.arange(n) - starts[inverse[order]]
        candidates = np.flatnonzero(counts[inverse] >= 2)
        if self.n_triplets is None:
            anchors = rng.permutation(candidates)
        else:
            k = int(self.n_triplets)
            if k < 1:
                raise ValueError(f"n_triplets must be a positive integer; got {self.n_triplets!r}.")
            anchors = rng.choice(candidates, size=k, replace=k > len(candidates))
        lab = inverse[anchors]
        c, s = counts[lab], starts[lab]
        # positive: a uniform rank among the c - 1 other members of the group
        r = (rng.random(len(anchors)) * (c - 1)).astype(np.int64)
        r += r >= rank[anchors]
        positives = order[s + r]
        # negative: a uniform position among the n - c patches outside the group
        r = (rng.random(len(anchors)) * (n - c)).astype(np.int64)
        negatives = order[np.where(r < s, r, r + c)]
        return anchors, positives, negatives

    def batches(self, labels, batch_size, rng):
        yield from triplet_batches(*self.triplets(labels, rng), batch_size)

    def n_triplets_per_epoch(self, labels):
        """Triplets one epoch draws: ``n_triplets``, or every patch that has a positive.

        Parameters
        ----------
        labels : array-like of shape (n,)
            Point labels of the training patches.

        Returns
        -------
        n_triplets : int
        """
        check_triplet_labels(labels)
        if self.n_triplets is not None:
            return int(self.n_triplets)
        inverse, counts = label_groups(labels)
        return int(np.count_nonzero(counts[inverse] >= 2))

    def n_batches(self, labels, batch_size):
        return -(-self.n_triplets_per_epoch(labels) // triplets_per_batch(batch_size))


class PKSampler(ParamsMixin):
    """Batches of S labels x K patches (seed 001's symmetric batch formation).

    Every epoch, the patches of each label (seen at least twice) are shuffled
    and cut into chunks of K; a last short chunk is filled up with other
    patches of the same label (repeats only when the label has fewer than K
    patches). Chunks are dealt round-robin, in a random label order, into
    batches of S chunks, so a batch holds S different labels whenever no
    label has more chunks than there are batches, and always at least two:
    every batch contains ``K^2 (K-1) (S-1)`` valid triplets (when its S
    labels differ) and every patch whose label occurs twice or more is in at
    least one batch per epoch. Patches of labels seen once are skipped (they
    cannot be anchors nor positives). S is ``batch_size // K``, so batches
    have exactly ``S * K`` rows, ``batch_size`` rounded down to a multiple of
    K (a few chunks are repeated to fill the last ones).

    Parameters
    ----------
    n_labels_per_batch : int, optional
        Deprecated: S given directly, overriding ``batch_size`` (the meaning
        before ``batch_size`` counted patches); warns
        :class:`BatchSizeUnitWarning`. Leave it None and set the estimator's
        ``batch_size`` to ``S * K`` instead.
    n_per_label : int, default=4
        K (>= 2).
    """

    def __init__(self, n_labels_per_batch=None, n_per_label=4):
        self.n_labels_per_batch = n_labels_per_batch
        self.n_per_label = n_per_label

    def _check(self, batch_size, warn=True):
        """``(S, K)`` for batches of ``batch_size`` patches."""
        S, K = self.n_labels_per_batch, self.n_per_label
        if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 2:
            raise ValueError(f"n_per_label must be an integer >= 2; got {K!r}.")
        if S is None:
            S = int(batch_size) // int(K)
            if S < 2:
                raise ValueError(
                    f"batch_size={batch_size} patches holds {S} label(s) of n_per_label={K} "
                    f"patches; PK batches need at least 2 labels, so batch_size >= {2 * K}.")
            return S, int(K)
        if not isinstance(S, (int, np.integer)) or isinstance(S, bool) or S < 2:
            raise ValueError(f"n_labels_per_batch must be an integer >= 2; got {S!r}.")
        if warn:
            warnings.warn(
                f"PKSampler(n_labels_per_batch={S}) is deprecated and overrides batch_size; "
                f"batch_size now counts patches per step: leave n_labels_per_batch unset and "
                f"set the estimator's batch_size={S * K} (S x K) instead.",
                BatchSizeUnitWarning, stacklevel=3)
        return int(S), int(K)

    def index_batches(self, labels, batch_size, rng):
        """Return the epoch's batches as an ``(n_batches, S * K)`` index array.

        Parameters
        ----------
        labels : array-like of shape (n,)
            Point labels of the training patches (singletons are left out).
        batch_size : int
            Patches per batch; S is ``batch_size // K``.
        rng : numpy.random.Generator, int or None
            Shuffles the label order and each label's patches.

        Returns
        -------
        batches : ndarray of shape (n_batches, S * K)
            Indices into the training patches, one row per batch.
        """
        S, K = self._check(batch_size)
        check_triplet_labels(labels)
        rng = np.random.default_rng(rng)
        inverse, counts = label_groups(labels)
        keep = counts >= 2
        n_keep = int(keep.sum())
        # random label order: give kept labels a random key 0..n_keep-1 and
        # singletons the key n_keep (one group at the end, dropped)
        key = np.full(len(counts), n_keep, dtype=np.int64)
        key[keep] = rng.permutation(n_keep)
        group = key[inverse]
        by_key = np.bincount(group, minlength=n_keep + 1)
        order, starts = _sorted_groups(group, by_key, rng)
        c, s = by_key[:n_keep], starts[:n_keep]
        m = -(-c // K)  # chunks per label
        slot_group = np.repeat(np.arange(len(c)), m * K)
        slot_start = np.repeat(np.concatenate([[0], np.cumsum(m * K)[:-1]]), m * K)
        j = np.arange(len(slot_group)) - slot_start
        chunks = order[s[slot_group] + j % c[slot_group]].reshape(-1, K)
        chunk_label = np.repeat(np.arange(len(c)), m)
        n_chunks = len(chunks)
        n_batches = -(-n_chunks // S)
        extra = n_batches * S - n_chunks
        if extra:
            pick = rng.choice(n_chunks, size=extra, replace=extra > n_chunks)
            chunks = np.concatenate([chunks, chunks[pick]])
            chunk_label = np.concatenate([chunk_label, chunk_label[pick]])
        # deal chunk i to batch i % n_batches
        batches = chunks.reshape(S, n_batches, K).transpose(1, 0, 2)
        batch_labels = chunk_label.reshape(S, n_batches).T
        bad = np.flatnonzero((batch_labels == batch_labels[:, :1]).all(axis=1))
        for b in bad:  # rare: one dominant label; swap in a chunk of another label
            other = np.flatnonzero(chunk_label[:n_chunks] != batch_labels[b, 0])
            batches[b, 0] = chunks[rng.choice(other)]
        batches = batches.reshape(n_batches, S * K)
        return batches[rng.permutation(n_batches)]

    def batches(self, labels, batch_size, rng):
        yield from self.index_batches(labels, batch_size, rng)

    def n_batches(self, labels, batch_size):
        S, K = self._check(batch_size, warn=False)
        check_triplet_labels(labels)
        _, counts = label_groups(labels)
        n_chunks = int((-(-counts[counts >= 2] // K)).sum())
        return -(-n_chunks // S)

