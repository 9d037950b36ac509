"""Helpers shared by the training-time miners and monitors (not public API).

Callbacks receive skorch's ``dataset_train`` (a
:class:`~sklearn_patchdesc._data.PatchDataset` or a ``Subset`` of one); the
functions here embed it in the order the samplers see its labels, and seed
numpy generators from torch's global generator (which the estimators seed
from ``random_state``).
"""
from __future__ import annotations

import numpy as np
import torch

from .._data import PatchDataset, _unwrap, run_batched

__all__ = ["embed_dataset", "dataset_labels", "torch_seeded_rng", "pairwise_l2"]


def embed_dataset(net, dataset, batch_size=512):
    """Descriptors of every row of ``dataset`` (in order) by ``net.module_`` in eval mode."""
    return run_batched(net.module_, dataset, batch_size=batch_size, device=net.device,
                       precision=getattr(net, "precision", "fp32"))  # a plain skorch net: fp32


def dataset_labels(dataset):
    """Labels of a PatchDataset or Subset, as the loader's sampler sees them."""
    base, indices = _unwrap(dataset)
    labels = base.y
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return labels if indices is None else labels[indices]


def dataset_rows(dataset, rows):
    """A PatchDataset of the given rows of ``dataset`` (a PatchDataset or Subset)."""
    base, indices = _unwrap(dataset)
    rows = np.asarray(rows, dtype=np.int64)
    if indices is not None:
        rows = indices[rows]
    idx = torch.as_tensor(rows)
    return PatchDataset(base.X[idx], None if base.y is None else base.y[idx])


def torch_seeded_rng():
    """A numpy Generator seeded from torch's global generator."""
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))


def pairwise_l2(a, b):
    """Euclidean distances between the rows of ``a`` and ``b`` (numpy, float32)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0))
