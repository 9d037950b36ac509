"""Exact distances and ties; the model-selection rule for degenerate descriptors."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GroupKFold, cross_val_score
from test_metrics import make_set

from sklearn_patchdesc.metrics import (UninformativeTaskError, hpatches_evaluate,
                                       hpatches_matching,
                                       hpatches_mean_scorer, hpatches_retrieval,
                                       hpatches_retrieval_scorer)
from sklearn_patchdesc.metrics._distances import (nearest_neighbours, paired_distances,
                                                  unit_scale)


class Fixed(BaseEstimator, TransformerMixin):
    """Returns given descriptors (row-aligned with X = row numbers)."""

    def __init__(self, D=None):
        self.D = D

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return self.D[np.asarray(X).ravel().astype(int)]


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_paired_distances_are_bit_identical_to_cdist(distance):
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((300, 128)) * 3.7).astype(np.float32)
    B = rng.standard_normal((300, 128)).astype(np.float32)
    want = cdist(A, B, "euclidean" if distance == "l2" else "cityblock")
    i, j = np.divmod(np.arange(300 * 300), 300)
    got = paired_distances(A[i], B[j], distance).reshape(300, 300)
    assert np.array_equal(got, want)


def test_nearest_neighbour_ties_go_to_the_first_column_or_against_the_match():
    # levels k/3 in float32: tied distances that the float32 product form splits
    rng = np.random.default_rng(1)
    A = (rng.integers(-2, 3, (400, 16)) / np.float32(3)).astype(np.float32)
    B = (rng.integers(-2, 3, (300, 16)) / np.float32(3)).astype(np.float32)
    D = cdist(A, B)
    nn, dist = nearest_neighbours(A, B, "l2")
    assert np.array_equal(nn, D.argmin(axis=1))  # argmin = first of the exact minima
    assert np.array_equal(dist, D[np.arange(len(A)), nn])
    tied = (D == D.min(axis=1, keepdims=True)).sum(axis=1) > 1
    assert tied.sum() > 20  # the case is really full of ties
    keys_a = D.argmin(axis=1)  # call the first minimum "correct": ties must avoid it
    nn_p, _ = nearest_neighbours(A, B, "l2", against=(keys_a, np.arange(len(B))))
    assert np.array_equal(nn_p != keys_a, tied)


def test_constant_descriptors_are_refused_under_official_ties():
    X, t, _ = make_set(n_seq=4, n_p=20)
    for C in (np.ones_like(X), np.zeros_like(X)):
        for fn in (hpatches_evaluate, hpatches_retrieval, hpatches_matching):
            # the official tie rule would list every positive first: retrieval 1.0
            with pytest.raises(UninformativeTaskError, match="identical.*pessimistic"):
                fn(C, t)
    C = np.ones_like(X)
    pess = hpatches_evaluate(C, t, ties="pessimistic")
    rand = hpatches_evaluate(np.random.default_rng(0).normal(size=X.shape), t)
    assert pess.retrieval <= rand.retrieval + 0.02 and pess.matching == 0.0
    good = hpatches_evaluate(X, t, ties="pessimistic")
    assert good.mean > rand.mean + 0.3
    # without ties both rules agree
    assert good.scores == hpatches_evaluate(X, t).scores
    with pytest.raises(ValueError, match="ties"):
        hpatches_matching(X, t, ties="random")


def test_labels_of_one_point_are_refused():
    X, t, _ = make_set(n_seq=3, n_p=10)
    with pytest.raises(UninformativeTaskError, match="single point label"):
        hpatches_evaluate(X, np.zeros(len(X), int))
    with pytest.raises(UninformativeTaskError, match="single point label"):
        hpatches_retrieval_scorer(Fixed(X), np.arange(len(X))[:, None], np.full(len(X), 7))
    assert hpatches_evaluate(X, t["label"]).mean > 0.5  # two or more labels: scored


def test_scorers_do_not_pick_collapsed_descriptors():
    X, t, _ = make_set(n_seq=4, n_p=20)
    rows = np.arange(len(X))[:, None]
    groups = t["sequence"]
    cv = GroupKFold(2)
    good = cross_val_score(Fixed(X), rows, t, groups=groups, cv=cv, scoring="hpatches_retrieval")
    const = cross_val_score(Fixed(np.ones_like(X)), rows, t, groups=groups, cv=cv,
                            scoring="hpatches_retrieval")
    assert const.max() < 0.3 < good.min()
    assert hpatches_mean_scorer(Fixed(np.ones_like(X)), rows, t) < 0.1


def test_scorers_refuse_retrieval_without_distractors():
    X, t, _ = make_set(n_seq=3, n_p=20)
    one = t["sequence"] == t["sequence"][0]
    R = np.random.default_rng(0).normal(size=X.shape)[one]
    rows = np.arange(one.sum())[:, None]
    for fn in (hpatches_retrieval, hpatches_evaluate):  # the same rule as the scorers
        with pytest.raises(UninformativeTaskError, match="no distractor"):
            fn(R, t[one])
    # the other tasks of one sequence are scored
    assert hpatches_evaluate(R, t[one], tasks=("verification", "matching")).matching < 0.5
    for scorer in (hpatches_retrieval_scorer, hpatches_mean_scorer):
        with pytest.raises(ValueError, match="no distractor"):
            scorer(Fixed(R), rows, t[one])
    with pytest.warns(UserWarning, match="no distractor"):
        s = cross_val_score(Fixed(R), rows, t[one], cv=2, scoring="hpatches_retrieval")
    assert np.isnan(s).all()


def test_masked_l1_is_l1_of_values_times_masks():
    X, t, _ = make_set(n_seq=3, n_p=15)
    M = (np.random.default_rng(0).random(X.shape) > 0.3).astype(X.dtype)
    rep = hpatches_evaluate(np.hstack([X, M]), t, distance="masked_l1")
    assert rep.distance == "masked_l1"
    assert rep.scores == hpatches_evaluate(X * M, t, distance="l1").scores
    with pytest.raises(ValueError, match="even number"):
        hpatches_evaluate(X[:, :7], t, distance="masked_l1")


@pytest.mark.parametrize("scale, dtype", [(1e200, np.float64), (1e-200, np.float64),
                                          (1e300, np.float64), (1e-300, np.float64),
                                          (1e30, np.float32), (1e-30, np.float32),
                                          (2.0 ** 40, np.float32)])
@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_scores_do_not_depend_on_the_descriptor_scale(scale, dtype, distance):
    X, t, _ = make_set(n_seq=3, n_p=12)
    X = X.astype(dtype)
    want = hpatches_evaluate(X, t, distance=distance).scores
    assert hpatches_evaluate((X * scale).astype(dtype), t, distance=distance).scores == want


def test_unit_scale_is_exact_and_leaves_ordinary_sets_alone():
    X = np.random.default_rng(0).normal(size=(50, 8))
    assert unit_scale(X) is X and unit_scale(X * 1e5)[0, 0] == X[0, 0] * 1e5
    big = X * 2.0 ** 300
    Y = unit_scale(big)
    assert 0.5 <= np.abs(Y).max() < 1
    # one exact power of two for every element
    ratio = Y / big
    assert np.all(ratio == ratio[0, 0]) and np.frexp(ratio[0, 0])[0] == 0.5
