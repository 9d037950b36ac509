"""scikit-learn's estimator checks over every public estimator of the library.

Instances, the one list of expected failures (each with its reason) and the
checks that run as square-patch ports instead (tests/test_patch_checks.py)
live in :mod:`sklearn_patchdesc.utils.estimator_checks`.
"""
from functools import partial

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from sklearn_patchdesc.utils import all_estimators
from sklearn_patchdesc.utils._patch_checks import check_name
from sklearn_patchdesc.utils.estimator_checks import (
    EXPECTED_FAILED_CHECKS,
    PORTED_CHECKS,
    check_instance,
    check_instances,
    expected_failed_checks,
    replaced_by_port,
)

_PORTED = pytest.mark.skip(reason="tabular data no patch estimator takes: runs as its "
                                  "square-patch port (tests/test_patch_checks.py)")


def _check_id(check):
    label = check_name(check)
    inner = check
    while isinstance(inner, partial):
        extra = {k: v for k, v in inner.keywords.items()}
        if extra:
            label += "(" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
        inner = inner.func
    return label


def _cases():
    for estimator in check_instances():
        name, skip = type(estimator).__name__, replaced_by_port(estimator)
        for case in estimator_checks_generator(
                estimator, expected_failed_checks=expected_failed_checks(estimator),
                mark="xfail"):
            # an expected failure comes as a pytest.param with its xfail mark
            (est, check), marks = (case.values, list(case.marks)) if hasattr(
                case, "marks") else (case, [])
            if check_name(check) in skip:
                marks.append(_PORTED)
            yield pytest.param(est, check, marks=marks, id=f"{name}-{_check_id(check)}")


@pytest.mark.parametrize("estimator, check", list(_cases()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked_and_listed():
    names = [name for name, _ in all_estimators()]
    assert [type(e).__name__ for e in check_instances()] == names
    assert set(EXPECTED_FAILED_CHECKS) <= set(names)
    for name, checks in EXPECTED_FAILED_CHECKS.items():
        for check, reason in checks.items():
            assert check.startswith("check_") and len(reason) > 20, (name, check)
            assert check not in PORTED_CHECKS, (name, check)  # the port covers those


def test_a_new_public_estimator_is_checked_without_registering_it(monkeypatch):
    """Adding a descriptor to a package's ``__all__`` is enough (issue 31, item 6)."""
    from sklearn_patchdesc.describe import L2NetDescriptor
    from sklearn_patchdesc.utils import estimator_checks

    class BrandNewDescriptor(L2NetDescriptor):
        pass

    listed = all_estimators() + [("BrandNewDescriptor", BrandNewDescriptor)]
    monkeypatch.setattr(estimator_checks, "all_estimators", lambda: listed)
    new = check_instances()[-1]
    assert type(new) is BrandNewDescriptor
    assert (new.max_epochs, new.random_state, new.batch_size) == (1, 0, 16)


def test_a_required_argument_without_a_setting_is_named():
    from sklearn.base import BaseEstimator

    class NeedsANetwork(BaseEstimator):
        def __init__(self, network, max_epochs=10):
            self.network, self.max_epochs = network, max_epochs

    with pytest.raises(TypeError, match=r"NeedsANetwork needs \['network'\].*_table"):
        check_instance(NeedsANetwork, table={})
    est = check_instance(NeedsANetwork, table={"NeedsANetwork": {"network": "net"}})
    assert (est.network, est.max_epochs) == ("net", 1)


def test_all_estimators_filters():
    assert ("TPESearchCV",) == tuple(n for n, _ in all_estimators("search"))
    assert "L2NetDescriptor" in dict(all_estimators("transformer"))
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators("regressor")
