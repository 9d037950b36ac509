"""Samplers, miners, losses and callbacks as parameter objects (issue 13, item 1)."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_patchdesc.describe import (
    BatchHardMiner,
    CollapseMonitor,
    ContrastiveLoss,
    HardPositiveMiner,
    HPatchesEpochScore,
    L2NetDescriptor,
    OnlinePairMiner,
    PatchAugmentation,
    PKSampler,
    RandomTripletSampler,
    SteppedBatchHard,
    TripletMarginLoss,
)
from sklearn_patchdesc.utils import all_estimators

PARAMETER_OBJECTS = [
    (PKSampler, {"n_per_label": 8}),
    (RandomTripletSampler, {"n_triplets": 10}),
    (BatchHardMiner, {"mode": "all"}),
    (HardPositiveMiner, {"warmup_epochs": 3}),
    (OnlinePairMiner, {"lambda_end": 0.5}),
    (TripletMarginLoss, {"margin": 0.3}),
    (ContrastiveLoss, {"margin": 0.5}),
    (SteppedBatchHard, {"headroom": 0.9}),
    (CollapseMonitor, {"min_distance": 0.2}),
    (PatchAugmentation, {"mode": "independent"}),
    (HPatchesEpochScore, {"scoring": "hpatches_retrieval"}),
]


def _make(cls):
    if cls is HPatchesEpochScore:
        return cls(np.zeros((2, 8, 8)), np.arange(2))
    return cls()


@pytest.mark.parametrize("cls, change", PARAMETER_OBJECTS, ids=lambda v: getattr(v, "__name__", ""))
def test_get_set_params_and_clone(cls, change):
    obj = _make(cls)
    params = obj.get_params()
    assert set(change) <= set(params)
    assert obj.set_params(**change) is obj
    assert all(obj.get_params()[k] == v for k, v in change.items())
    copy = clone(obj)
    assert type(copy) is cls and copy is not obj
    assert all(copy.get_params()[k] == v for k, v in change.items())
    (name, value), = change.items()
    assert f"{name}={value!r}" in repr(obj)


def test_parameter_objects_are_not_listed_as_estimators():
    names = {n for n, _ in all_estimators()}
    assert not names & {cls.__name__ for cls, _ in PARAMETER_OBJECTS}


def test_internal_state_only_in_trailing_underscore_attributes():
    mon = CollapseMonitor().initialize()
    assert all(k.endswith("_") or k in mon.get_params() for k in vars(mon))
    stepped = SteppedBatchHard().initialize()
    assert all(k.endswith("_") or k in stepped.get_params() for k in vars(stepped))
    loss = TripletMarginLoss(miner="batch_hard")
    assert isinstance(loss.miner_, BatchHardMiner) and loss.miner == "batch_hard"


def _data(n_labels=12, per=3, size=16):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n_labels * per, size, size), dtype=np.uint8),
            np.repeat(np.arange(n_labels), per))


def test_clone_of_a_fitted_estimator_with_a_collapse_monitor():
    X, y = _data()
    est = L2NetDescriptor(max_epochs=1, batch_size=36, random_state=0,
                          callbacks=[("collapse", CollapseMonitor(n_probe=8))]).fit(X, y)
    copy = clone(est)  # was: TypeError ... unexpected keyword argument '_probe_ds'
    assert isinstance(copy.callbacks[0][1], CollapseMonitor)
    assert not hasattr(copy, "net_")


def test_nested_sampler_params_in_set_params_and_grid_search():
    est = L2NetDescriptor(sampler=PKSampler()).set_params(sampler__n_per_label=8)
    assert est.sampler.n_per_label == 8
    assert est.get_params()["sampler__n_per_label"] == 8
    with pytest.raises(ValueError, match="sampler is None"):
        L2NetDescriptor().set_params(sampler__n_per_label=8)
    X, y = _data()
    grid = GridSearchCV(
        L2NetDescriptor(sampler=PKSampler(n_per_label=2), batch_size=8, max_epochs=1,
                        random_state=0,
                        criterion__miner="batch_hard"),
        {"sampler__n_per_label": [2, 3], "criterion__margin": [0.5]}, cv=2,
        scoring=lambda est, X, y: float(est.net_.criterion_.margin
                                        + est.sampler.n_per_label)).fit(X, y)
    assert grid.best_params_ == {"sampler__n_per_label": 3, "criterion__margin": 0.5}
    assert grid.best_estimator_.net_.criterion_.margin == 0.5


def test_criterion_instance_keeps_its_arguments_with_criterion_options():
    X, y = _data()
    given = TripletMarginLoss(margin=0.3)
    est = L2NetDescriptor(criterion=given, criterion__reducer="nonzero", max_epochs=1,
                          batch_size=36, random_state=0).fit(X, y)
    crit = est.net_.criterion_
    assert crit is not given and crit.margin == 0.3 and crit.reducer == "nonzero"
    assert given.reducer == "mean"  # the caller's instance is untouched
    # an instance that cannot take options is refused with a clear message
    est = L2NetDescriptor(criterion=torch.nn.MSELoss(), criterion__reduction="sum",
                          max_epochs=1)
    with pytest.raises(TypeError, match="has no set_params"):
        est.fit(X, y)


def test_miner_object_of_the_criterion_is_copied_and_registered():
    X, y = _data()
    miner = OnlinePairMiner()
    est = L2NetDescriptor(criterion=ContrastiveLoss(miner=miner), criterion__margin=0.8,
                          max_epochs=2, batch_size=36, random_state=0).fit(X, y)
    registered = dict(est.net_.callbacks_)["miner"]
    assert registered is est.net_.criterion_.miner and registered is not miner
    assert est.net_.criterion_.margin == 0.8
    assert "opms_lambda" in est.history_[-1]


def test_one_miner_keyword_and_no_alias():
    """``mining=`` was a deprecated alias in a package never released: it is gone."""
    loss = TripletMarginLoss(miner="batch_hard")
    assert clone(loss).miner == "batch_hard" and "mining" not in loss.get_params()
    with pytest.raises(TypeError, match="mining"):
        TripletMarginLoss(mining="batch_hard")
    with pytest.raises(ValueError, match="mining"):
        TripletMarginLoss().set_params(mining="batch_all")
    with pytest.raises(ValueError, match="miner must be one of"):
        TripletMarginLoss(miner="hardest")


def test_distances_as_names_or_pml_objects():
    emb = torch.nn.functional.normalize(torch.randn(12, 4, generator=torch.Generator().manual_seed(0)))
    labels = torch.arange(6).repeat(2)
    by_name = TripletMarginLoss(distance="l1", miner="batch_all")(emb, labels)
    by_obj = TripletMarginLoss(distance=LpDistance(normalize_embeddings=False, p=1),
                               miner="batch_all")(emb, labels)
    assert float(by_name) == pytest.approx(float(by_obj))
    by_name = ContrastiveLoss(distance="l2")(emb, labels)
    by_obj = ContrastiveLoss(distance=LpDistance(normalize_embeddings=False))(emb, labels)
    assert float(by_name) == pytest.approx(float(by_obj), rel=1e-5)
    assert TripletMarginLoss(distance=CosineSimilarity())(emb[:9]).ndim == 0
    with pytest.raises(ValueError, match="similarity"):
        ContrastiveLoss(distance=CosineSimilarity())
    with pytest.raises(ValueError, match="not known"):
        TripletMarginLoss(distance="cosine")


def test_module_out_features_gives_as_many_feature_names():
    X, y = _data()
    est = L2NetDescriptor(module__out_features=64, max_epochs=1, batch_size=36,
                          random_state=0).fit(X, y)
    assert est.transform(X).shape[1] == 64
    assert len(est.get_feature_names_out()) == 64
