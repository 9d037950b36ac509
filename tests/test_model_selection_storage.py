"""TPESearchCV with persistent optuna storage: resume, SIGKILL, several worker processes.

The PostgreSQL variant needs a server; set SKPD_TEST_POSTGRES_URL (e.g.
``postgresql://skpd:skpd@localhost:5432/skpd_test``), as ``.ci/run`` does.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from scipy.stats import loguniform, uniform
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_patchdesc.model_selection import TPESearchCV
from sklearn_patchdesc.model_selection._study import _postgres_driver

optuna = pytest.importorskip("optuna")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSTGRES_URL = os.environ.get("SKPD_TEST_POSTGRES_URL")

X, Y = make_regression(n_samples=40, n_features=4, noise=1.0, random_state=0)
SPACE = {"alpha": loguniform(1e-3, 1e3)}
CV = KFold(2, shuffle=True, random_state=0)

WORKER = r'''
import json, os, sys, time
from scipy.stats import loguniform
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn_patchdesc.model_selection import TPESearchCV
from sklearn_patchdesc.model_selection._study import _postgres_driver

url, name, n_trials, sleep, barrier, hang_at = sys.argv[1:7]
N_FITS = [0]


class SlowRidge(Ridge):
    def fit(self, X, y, sample_weight=None):
        N_FITS[0] += 1
        if hang_at != "-" and N_FITS[0] == int(hang_at):  # tell the test, wait to be killed
            open(name + ".hanging", "w").close()
            time.sleep(120)
        time.sleep(float(sleep))
        return super().fit(X, y, sample_weight)


X, y = make_regression(n_samples=40, n_features=4, noise=1.0, random_state=0)
if barrier != "-":  # start together with the other worker, imports done
    import optuna, sqlalchemy, alembic  # noqa: E401,F401
    if url.startswith("postgres"):
        import psycopg2  # noqa: F401
    open(barrier + ".ready." + str(os.getpid()), "w").close()
    while not os.path.exists(barrier + ".go"):
        time.sleep(0.05)
search = TPESearchCV(SlowRidge(), {"alpha": loguniform(1e-3, 1e3)}, n_trials=int(n_trials),
                     cv=KFold(2, shuffle=True, random_state=0), storage=url, study_name=name,
                     heartbeat_interval=1, n_startup_trials=3, random_state=0)
search.fit(X, y)
print(json.dumps({"rows": search.trial_numbers_.tolist(), "run": search.trial_numbers_run_,
                  "alphas": [p["alpha"] for p in search.cv_results_["params"]]}))
'''


@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def start(url, name, n_trials, sleep, barrier="-", hang_at="-"):
        args = [url, name, str(n_trials), str(sleep), str(barrier), str(hang_at)]
        return subprocess.Popen(
            [sys.executable, str(script), *args], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )

    return start


def _finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _trials(url, name):
    # plain postgresql:// URLs get the psycopg2 driver inside TPESearchCV only
    study = optuna.load_study(study_name=name, storage=_postgres_driver(url))
    results = [t for t in study.get_trials() if "sklearn_patchdesc_cv" in t.user_attrs]
    running = [t for t in study.get_trials() if t.state.name == "RUNNING"]
    return study, results, running


def test_resume_grows_the_budget_and_replays_results(tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"

    def search(n_trials, **kw):
        kw = {"cv": CV, "random_state": 0, "n_startup_trials": 2, **kw}
        return TPESearchCV(Ridge(), SPACE, n_trials=n_trials, storage=url, study_name="s", **kw)

    first = search(4).fit(X, Y)
    assert first.trial_numbers_run_ == [0, 1, 2, 3]
    second = search(7).fit(X, Y)
    assert second.trial_numbers_run_ == [4, 5, 6]
    assert list(second.trial_numbers_) == list(range(7))
    assert second.cv_results_["params"][:4] == first.cv_results_["params"]
    np.testing.assert_array_equal(second.cv_results_["split1_test_score"][:4],
                                  first.cv_results_["split1_test_score"])
    alphas = [p["alpha"] for p in second.cv_results_["params"]]
    assert len(set(alphas)) == 7  # the resumed run did not replay the seeded start

    # the study is complete: nothing is run, everything is rebuilt from storage
    third = search(7).fit(X, Y)
    assert third.trial_numbers_run_ == []
    for key, value in second.cv_results_.items():
        if key == "params":
            assert third.cv_results_[key] == value
        else:
            np.testing.assert_array_equal(np.asarray(third.cv_results_[key]), np.asarray(value))
    assert third.best_params_ == second.best_params_
    np.testing.assert_allclose(third.predict(X), second.predict(X))
    grid = GridSearchCV(Ridge(), [{"alpha": [a]} for a in alphas], cv=CV).fit(X, Y)
    assert sorted(third.cv_results_) == sorted(grid.cv_results_)
    np.testing.assert_allclose(third.cv_results_["mean_test_score"],
                               grid.cv_results_["mean_test_score"])
    assert third.best_index_ == grid.best_index_

    with pytest.raises(ValueError, match="other param_distributions"):
        TPESearchCV(Ridge(), {"alpha": uniform(0, 1)}, n_trials=8, cv=CV, storage=url,
                    study_name="s").fit(X, Y)
    with pytest.raises(ValueError, match="cross-validated with 2 splits"):
        search(8, cv=3).fit(X, Y)
    with pytest.raises(ValueError, match="without train scores"):
        search(7, return_train_score=True).fit(X, Y)


def test_sigkill_then_resume_runs_only_missing_trials(tmp_path, worker):
    url, name, n_trials = f"sqlite:///{tmp_path / 'kill.db'}", "killed", 8
    # cv=2: fits 1-6 are trials 0-2; the 7th fit (trial 3) hangs until the kill
    proc = worker(url, name, n_trials, sleep=0.0, hang_at=7)
    deadline = time.monotonic() + 90
    while not (tmp_path / (name + ".hanging")).exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "worker too slow"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, results, running = _trials(url, name)
    done_before = {t.number for t in results}
    assert done_before == {0, 1, 2} and [t.number for t in running] == [3]

    # restart (same study, same seed); the dead process's RUNNING trial is failed
    # once its heartbeat is older than the grace period, then asked again
    restarted = TPESearchCV(Ridge(), SPACE, n_trials=n_trials, cv=CV, storage=url,
                            study_name=name, heartbeat_interval=1, n_startup_trials=3,
                            random_state=0).fit(X, Y)
    rows, run = list(restarted.trial_numbers_), restarted.trial_numbers_run_
    assert set(run).isdisjoint(done_before)
    assert len(run) == n_trials - len(done_before)  # only the missing ones
    assert rows == sorted(set(rows)) and len(rows) == n_trials
    assert set(rows) == done_before | set(run)
    alphas = [p["alpha"] for p in restarted.cv_results_["params"]]
    assert len(set(alphas)) == n_trials  # no parameter set repeated
    study, results, running = _trials(url, name)
    assert len(results) == n_trials and not running
    stale = [t for t in study.get_trials() if t.number not in set(rows)]
    assert stale and all(t.state.name == "FAIL" and not t.user_attrs for t in stale)


def _two_workers(url, worker, tmp_path):
    name, n_trials = f"mp-{uuid.uuid4().hex[:12]}", 8
    barrier = tmp_path / name
    procs = [worker(url, name, n_trials, sleep=0.05, barrier=barrier) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob(name + ".ready.*"))) < 2:
        assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (tmp_path / (name + ".go")).touch()
    outs = [_finish(p) for p in procs]
    try:
        runs = [set(o["run"]) for o in outs]
        assert all(runs) and runs[0].isdisjoint(runs[1])  # both worked, no trial twice
        study, results, running = _trials(url, name)
        assert len(results) == n_trials and not running
        assert {t.number for t in results} == runs[0] | runs[1]
        for o in outs:  # each worker waited for the other: it reports the whole study
            assert set(o["rows"]) == runs[0] | runs[1]
            assert len(set(o["alphas"])) == n_trials
        final = TPESearchCV(Ridge(), SPACE, n_trials=n_trials, cv=CV, storage=url,
                            study_name=name, n_startup_trials=3).fit(X, Y)
        assert final.trial_numbers_run_ == [] and len(final.cv_results_["params"]) == n_trials
        assert sorted(final.cv_results_["param_alpha"]) == sorted(outs[0]["alphas"])
    finally:
        if url.startswith("postgresql"):
            optuna.delete_study(study_name=name, storage=_postgres_driver(url))


def test_two_worker_processes_share_a_sqlite_study(tmp_path, worker):
    _two_workers(f"sqlite:///{tmp_path / 'shared.db'}", worker, tmp_path)


@pytest.mark.skipif(
    POSTGRES_URL is None,
    reason="no PostgreSQL server: set SKPD_TEST_POSTGRES_URL "
    "(e.g. postgresql://skpd:skpd@localhost:5432/skpd_test; .ci/run does)",
)
def test_two_worker_processes_share_a_postgres_study(tmp_path, worker):
    _two_workers(POSTGRES_URL, worker, tmp_path)
