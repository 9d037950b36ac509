"""The scikit-learn contract on square patches: the ported checks, every estimator.

scikit-learn's own versions of these checks feed tabular data that no patch
estimator accepts; :mod:`sklearn_patchdesc.utils._patch_checks` makes the same
assertions on ``(n, 32*32)`` patches. Instances come from
:func:`~sklearn_patchdesc.utils.estimator_checks.patch_check_instances` (every
public estimator, tiny networks, one epoch).
"""
import warnings

import pytest

from sklearn_patchdesc.utils import all_estimators
from sklearn_patchdesc.utils._patch_checks import PATCH_CHECKS, check_name, patch_checks
from sklearn_patchdesc.utils.estimator_checks import PORTED_CHECKS, patch_check_instances


def _cases():
    for estimator in patch_check_instances():
        for label, check in patch_checks(estimator):
            yield pytest.param(estimator, check, id=f"{type(estimator).__name__}-{label}")


@pytest.fixture
def _one_thread():
    # the check networks are tiny: a second torch thread only spins, and on a
    # busy 2-core machine that costs 20x the CPU time (measured, HardNet checks)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("estimator, check", list(_cases()))
def test_patch_contract(estimator, check, _one_thread):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        check(estimator)


def test_every_public_estimator_gets_the_port():
    assert [type(e).__name__ for e in patch_check_instances()] == [
        n for n, _ in all_estimators()]


def test_the_port_covers_the_checks_it_replaces():
    assert PORTED_CHECKS == {check_name(c) for c in PATCH_CHECKS}
