"""HPatchesSplit yields the official train/test sequence splits."""
import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score

from sklearn_patchdesc.model_selection import HPatchesSplit


@pytest.fixture(scope="module")
def splits_file(shared_data):
    path = shared_data / "hpatches-benchmark-tasks" / "splits.json"  # read in place
    if not path.is_file():
        pytest.fail(f"official splits.json not found at {path}")
    return path


@pytest.fixture(scope="module")
def official(splits_file):
    return json.loads(splits_file.read_text())  # only to state expectations


def _data(names, per_sequence=3):
    """A record-array target with ``per_sequence`` patches of each sequence."""
    seq = np.repeat(np.array(names), per_sequence)
    y = np.zeros(len(seq), dtype=[("label", "i8"), ("sequence", "U32"), ("image", "i1")])
    y["label"] = np.arange(len(seq))
    y["sequence"] = seq
    return np.zeros((len(seq), 4)), y


def _mixed_names(official):
    # a few sequences from every split's train and test lists
    names = []
    for split in "abc":
        names += official[split]["train"][:4] + official[split]["test"][:3]
    return sorted(set(names))


def test_folds_are_the_official_splits(splits_file, official):
    X, y = _data(_mixed_names(official))
    cv = HPatchesSplit(splits_file=splits_file)
    assert cv.get_n_splits() == 3
    folds = list(cv.split(X, y))
    assert len(folds) == 3
    for split, (train, test) in zip("abc", folds):
        assert set(y["sequence"][train]) <= set(official[split]["train"])
        assert set(y["sequence"][test]) <= set(official[split]["test"])
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == len(y)  # every sequence is in a, b and c
        expected_test = np.flatnonzero(np.isin(y["sequence"], official[split]["test"]))
        np.testing.assert_array_equal(test, expected_test)
    # groups give the same folds as y["sequence"], and splitting is deterministic
    for (tr1, te1), (tr2, te2) in zip(folds, cv.split(X, None, groups=y["sequence"])):
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_array_equal(te1, te2)


def test_selected_splits_and_clone(splits_file, official):
    X, y = _data(_mixed_names(official))
    cv = HPatchesSplit(splits="b", splits_file=splits_file)
    assert cv.get_n_splits() == 1
    ((train, test),) = cv.split(X, y)
    assert set(y["sequence"][test]) <= set(official["b"]["test"])
    assert repr(cv).startswith("HPatchesSplit(") and "splits='b'" in repr(cv)


def test_unknown_sequences(splits_file, official):
    names = _mixed_names(official) + ["v_mine", "i_mine"]
    X, y = _data(names)
    with pytest.raises(ValueError, match=r"2 sequence\(s\) are not in split 'a'.*i_mine"):
        list(HPatchesSplit(splits_file=splits_file).split(X, y))
    mine = np.isin(y["sequence"], ["v_mine", "i_mine"])
    for train, test in HPatchesSplit(splits_file=splits_file, unknown="train").split(X, y):
        assert mine[train].sum() == mine.sum() and not mine[test].any()
    for train, test in HPatchesSplit(splits_file=splits_file, unknown="drop").split(X, y):
        assert not mine[train].any() and not mine[test].any()
        assert train.size + test.size == (~mine).sum()
    with pytest.raises(ValueError, match="unknown must be one of"):
        list(HPatchesSplit(splits_file=splits_file, unknown="test").split(X, y))


def test_errors(splits_file, official):
    X, y = _data(_mixed_names(official))
    with pytest.raises(ValueError, match="No split 'z'"):
        list(HPatchesSplit(splits=("a", "z"), splits_file=splits_file).split(X, y))
    with pytest.raises(ValueError, match="test-only"):
        list(HPatchesSplit(splits="full", splits_file=splits_file).split(X, y))
    with pytest.raises(ValueError, match="sequence name of every patch"):
        list(HPatchesSplit(splits_file=splits_file).split(X, y["label"]))
    with pytest.raises(ValueError, match="one entry per sample"):
        list(HPatchesSplit(splits_file=splits_file).split(X, None, groups=y["sequence"][:-1]))
    X_train_only, y_train_only = _data(official["a"]["train"][:3])
    with pytest.raises(ValueError, match="no test patch"):
        list(HPatchesSplit(splits="a", splits_file=splits_file).split(X_train_only, y_train_only))
    with pytest.raises(FileNotFoundError):
        list(HPatchesSplit(splits_file=splits_file.parent / "missing.json").split(X, y))


def test_drives_sklearn_model_selection(splits_file, official):
    X, y = _data(_mixed_names(official), per_sequence=4)
    rng = np.random.RandomState(0)
    X = rng.normal(size=X.shape)
    target = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=len(X))
    cv = HPatchesSplit(splits_file=splits_file)
    scores = cross_val_score(Ridge(), X, target, groups=y["sequence"], cv=cv)
    assert scores.shape == (3,) and np.all(scores > 0.9)
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=cv).fit(
        X, target, groups=y["sequence"])
    assert search.n_splits_ == 3 and "split2_test_score" in search.cv_results_
