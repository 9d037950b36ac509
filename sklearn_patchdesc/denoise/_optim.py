"""The LBFGS-then-momentum-SGD optimiser of seed 002 (section 1.3)."""
from __future__ import annotations

import torch

__all__ = ["HybridLBFGSSGD"]


class HybridLBFGSSGD(torch.optim.SGD):
    """L-BFGS for the first ``lbfgs_steps`` steps, then SGD with momentum.

    Seed 002 (section 1.3) found L-BFGS best but too costly for a whole fit,
    and momentum SGD cheap; its hybrid runs the first 5 iterations with
    L-BFGS, then continues with momentum SGD (lr 0.05, momentum 0.9 were its
    best values), so that momentum starts accumulating at a good point.

    It is a plain ``torch.optim.SGD`` (skorch, LR schedulers and checkpoints
    see the SGD parameter groups) whose :meth:`step` hands the first
    ``lbfgs_steps`` calls to an inner ``torch.optim.LBFGS``. The number of
    L-BFGS steps done is kept in the state dict, so a resumed fit does not
    redo them (L-BFGS's curvature memory itself is not saved).

    Parameters
    ----------
    params : iterable
        Parameters to optimise (all in one group for L-BFGS).
    lr : float, default=0.05
        SGD learning rate.
    momentum : float, default=0.9
    nesterov : bool, default=False
    weight_decay : float, default=0.0
    lbfgs_steps : int, default=5
        Optimiser steps (batches) handled by L-BFGS.
    lbfgs_lr : float, default=1.0
    lbfgs_max_iter : int, default=20
        Function evaluations L-BFGS may use per step.
    line_search_fn : {"strong_wolfe", None}, default="strong_wolfe"
        L-BFGS line search; the strong-Wolfe search keeps the first steps
        from diverging on a fresh network.
    """

    def __init__(self, params, lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0,
                 lbfgs_steps=5, lbfgs_lr=1.0, lbfgs_max_iter=20,
                 line_search_fn="strong_wolfe"):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)
        if int(lbfgs_steps) < 0:
            raise ValueError(f"lbfgs_steps must be >= 0; got {lbfgs_steps}.")
        self.param_groups[0].setdefault("lbfgs_steps_done", 0)
        self.param_groups[0]["lbfgs_steps"] = int(lbfgs_steps)
        trainable = [p for g in self.param_groups for p in g["params"]]
        self._lbfgs = torch.optim.LBFGS(trainable, lr=lbfgs_lr, max_iter=int(lbfgs_max_iter),
                                        line_search_fn=line_search_fn)

    @property
    def in_lbfgs_phase(self):
        """True while the next step is still an L-BFGS step."""
        group = self.param_groups[0]
        return group.get("lbfgs_steps_done", 0) < group.get("lbfgs_steps", 0)

    def step(self, closure=None):
        if self.in_lbfgs_phase:
            if closure is None:
                raise RuntimeError("HybridLBFGSSGD needs a closure during its L-BFGS steps.")
            self.param_groups[0]["lbfgs_steps_done"] += 1
            return self._lbfgs.step(closure)
        return super().step(closure)
