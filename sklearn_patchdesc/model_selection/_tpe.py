"""TPESearchCV: scikit-learn hyper-parameter search driven by optuna's TPE sampler."""
import numbers
import time
import warnings

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state, indexable
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_method_params

from ._distributions import SearchSpace
from ._optuna import import_optuna
from ._study import (
    DISCARD_KEY,
    RECORD_KEY,
    Heartbeat,
    count_used,
    derive_seed,
    fail_stale,
    heartbeat_enabled,
    is_result,
    make_record,
    make_storage,
    open_study,
    quiet_optuna,
    record_outs,
)


class _SearchFinished(Exception):
    """Raised by ``_run_search`` to leave ``BaseSearchCV.fit``; see ``TPESearchCV.fit``."""


class _RunState:
    """Per-fit scratch space. Pickles as empty: joblib ships the search object
    (``caller=self``) to the workers, and the study/storage must not travel."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __reduce__(self):
        return (_RunState, ())


def _unify_error_scores(out, return_train_score):
    """Callable multi-metric scoring: rounds where every fit failed only know the
    scalar ``error_score``; give those the metric names of the other trials."""
    keys = ["test_scores"] + (["train_scores"] if return_train_score else [])
    for key in keys:
        names = next((list(o[key]) for o in out if isinstance(o[key], dict)), None)
        if names is not None:
            for o in out:
                if not isinstance(o[key], dict):
                    o[key] = {name: o[key] for name in names}


class TPESearchCV(BaseSearchCV):
    """Hyper-parameter search with optuna's Tree-structured Parzen Estimator (TPE).

    A :class:`~sklearn.model_selection.GridSearchCV` look-alike whose candidates
    are proposed by :class:`optuna.samplers.TPESampler` through optuna's ask/tell
    interface: ``cv_results_``, ``best_params_``, ``best_score_``,
    ``best_estimator_``, ``refit`` (bool, scorer name or callable) and
    multi-metric ``scoring`` mean the same as in GridSearchCV. Candidates are
    asked in rounds of ``n_jobs`` (``joblib.effective_n_jobs``, so under
    ``joblib.parallel_config(backend="dask")`` the cluster size), each round is
    cross-validated in parallel, and the mean test score of the objective metric
    is told back (the study maximizes it).

    Requires optuna (``pip install sklearn-patchdesc[tpe]``).

    Parameters
    ----------
    estimator : estimator object
        Cloned for every candidate and split.
    param_distributions : dict or list of dict
        Parameter name -> distribution, as for
        :class:`~sklearn.model_selection.RandomizedSearchCV`, or a list of such
        dicts (sub-spaces; TPE chooses among them with a categorical parameter).
        Values are mapped to optuna distributions as follows:

        - ``scipy.stats.uniform(loc, scale)`` -> ``FloatDistribution(loc, loc + scale)``
        - ``scipy.stats.loguniform(a, b)`` (``loc=0``) ->
          ``FloatDistribution(a, b, log=True)`` (times ``scale``)
        - ``scipy.stats.randint(low, high)`` -> ``IntDistribution(low, high - 1)``
        - any other frozen scipy.stats distribution with bounded support ->
          ``FloatDistribution`` / ``IntDistribution`` over that support, with a
          ``UserWarning`` (TPE uses only the bounds); unbounded support
          (``norm``, ``expon`` ...) -> ``ValueError``
        - a list, tuple or 1-D array -> ``CategoricalDistribution`` (values that
          optuna cannot store, e.g. tuples or estimators, are stored by index)
        - optuna ``FloatDistribution``, ``IntDistribution``,
          ``CategoricalDistribution`` -> used as is
        - anything else (strings, other objects with ``rvs``) -> ``TypeError``.
    n_trials : int, default=10
        Number of candidates. With a persistent ``storage`` this is the total
        budget of the study (all runs and all workers together), not the number
        of new trials of this call.
    scoring, n_jobs, refit, cv, verbose, pre_dispatch
        As in :class:`~sklearn.model_selection.GridSearchCV`.
    random_state : int, RandomState instance or None, default=None
        Seeds TPE. Each ask and each suggestion uses a seed derived from it and
        from the trial number, so the same seed gives the same sequence of
        candidates, while a resumed study or a second worker does not replay the
        random start-up candidates already tried.
    error_score, return_train_score
        As in :class:`~sklearn.model_selection.GridSearchCV`.
    timeout : float or None, default=None
        Seconds after which no new round of candidates is asked (the running
        round finishes).
    storage : str, optuna storage or None, default=None
        ``None`` keeps the study in memory. An optuna storage URL such as
        ``"sqlite:///search.db"`` or ``"postgresql://user:pw@host/db"`` (or an
        optuna storage object) makes the search resumable and shareable by
        several processes or machines; then ``study_name`` is required.
    study_name : str or None, default=None
        Name of the optuna study (created if missing, loaded otherwise).
    n_startup_trials : int, default=10
        Random candidates TPE draws before it starts modelling (optuna's default).
    objective : str or None, default=None
        Multi-metric scoring only: the scorer name whose mean test score TPE
        maximizes. Defaults to ``refit`` when that is a scorer name; required
        when ``refit`` is False or callable.
    heartbeat_interval : int or None, default=30
        For URL ``storage``: seconds between heartbeats of running trials. A
        trial whose heartbeat stopped for twice this time (its worker died) is
        marked FAIL and its slot is asked again. ``None`` disables this; then
        trials left RUNNING by a dead process block their slots for good.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        As in GridSearchCV, one row per finished trial of the study, ordered by
        trial number (with a persistent storage this includes trials run by
        earlier calls and by other workers).
    best_estimator_, best_score_, best_params_, best_index_, scorer_, n_splits_, \
refit_time_, multimetric_, feature_names_in_
        As in GridSearchCV.
    study_ : optuna.study.Study
        The study, e.g. for ``optuna.visualization``.
    trial_numbers_ : ndarray of int
        optuna trial number of each row of ``cv_results_``.
    trial_numbers_run_ : list of int
        Trials evaluated by this call of ``fit`` (empty when the study was done).

    Notes
    -----
    **Persistence.** Each finished trial stores its per-split test (and train)
    scores, fit and score times, test sizes and fit errors as the optuna user
    attribute ``"sklearn_patchdesc_cv"``; ``cv_results_`` is rebuilt from these
    records, so a search killed mid-way and restarted with the same
    ``storage``, ``study_name`` and search space runs only the missing trials
    and reports all of them. Changing ``param_distributions`` or the number of
    CV splits of a stored study raises ``ValueError``; the data, estimator and
    scorers are not checked, keep them the same.

    **Several workers.** Every process running ``fit`` on the same study asks
    candidates while finished plus running trials are fewer than ``n_trials``.
    Right after ``ask`` a worker counts the finished and running trials that
    have a smaller trial number (optuna numbers trials atomically); if they
    already fill the budget, the new trial is discarded (told FAIL, user
    attribute ``"sklearn_patchdesc_discarded"``). So the budget is never
    exceeded and no two workers evaluate the same slot. When the budget is
    filled by trials still running elsewhere, ``fit`` waits for them (if
    heartbeats are on), so every worker returns with the whole study in
    ``cv_results_``; with heartbeats off it returns at once with the trials
    finished so far.

    **Interruptions.** On an exception (including ``KeyboardInterrupt`` and
    ``error_score="raise"``) the trials of the current round are told FAIL and
    discarded. Trials left RUNNING by a killed process are failed by the
    heartbeat check after the grace period, then asked again.

    **Failed fits.** As in GridSearchCV, failed fits get ``error_score`` and
    appear in ``cv_results_``. When the objective mean is not finite (e.g.
    ``error_score=np.nan``) the trial is told FAIL (TPE ignores it) but it
    keeps its record and counts towards ``n_trials``. ``BaseSearchCV`` raises
    when every fit of one evaluation call fails, which for TPE is one round, not
    the whole search: such a round is recorded with ``error_score`` and NaN fit
    and score times (sklearn does not return them) and a ``FitFailedWarning``;
    only when every fit of every trial failed does ``fit`` raise, as
    GridSearchCV does.

    **How it uses BaseSearchCV.** ``fit`` lets ``BaseSearchCV.fit`` set up
    scoring, CV and the parallel pool and evaluate each round through its
    ``evaluate_candidates``; ``_run_search`` then leaves with an internal
    exception, and ``fit`` builds ``cv_results_`` from the study records and
    selects and refits the best candidate the way ``BaseSearchCV.fit`` does.
    sklearn callbacks (experimental) therefore see the evaluation but not the
    refit.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_patchdesc.model_selection import TPESearchCV
    >>> X, y = make_regression(n_samples=60, n_features=5, noise=1.0, random_state=0)
    >>> search = TPESearchCV(Ridge(), {"alpha": loguniform(1e-3, 1e2)},
    ...                      n_trials=5, cv=3, random_state=0).fit(X, y)
    >>> len(search.cv_results_["params"])
    5
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_distributions": [dict, list],
        "n_trials": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "timeout": [Interval(numbers.Real, 0, None, closed="left"), None],
        "storage": "no_validation",
        "study_name": [str, None],
        "n_startup_trials": [Interval(numbers.Integral, 0, None, closed="left")],
        "objective": [str, None],
        "heartbeat_interval": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_trials=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        timeout=None,
        storage=None,
        study_name=None,
        n_startup_trials=10,
        objective=None,
        heartbeat_interval=30,
    ):
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.random_state = random_state
        self.timeout = timeout
        self.storage = storage
        self.study_name = study_name
        self.n_startup_trials = n_startup_trials
        self.objective = objective
        self.heartbeat_interval = heartbeat_interval

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, **params):
        """Run the TPE search, then refit the best candidate (see ``refit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training data.
        y : array-like of shape (n_samples, ...), default=None
            Target; ``None`` for unsupervised estimators.
        **params : dict
            Passed to the estimator's ``fit``, the scorers and the CV splitter
            (``groups``) exactly as in GridSearchCV.

        Returns
        -------
        self : TPESearchCV
            The fitted search.
        """
        self._validate_params()
        optuna = import_optuna()
        space = SearchSpace(self.param_distributions)
        if self.storage is not None and self.study_name is None:
            raise ValueError(
                "study_name is required with a storage: it names the study to resume."
            )
        objective = self._known_objective()
        storage = make_storage(optuna, self.storage, self.heartbeat_interval)
        with quiet_optuna(optuna):
            study = open_study(optuna, storage, self.study_name, space.fingerprint())
        seed = None
        if self.random_state is not None:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.__dict__.pop("study_", None)  # do not ship an old study to the workers
        self._run = _RunState(
            optuna=optuna, space=space, storage=storage, study=study, objective=objective,
            seed=seed, start=time.monotonic(), collecting=True, out=[], new=[],
            X=X, y=y, fit_params=params,
        )
        try:
            try:
                super().fit(X, y, **params)
            except _SearchFinished:
                pass
            self._run.collecting = False
            self._finalize(X, y, params, self._run)
        finally:
            del self._run
        return self

    def _known_objective(self):
        """Objective scorer name when known before fitting (None: single metric)."""
        if isinstance(self.scoring, (list, tuple, set, dict)):
            names = list(self.scoring)
            key = self.objective
            if key is None and isinstance(self.refit, str):
                key = self.refit
            if key is None:
                raise ValueError(
                    "With multi-metric scoring TPE needs one metric to maximize: set "
                    "refit to a scorer name or objective=<scorer name>."
                )
            if key not in names:
                raise ValueError(f"objective {key!r} is not one of the scorers {names}.")
            return key
        if not callable(self.scoring) and self.objective not in (None, "score"):
            raise ValueError("objective only applies to multi-metric scoring.")
        return self.objective

    # ------------------------------------------------------------ the search
    def _run_search(self, evaluate_candidates):
        run = self._run
        optuna, study = run.optuna, run.study
        heartbeat = heartbeat_enabled(run.storage)
        poll = min(1.0, (self.heartbeat_interval or 2) / 2)
        batch_size = max(1, effective_n_jobs(self.n_jobs))
        with quiet_optuna(optuna):
            self._check_stored_splits(study)
            while True:
                if heartbeat:
                    fail_stale(optuna, study)
                trials = study.get_trials(deepcopy=False)
                if sum(map(is_result, trials)) >= self.n_trials or self._timed_out(run):
                    break
                free = self.n_trials - count_used(trials)
                if free <= 0:  # the rest of the budget is running elsewhere
                    if not heartbeat:
                        break
                    time.sleep(poll)
                    continue
                batch = self._ask(run, min(batch_size, free), len(trials))
                if batch:
                    self._evaluate(run, batch, evaluate_candidates)
        raise _SearchFinished

    def _timed_out(self, run):
        return self.timeout is not None and time.monotonic() - run.start >= self.timeout

    def _check_stored_splits(self, study):
        for trial in study.get_trials(deepcopy=False):
            if is_result(trial) and len(trial.user_attrs[RECORD_KEY]["test_scores"]) != (
                self.n_splits_
            ):
                raise ValueError(
                    f"Study {study.study_name!r} holds trials cross-validated with "
                    f"{len(trial.user_attrs[RECORD_KEY]['test_scores'])} splits, but cv "
                    f"gives {self.n_splits_}; use the same cv or a new study_name."
                )

    def _sampler(self, run, step, key):
        return run.optuna.samplers.TPESampler(
            seed=derive_seed(run.seed, step, key), n_startup_trials=self.n_startup_trials
        )

    def _ask(self, run, n_wanted, n_known):
        """Ask up to ``n_wanted`` trials; keep those inside the budget."""
        study, fail = run.study, run.optuna.trial.TrialState.FAIL
        batch = []
        for i in range(n_wanted):
            study.sampler = self._sampler(run, 0, n_known + i)
            trial = study.ask()
            if heartbeat_enabled(run.storage):
                Heartbeat(run.storage, [trial._trial_id]).beat()
            if count_used(study.get_trials(deepcopy=False), below=trial.number) >= self.n_trials:
                trial.set_user_attr(DISCARD_KEY, "over budget")
                study.tell(trial, state=fail)
                break
            study.sampler = self._sampler(run, 1, trial.number)
            try:
                params = run.space.suggest(trial)
            except BaseException:
                study.tell(trial, state=fail)
                raise
            batch.append((trial, params))
        return batch

    def _evaluate(self, run, batch, evaluate_candidates):
        """Cross-validate one round, store the per-split records, tell the scores."""
        study, fail = run.study, run.optuna.trial.TrialState.FAIL
        trials = [trial for trial, _ in batch]
        n = self.n_splits_
        try:
            with Heartbeat(run.storage, [t._trial_id for t in trials]):
                try:
                    evaluate_candidates([params for _, params in batch])
                    outs = run.out[-len(batch) * n:]
                except ValueError as exc:
                    # BaseSearchCV raises when every fit of *one call* failed; in
                    # GridSearchCV that means the whole search, here one round.
                    if self.error_score == "raise" or not str(exc).lstrip().startswith(
                        "All the"
                    ):
                        raise
                    outs = self._all_failed_outs(run, len(batch), str(exc))
            records = [make_record(outs[i * n:(i + 1) * n]) for i in range(len(batch))]
            values = [self._objective_value(run, record) for record in records]
        except BaseException:
            for trial in trials:
                study.tell(trial, state=fail, skip_if_finished=True)
            raise
        for trial, record, value in zip(trials, records, values):
            trial.set_user_attr(RECORD_KEY, record)
            if np.isfinite(value):
                study.tell(trial, value)
            else:
                study.tell(trial, state=fail)
            run.new.append(trial.number)

    def _check_some_score_finite(self, results, refit_metric, n_trials, X, y, params):
        """ValueError when no trial has a finite mean test score.

        Fits that succeed but score NaN on some split (the scorer failed and
        ``error_score=np.nan`` stood in) leave every mean NaN; GridSearchCV
        then picks the first candidate as "best" with only warnings to show.
        Here the search fails instead, naming the test folds that hold a single
        group (sequence), the usual cause with the HPatches scorers.
        """
        key = f"mean_test_{refit_metric}" if isinstance(refit_metric, str) else "mean_test_score"
        if key not in results or np.isfinite(np.asarray(results[key], dtype=float)).any():
            return
        hint = ""
        single = self._single_group_test_folds(X, y, params)
        if single:
            hint = (f" Test fold(s) {', '.join(str(i) for i, _ in single)} of cv hold a single "
                    f"sequence or group ({', '.join(str(g) for _, g in single[:3])}): the "
                    "HPatches scorers refuse such a fold (retrieval has no distractors, so any "
                    "descriptor would score 1.0). Use a cv whose every test fold holds at "
                    "least two sequences (e.g. fewer GroupKFold splits, or HPatchesSplit).")
        raise ValueError(
            f"Every one of the {n_trials} trials scored NaN ({key.replace('mean_test_', '')} "
            "on at least one split): the fits ran but the scorer failed, so there is no best "
            "candidate. The 'Scoring failed' warnings give the scorer's error; "
            f"error_score='raise' stops at the first one.{hint}")

    def _single_group_test_folds(self, X, y, params):
        """``[(fold index, group)]`` of the cv's test folds that hold one group.

        The group of a row is its ``groups`` entry, else ``y["sequence"]`` for
        the loaders' record target; ``[]`` when neither is known.
        """
        routed = self._get_routed_params_for_fit(params).splitter.split
        groups = routed.get("groups")
        if groups is None and getattr(getattr(y, "dtype", None), "names", None) \
                and "sequence" in y.dtype.names:
            groups = y["sequence"]
        if groups is None:
            return []
        groups = np.asarray(groups)
        out = []
        for i, (_, test) in enumerate(self._checked_cv_orig.split(X, y, **routed)):
            uniq = np.unique(groups[test])
            if len(uniq) == 1:
                out.append((i, uniq[0]))
        return out

    def _all_failed_outs(self, run, n_candidates, message):
        """Outputs for a round whose fits all failed (sklearn discarded them).

        Scores are ``error_score``, fit and score times are NaN (not recorded by
        sklearn in that case), test sizes come from the CV splits.
        """
        warnings.warn(message.strip(), FitFailedWarning)
        X, y = indexable(run.X, run.y)
        params = _check_method_params(X, params=run.fit_params)
        groups = self._get_routed_params_for_fit(params).splitter.split
        sizes = [len(test) for _, test in self._checked_cv_orig.split(X, y, **groups)]
        score = self.error_score
        if isinstance(self.scoring, (list, tuple, set, dict)):
            score = {name: self.error_score for name in self._get_scorers()[0]._scorers}
        out = []
        for _ in range(n_candidates):
            for size in sizes:
                split = {"fit_error": message.strip(), "test_scores": score,
                         "n_test_samples": size, "fit_time": np.nan, "score_time": np.nan}
                if self.return_train_score:
                    split["train_scores"] = score
                out.append(split)
        return out

    def _objective_value(self, run, record):
        scores = record["test_scores"]
        if isinstance(scores[0], dict):
            key = run.objective
            if key is None and isinstance(self.refit, str):
                key = self.refit
            if key is None or key not in scores[0]:
                raise ValueError(
                    "The scorer returned several metrics; set refit to one of "
                    f"{sorted(scores[0])} or objective=<name> so TPE knows what to maximize."
                )
            scores = [s[key] for s in scores]
        return float(np.mean(scores))

    def _format_results(self, candidate_params, n_splits, out, more_results=None):
        run = getattr(self, "_run", None)
        if run is not None and getattr(run, "collecting", False):
            run.out = out  # evaluate_candidates' list of all _fit_and_score outputs
            return {}
        return super()._format_results(candidate_params, n_splits, out, more_results)

    # -------------------------------------------------------------- results
    def _finalize(self, X, y, params, run):
        """Build cv_results_ from the study and select/refit as BaseSearchCV.fit does."""
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed_params = self._get_routed_params_for_fit(params)
        with quiet_optuna(run.optuna):
            trials = sorted(
                (t for t in run.study.get_trials(deepcopy=False) if is_result(t)),
                key=lambda t: t.number,
            )
        if not trials:
            raise ValueError(
                "No trial finished (timeout too short, or every trial was interrupted)."
            )
        candidate_params = [run.space.decode(t.params) for t in trials]
        out = [
            o for t in trials for o in record_outs(t.user_attrs[RECORD_KEY], self.return_train_score)
        ]
        _unify_error_scores(out, self.return_train_score)
        if all(o["fit_error"] is not None for o in out):
            raise ValueError(
                f"All the {len(out)} fits of the {len(trials)} trials failed; see the "
                "FitFailedWarning messages. It is very likely that your model is "
                "misconfigured. You can try to debug the error by setting "
                "error_score='raise'."
            )
        first_test_score = out[0]["test_scores"]
        self.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit
        results = self._format_results(candidate_params, self.n_splits_, out)
        self._check_some_score_finite(results, refit_metric, len(trials), X, y, params)

        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(
                **clone(self.best_params_, safe=False)
            )
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed_params.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed_params.estimator.fit)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_

        self.scorer_ = scorers._scorers if isinstance(scorers, _MultimetricScorer) else scorers
        self.cv_results_ = results
        self.study_ = run.study
        self.trial_numbers_ = np.array([t.number for t in trials])
        self.trial_numbers_run_ = sorted(run.new)
