"""optuna study plumbing for TPESearchCV: storage, trial bookkeeping, heartbeats.

Trial kinds in a study used by TPESearchCV:

* **result** - finished (COMPLETE, or FAIL when the objective score is not
  finite) and carrying the per-split record under the user attribute
  :data:`RECORD_KEY`. Results count towards ``n_trials`` and become rows of
  ``cv_results_``.
* **running** - state RUNNING: being evaluated by some worker. Counted towards
  ``n_trials`` so that workers do not overshoot the budget.
* **discarded** - FAIL without a record: asked beyond the budget, interrupted by
  an exception, or marked failed by the heartbeat check after its process died.
  Not counted; its slot is asked again.
"""
import json
import random
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np

RECORD_KEY = "sklearn_patchdesc_cv"
SPACE_KEY = "sklearn_patchdesc_space"
DISCARD_KEY = "sklearn_patchdesc_discarded"


@contextmanager
def quiet_optuna(optuna):
    """Silence optuna's experimental-feature and ask/tell-with-heartbeat warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield


def make_storage(optuna, storage, heartbeat_interval):
    """Return an optuna storage (or None for in-memory) from the user's ``storage``.

    A URL string becomes an ``RDBStorage`` with heartbeats every
    ``heartbeat_interval`` seconds (grace period: twice that); sqlite gets a long
    lock timeout so that several processes can share one file.
    """
    if storage is None or not isinstance(storage, str):
        return storage
    storage = _postgres_driver(storage)
    engine_kwargs = {}
    if storage.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    for attempt in range(5):
        try:
            with quiet_optuna(optuna):
                return optuna.storages.RDBStorage(
                    storage, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval
                )
        except Exception as exc:  # noqa: BLE001
            # Workers starting together on a fresh database race to create the
            # tables; the losers see them on the next attempt.
            if attempt == 4 or "sqlalchemy" not in type(exc).__module__ + str(exc):
                raise
            time.sleep(0.2 + 0.3 * random.random())


def _postgres_driver(url):
    """``postgresql://`` means psycopg (3) to SQLAlchemy 2.1+; the ``[postgres]``
    extra installs psycopg2, so use it when psycopg is missing."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def heartbeat_enabled(storage):
    """True when ``storage`` records heartbeats, so dead workers' trials get failed."""
    return (
        storage is not None
        and hasattr(storage, "record_heartbeat")
        and storage.get_heartbeat_interval() is not None
    )


def open_study(optuna, storage, study_name, space_fingerprint):
    """Create or load the study and check it was made for the same search space."""
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", load_if_exists=True
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"Study {study.study_name!r} exists but does not maximize.")
    stored = study.user_attrs.get(SPACE_KEY)
    if stored is None:
        study.set_user_attr(SPACE_KEY, space_fingerprint)
    elif stored != space_fingerprint:
        raise ValueError(
            f"Study {study.study_name!r} was created with other param_distributions; "
            "resume it with the same search space or use a new study_name."
        )
    return study


def is_result(trial):
    """A finished trial that holds a TPESearchCV per-split record."""
    return trial.state.is_finished() and RECORD_KEY in trial.user_attrs


def is_running(trial):
    return trial.state.name == "RUNNING"


def count_used(trials, below=None):
    """Results plus running trials (optionally only those numbered below ``below``)."""
    return sum(
        1
        for t in trials
        if (below is None or t.number < below) and (is_result(t) or is_running(t))
    )


def fail_stale(optuna, study):
    """Mark RUNNING trials whose heartbeat stopped (their process died) as FAIL."""
    with quiet_optuna(optuna):
        optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Record heartbeats for some trials from a background thread.

    ``beat()`` records one at once; as a context manager it keeps recording
    every ``heartbeat_interval`` seconds until the block ends.

    Parameters
    ----------
    storage : optuna storage or None
        Nothing happens unless it has heartbeats enabled.
    trial_ids : list of int
        optuna's internal trial ids.
    """

    def __init__(self, storage, trial_ids):
        self.storage = storage
        self.trial_ids = list(trial_ids)
        self._stop = threading.Event()
        self._thread = None

    def beat(self):
        for trial_id in self.trial_ids:
            self.storage.record_heartbeat(trial_id)

    def __enter__(self):
        if heartbeat_enabled(self.storage):
            interval = self.storage.get_heartbeat_interval()

            def run():
                while not self._stop.wait(interval):
                    self.beat()

            self._thread = threading.Thread(target=run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def derive_seed(base, *keys):
    """A seed for one ask/suggest step, or None when the search is unseeded."""
    if base is None:
        return None
    return int(np.random.SeedSequence([base, *keys]).generate_state(1)[0])


def _plain_score(score):
    if isinstance(score, dict):
        return {str(k): float(v) for k, v in score.items()}
    return float(score)


def make_record(outs):
    """JSON-able per-split record of one candidate from ``_fit_and_score`` outputs."""
    record = {
        "test_scores": [_plain_score(o["test_scores"]) for o in outs],
        "n_test_samples": [int(o["n_test_samples"]) for o in outs],
        "fit_time": [float(o["fit_time"]) for o in outs],
        "score_time": [float(o["score_time"]) for o in outs],
        "fit_error": [None if o.get("fit_error") is None else str(o["fit_error"]) for o in outs],
    }
    if "train_scores" in outs[0]:
        record["train_scores"] = [_plain_score(o["train_scores"]) for o in outs]
    json.dumps(record)  # fail here, not in the storage, if something is not JSON-able
    return record


def record_outs(record, return_train_score):
    """Inverse of :func:`make_record`: the ``_fit_and_score``-like dicts of one trial."""
    n_splits = len(record["test_scores"])
    if return_train_score and "train_scores" not in record:
        raise ValueError(
            "return_train_score=True, but trials of this study were run without train "
            "scores; resume with return_train_score=False or use a new study_name."
        )
    outs = []
    for i in range(n_splits):
        out = {
            "fit_error": record["fit_error"][i],
            "test_scores": record["test_scores"][i],
            "n_test_samples": record["n_test_samples"][i],
            "fit_time": record["fit_time"][i],
            "score_time": record["score_time"][i],
        }
        if return_train_score:
            out["train_scores"] = record["train_scores"][i]
        outs.append(out)
    return outs
