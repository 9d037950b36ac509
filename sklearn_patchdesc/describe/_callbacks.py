"""Training callbacks of the descriptor estimators (skorch ``Callback``s).

The descriptor estimators pass the skorch net to callbacks as usual; a
callback that needs descriptors of some patches calls :func:`embed`.
"""
from __future__ import annotations

import numpy as np
from skorch.callbacks import Callback

from .._data import run_batched
from .._params import ParamsMixin
from .._validation import check_patches

__all__ = ["HPatchesEpochScore", "embed"]


def embed(net, X, batch_size=256):
    """Descriptors of patches ``X`` (any accepted layout) by ``net.module_`` in eval mode.

    The module's train/eval mode is restored afterwards.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialised net whose ``module_`` maps patches to descriptors.
    X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
        Patches.
    batch_size : int, default=256
        Patches per forward pass.

    Returns
    -------
    descriptors : ndarray of shape (n, d)
    """
    X4, _ = check_patches(X, keep_uint8=True)
    return run_batched(net.module_, X4, batch_size=batch_size, device=net.device,
                       precision=getattr(net, "precision", "fp32"))  # a plain skorch net: fp32


class _NetTransformer:
    """Duck-typed fitted transformer around a training net, for scorers."""

    def __init__(self, net):
        self.net = net

    def fit(self, X, y=None):  # pragma: no cover - scorers never refit
        return self

    def transform(self, X):
        return embed(self.net, X)


class HPatchesEpochScore(ParamsMixin, Callback):
    """Score the descriptors on held-out patches after every epoch.

    Records ``history[-1, name]`` and ``history[-1, name + "_best"]`` (like
    skorch's ``EpochScoring``), so ``EarlyStopping(monitor=name,
    lower_is_better=False)`` can stop on it.

    Parameters
    ----------
    X : array-like
        Validation patches (any layout the estimators accept).
    y : array-like
        Their labels, or the loaders' record array (full HPatches protocol).
    scoring : str or callable, default="hpatches_mean"
        A scorer name registered by :mod:`sklearn_patchdesc.metrics` (e.g.
        ``"hpatches_retrieval"``) or ``scorer(transformer, X, y)``.
    name : str, optional
        History key; default ``"valid_" + scoring``.
    """

    def __init__(self, X, y, scoring="hpatches_mean", name=None):
        self.X = X
        self.y = y
        self.scoring = scoring
        self.name = name

    @property
    def name_(self):
        """Name of the history column: ``name``, or ``valid_<scoring>``."""
        if self.name is not None:
            return self.name
        return "valid_" + (self.scoring if isinstance(self.scoring, str) else "score")

    def initialize(self):
        self.best_ = -np.inf
        return self

    def _scorer(self):
        if callable(self.scoring):
            return self.scoring
        from sklearn.metrics import get_scorer

        from .. import metrics  # noqa: F401  (registers the HPatches scorer names)

        return get_scorer(self.scoring)

    def on_train_begin(self, net, **kwargs):
        past = [row[self.name_] for row in net.history if self.name_ in row]
        self.best_ = max(past) if past else -np.inf  # resumed fits keep their best

    def on_epoch_end(self, net, **kwargs):
        score = float(self._scorer()(_NetTransformer(net), self.X, self.y))
        is_best = score > self.best_
        if is_best:
            self.best_ = score
        net.history.record(self.name_, score)
        net.history.record(self.name_ + "_best", bool(is_best))
