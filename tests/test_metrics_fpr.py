"""FPR at 95 % recall (PhotoTour protocol) against a direct sort + threshold reference."""
import time

import numpy as np
import pytest
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV

from sklearn_patchdesc.describe import RawPatchDescriptor
from sklearn_patchdesc.metrics import fpr_at_recall, phototour_fpr95


def reference_fpr(d, is_match, recall=0.95):
    """Scan every distinct threshold in increasing order; the first whose recall reaches
    ``recall`` gives the answer (pairs at distance <= threshold are declared matches)."""
    d, is_match = np.asarray(d, float), np.asarray(is_match, bool)
    n_pos, n_neg = is_match.sum(), (~is_match).sum()
    for t in np.unique(d):
        accepted = d <= t
        if (accepted & is_match).sum() >= recall * n_pos:
            return (accepted & ~is_match).sum() / n_neg
    raise AssertionError("recall never reached")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("recall", [0.95, 0.5, 1.0])
def test_matches_reference(seed, tied, recall):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(20, 400))
    is_match = rng.random(m) < 0.4
    d = rng.normal(size=m) + 1.0 * ~is_match
    if tied:  # few distinct values: many ties, also across matches and non-matches
        d = np.round(d * 2) / 2
    got = fpr_at_recall(d, is_match, recall=recall)
    assert abs(got - reference_fpr(d, is_match, recall)) <= 1e-9
    # similarities: the same ranking reversed
    assert abs(fpr_at_recall(-d, is_match, recall=recall, higher_is_closer=True) - got) <= 1e-9
    # the order of tied pairs does not matter
    p = rng.permutation(m)
    assert fpr_at_recall(d[p], is_match[p], recall=recall) == got


def test_known_values():
    # matches at 1, 2, 3, ..., 20; the 19th (95 % of 20) is at 19
    d = np.r_[np.arange(1, 21), [0.5, 18.5, 19, 25]]
    y = np.r_[np.ones(20, bool), np.zeros(4, bool)]
    assert fpr_at_recall(d, y) == 0.75          # 0.5, 18.5 and the tie at 19 are accepted
    assert fpr_at_recall(d, y, recall=0.05) == 0.25


def test_100k_pairs_under_a_second():
    rng = np.random.default_rng(0)
    is_match = rng.random(100_000) < 0.5
    d = rng.random(100_000) + 0.3 * ~is_match
    t0 = time.perf_counter()
    fpr_at_recall(d, is_match)
    assert time.perf_counter() - t0 < 1.0
    D = rng.normal(size=(20_000, 128)).astype(np.float32)
    pairs = rng.integers(0, 20_000, (100_000, 2))
    t0 = time.perf_counter()
    phototour_fpr95(D, pairs, is_match)
    assert time.perf_counter() - t0 < 1.0


def test_phototour_fpr95_on_pairs():
    rng = np.random.default_rng(1)
    D = rng.normal(size=(50, 8))
    pairs = rng.integers(0, 50, (300, 2))
    is_match = rng.random(300) < 0.5
    d = np.linalg.norm(D[pairs[:, 0]] - D[pairs[:, 1]], axis=1)
    expected = reference_fpr(d, is_match)
    assert abs(phototour_fpr95(D, pairs, is_match) - expected) <= 1e-9
    # torchvision's (m, 3) matches layout
    assert phototour_fpr95(D, np.c_[pairs, is_match]) == phototour_fpr95(D, pairs, is_match)
    d1 = np.abs(D[pairs[:, 0]] - D[pairs[:, 1]]).sum(axis=1)
    assert abs(phototour_fpr95(D, pairs, is_match, distance="l1")
               - reference_fpr(d1, is_match)) <= 1e-9


def test_bad_input():
    with pytest.raises(ValueError, match="NaN at 1 pair.*pair 2"):
        fpr_at_recall([0.1, 0.2, np.nan], [True, False, True])
    with pytest.raises(ValueError, match="1 matching and 0 non-matching"):
        fpr_at_recall([0.1], [True])
    with pytest.raises(ValueError, match=r"recall must be in \(0, 1\]"):
        fpr_at_recall([0.1, 0.2], [True, False], recall=0)
    with pytest.raises(ValueError, match="one entry per pair"):
        fpr_at_recall([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="pair 1 names patches 0 and 5, but there are 3"):
        phototour_fpr95(np.eye(3), [[0, 1], [0, 5]], [True, False])
    with pytest.raises(ValueError, match="is_match is required"):
        phototour_fpr95(np.eye(3), [[0, 1]])
    D = np.eye(3)
    D[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2 \\(patch 2\\)"):
        phototour_fpr95(D, [[0, 1], [1, 2]], [True, False])


def _patches(n_points=30, per_point=4, seed=0, noise=20):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n_points, 16, 16))
    X = np.repeat(base, per_point, axis=0) + rng.normal(0, noise, (n_points * per_point, 16, 16))
    return np.clip(X, 0, 255).astype(np.uint8), np.repeat(np.arange(n_points), per_point)


def test_scorer_is_sign_correct_for_search():
    X, y = _patches()
    scorer = get_scorer("phototour_fpr95")
    good = scorer(RawPatchDescriptor().fit(X, y), X, y)
    assert -1.0 <= good <= 0.0
    Xn, _ = _patches(noise=200)  # much noisier patches: a worse FPR95 -> lower score
    assert scorer(RawPatchDescriptor().fit(Xn, y), Xn, y) < good
    # a search maximises the score: the lower FPR (resizing to 4x4 loses the detail) wins
    search = GridSearchCV(RawPatchDescriptor(), {"size": [None, 2]}, scoring="phototour_fpr95",
                          cv=[(np.arange(60), np.arange(60, 120))]).fit(X, y)
    fprs = -search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"size": [None, 2][int(np.argmin(fprs))]}
    assert fprs.min() < fprs.max()
