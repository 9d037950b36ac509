"""Learning-rate schedules as skorch callbacks."""
from __future__ import annotations

from skorch.callbacks import Callback

from .._params import ParamsMixin

__all__ = ["LinearDecayLR"]


class LinearDecayLR(ParamsMixin, Callback):
    """Decay the learning rate linearly to zero over the whole fit, per batch.

    HardNet's schedule (DagnyT/hardnet ``adjust_learning_rate``): at training
    step ``t`` of ``T``, ``lr = lr0 * (1 - t / T)``, where ``lr0`` is each
    parameter group's learning rate in the optimizer when training starts
    (``lr``, or ``optimizer__lr`` when given: skorch lets that one win). ``T`` is ``max_epochs``
    times the batches of one epoch; a fit resumed from a checkpoint counts
    the steps already in its history, so it continues the same schedule.

    Parameters
    ----------
    final_fraction : float, default=0.0
        Learning rate at the last step, as a fraction of the initial one.

    Attributes
    ----------
    total_steps_ : int
        ``T`` of the current fit.
    step_ : int
        Training batches done so far.
    """

    def __init__(self, final_fraction=0.0):
        self.final_fraction = final_fraction

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        per_epoch = max(1, len(net.get_iterator(net.get_dataset(X, y), training=True)))
        self.total_steps_ = max(1, int(net.max_epochs) * per_epoch)
        # epochs restored from a checkpoint are in the history already
        self.step_ = sum(1 for h in net.history for b in h.get("batches", ())
                         if "train_loss" in b)
        # the optimizer's own starting rate of each group, however it was set (lr, or
        # optimizer__lr, which skorch lets win); "initial_lr" (torch's scheduler key) is
        # part of the optimizer state, so a fit resumed from a checkpoint keeps it
        for group in net.optimizer_.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        done = min(self.step_ / self.total_steps_, 1.0)
        factor = 1.0 - (1.0 - float(self.final_fraction)) * done
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] * factor
        self.step_ += 1
