"""scikit-learn scorers: ``scorer(estimator, X, y)`` -> float (greater is better).

The HPatches scorers call ``estimator.transform(X)`` to get descriptors and
score them against ``y``: the loaders' record array (full HPatches protocol,
tasks generated from ``random_state=0`` among the patches of the fold) or 1-D
labels (label-only protocol); see :func:`hpatches_evaluate`.  The denoising
scorers compare ``estimator.transform(X)`` with the clean patches ``y``.

Model-selection rule (unlike :func:`hpatches_evaluate`, which keeps the
official numbers): the HPatches scorers count every exactly tied distance
against the descriptor (``ties="pessimistic"``), so constant or collapsed
descriptors score at or below chance instead of winning retrieval with mAP
1.0; and, as :func:`hpatches_evaluate` does, they refuse
(:class:`~sklearn_patchdesc.metrics.UninformativeTaskError`, a
``ValueError``; ``error_score`` in scikit-learn's searches) a retrieval score
when some query has no distractor in its list (e.g. a fold with a single
sequence) and labels that are all one point, where any descriptor scores 1.0.
"""
from __future__ import annotations

import numpy as np

from ._denoise import patch_psnr, patch_ssim
from ._evaluate import hpatches_evaluate
from ._fpr import phototour_fpr95_scorer

__all__ = ["HPatchesScorer", "DenoiseScorer", "SCORERS",
           "hpatches_verification_scorer", "hpatches_matching_scorer",
           "hpatches_retrieval_scorer", "hpatches_mean_scorer",
           "denoise_psnr_scorer", "denoise_ssim_scorer"]

_TASKS = {"verification": ("verification",), "matching": ("matching",),
          "retrieval": ("retrieval",), "mean": ("verification", "matching", "retrieval")}


def scores_retrieval(name):
    """Whether the scorer called ``name`` (e.g. ``"hpatches_mean"``) scores retrieval."""
    if not isinstance(name, str) or not name.startswith("hpatches_"):
        return False
    return "retrieval" in _TASKS.get(name[len("hpatches_"):], ())


class HPatchesScorer:
    """Scorer for one HPatches task, or ``"mean"`` of the three.

    Parameters
    ----------
    task : {"verification", "matching", "retrieval", "mean"}
    **kwargs
        Passed to :func:`hpatches_evaluate` (e.g. ``distance``, ``n_pairs``);
        ``ties`` defaults to ``"pessimistic"`` here (see the module notes).
    """

    def __init__(self, task, **kwargs):
        if task not in _TASKS:
            raise ValueError(f"task must be one of {sorted(_TASKS)}; got {task!r}.")
        self.task = task
        self.kwargs = kwargs

    def __call__(self, estimator, X, y, **score_params):
        """Score ``estimator.transform(X)`` against ``y``; returns a float."""
        if y is None:
            raise ValueError(f"hpatches_{self.task} needs y: point labels or the record target.")
        D = estimator.transform(X)
        kwargs = {"ties": "pessimistic", **self.kwargs}
        # folds where any descriptor scores 1.0 (one sequence or label) are refused there
        report = hpatches_evaluate(D, y, tasks=_TASKS[self.task], curve_points=0, **kwargs)
        return float(report.mean if self.task == "mean" else report.scores[self.task])

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"HPatchesScorer({self.task!r}{extra})"


class DenoiseScorer:
    """Scorer comparing a denoiser's ``transform(X)`` with clean patches ``y``.

    Refuses (``ValueError``) an estimator whose output is not patches: a
    descriptor of this library (or a pipeline ending in one), or any
    ``transform`` whose output does not have the shape of ``X``.

    Parameters
    ----------
    metric : {"psnr", "ssim"}
    **kwargs
        Passed to :func:`patch_psnr` / :func:`patch_ssim` (e.g. ``data_range``).
    """

    def __init__(self, metric, **kwargs):
        if metric not in ("psnr", "ssim"):
            raise ValueError(f"metric must be 'psnr' or 'ssim'; got {metric!r}.")
        self.metric = metric
        self.kwargs = kwargs

    def __call__(self, estimator, X, y, **score_params):
        """Mean per-patch PSNR (dB) or SSIM of ``estimator.transform(X)`` vs ``y``."""
        y = np.asarray(y) if y is not None else None
        if y is None or y.dtype.names is not None or y.shape[0] != np.shape(X)[0] or y.ndim < 2:
            raise ValueError(f"denoise_{self.metric} needs y = the clean patches, same shape as X.")
        name = type(_final_step(estimator)).__name__
        if _is_descriptor(estimator):
            raise ValueError(f"denoise_{self.metric} scores denoisers (transform returns "
                             f"patches); {name} is a descriptor: use an hpatches_* scorer.")
        out = estimator.transform(X)
        if np.shape(out) != np.shape(X):
            raise ValueError(
                f"denoise_{self.metric} scores denoisers, whose transform returns patches "
                f"shaped like X; {name}.transform returned shape {np.shape(out)} for X of "
                f"shape {np.shape(X)} (descriptors? use an hpatches_* scorer).")
        f = patch_psnr if self.metric == "psnr" else patch_ssim
        return f(y, out, **self.kwargs)

    def __repr__(self):
        return f"DenoiseScorer({self.metric!r})"


def _final_step(estimator):
    """The estimator whose ``transform`` gives the output (last Pipeline step, unfrozen)."""
    while True:
        if hasattr(estimator, "steps") and estimator.steps:
            estimator = estimator.steps[-1][1]
        elif type(estimator).__name__ == "FrozenEstimator":
            estimator = estimator.estimator
        else:
            return estimator


def _is_descriptor(estimator):
    # the mixin's marker, not an isinstance check: metrics does not import describe (whose
    # DescriptorMixin.score imports metrics)
    return bool(getattr(type(_final_step(estimator)), "_patch_descriptor", False))


hpatches_verification_scorer = HPatchesScorer("verification")
hpatches_matching_scorer = HPatchesScorer("matching")
hpatches_retrieval_scorer = HPatchesScorer("retrieval")
hpatches_mean_scorer = HPatchesScorer("mean")
denoise_psnr_scorer = DenoiseScorer("psnr")
denoise_ssim_scorer = DenoiseScorer("ssim")

#: name -> scorer object, as registered with scikit-learn on import.
SCORERS = {
    "hpatches_verification": hpatches_verification_scorer,
    "hpatches_matching": hpatches_matching_scorer,
    "hpatches_retrieval": hpatches_retrieval_scorer,
    "hpatches_mean": hpatches_mean_scorer,
    "denoise_psnr": denoise_psnr_scorer,
    "denoise_ssim": denoise_ssim_scorer,
    "phototour_fpr95": phototour_fpr95_scorer,  # minus the FPR95 (lower FPR is better)
}
