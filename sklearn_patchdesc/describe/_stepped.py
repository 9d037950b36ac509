"""Stepped batch-hard training (seed 001, "Collapse").

Seed 001 could only train batch-hard triplet loss with large batches by
growing them: start from a warm model, and move to a larger batch (size SK,
K patches per label) only while the loss stays below the collapse point (the
margin for the hinge, ~0.69 = ln 2 for the soft margin at margin 0), since
below it "the optimizer has no incentive to push the network into collapse".
Its stages: batch sizes 32, 64, 128, 256, 512, 1024 with K from 2 to 8,
Adam at 2e-4.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from .._params import ParamsMixin
from ._losses import TripletMarginLoss
from ._samplers import PKSampler, RandomTripletSampler

__all__ = ["SteppedBatchHard", "DEFAULT_STAGES", "load_weights"]

#: seed 001: batch sizes 32..1024, K stepped 2 -> 8
DEFAULT_STAGES = ((32, 2), (64, 2), (128, 4), (256, 6), (512, 8), (1024, 8))


def load_weights(module, weights):
    """Load ``weights`` into ``module`` (in place).

    ``weights`` is a state-dict file path, a state dict, an ``nn.Module``, a
    skorch net, or a fitted estimator with ``net_``.
    """
    if hasattr(weights, "net_"):
        weights = weights.net_
    if hasattr(weights, "module_"):
        weights = weights.module_
    if isinstance(weights, torch.nn.Module):
        state = weights.state_dict()
    elif isinstance(weights, (str, Path)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"The weight file {str(path)!r} does not exist.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "module" in state and "format" in state:
            state = state["module"]  # an EpochCheckpoint file
    elif isinstance(weights, dict):
        state = weights
    else:
        raise TypeError("weights must be a file path, a state dict, an nn.Module or a "
                        f"fitted estimator; got {type(weights).__name__}.")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"The given weights do not fit this network: {exc}") from exc
    return module


class SteppedBatchHard(ParamsMixin, Callback):
    """Grow batch-hard batches stage by stage while the loss stays below collapse.

    Use it as the estimator's sampler, with a mined triplet loss::

        L2NetDescriptor(sampler=SteppedBatchHard(warmup_epochs=2),
                        criterion__miner="batch_hard", optimizer="adam", lr=2e-4)

    (it is a skorch callback too; the estimator registers it). It can also
    be added to ``callbacks`` next to a :class:`PKSampler` sampler; it then
    sets the sampler's ``n_per_label`` and the net's ``batch_size`` to the
    stage's.

    Schedule. Optional warm-up: the first ``warmup_epochs`` epochs use random
    triplets (:class:`RandomTripletSampler` batches, the same loss on the
    given triplets), seed 001's "weights from the baseline model"; or start
    from ``init_weights``. Then stage 0 of ``stages``: PK batches of
    ``batch_size // K`` labels x K patches with the batch-hard loss. After
    each epoch (at least ``min_epochs`` into a stage), the stage advances
    when the epoch's mean training loss is below ``headroom * threshold``,
    and only then; the threshold is the collapse value of the loss
    (``criterion.collapse_value``: the margin for the hinge, ``ln 2`` for
    the soft margin at margin 0). With ``step_back=True``, an epoch whose
    loss reaches the threshold returns to the previous stage.

    Parameters
    ----------
    stages : sequence of (batch_size, K), default=DEFAULT_STAGES
        Seed 001's (32, 2), (64, 2), (128, 4), (256, 6), (512, 8), (1024, 8).
        A stage trains ``batch_size // K`` labels of K patches (at least 2
        labels; seed 001's (256, 6) is 42 x 6 = 252 rows).
    warmup_epochs : int, default=0
        Epochs of random triplets first (only when used as the sampler).
    init_weights : path, state dict, nn.Module or fitted estimator, optional
        Weights loaded into the network when training starts.
    threshold : float, optional
        Collapse point; default ``net.criterion_.collapse_value``.
    headroom : float, default=0.95
        Advance only when ``loss < headroom * threshold``.
    min_epochs : int, default=1
        Epochs spent in a stage before it may advance.
    step_back : bool, default=False
        Go back one stage when the epoch loss is at or above the threshold.

    Attributes
    ----------
    stage_ : int
        Current stage (-1 during warm-up).
    transitions_ : list of (epoch, stage)
        Epoch (1-based, the epoch after which it happened) and new stage.
    stages_ : list of (batch_size, K)
        The validated stages.

    Notes
    -----
    Every epoch records in the history: ``stage`` (-1 = warm-up),
    ``stage_batch_size``, ``stage_k`` (batch of the epoch just trained) and
    ``collapse_threshold``; :func:`sklearn_patchdesc.plotting.plot_training_history`
    marks the steps. A resumed fit (``checkpoint_dir``) continues from the
    stage in the history.
    """

    def __init__(self, stages=DEFAULT_STAGES, warmup_epochs=0, init_weights=None,
                 threshold=None, headroom=0.95, min_epochs=1, step_back=False):
        self.stages = stages
        self.warmup_epochs = warmup_epochs
        self.init_weights = init_weights
        self.threshold = threshold
        self.headroom = headroom
        self.min_epochs = min_epochs
        self.step_back = step_back

    # ------------------------------------------------------------ checks
    def _checked_stages(self):
        stages = [tuple(int(v) for v in s) for s in self.stages]
        if not stages:
            raise ValueError("stages must hold at least one (batch_size, K) pair.")
        for b, k in stages:
            if k < 2 or b // k < 2:
                raise ValueError(
                    f"stage (batch_size={b}, K={k}) is invalid: K must be >= 2 and "
                    "batch_size hold at least 2 labels of K patches.")
        return stages

    def initialize(self):
        self.stages_ = self._checked_stages()
        if not isinstance(self.warmup_epochs, (int, np.integer)) or self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0; got {self.warmup_epochs!r}.")
        if not 0.0 < float(self.headroom) <= 1.0:
            raise ValueError(f"headroom must be in (0, 1]; got {self.headroom!r}.")
        self.stage_ = -1 if self.warmup_epochs else 0
        self.transitions_ = []
        self.epochs_in_stage_ = 0
        self.pk_sampler_ = PKSampler(n_per_label=self.stages_[max(self.stage_, 0)][1])
        self.random_sampler_ = RandomTripletSampler()
        self.target_sampler_ = None
        self.batch_criterion_ = None
        return self

    # ------------------------------------------------------------ sampler
    def batches(self, labels, batch_size, rng):
        """The estimator's ``batch_size`` in warm-up; then the stage's own (b, K)."""
        if self.stage_ < 0:
            yield from self.random_sampler_.batches(labels, batch_size, rng)
            return
        b, self.pk_sampler_.n_per_label = self.stages_[self.stage_]
        yield from self.pk_sampler_.batches(labels, b, rng)

    def n_batches(self, labels, batch_size):
        stage = getattr(self, "stage_", 0)
        if stage < 0:
            return RandomTripletSampler().n_batches(labels, batch_size)
        b, k = self._checked_stages()[stage]
        return PKSampler(n_per_label=k).n_batches(labels, b)

    # ----------------------------------------------------------- callback
    def threshold_for(self, net):
        """The collapse point compared with the loss.

        Parameters
        ----------
        net : skorch.NeuralNet
            The descriptor net being trained (its criterion gives the value).

        Returns
        -------
        threshold : float
        """
        if self.threshold is not None:
            return float(self.threshold)
        crit = self.batch_criterion_ if self.batch_criterion_ is not None else net.criterion_
        value = getattr(crit, "collapse_value", None)
        if value is None:
            raise ValueError(
                f"SteppedBatchHard needs threshold= for the criterion {type(crit).__name__}, "
                "which has no collapse_value.")
        return float(value)

    def on_train_begin(self, net, **kwargs):
        sampler = getattr(net, "iterator_train__sampler", None)
        if sampler is self:
            self.target_sampler_ = None
        elif hasattr(sampler, "n_labels_per_batch") and hasattr(sampler, "n_per_label"):
            if self.warmup_epochs:
                raise ValueError("SteppedBatchHard(warmup_epochs>0) must be the estimator's "
                                 "sampler (sampler=SteppedBatchHard(...)), to switch from "
                                 "random triplets to PK batches.")
            self.target_sampler_ = sampler
        else:
            raise ValueError(
                "SteppedBatchHard drives PK batches: pass it as sampler=, or add it to "
                f"callbacks next to sampler=PKSampler(...); the sampler is {sampler!r}.")
        crit = net.criterion_
        if not getattr(crit, "mines", False):
            raise ValueError(
                "SteppedBatchHard trains a mined triplet loss on PK batches; use "
                "criterion__miner='batch_hard' (seed 001) or 'batch_all'.")
        self.batch_criterion_ = crit
        self.threshold_for(net)  # fail early without a threshold
        # resume: continue from the stage a checkpointed history reached
        past = [row for row in net.history if "stage" in row]
        if past:
            last = past[-1]
            self.stage_ = int(last.get("next_stage", last["stage"]))
            self.epochs_in_stage_ = sum(1 for r in past if r["stage"] == self.stage_)
        elif self.init_weights is not None:
            load_weights(net.module_, self.init_weights)
        self._apply(net)

    def _warmup_criterion(self, crit):
        """The same loss on given ``[a; p; n]`` triplets (random-triplet warm-up)."""
        if isinstance(crit, TripletMarginLoss):
            return TripletMarginLoss(**{**crit.get_params(deep=False), "miner": "given"})
        raise ValueError("warmup_epochs needs a TripletMarginLoss criterion.")

    def _apply(self, net):
        """Set the criterion and the PK sampler for the current stage."""
        if self.stage_ < 0:
            net.criterion_ = self._warmup_criterion(self.batch_criterion_)
            return
        net.criterion_ = self.batch_criterion_
        if self.target_sampler_ is not None:  # the net's batch_size is the stage's from now on
            net.batch_size, self.target_sampler_.n_per_label = self.stages_[self.stage_]
            self.target_sampler_.n_labels_per_batch = None

    def on_epoch_end(self, net, **kwargs):
        threshold = self.threshold_for(net)
        loss = float(net.history[-1, "train_loss"])
        stage = self.stage_
        if stage >= 0:
            b, k = self.stages_[stage]
        else:
            b, k = 3 * (net.batch_size // 3), 0
        net.history.record("stage", stage)
        net.history.record("stage_batch_size", b)
        net.history.record("stage_k", k)
        net.history.record("collapse_threshold", threshold)
        self.epochs_in_stage_ += 1
        epoch = len(net.history)
        new = stage
        if stage < 0:
            if epoch >= int(self.warmup_epochs):
                new = 0
        elif not np.isfinite(loss):
            pass
        elif loss < float(self.headroom) * threshold:
            if self.epochs_in_stage_ >= int(self.min_epochs) and stage + 1 < len(self.stages_):
                new = stage + 1
        elif loss >= threshold and self.step_back and stage > 0:
            new = stage - 1
        net.history.record("next_stage", new)
        if new != stage:
            self.stage_ = new
            self.epochs_in_stage_ = 0
            self.transitions_.append((epoch, new))
            self._apply(net)

    def on_train_end(self, net, **kwargs):
        if self.batch_criterion_ is not None:
            net.criterion_ = self.batch_criterion_
