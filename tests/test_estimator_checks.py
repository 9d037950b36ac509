"""scikit-learn's estimator checks over every public estimator of the library.

Instances and the one list of expected failures (each with its reason) live in
:mod:`sklearn_patchdesc.utils.estimator_checks`.
"""
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_patchdesc.utils import all_estimators
from sklearn_patchdesc.utils.estimator_checks import (
    EXPECTED_FAILED_CHECKS,
    check_instances,
    expected_failed_checks,
)


@parametrize_with_checks(check_instances(), expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked_and_listed():
    names = [name for name, _ in all_estimators()]
    assert [type(e).__name__ for e in check_instances()] == names
    assert set(EXPECTED_FAILED_CHECKS) <= set(names)
    for name, checks in EXPECTED_FAILED_CHECKS.items():
        for check, reason in checks.items():
            assert check.startswith("check_") and len(reason) > 20, (name, check)


def test_all_estimators_filters():
    assert ("TPESearchCV",) == tuple(n for n, _ in all_estimators("search"))
    assert "L2NetDescriptor" in dict(all_estimators("transformer"))
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators("regressor")
