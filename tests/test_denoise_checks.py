"""scikit-learn's estimator checks on every denoiser (tiny, fast instances)."""
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_patchdesc.denoise import (
    ConvAutoencoderDenoiser,
    DnCNNDenoiser,
    GaussianDenoiser,
    NLMeansDenoiser,
    ShallowUNetDenoiser,
    TernausNetDenoiser,
    UNetDenoiser,
)

FAST = dict(max_epochs=1, batch_size=32, random_state=0)

# default widths (skorch-prefixed module__ options set in __init__ would trip
# check_no_attributes_set_in_init); the checks' data are tiny patches, so fits are fast
ESTIMATORS = [
    ShallowUNetDenoiser(**FAST),
    UNetDenoiser(depth=1, **FAST),
    DnCNNDenoiser(depth=3, **FAST),
    ConvAutoencoderDenoiser(optimizer="adam", lr=1e-3, **FAST),
    TernausNetDenoiser(**FAST),
    GaussianDenoiser(),
    NLMeansDenoiser(),
]


_NON_SQUARE = (
    "the check's X has a non-square number of features (e.g. 2, 3, 5, 10 columns); "
    "denoisers take square patches, so flat input must be (n, H*W) with a square H*W "
    "(DESIGN data conventions) and is rejected with a ValueError naming the shape"
)
_FAILING_ON_NON_SQUARE_DATA = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_predict1d",
    "check_fit2d_1sample",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_pipeline_consistency",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_preserve_dtypes",
    "check_dtype_object",
    # the shape error comes before the NaN check sees its data
    "check_estimators_nan_inf",
]


def _expected_failed_checks(est):
    failed = {name: _NON_SQUARE for name in _FAILING_ON_NON_SQUARE_DATA}
    if isinstance(est, TernausNetDenoiser):
        reason = ("TernausNet's 5 max-poolings need patch sides that are a multiple of 32; "
                  "the check's patches are 1x1 / 2x2 and get a clear ValueError")
        for name in ("check_positive_only_tag_during_fit",
                     "check_n_features_in_after_fitting"):
            failed[name] = reason
    return failed


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
