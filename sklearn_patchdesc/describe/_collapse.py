"""Detection of descriptor collapse (seed 001, "Collapse" and "Visualisation").

Seed 001 saw batch-hard training with large batches (large K), high learning
rates or random initialisation converge to "identical descriptors", the loss
then stagnating at the margin; it also notes that early on "the collapse is
not immediately evident when directly observing the loss". This callback
therefore watches the descriptors themselves: the mean pairwise distance of a
fixed probe batch, and optionally the loss being pinned at the collapse point.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
from skorch.callbacks import Callback

from .._data import PatchDataset
from .._params import ParamsMixin
from .._training import StopTraining, TrainingError
from .._validation import check_patches
from ._embedding import dataset_rows, embed_dataset, pairwise_l2, torch_seeded_rng

__all__ = ["CollapseMonitor", "CollapseWarning", "mean_pairwise_distance"]

ACTIONS = ("rollback", "stop", "raise")


class CollapseWarning(UserWarning):
    """Descriptor collapse was detected and training was stopped or rolled back."""


def mean_pairwise_distance(descriptors):
    """Mean Euclidean distance over all pairs of distinct rows."""
    d = np.asarray(descriptors, dtype=np.float32)
    n = len(d)
    if n < 2:
        return 0.0
    dist = pairwise_l2(d, d)
    return float(dist.sum() / (n * (n - 1)))


class CollapseMonitor(ParamsMixin, Callback):
    """Stop or roll back training when the descriptors collapse to one point.

    After every epoch the network embeds a fixed probe batch (eval mode) and
    records its mean pairwise descriptor distance as ``probe_distance``.
    Collapse is declared when

    - the probe distance falls below ``min_distance`` (unit descriptors lie
      at distance up to 2, random ones around 1.4; collapsed ones near 0),
      or, when ``loss_patience`` is set,
    - the epoch's training loss has stayed within ``loss_rtol`` of the
      loss's collapse value (``criterion.collapse_value``, e.g. the margin)
      for ``loss_patience`` consecutive epochs ("loss stagnating at the
      margin", seed 001). Off by default: a batch-hard loss at random
      initialisation also sits near the margin.

    Then, depending on ``action``: ``"rollback"`` restores the module and
    optimizer state of the last epoch that passed the check (or of the start
    of training) and stops, ``"stop"`` stops keeping the current weights,
    ``"raise"`` raises :class:`~sklearn_patchdesc._training.TrainingError`.
    Rollback and stop emit a :class:`CollapseWarning` with the epoch, the
    measured distance and what to change, and record ``collapsed=True``.

    Parameters
    ----------
    probe : array-like of patches, optional
        Patches to embed. By default ``n_probe`` training rows drawn once at
        the start of training (seeded from the estimator's random_state).
    n_probe : int, default=256
    min_distance : float, default=0.1
    loss_patience : int, optional
    loss_rtol : float, default=0.02
    action : {"rollback", "stop", "raise"}, default="rollback"
    check_at_start : bool, default=True
        Also embed the probe before the first epoch (records the initial
        distance, the rollback point of a collapse in epoch 1).

    Attributes
    ----------
    distances_ : list of float
        Probe distance after each epoch (first entry: start, when checked).
    collapsed_epoch_ : int or None
        1-based epoch in which collapse was detected.
    good_epoch_ : int
        Last epoch that passed (0 = start of training).
    probe_rows_ : ndarray or None
        Training rows used as probe (None when ``probe`` was given).
    probe_dataset_ : PatchDataset
        The probe patches.
    """

    def __init__(self, probe=None, n_probe=256, min_distance=0.1, loss_patience=None,
                 loss_rtol=0.02, action="rollback", check_at_start=True):
        self.probe = probe
        self.n_probe = n_probe
        self.min_distance = min_distance
        self.loss_patience = loss_patience
        self.loss_rtol = loss_rtol
        self.action = action
        self.check_at_start = check_at_start

    def initialize(self):
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}; got {self.action!r}.")
        if not float(self.min_distance) >= 0:
            raise ValueError(f"min_distance must be >= 0; got {self.min_distance!r}.")
        self.distances_ = []
        self.collapsed_epoch_ = None
        self.good_epoch_ = 0
        self.probe_dataset_ = None
        self.good_state_ = None
        self.n_pinned_ = 0
        return self

    # ------------------------------------------------------------- helpers
    def _make_probe(self, dataset):
        if self.probe is not None:
            X4, _ = check_patches(self.probe, name="probe", keep_uint8=True)
            self.probe_rows_ = None
            return PatchDataset(X4)
        n = len(dataset)
        k = min(int(self.n_probe), n)
        self.probe_rows_ = np.sort(torch_seeded_rng().choice(n, size=k, replace=False))
        return dataset_rows(dataset, self.probe_rows_)

    def probe_distance(self, net):
        """Mean pairwise distance of the probe descriptors now.

        Parameters
        ----------
        net : skorch.NeuralNet
            The descriptor net being trained.

        Returns
        -------
        distance : float
        """
        return mean_pairwise_distance(embed_dataset(net, self.probe_dataset_))

    def _snapshot(self, net):
        self.good_state_ = {
            "module": copy.deepcopy(net.module_.state_dict()),
            "optimizer": copy.deepcopy(net.optimizer_.state_dict()),
        }

    # ------------------------------------------------------------ callback
    def on_train_begin(self, net, X=None, **kwargs):
        ds = X if X is not None else None
        if ds is None and self.probe is None:
            raise ValueError("CollapseMonitor needs probe= when the training data is unknown.")
        self.probe_dataset_ = self._make_probe(ds)
        self.good_epoch_ = len(net.history)
        self._snapshot(net)
        if self.check_at_start:
            self.distances_.append(self.probe_distance(net))

    def on_epoch_end(self, net, **kwargs):
        dist = self.probe_distance(net)
        self.distances_.append(dist)
        net.history.record("probe_distance", dist)
        reason = None
        if dist < float(self.min_distance):
            reason = (f"the mean pairwise distance of {len(self.probe_dataset_)} probe descriptors "
                      f"fell to {dist:.4g} (< min_distance={self.min_distance})")
        elif self.loss_patience:
            crit = net.criterion_
            value = getattr(crit, "collapse_value", None)
            loss = float(net.history[-1, "train_loss"])
            if value is not None and abs(loss - value) <= float(self.loss_rtol) * max(abs(value), 1e-12):
                self.n_pinned_ += 1
            else:
                self.n_pinned_ = 0
            if self.n_pinned_ >= int(self.loss_patience):
                reason = (f"the training loss stayed at the collapse value {value:.4g} "
                          f"(loss {loss:.4g}) for {self.n_pinned_} epochs")
        epoch = len(net.history)
        if reason is None:
            self.good_epoch_ = epoch
            self._snapshot(net)
            return
        self.collapsed_epoch_ = epoch
        net.history.record("collapsed", True)
        advice = ("Descriptors collapse with large batch-hard batches (large K), high learning "
                  "rates or random initialisation (seed 001): lower lr, start from warm "
                  "weights, or grow batches with SteppedBatchHard.")
        msg = f"Descriptor collapse detected at epoch {epoch}: {reason}. "
        if self.action == "raise":
            raise TrainingError(msg + advice)
        if self.action == "rollback":
            net.module_.load_state_dict(self.good_state_["module"])
            net.optimizer_.load_state_dict(self.good_state_["optimizer"])
            where = (f"epoch {self.good_epoch_}" if self.good_epoch_ else
                     "the start of training")
            msg += f"Rolled back to the weights of {where} and stopped. "
        else:
            msg += "Training stopped with the collapsed weights. "
        warnings.warn(msg + advice, CollapseWarning, stacklevel=2)
        raise StopTraining(msg)
