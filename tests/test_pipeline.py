"""Composition: Pipeline(denoise, describe), string scorers, CV, FrozenEstimator, searches."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline

from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor

SCORERS = ["hpatches_verification", "hpatches_matching", "hpatches_retrieval", "hpatches_mean"]


@pytest.fixture(scope="module")
def data():
    # 4 sequences x 5 points x 16 images = 320 noisy 32x32 patches (+ clean twins); two
    # sequences per GroupKFold(2) test fold, so retrieval has distractors in every fold
    return make_hpatches_like(n_sequences=4, n_patches_per_sequence=5, noise=True,
                              random_state=0)


def _denoiser(**kw):
    return ShallowUNetDenoiser(**{"max_epochs": 1, "batch_size": 64, "random_state": 0,
                                  "module__channels": (4, 4, 4), **kw})


def _descriptor(**kw):
    return L2NetDescriptor(**{"max_epochs": 1, "batch_size": 96, "optimizer": "adam",
                              "lr": 1e-3, "random_state": 0, **kw})


def _pipe(**kw):
    return Pipeline([("denoise", _denoiser()), ("describe", _descriptor(**kw))])


def test_pipeline_fit_transform_score(data):
    X, y = data.data, data.target
    pipe = _pipe().fit(X, y)
    D = pipe.transform(X)
    assert D.shape == (len(X), 128) and D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-4)
    assert pipe[0].training_mode_ == "neighbor2neighbor"  # no clean references needed
    score = pipe.score(X, y)
    assert 0.0 <= score <= 1.0


def test_cross_val_score_and_multimetric_cross_validate(data):
    X, y = data.data, data.target
    groups = y["sequence"]
    scores = cross_val_score(_pipe(), X, y, groups=groups, cv=GroupKFold(2),
                             scoring="hpatches_retrieval")
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    res = cross_validate(_pipe(), X, y, groups=groups, cv=GroupKFold(2), scoring=SCORERS)
    for name in SCORERS:
        vals = res[f"test_{name}"]
        assert vals.shape == (2,) and np.all(np.isfinite(vals))
    np.testing.assert_allclose(
        res["test_hpatches_mean"],
        (res["test_hpatches_verification"] + res["test_hpatches_matching"]
         + res["test_hpatches_retrieval"]) / 3, rtol=1e-6)
    np.testing.assert_allclose(res["test_hpatches_retrieval"], scores)


def test_frozen_denoiser_and_frozen_clean_descriptor(data):
    """Seed 000 sec. 3.2.1: descriptor trained on clean patches, applied after a denoiser."""
    X, X_clean, y = data.data, data.data_clean, data.target
    denoiser = _denoiser().fit(X, X_clean)  # supervised on clean twins
    before = denoiser.transform(X)
    pipe = Pipeline([("denoise", FrozenEstimator(denoiser)), ("describe", _descriptor())])
    pipe.fit(X, y)
    np.testing.assert_array_equal(denoiser.transform(X), before)  # not refitted
    assert len(denoiser.history_) == 1

    descriptor = _descriptor().fit(X_clean, y)  # trained on clean patches only
    clean_pipe = Pipeline([("denoise", _denoiser()), ("describe", FrozenEstimator(descriptor))])
    clean_pipe.fit(X, y)  # only the denoiser trains
    np.testing.assert_array_equal(clean_pipe.transform(X),
                                  descriptor.transform(clean_pipe[0].transform(X)))
    cv = cross_val_score(clean_pipe, X, y, groups=y["sequence"], cv=GroupKFold(2),
                         scoring="hpatches_mean")
    assert np.all(np.isfinite(cv))
    # clone keeps the frozen step fitted
    assert clone(clean_pipe)[1].estimator is descriptor


GRID = {
    "denoise__max_epochs": [1, 2],
    "describe__module__dropout": [0.3],
    "describe__criterion__margin": [0.7],
    "describe__optimizer__lr": [2e-3],
}


def _check_params_reached_net(est):
    net = est["describe"].net_
    drop = [m for m in net.module_.modules() if type(m).__name__ == "Dropout"]
    assert drop and drop[0].p == pytest.approx(0.3)
    assert net.criterion_.margin == pytest.approx(0.7)
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(2e-3)
    assert len(est["denoise"].history_) == est["denoise"].max_epochs


def test_grid_search_over_both_steps(data):
    X, y = data.data, data.target
    search = GridSearchCV(_pipe(), GRID, cv=GroupKFold(2), scoring="hpatches_retrieval")
    search.fit(X, y, groups=y["sequence"])
    assert len(search.cv_results_["params"]) == 2
    assert set(search.best_params_) == set(GRID)
    _check_params_reached_net(search.best_estimator_)
    cloned = clone(search.best_estimator_)
    assert cloned.get_params()["describe__criterion__margin"] == 0.7
    assert cloned.get_params()["describe__module__dropout"] == 0.3
    assert not hasattr(cloned["describe"], "net_")


def test_tpe_search_over_both_steps(data):
    pytest.importorskip("optuna")
    from scipy.stats import loguniform

    from sklearn_patchdesc.model_selection import TPESearchCV

    X, y = data.data, data.target
    dists = {**GRID, "describe__optimizer__lr": loguniform(1e-4, 1e-2)}
    search = TPESearchCV(_pipe(), dists, n_trials=2, cv=GroupKFold(2),
                         scoring=["hpatches_retrieval", "hpatches_mean"], refit="hpatches_mean",
                         random_state=0)
    search.fit(X, y, groups=y["sequence"])
    assert len(search.cv_results_["params"]) == 2
    assert "mean_test_hpatches_retrieval" in search.cv_results_
    best = search.best_estimator_
    lr = search.best_params_["describe__optimizer__lr"]
    assert 1e-4 <= lr <= 1e-2
    assert best["describe"].net_.optimizer_.param_groups[0]["lr"] == pytest.approx(lr)
    assert clone(best).get_params()["describe__optimizer__lr"] == lr
