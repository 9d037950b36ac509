"""The network estimators' parameters: declared once, one meaning each (issue 31, items 2-3)."""
import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_patchdesc._training import NetParams
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import BatchSizeUnitWarning, HardNetDescriptor, L2NetDescriptor
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.utils import all_estimators

NETWORK_ESTIMATORS = [cls for _, cls in all_estimators() if issubclass(cls, NetParams)]
COMMON = list(NetParams._init_params)


def _labelled(n_labels=12, k=4, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n_labels, 1, 16, 16))
    X = np.clip(np.repeat(base, k, axis=0) + rng.normal(0, 8, (n_labels * k, 1, 16, 16)), 0, 255)
    return X.astype(np.uint8)[:, 0], np.repeat(np.arange(n_labels), k)


def test_every_network_estimator_is_found():
    names = {cls.__name__ for cls in NETWORK_ESTIMATORS}
    assert {"L2NetDescriptor", "HardNetDescriptor", "ShallowUNetDenoiser", "FeatureInverter",
            "JointDenoiseDescribe", "TaskAwareDenoiser"} <= names


@pytest.mark.parametrize("cls", NETWORK_ESTIMATORS, ids=lambda c: c.__name__)
def test_no_hand_copied_init(cls):
    # every class on the way gets its __init__ from the declarations, none writes one
    for klass in cls.__mro__:
        if issubclass(klass, NetParams) and "__init__" in vars(klass):
            assert hasattr(vars(klass)["__init__"], "__signature__"), klass
    params = inspect.signature(cls).parameters
    assert [n for n in params if n in COMMON] == COMMON  # all shared ones, in one order
    assert list(params)[-1] == "kwargs"
    assert sorted(cls._get_param_names()) == sorted(n for n in params if n != "kwargs")


def test_subclass_defaults_and_positional_parameters():
    sig = inspect.signature(HardNetDescriptor).parameters
    assert (sig["batch_size"].default, sig["lr"].default, sig["max_epochs"].default) == (256, 1.0, 5)
    assert sig["inference_batch_size"].default == 256
    assert inspect.signature(L2NetDescriptor).parameters["batch_size"].default == 384
    assert inspect.signature(ShallowUNetDenoiser).parameters["batch_size"].default == 64
    first = list(inspect.signature(FeatureInverter).parameters.values())[:2]
    assert [(p.name, p.kind.name, p.default) for p in first] == [
        ("network", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("layer", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty)]
    with pytest.raises(TypeError, match=r"FeatureInverter\(\): missing a required argument: "
                                        r"'network'"):
        FeatureInverter()
    with pytest.raises(TypeError, match="too many positional arguments"):
        ShallowUNetDenoiser(3)
    est = HardNetDescriptor(lr=0.5, module__dropout=0.2)
    assert (est.lr, est.batch_size, est.module__dropout) == (0.5, 256, 0.2)
    assert repr(est) == "HardNetDescriptor(lr=0.5, module__dropout=0.2)"
    assert clone(est).get_params()["module__dropout"] == 0.2


def test_inference_batch_size_is_its_own_parameter_and_changes_nothing():
    X, y = _labelled()
    est = L2NetDescriptor(max_epochs=1, batch_size=24, random_state=0).fit(X, y)
    D = est.transform(X)
    np.testing.assert_array_equal(est.set_params(inference_batch_size=5).transform(X), D)
    with pytest.raises(InvalidParameterError,
                       match="The 'inference_batch_size' parameter of L2NetDescriptor must be"):
        L2NetDescriptor(inference_batch_size=0).fit(X, y)


def test_batch_size_counts_patches_per_step_for_descriptors():
    X, y = _labelled()
    with pytest.warns(BatchSizeUnitWarning, match=r"L2NetDescriptor\(batch_size=24\) trains 24 "
                                                  r"patches per step.*pass batch_size=72"):
        est = L2NetDescriptor(max_epochs=1, batch_size=24, random_state=0).fit(X, y)
    sizes = [b["train_batch_size"] for b in est.history_[0, "batches"]]
    assert sizes[0] == 24 and sum(sizes) == 3 * len(X)  # 8 triplets a step, every patch an anchor
    with pytest.warns(BatchSizeUnitWarning, match=r"counted anchor/positive pairs.*"
                                                  r"pass batch_size=48"):
        est = HardNetDescriptor(max_epochs=1, batch_size=24, random_state=0).fit(X, y)
    assert {b["train_batch_size"] for b in est.history_[0, "batches"]} == {24}  # 12 pairs
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchSizeUnitWarning)  # the default does not warn
        HardNetDescriptor(max_epochs=1, random_state=0).fit(X, y)
