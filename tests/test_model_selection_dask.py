"""Search candidates run on a Dask cluster through joblib's dask backend."""
import joblib
import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from sklearn_patchdesc.model_selection import TPESearchCV

distributed = pytest.importorskip("distributed")
pytest.importorskip("optuna")

X, Y = make_classification(n_samples=80, n_features=5, random_state=0)
CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _on_cluster(client, search):
    """Fit under the dask backend; return the workers that ran tasks."""
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        search.fit(X, Y)
    return {t["worker"] for t in tasks.data}


def test_grid_search_on_dask(client):
    grid = {"n_neighbors": [1, 3, 5, 7], "weights": ["uniform", "distance"]}
    on_dask = GridSearchCV(KNeighborsClassifier(), grid, cv=CV, n_jobs=-1)
    workers = _on_cluster(client, on_dask)
    assert workers and workers <= set(client.scheduler_info()["workers"])
    local = GridSearchCV(KNeighborsClassifier(), grid, cv=CV).fit(X, Y)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == local.best_params_


def test_tpe_search_on_dask(client):
    space = {"n_neighbors": [1, 3, 5, 7, 9], "p": loguniform(1, 3)}
    on_dask = TPESearchCV(KNeighborsClassifier(), space, n_trials=6, cv=CV, n_jobs=-1,
                          random_state=0, n_startup_trials=4)
    workers = _on_cluster(client, on_dask)
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert list(on_dask.trial_numbers_) == list(range(6))
    # the same candidates scored locally give the same cv_results_
    grid = [{k: [v] for k, v in p.items()} for p in on_dask.cv_results_["params"]]
    local = GridSearchCV(KNeighborsClassifier(), grid, cv=CV).fit(X, Y)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert on_dask.best_index_ == local.best_index_
