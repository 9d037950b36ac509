"""TPESearchCV behaves like GridSearchCV (in-memory studies)."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform, randint, uniform
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_patchdesc.model_selection import TPESearchCV

optuna = pytest.importorskip("optuna")

X_REG, Y_REG = make_regression(n_samples=60, n_features=5, noise=5.0, random_state=0)
SPACE = {"alpha": loguniform(1e-3, 1e3), "fit_intercept": [True, False]}
CV = KFold(3, shuffle=True, random_state=0)


def _grid_for(params_list):
    """A GridSearchCV grid evaluating exactly these candidates, in this order."""
    return [{k: [v] for k, v in p.items()} for p in params_list]


def _assert_same_results(tpe, grid, times=False):
    assert sorted(tpe.cv_results_) == sorted(grid.cv_results_)
    for key, value in grid.cv_results_.items():
        if "time" in key and not times:
            assert np.shape(tpe.cv_results_[key]) == np.shape(value), key
            continue
        if key == "params":
            assert tpe.cv_results_[key] == value
        elif isinstance(value, np.ma.MaskedArray):
            np.testing.assert_array_equal(tpe.cv_results_[key].mask, value.mask)
            assert list(tpe.cv_results_[key].data) == list(value.data), key
        else:
            np.testing.assert_allclose(tpe.cv_results_[key], value, err_msg=key)
            assert tpe.cv_results_[key].dtype == value.dtype, key


@pytest.mark.parametrize("return_train_score", [False, True])
def test_single_metric_matches_grid_search(return_train_score):
    tpe = TPESearchCV(Ridge(), SPACE, n_trials=8, cv=CV, random_state=0, n_startup_trials=3,
                      return_train_score=return_train_score).fit(X_REG, Y_REG)
    grid = GridSearchCV(Ridge(), _grid_for(tpe.cv_results_["params"]), cv=CV,
                        return_train_score=return_train_score).fit(X_REG, Y_REG)
    _assert_same_results(tpe, grid)
    assert tpe.best_index_ == grid.best_index_
    assert tpe.best_score_ == grid.best_score_
    assert tpe.best_params_ == grid.best_params_
    np.testing.assert_allclose(tpe.predict(X_REG), grid.predict(X_REG))
    assert tpe.score(X_REG, Y_REG) == pytest.approx(grid.score(X_REG, Y_REG))
    assert tpe.n_splits_ == 3 and tpe.refit_time_ >= 0 and tpe.multimetric_ is False
    assert list(tpe.trial_numbers_) == list(range(8)) == tpe.trial_numbers_run_
    # what TPE was told is the mean test score of each candidate
    told = [t.value for t in tpe.study_.get_trials()]
    np.testing.assert_allclose(told, tpe.cv_results_["mean_test_score"])


def test_multi_metric_string_refit_matches_grid_search():
    scoring = {"r2": "r2", "mae": "neg_mean_absolute_error"}
    tpe = TPESearchCV(Ridge(), SPACE, n_trials=6, cv=CV, scoring=scoring, refit="mae",
                      random_state=1).fit(X_REG, Y_REG)
    grid = GridSearchCV(Ridge(), _grid_for(tpe.cv_results_["params"]), cv=CV,
                        scoring=scoring, refit="mae").fit(X_REG, Y_REG)
    _assert_same_results(tpe, grid)
    assert tpe.multimetric_ and tpe.best_index_ == grid.best_index_
    assert tpe.best_score_ == grid.best_score_
    assert set(tpe.scorer_) == {"r2", "mae"}
    np.testing.assert_allclose([t.value for t in tpe.study_.get_trials()],
                               tpe.cv_results_["mean_test_mae"])


def test_multi_metric_callable_scoring_matches_grid_search():
    def scoring(est, X, y):
        pred = est.predict(X)
        return {"r2": r2_score(y, pred), "neg_mae": -mean_absolute_error(y, pred)}

    tpe = TPESearchCV(Ridge(), SPACE, n_trials=5, cv=CV, scoring=scoring, refit="neg_mae",
                      random_state=0).fit(X_REG, Y_REG)
    grid = GridSearchCV(Ridge(), _grid_for(tpe.cv_results_["params"]), cv=CV,
                        scoring=scoring, refit="neg_mae").fit(X_REG, Y_REG)
    _assert_same_results(tpe, grid)
    assert tpe.best_index_ == grid.best_index_ and tpe.multimetric_


def test_multi_metric_objective_without_refit():
    scoring = ["r2", "neg_mean_absolute_error"]
    with pytest.raises(ValueError, match="objective"):
        TPESearchCV(Ridge(), SPACE, n_trials=3, cv=CV, scoring=scoring, refit=False).fit(
            X_REG, Y_REG)
    with pytest.raises(ValueError, match="not one of the scorers"):
        TPESearchCV(Ridge(), SPACE, n_trials=3, cv=CV, scoring=scoring, refit=False,
                    objective="accuracy").fit(X_REG, Y_REG)
    tpe = TPESearchCV(Ridge(), SPACE, n_trials=4, cv=CV, scoring=scoring, refit=False,
                      objective="r2", random_state=0).fit(X_REG, Y_REG)
    grid = GridSearchCV(Ridge(), _grid_for(tpe.cv_results_["params"]), cv=CV,
                        scoring=scoring, refit=False).fit(X_REG, Y_REG)
    _assert_same_results(tpe, grid)
    for attr in ("best_index_", "best_params_", "best_score_", "best_estimator_"):
        assert not hasattr(tpe, attr) and not hasattr(grid, attr)
    np.testing.assert_allclose([t.value for t in tpe.study_.get_trials()],
                               tpe.cv_results_["mean_test_r2"])


def test_objective_with_single_metric_is_an_error():
    with pytest.raises(ValueError, match="multi-metric"):
        TPESearchCV(Ridge(), SPACE, n_trials=2, cv=CV, objective="r2").fit(X_REG, Y_REG)


def test_refit_false_and_callable_refit():
    tpe = TPESearchCV(Ridge(), SPACE, n_trials=5, cv=CV, refit=False, random_state=0).fit(
        X_REG, Y_REG)
    grid = GridSearchCV(Ridge(), _grid_for(tpe.cv_results_["params"]), cv=CV,
                        refit=False).fit(X_REG, Y_REG)
    assert not hasattr(tpe, "best_estimator_") and not hasattr(grid, "best_estimator_")
    assert tpe.best_params_ == grid.best_params_ and tpe.best_score_ == grid.best_score_
    with pytest.raises(AttributeError):
        tpe.predict(X_REG)

    def worst(results):
        return int(np.argmin(results["mean_test_score"]))

    tpe = TPESearchCV(Ridge(), SPACE, n_trials=5, cv=CV, refit=worst, random_state=0).fit(
        X_REG, Y_REG)
    assert tpe.best_index_ == worst(tpe.cv_results_)
    assert tpe.best_params_ == tpe.cv_results_["params"][tpe.best_index_]
    assert not hasattr(tpe, "best_score_")
    assert tpe.best_estimator_.get_params()["alpha"] == tpe.best_params_["alpha"]


class _FailingRidge(Ridge):
    """Ridge that cannot fit when alpha > 1."""

    def fit(self, X, y, sample_weight=None):
        if self.alpha > 1:
            raise ValueError("alpha too large for this test")
        return super().fit(X, y, sample_weight)


def test_error_score_nan_and_number():
    space = {"alpha": loguniform(1e-2, 1e2)}
    with pytest.warns(FitFailedWarning):
        tpe = TPESearchCV(_FailingRidge(), space, n_trials=8, cv=CV, random_state=0,
                          n_startup_trials=8).fit(X_REG, Y_REG)
    failed = tpe.cv_results_["param_alpha"].data.astype(float) > 1
    assert failed.any() and (~failed).any()
    assert np.isnan(tpe.cv_results_["mean_test_score"][failed]).all()
    assert tpe.best_params_["alpha"] <= 1
    states = [t.state.name for t in tpe.study_.get_trials()]
    assert states.count("FAIL") == failed.sum() and len(states) == 8  # all counted

    with pytest.warns(FitFailedWarning):
        tpe = TPESearchCV(_FailingRidge(), space, n_trials=6, cv=CV, random_state=0,
                          n_startup_trials=6, error_score=-5.0).fit(X_REG, Y_REG)
    failed = tpe.cv_results_["param_alpha"].data.astype(float) > 1
    assert failed.any()
    np.testing.assert_array_equal(tpe.cv_results_["mean_test_score"][failed], -5.0)
    assert all(t.state.name == "COMPLETE" for t in tpe.study_.get_trials())


def test_all_fits_failing_raises_like_grid_search():
    with pytest.warns(FitFailedWarning), pytest.raises(ValueError, match="All the 9 fits"):
        TPESearchCV(_FailingRidge(), {"alpha": uniform(2, 3)}, n_trials=3, cv=CV).fit(
            X_REG, Y_REG)


def test_error_score_raise_leaves_no_running_trial():
    storage = optuna.storages.InMemoryStorage()
    search = TPESearchCV(_FailingRidge(), {"alpha": uniform(2, 3)}, n_trials=3, cv=CV,
                         error_score="raise", storage=storage, study_name="raise")
    with pytest.raises(ValueError, match="alpha too large"):
        search.fit(X_REG, Y_REG)
    trials = optuna.load_study(study_name="raise", storage=storage).get_trials()
    assert trials and all(t.state.name == "FAIL" and not t.user_attrs for t in trials)


def test_random_state_determinism():
    def params(seed):
        s = TPESearchCV(Ridge(), SPACE, n_trials=7, cv=CV, random_state=seed,
                        n_startup_trials=3, refit=False).fit(X_REG, Y_REG)
        return s.cv_results_["params"]

    assert params(3) == params(3)
    assert params(3) != params(4)
    rs = np.random.RandomState(0)
    first = TPESearchCV(Ridge(), SPACE, n_trials=2, cv=CV, random_state=rs, refit=False)
    assert first.fit(X_REG, Y_REG).cv_results_["params"] != first.fit(
        X_REG, Y_REG).cv_results_["params"]  # a RandomState instance moves on


def _peak_at_alpha_10(est, X, y):
    return -((np.log10(est.alpha) - 1.0) ** 2)


def test_tpe_proposes_closer_to_the_optimum_than_random_search():
    """With the same budget, TPE's later candidates are nearer the optimum than
    pure random search's (n_startup_trials=n_trials); a wrong sign in what is told
    back to optuna would push them away instead."""
    def late_distances(n_startup):
        dist = []
        for seed in range(3):
            s = TPESearchCV(Ridge(), {"alpha": loguniform(1e-4, 1e4)}, n_trials=20, cv=2,
                            scoring=_peak_at_alpha_10, n_startup_trials=n_startup,
                            random_state=seed, refit=False).fit(X_REG, Y_REG)
            alpha = s.cv_results_["param_alpha"].data.astype(float)
            dist.extend(np.abs(np.log10(alpha[10:]) - 1.0))
        return np.median(dist)

    assert late_distances(6) < 0.75 * late_distances(20)


def test_params_types_and_subspaces():
    space = [
        {"alpha": uniform(0.5, 1.0), "solver": ["auto", "svd"]},
        {"alpha": randint(1, 4), "fit_intercept": np.array([False])},
    ]
    s = TPESearchCV(Ridge(), space, n_trials=10, cv=CV, random_state=0).fit(X_REG, Y_REG)
    seen = set()
    for p in s.cv_results_["params"]:
        if "solver" in p:
            assert set(p) == {"alpha", "solver"} and 0.5 <= p["alpha"] <= 1.5
            seen.add(0)
        else:
            assert set(p) == {"alpha", "fit_intercept"} and p["fit_intercept"] is False
            assert isinstance(p["alpha"], int) and 1 <= p["alpha"] <= 3
            seen.add(1)
    assert seen == {0, 1}
    assert s.cv_results_["param_solver"].mask.any()
    # categorical values optuna cannot store (tuples) come back as the objects
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    from sklearn.neural_network import MLPClassifier

    s = TPESearchCV(MLPClassifier(max_iter=20), {"hidden_layer_sizes": [(3,), (4, 2)]},
                    n_trials=3, cv=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.fit(X, y)
    assert all(p["hidden_layer_sizes"] in [(3,), (4, 2)] for p in s.cv_results_["params"])


def test_optuna_distributions_are_used_as_is():
    dist = optuna.distributions
    space = {"alpha": dist.FloatDistribution(2.0, 4.0, step=0.5),
             "max_iter": dist.IntDistribution(10, 20, log=True),
             "solver": dist.CategoricalDistribution(["svd", "cholesky"])}
    s = TPESearchCV(Ridge(), space, n_trials=6, cv=CV, random_state=0).fit(X_REG, Y_REG)
    for p in s.cv_results_["params"]:
        assert p["alpha"] in {2.0, 2.5, 3.0, 3.5, 4.0} and 10 <= p["max_iter"] <= 20
        assert p["solver"] in {"svd", "cholesky"}


def test_clone_get_params_pickle():
    s = TPESearchCV(Ridge(), SPACE, n_trials=3, cv=CV, random_state=0, timeout=30.0,
                    n_startup_trials=2)
    params = s.get_params()
    for key in ("n_trials", "timeout", "storage", "study_name", "n_startup_trials",
                "random_state", "objective", "heartbeat_interval", "estimator__alpha"):
        assert key in params
    c = clone(s)
    assert c.get_params(deep=False).keys() == s.get_params(deep=False).keys()
    assert c.set_params(estimator__alpha=3.0, n_trials=4).estimator.alpha == 3.0
    s.fit(X_REG, Y_REG)
    again = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(again.predict(X_REG), s.predict(X_REG))
    assert not hasattr(clone(s), "cv_results_")


def test_timeout_and_storage_without_name():
    with pytest.raises(ValueError, match="No trial finished"):
        TPESearchCV(Ridge(), SPACE, n_trials=3, cv=CV, timeout=0).fit(X_REG, Y_REG)
    with pytest.raises(ValueError, match="study_name is required"):
        TPESearchCV(Ridge(), SPACE, storage="sqlite:///x.db").fit(X_REG, Y_REG)


@pytest.mark.parametrize(
    "space, error, match",
    [
        ({}, ValueError, "must not be empty"),
        ([], ValueError, "must not be empty"),
        ("alpha", TypeError, "param_distributions"),
        ([{"alpha": [1.0]}, "x"], TypeError, "param_distributions"),
        ({"alpha": "abc"}, TypeError, "'alpha'"),
        ({"alpha": []}, ValueError, "empty"),
        ({"alpha": 3.0}, TypeError, "'alpha'"),
        ({"alpha": np.ones((2, 2))}, ValueError, "1-D"),
    ],
)
def test_bad_param_distributions(space, error, match):
    with pytest.raises(error, match=match):
        TPESearchCV(Ridge(), space, n_trials=2, cv=CV).fit(X_REG, Y_REG)


def test_missing_optuna_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    search = TPESearchCV(Ridge(), {"alpha": [1.0, 2.0]}, n_trials=2)  # no optuna needed yet
    with pytest.raises(ImportError, match=r"pip install sklearn-patchdesc\[tpe\]"):
        search.fit(X_REG, Y_REG)


def test_package_imports_without_optuna():
    code = ("import sys; sys.modules['optuna'] = None\n"
            "from sklearn_patchdesc.model_selection import TPESearchCV, __all__\n"
            "print(sorted(__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "TPESearchCV" in out.stdout


def _three_sequences():
    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target

    y = make_target(["i_a", "v_b", "v_c"], [6, 6, 6], IMAGE_NAMES)
    X = np.random.default_rng(0).integers(0, 256, (len(y), 16, 16)).astype(np.uint8)
    return X, y


def test_a_search_where_every_trial_scores_nan_fails_and_names_the_fold():
    """GroupKFold(2) on 3 sequences: one test fold holds one sequence, the HPatches
    scorer refuses it, every mean is NaN; the search used to "succeed" with an
    arbitrary best_params_."""
    from sklearn.model_selection import GroupKFold

    from sklearn_patchdesc.describe import SIFTPatchDescriptor

    X, y = _three_sequences()
    search = TPESearchCV(SIFTPatchDescriptor(), {"clip": uniform(0.1, 0.3)}, n_trials=2,
                         cv=GroupKFold(2), scoring="hpatches_mean", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"Every one of the 2 trials scored NaN.*Test "
                                             r"fold\(s\) \d of cv hold a single sequence or "
                                             r"group \((i_a|v_b|v_c)\)"):
            search.fit(X, y, groups=y["sequence"])
    assert not hasattr(search, "best_params_")
    # a cv whose test folds hold two sequences or more scores normally
    from sklearn.model_selection import PredefinedSplit

    folds = PredefinedSplit(np.where(y["sequence"] == "i_a", -1, 0))
    search.set_params(cv=folds).fit(X, y)
    assert np.isfinite(search.best_score_)
