"""Mapping of RandomizedSearchCV-style distributions to optuna distributions."""
import numpy as np
import pytest
from scipy import stats

optuna = pytest.importorskip("optuna")
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sklearn_patchdesc.model_selection._distributions import SearchSpace  # noqa: E402


def _dist(value):
    (param,) = SearchSpace({"p": value}).subspaces[0]
    return param


@pytest.mark.parametrize(
    "value, expected",
    [
        (stats.uniform(1, 2), FloatDistribution(1.0, 3.0)),
        (stats.uniform(loc=-1, scale=0.5), FloatDistribution(-1.0, -0.5)),
        (stats.loguniform(1e-3, 10), FloatDistribution(1e-3, 10.0, log=True)),
        (stats.loguniform(1e-3, 10, scale=2), FloatDistribution(2e-3, 20.0, log=True)),
        (stats.reciprocal(0.1, 1), FloatDistribution(0.1, 1.0, log=True)),
        (stats.randint(1, 5), IntDistribution(1, 4)),
        (stats.randint(0, 3, loc=10), IntDistribution(10, 12)),
        ([1, "a", None, True], CategoricalDistribution([1, "a", None, True])),
        (np.array([1, 2, 3]), CategoricalDistribution([1, 2, 3])),
        (FloatDistribution(0.1, 1.0, log=True), FloatDistribution(0.1, 1.0, log=True)),
        (IntDistribution(2, 8, step=2), IntDistribution(2, 8, step=2)),
    ],
)
def test_supported_mappings(value, expected):
    param = _dist(value)
    assert param.distribution == expected and param.choices is None


def test_numpy_choices_become_python_scalars():
    (choice,) = _dist(np.array([np.int64(3)])).distribution.choices
    assert type(choice) is int


@pytest.mark.parametrize(
    "value, expected",
    [
        (stats.beta(2, 3), FloatDistribution(0.0, 1.0)),
        (stats.triang(0.5, loc=1, scale=4), FloatDistribution(1.0, 5.0)),
        (stats.binom(6, 0.3), IntDistribution(0, 6)),
    ],
)
def test_other_bounded_distributions_keep_their_support_and_warn(value, expected):
    with pytest.warns(UserWarning, match="keeps only the support"):
        assert _dist(value).distribution == expected


@pytest.mark.parametrize(
    "value, error, match",
    [
        (stats.norm(), ValueError, "unbounded support"),
        (stats.expon(), ValueError, "unbounded support"),
        (stats.poisson(3), ValueError, "unbounded support"),
        (stats.loguniform(1, 10, loc=1), ValueError, "shifted loguniform"),
        (type("R", (), {"rvs": lambda self: 1})(), TypeError, "not a frozen"),
        ("abc", TypeError, "expected a list"),
        (5, TypeError, "expected a list"),
        ([], ValueError, "empty"),
    ],
)
def test_unsupported_values(value, error, match):
    with pytest.raises(error, match=match):
        _dist(value)


def test_indexed_choices_round_trip():
    tuples = [(3,), (4, 2)]
    param = _dist(tuples)
    assert param.distribution == CategoricalDistribution([0, 1])
    assert param.decode(1) == (4, 2)


def test_subspaces_suggest_and_decode_agree():
    space = SearchSpace([{"a": [1, 2]}, {"a": stats.uniform(0, 1), "b": [(1,), (2,)]}])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        params = space.suggest(trial)
        assert space.decode(trial.params) == params
        study.tell(trial, 0.0)
    assert {len(space.decode(t.params)) for t in study.trials} == {1, 2}
    with pytest.raises(ValueError, match="do not fit"):
        space.decode({"x": 1})


def test_fingerprint_tells_spaces_apart():
    a = SearchSpace({"a": stats.uniform(0, 1)}).fingerprint()
    assert a == SearchSpace({"a": stats.uniform(0, 1)}).fingerprint()
    assert a != SearchSpace({"a": stats.uniform(0, 2)}).fingerprint()
    assert a != SearchSpace({"a": stats.loguniform(1e-3, 1)}).fingerprint()
