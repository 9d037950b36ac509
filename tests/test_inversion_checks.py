"""FeatureInverter under scikit-learn's estimator checks."""
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_patchdesc.inversion import FeatureInverter

_NON_SQUARE = (
    "sklearn's check data has 2, 3, 5 or 10 features per row: not a square patch. "
    "Flat input must be (n, H*W) with a square H*W (DESIGN.md), so the estimator "
    "rejects it with a ValueError before the property under test is reached; the "
    "property is tested on square patches in test_inversion.py instead.")
_SQUARE_CHECKS = [
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_estimators_dtypes",
"check_estimators_fit_returns_self",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1sample", "check_fit2d_predict1d",
    "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_n_features_in", "check_pipeline_consistency", "check_readonly_memmap_input",
    "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_estimators_nan_inf",
]


def _tiny():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU())


def _expected_failed_checks(estimator):
    failed = {name: _NON_SQUARE for name in _SQUARE_CHECKS}
    failed["check_dtype_object"] = (
        "object arrays are refused with a TypeError: patches must be a numeric array.")
    return failed


@parametrize_with_checks(
    [FeatureInverter(_tiny(), "relu1", max_epochs=1, batch_size=8, train_split=None,
                     random_state=0)],
    expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
