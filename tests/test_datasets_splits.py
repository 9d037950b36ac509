"""Official splits.json and retrieval task files; split-based loading."""
import csv
import shutil

import numpy as np
import pytest

from sklearn_patchdesc.datasets import load_hpatches, load_hpatches_splits, write_hpatches
from sklearn_patchdesc.datasets._common import make_target
from sklearn_patchdesc.datasets._splits import split_sequences


@pytest.fixture(scope="module")
def tasks(shared_data):
    return shared_data / "hpatches-benchmark-tasks"


def test_official_splits_parse(tasks):
    splits = load_hpatches_splits(tasks / "splits.json")
    assert sorted(splits) == ["a", "b", "c", "full", "illum", "view"]
    full = set(splits["full"]["test"])
    assert len(full) == 116 and splits["full"]["train"] == []
    for name in "abc":
        train, test = set(splits[name]["train"]), set(splits[name]["test"])
        assert (len(train), len(test)) == (76, 40)
        assert not train & test and train | test == full
    assert len(splits["illum"]["test"]) == 57
    assert all(s.startswith("i_") for s in splits["illum"]["test"])
    assert len(splits["view"]["test"]) == 59
    assert all(s.startswith("v_") for s in splits["view"]["test"])
    assert set(splits["illum"]["test"]) | set(splits["view"]["test"]) == full
    # the three a/b/c test sets are different
    assert len({tuple(sorted(splits[n]["test"])) for n in "abc"}) == 3


@pytest.mark.parametrize("split", ["a", "b", "c", "full", "illum", "view"])
def test_retrieval_task_files_parse(tasks, split):
    splits = load_hpatches_splits(tasks / "splits.json")
    test = set(splits[split]["test"])
    for kind, n_rows in (("queries", 10000), ("distractors", 20000)):
        with open(tasks / f"retr_{kind}_split-{split}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == n_rows
        assert set(rows[0]) == {"s", "idx"}
        assert {r["s"] for r in rows} <= test
        idx = np.array([int(r["idx"]) for r in rows])
        assert idx.min() >= 0 and idx.max() < 5000


def test_missing_splits_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SKPD_SPLITS", raising=False)
    monkeypatch.delenv("SKLEARN_PATCHDESC_SPLITS", raising=False)
    with pytest.raises(FileNotFoundError, match="hpatches-benchmark.*tasks/splits.json"):
        load_hpatches_splits(root=tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_hpatches_splits(tmp_path / "nope.json")


def test_bad_splits_file(tmp_path):
    (tmp_path / "splits.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot parse"):
        load_hpatches_splits(tmp_path / "splits.json")
    (tmp_path / "splits.json").write_text('{"a": {"train": ["x"]}}')
    with pytest.raises(ValueError, match="no 'test' list"):
        load_hpatches_splits(tmp_path / "splits.json")


def test_split_sequences_errors(tasks):
    splits = load_hpatches_splits(tasks / "splits.json")
    with pytest.raises(ValueError, match="unknown split 'd'"):
        split_sequences(splits, "d", "test")
    with pytest.raises(ValueError, match="test-only"):
        split_sequences(splits, "view", "train")
    with pytest.raises(ValueError, match="subset"):
        split_sequences(splits, "a", "val")
    assert len(split_sequences(splits, "a", "all")) == 116


def _tiny_set(tmp_path, names):
    target = make_target(names, [2] * len(names), ["ref", "e1"])
    data = np.arange(len(target) * 16, dtype=np.uint8).reshape(-1, 4, 4)
    write_hpatches({"data": data, "target": target}, tmp_path)


def test_load_by_split_found_next_to_root(tmp_path, tasks):
    splits = load_hpatches_splits(tasks / "splits.json")
    root = tmp_path / "hpatches-release"
    _tiny_set(root, splits["full"]["test"])
    shutil.copy(tasks / "splits.json", tmp_path / "splits.json")  # beside the root
    out = load_hpatches(root, split="a", subset="train", images=["ref", "e1"],
                        patch_size=None, cache=False)
    assert out.sequence_names == sorted(splits["a"]["train"])
    assert len(out.data) == 76 * 2 * 2
    assert set(out.target["sequence"]) == set(splits["a"]["train"])
    with pytest.raises(ValueError, match="unknown split"):
        load_hpatches(root, split="z", images=["ref"], cache=False)


def test_split_sequences_missing_on_disk(tmp_path, tasks):
    _tiny_set(tmp_path, ["i_ajuntament", "v_courses"])
    with pytest.raises(FileNotFoundError, match=r"38 of 40 requested sequences are missing"):
        load_hpatches(tmp_path, split="a", splits_file=tasks / "splits.json",
                      images=["ref", "e1"], cache=False)
