"""HPatches evaluation (verification, matching, retrieval), denoising metrics, scorers.

Importing this package registers the scorer names ``hpatches_verification``,
``hpatches_matching``, ``hpatches_retrieval``, ``hpatches_mean``,
``denoise_psnr``, ``denoise_ssim`` and ``phototour_fpr95`` (minus the false
positive rate at 95 % recall, so greater is better) with scikit-learn, so they work as
``scoring=`` strings in ``cross_val_score``, ``cross_validate``,
``GridSearchCV`` and friends; the scorer objects are exported too.
"""
from ._denoise import patch_psnr, patch_ssim
from ._distances import DISTANCES
from ._evaluate import (UninformativeTaskError, hpatches_evaluate, hpatches_matching,
                        hpatches_retrieval, hpatches_verification)
from ._fpr import PhotoTourScorer, fpr_at_recall, phototour_fpr95, phototour_fpr95_scorer
from ._registry import register_scorers
from ._report import HPatchesReport
from ._retrieval import POOL_SIZES
from ._revisited import phototour_revisited_map
from ._scorers import (SCORERS, DenoiseScorer, HPatchesScorer, denoise_psnr_scorer,
                       denoise_ssim_scorer, hpatches_matching_scorer, hpatches_mean_scorer,
                       hpatches_retrieval_scorer, hpatches_verification_scorer)

__all__ = [
    "hpatches_verification", "hpatches_matching", "hpatches_retrieval", "hpatches_evaluate",
    "HPatchesReport", "patch_psnr", "patch_ssim", "HPatchesScorer", "DenoiseScorer",
    "SCORERS", "hpatches_verification_scorer", "hpatches_matching_scorer",
    "hpatches_retrieval_scorer", "hpatches_mean_scorer", "denoise_psnr_scorer",
    "denoise_ssim_scorer", "register_scorers", "DISTANCES", "POOL_SIZES",
    "fpr_at_recall", "phototour_fpr95", "PhotoTourScorer", "phototour_fpr95_scorer",
    "phototour_revisited_map", "UninformativeTaskError",
]

register_scorers(SCORERS)
