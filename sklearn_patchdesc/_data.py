"""Patch tensors kept in memory and batched by vectorised indexing.

skorch's default path (a ``Dataset`` read one sample at a time and collated
by a ``DataLoader``) costs a Python call per patch. Here the whole training set
stays a single tensor (uint8 when the caller gave uint8: 4x less memory) and
each batch is one fancy-indexing operation.
"""
from __future__ import annotations

import mmap
import warnings

import numpy as np
import torch
from numpy.lib.array_utils import byte_bounds

from ._precision import autocast
from ._threads import thread_policy

__all__ = ["PatchDataset", "PatchLoader", "release_pages", "release_rows", "run_batched"]


def _read_only_mapping(a):
    """The ``mmap`` under ``a`` if ``a`` views a read-only ``np.memmap``, else None.

    Also None where the platform has no ``madvise(MADV_DONTNEED)`` (e.g. Windows).
    """
    if not hasattr(mmap, "MADV_DONTNEED"):
        return None
    while isinstance(a, np.ndarray):
        if isinstance(a, np.memmap) and a.mode != "r":
            return None  # writable or copy-on-write: dropping pages could lose data
        a = a.base
    return a if isinstance(a, mmap.mmap) else None


def release_pages(a):
    """Drop this process's resident pages of ``a`` if it views a read-only memmap.

    Streaming once over a memory-mapped set (``load_hpatches(...,
    mmap_mode="r")``) would otherwise leave every page it read counted in
    the process's resident memory until the mapping is closed.  The pages
    stay in the OS page cache, so reading them again costs no disk access;
    nothing is done for arrays in memory or writable mappings.
    """
    mm = _read_only_mapping(a)
    if mm is None or a.size == 0:
        return
    start = np.frombuffer(mm, np.uint8).ctypes.data
    lo, hi = byte_bounds(a)
    _drop(mm, np.array([lo - start]), np.array([hi - start]))


def release_rows(a, rows):
    """:func:`release_pages` for the rows ``rows`` of ``a`` only (e.g. a training batch)."""
    mm = _read_only_mapping(a)
    if mm is None or a.size == 0 or len(rows) == 0:
        return
    lo = byte_bounds(a)[0] - np.frombuffer(mm, np.uint8).ctypes.data
    first = lo + np.unique(np.asarray(rows, dtype=np.int64)) * a.strides[0]
    _drop(mm, first, first + a[:1].nbytes)


def _drop(mm, lo, hi):
    """``MADV_DONTNEED`` over the pages of the byte ranges ``[lo, hi)`` (merged)."""
    page = mmap.PAGESIZE
    first, last = lo // page, np.minimum(hi, len(mm)) // page + 1
    new = np.r_[True, first[1:] > last[:-1]]  # sorted ranges: merge touching ones
    ends = np.r_[np.flatnonzero(new)[1:], len(first)] - 1
    for f, e in zip(first[new], np.maximum.accumulate(last)[ends]):
        e = min(int(e) * page, len(mm))
        if e > f * page:
            mm.madvise(mmap.MADV_DONTNEED, int(f) * page, e - int(f) * page)


def _as_tensor(a):
    if a is None or isinstance(a, torch.Tensor):
        return a
    a = np.ascontiguousarray(a)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    if not a.flags.writeable:  # e.g. a read-only memmap: only ever indexed (batches are
        with warnings.catch_warnings():  # copies), so torch's warning does not apply
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(a)
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
        # read-only memmaps: the pages a batch read are released once it is copied
        self._mapped = [a for a in (X, y) if _read_only_mapping(a) is not None]
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
        yb = None if self.y is None else self.y[idx]
        for a in self._mapped:
            release_rows(a, idx.numpy())
        if yb is None:
            return xb, torch.zeros(len(idx))
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
        ``DataLoader`` options about worker processes, accepted at their
        defaults only (``num_workers=0``), likewise ``worker_init_fn``,
        ``multiprocessing_context`` and ``in_order``; anything else is refused
        with a ``ValueError``, never silently ignored. A batch here is one
        indexing step on a tensor already in memory plus a uint8->float
        conversion -- about 1 % of an L2-Net training step on CPU
        (``benchmarks/bench_describe_throughput.py`` prints the share) --
        which worker processes, each with its own copy of the data, would
        only slow down. ``pin_memory_device`` is accepted and unused.

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
        workers = {"num_workers": (num_workers, 0), "prefetch_factor": (prefetch_factor, None),
                   "persistent_workers": (persistent_workers, False), "timeout": (timeout, 0),
                   "worker_init_fn": (worker_init_fn, None),
                   "multiprocessing_context": (multiprocessing_context, None),
                   "in_order": (in_order, True)}
        set_ = [f"{k}={v!r}" for k, (v, default) in workers.items() if v != default]
        if set_:
            raise ValueError(
                f"{', '.join(set_)}: the patch loader uses no worker processes. Each batch is "
                "one indexing step on patches already in memory (about 1 % of a training "
                "step), which workers, each with its own copy of the data, would only slow "
                "down; leave the worker options at their defaults (num_workers=0).")
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


def run_batched(module, data, *, batch_size=256, device="cpu", precision="fp32", numpy=True):
    """Inference of ``module`` over ``data`` in batches: the library's one inference loop.

    Parameters
    ----------
    module : callable
        A torch module (run in eval mode, its mode restored afterwards) or
        any function of a float batch.
    data : ndarray, Tensor, PatchDataset or Subset of one
        Patches ``(n, 1, H, W)`` (uint8 batches are scaled to [0, 1] on the
        fly, as in training) or any tensor the module takes.
    batch_size : int, default=256
    device : str or torch.device, default="cpu"
        Where the batches are run; the results come back on the CPU.
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        A resolved precision (see :func:`~sklearn_patchdesc._precision.resolve_precision`):
        the forward passes run under autocast in it; floating outputs come back
        as float32 whatever it is.
    numpy : bool, default=True
        Return a numpy array (else a tensor).

    Returns
    -------
    out : ndarray or Tensor
        The module's outputs, concatenated in row order (float32 ``(0, 0)``
        for no rows).
    """
    source = data if isinstance(data, np.ndarray) else None
    if not isinstance(data, (PatchDataset, torch.utils.data.Subset)):
        data = PatchDataset(data)
    is_module = isinstance(module, torch.nn.Module)
    was_training = is_module and module.training
    if is_module:
        module.eval()
    out, pos = None, 0
    try:
        with torch.inference_mode(), thread_policy():
            pin = torch.device(device).type == "cuda"
            for xb, _ in PatchLoader(data, batch_size=batch_size, seed=0, pin_memory=pin):
                with autocast(device, precision):
                    yb = module(xb.to(device, non_blocking=pin))
                yb = (yb.float() if yb.is_floating_point() else yb).cpu()
                if out is None:  # filled in place: no second full-size copy
                    out = torch.empty((len(data),) + yb.shape[1:], dtype=yb.dtype)
                out[pos:pos + len(yb)] = yb
                if source is not None:  # a memory-mapped input leaves no resident pages
                    release_pages(source[pos:pos + len(yb)])
                pos += len(yb)
    finally:
        if is_module:
            module.train(was_training)
    if out is None:
        out = torch.zeros((0, 0))
    return out.numpy() if numpy else out
