"""Descriptor CSV files in the hpatches-benchmark layout."""
import numpy as np
import pytest

from sklearn_patchdesc.datasets import (IMAGE_NAMES, load_descriptors_csv,
                                        save_descriptors_csv)

from _datasets_helpers import random_bunch


def _descriptors(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n, d)).astype(np.float32)
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def test_round_trip_and_layout(tmp_path):
    b = random_bunch(size=4)
    D = _descriptors(len(b.target))
    path = save_descriptors_csv(D, b.target, tmp_path, "mydesc")
    assert path == tmp_path / "mydesc"
    files = sorted(p.name for p in (path / "v_b").iterdir())
    assert files == sorted(f"{n}.csv" for n in IMAGE_NAMES)
    rows = (path / "v_b" / "h3.csv").read_text().splitlines()
    assert len(rows) == 5 and len(rows[0].split(",")) == 8
    # row i of h3.csv is the descriptor of patch index i of v_b in image h3
    sel = np.flatnonzero((b.target["sequence"] == "v_b") & (b.target["image"] == 8))
    sel = sel[np.argsort(b.target["label"][sel])]
    np.testing.assert_array_equal(np.loadtxt(path / "v_b" / "h3.csv", delimiter=",",
                                             dtype=np.float32), D[sel])
    back = load_descriptors_csv(tmp_path, "mydesc")
    np.testing.assert_array_equal(back.descriptors, D)  # %.9g is exact for float32
    np.testing.assert_array_equal(back.target, b.target)
    assert back.sequence_names == ["i_a", "v_b"]
    X, y = load_descriptors_csv(path, return_X_y=True)
    np.testing.assert_array_equal(X, D)


def test_shuffled_rows_and_delimiter(tmp_path):
    b = random_bunch(size=4, seed=1)
    D = _descriptors(len(b.target), seed=1)
    perm = np.random.default_rng(0).permutation(len(D))
    save_descriptors_csv(D[perm], b.target[perm], tmp_path, "d", delimiter=";")
    assert ";" in (tmp_path / "d" / "i_a" / "ref.csv").read_text()
    back = load_descriptors_csv(tmp_path, "d", delimiter=";")
    np.testing.assert_array_equal(back.descriptors, D)
    np.testing.assert_array_equal(back.target, b.target)


def test_refuses_to_clobber_and_bad_input(tmp_path):
    b = random_bunch(size=4, seed=2)
    D = _descriptors(len(b.target))
    save_descriptors_csv(D, b.target, tmp_path, "d")
    before = (tmp_path / "d" / "i_a" / "ref.csv").read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_descriptors_csv(D * 0, b.target, tmp_path, "d")
    assert (tmp_path / "d" / "i_a" / "ref.csv").read_text() == before
    save_descriptors_csv(D * 0, b.target, tmp_path, "d", overwrite=True)
    assert load_descriptors_csv(tmp_path, "d").descriptors.max() == 0
    bad = D.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        save_descriptors_csv(bad, b.target, tmp_path, "e")
    with pytest.raises(ValueError, match="rows"):
        save_descriptors_csv(D[:-1], b.target, tmp_path, "e")
    assert not (tmp_path / "e").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_descriptors_csv(tmp_path, "none")
    b = random_bunch(size=4, seed=3)
    save_descriptors_csv(_descriptors(len(b.target)), b.target, tmp_path, "d")
    (tmp_path / "d" / "v_b" / "t2.csv").write_text("1,2,3,4,5,6,7,8\n")
    with pytest.raises(ValueError, match=r"t2\.csv has 1 rows"):
        load_descriptors_csv(tmp_path, "d")
    (tmp_path / "d" / "v_b" / "t2.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"cannot parse .*t2\.csv"):
        load_descriptors_csv(tmp_path, "d")


def test_sequence_names_outside_root_refused(tmp_path):
    b = random_bunch(size=4, seed=5)
    save_descriptors_csv(_descriptors(len(b.target)), b.target, tmp_path, "d")
    save_descriptors_csv(_descriptors(len(b.target)), b.target, tmp_path, "other")
    with pytest.raises(ValueError, match=r"'\.\./other/v_b'.*not a sequence folder name"):
        load_descriptors_csv(tmp_path, "d", sequences=["../other/v_b"])


@pytest.mark.parametrize("seq", ["../../escaped", "ABS", ".hidden", "a/b", "..", "x\\..\\y"])
def test_writers_refuse_sequence_names_outside_the_folder(tmp_path, seq):
    from sklearn_patchdesc.datasets import write_hpatches

    if seq == "ABS":
        seq = str(tmp_path / "abs" / "escaped")
    b = random_bunch(seqs=((seq, 2),), size=4, seed=3)
    D = _descriptors(len(b.target))
    out = tmp_path / "deep" / "er"
    with pytest.raises(ValueError, match="not a sequence folder name inside"):
        save_descriptors_csv(D, b.target, out, "d")
    with pytest.raises(ValueError, match="not a sequence folder name inside"):
        write_hpatches(b, out / "hp")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if not p.is_dir())
    assert written == []
