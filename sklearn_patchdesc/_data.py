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

    def take(self, idx):
        """A new dataset of the rows ``idx`` (copies, so the parts share no memory)."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return PatchDataset(self.X[idx], None if self.y is None else self.y[idx])

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
    generator : torch.Generator, optional
        As in ``DataLoader``: the generator the per-pass seed is drawn from
        (instead of torch's global one).
    pin_memory : bool, default=False
        As in ``DataLoader``: batches in page-locked memory (when CUDA is present),
        for faster copies to the GPU.
    num_workers, prefetch_factor, persistent_workers, timeout : optional
        ``DataLoader`` options about worker processes. They are accepted, so a
        skorch configuration carries over, and change nothing: a batch here is
        one indexing step on a tensor already in memory, which workers would
        only slow down. Likewise ``worker_init_fn``,
        ``multiprocessing_context``, ``pin_memory_device`` and ``in_order``.

    ``sampler`` may also be a torch ``Sampler`` (any iterable of row indices,
    cut into batches of ``batch_size``) and ``batch_sampler`` an iterable of
    index lists, as in ``DataLoader``. ``collate_fn`` is refused: batches are
    whole tensors, never lists of samples to collate.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, sampler=None,
                 drop_last=False, seed=None, *, batch_sampler=None, generator=None,
                 pin_memory=False, collate_fn=None, num_workers=0, prefetch_factor=None,
                 persistent_workers=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, pin_memory_device="", in_order=True,
                 **unknown):
        if unknown:
            raise TypeError(
                f"unknown loader option(s) {sorted(unknown)} (iterator_train__ / "
                "iterator_valid__): the patch loader takes torch DataLoader's options "
                "(batch_size, shuffle, sampler, batch_sampler, drop_last, generator, "
                "pin_memory, num_workers, ...) and seed.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
        if collate_fn is not None:
            raise TypeError(
                "iterator_train__collate_fn / iterator_valid__collate_fn is not supported: "
                "the patch loader builds every batch as whole tensors by one indexing step, "
                "so there are no samples to collate. Transform the patches before fit, or "
                "give a skorch callback that changes the batch.")
        if sampler is not None and batch_sampler is not None:
            raise ValueError("give sampler or batch_sampler, not both.")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an integer >= 0; got {num_workers!r}.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.seed = seed
        self.generator = generator
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()
        # with seed=None the generator is drawn per pass in __iter__
        self.rng = None if seed is None else np.random.default_rng(seed)

    def _draw_seed(self):
        return int(torch.randint(0, 2**31 - 1, (), generator=self.generator).item())

    def _is_batch_sampler(self):
        """True when ``sampler`` has the library's ``batches(labels, batch_size, rng)``."""
        return self.sampler is not None and hasattr(self.sampler, "batches")

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

    def _torch_sampler_batches(self):
        if self.batch_sampler is not None:
            yield from (np.asarray(list(b), dtype=np.int64) for b in self.batch_sampler)
            return
        batch = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield np.asarray(batch, dtype=np.int64)
                batch = []
        if batch and not self.drop_last:
            yield np.asarray(batch, dtype=np.int64)

    def _index_batches(self):
        if self._is_batch_sampler():
            yield from self.sampler.batches(self._labels(), self.batch_size, self.rng)
            return
        if self.sampler is not None or self.batch_sampler is not None:
            yield from self._torch_sampler_batches()
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
            xb, yb = base.batch(idx if indices is None else indices[np.asarray(idx)])
            if self.pin_memory:
                xb, yb = xb.pin_memory(), yb.pin_memory()
            yield xb, yb

    def __len__(self):
        """The number of batches one pass yields (what progress bars count)."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        if self.sampler is not None and not self._is_batch_sampler():
            n = len(self.sampler)
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.sampler is not None:
            if not hasattr(self.sampler, "n_batches"):
                raise TypeError(f"the sampler {self.sampler!r} has no n_batches(labels, "
                                "batch_size), so the number of batches is unknown.")
            return int(self.sampler.n_batches(self._labels(), self.batch_size))
        return -(-self._stop() // self.batch_size)
