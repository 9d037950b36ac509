"""Patch tensors kept in memory and batched by vectorised indexing.

skorch's default path (a ``Dataset`` read one sample at a time and collated
by a ``DataLoader``) costs a Python call per patch. Here the whole training set
stays a single tensor (uint8 when the caller gave uint8: 4x less memory) and
each batch is one fancy-indexing operation.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["PatchDataset", "PatchLoader"]


def _as_tensor(a):
    if a is None or isinstance(a, torch.Tensor):
        return a
    a = np.ascontiguousarray(a)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return torch.from_numpy(a)


class PatchDataset(torch.utils.data.Dataset):
    """Patches (and optional targets) held as whole tensors.

    Parameters
    ----------
    X : ndarray or Tensor of shape (n, 1, H, W)
        uint8 (0..255) or float patches.
    y : ndarray or Tensor, optional
        Per-patch targets: labels ``(n,)`` or target patches ``(n, 1, H, W)``.
    """

    def __init__(self, X, y=None):
        self.X = _as_tensor(X)
        self.y = _as_tensor(y)
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)}.")

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.batch(np.atleast_1d(i))

    @staticmethod
    def _float(t):
        if t.dtype == torch.uint8:
            return t.float().div_(255.0)
        return t

    def batch(self, idx):
        """Return ``(X[idx], y[idx])`` with patches as float32 in one indexing step."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        xb = self._float(self.X[idx])
        if self.y is None:
            return xb, torch.zeros(len(idx))
        yb = self.y[idx]
        if yb.ndim > 1:
            yb = self._float(yb)
        return xb, yb


def _unwrap(dataset):
    """Return ``(patch_dataset, indices)`` for a PatchDataset or a (nested) ``Subset``.

    skorch's ``ValidSplit`` (``train_split``) hands the loaders
    ``torch.utils.data.Subset`` views; they are batched through their base
    dataset so batches stay one indexing step.
    """
    indices = None
    while isinstance(dataset, torch.utils.data.Subset):
        sub = np.asarray(dataset.indices, dtype=np.int64)
        indices = sub if indices is None else sub[indices]
        dataset = dataset.dataset
    return dataset, indices


class PatchLoader:
    """Iterate over a :class:`PatchDataset` in batches, without per-sample work.

    Used as skorch's ``iterator_train`` / ``iterator_valid``; its keyword
    arguments are set with the ``iterator_train__`` prefix.

    Parameters
    ----------
    dataset : PatchDataset or torch.utils.data.Subset of one
    batch_size : int, default=128
    shuffle : bool, default=False
        Draw a fresh permutation every epoch.
    sampler : object, optional
        Anything with ``batches(labels, batch_size, rng)`` yielding index
        arrays and ``n_batches(labels, batch_size)`` returning how many it
        yields (e.g. :class:`~sklearn_patchdesc.describe.PKSampler`); it then
        decides the batches and ``shuffle`` is ignored. ``labels`` is the
        dataset's ``y``.
    drop_last : bool, default=False
        Skip a last batch smaller than ``batch_size`` (with ``shuffle``).
    seed : int, optional
        Seed of the batch order; by default a fresh one is drawn from torch's
        global generator at the start of every pass (epoch), which the
        estimators seed from their ``random_state`` -- so a fit resumed from
        a checkpoint (which restores that generator) sees the same batches as
        an uninterrupted one.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, sampler=None,
                 drop_last=False, seed=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sampler = sampler
        self.drop_last = drop_last
        self.seed = seed
        # with seed=None the generator is drawn per pass in __iter__
        self.rng = None if seed is None else np.random.default_rng(seed)

    @staticmethod
    def _draw_seed():
        return int(torch.randint(0, 2**31 - 1, ()).item())

    def _labels(self):
        """The dataset's ``y`` as the sampler sees it (numpy, Subset rows only)."""
        base, indices = _unwrap(self.dataset)
        labels = base.y
        labels = labels.numpy() if isinstance(labels, torch.Tensor) else labels
        return labels if indices is None else labels[indices]

    def _stop(self):
        """End of the last batch in a plain (sampler-free) pass."""
        n = len(self.dataset)
        return n - n % self.batch_size if (self.drop_last and n > self.batch_size) else n

    def _index_batches(self):
        if self.sampler is not None:
            yield from self.sampler.batches(self._labels(), self.batch_size, self.rng)
            return
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, self._stop(), self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self):
        if self.seed is None:
            self.rng = np.random.default_rng(self._draw_seed())
        base, indices = _unwrap(self.dataset)
        for idx in self._index_batches():
            yield base.batch(idx if indices is None else indices[np.asarray(idx)])

    def __len__(self):
        """The number of batches one pass yields (what progress bars count)."""
        if self.sampler is not None:
            if not hasattr(self.sampler, "n_batches"):
                raise TypeError(f"the sampler {self.sampler!r} has no n_batches(labels, "
                                "batch_size), so the number of batches is unknown.")
            return int(self.sampler.n_batches(self._labels(), self.batch_size))
        return -(-self._stop() // self.batch_size)
