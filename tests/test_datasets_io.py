"""Loader / writer of the HPatches release and N-HPatches layouts."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sklearn_patchdesc.datasets import IMAGE_NAMES, load_hpatches, write_hpatches
from sklearn_patchdesc.datasets import _hpatches_io

from _datasets_helpers import random_bunch


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in Path(root).rglob("*"))


def test_image_names():
    assert IMAGE_NAMES[0] == "ref" and IMAGE_NAMES[1] == "e1" and IMAGE_NAMES[5] == "e5"
    assert IMAGE_NAMES[6] == "h1" and IMAGE_NAMES[11] == "t1" and len(IMAGE_NAMES) == 16


def test_round_trip_release_layout(tmp_path):
    bunch = random_bunch()
    paths = write_hpatches(bunch, tmp_path / "hp")
    assert [p.name for p in paths] == ["i_a", "v_b"]
    files = sorted(os.listdir(tmp_path / "hp" / "v_b"))
    assert files == sorted(f"{n}.png" for n in IMAGE_NAMES)
    with Image.open(tmp_path / "hp" / "v_b" / "e3.png") as img:
        assert img.size == (65, 5 * 65) and img.mode == "L"
    out = load_hpatches(tmp_path / "hp", patch_size=None, cache=False)
    np.testing.assert_array_equal(out.data, bunch.data)
    np.testing.assert_array_equal(out.target, bunch.target)
    assert out.target.dtype.names == ("label", "sequence", "image")
    assert out.target["label"].dtype == np.int64 and out.target["image"].dtype == np.int8
    assert out.sequence_names == ["i_a", "v_b"]
    assert list(out.n_patches) == [3, 5]
    assert "data_clean" not in out
    X, y = load_hpatches(tmp_path / "hp", patch_size=None, cache=False, return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    # the patch at label L in image e2 is row (L - first label) of e2.png
    row = np.flatnonzero((y["sequence"] == "v_b") & (y["image"] == 2) & (y["label"] == 5))[0]
    stack = np.asarray(Image.open(tmp_path / "hp" / "v_b" / "e2.png"))
    np.testing.assert_array_equal(X[row], stack[(5 - 3) * 65:(5 - 3 + 1) * 65])


def test_round_trip_nhpatches_layout(tmp_path):
    bunch = random_bunch(size=32, noisy=True, seed=1)
    write_hpatches(bunch, tmp_path)
    assert (tmp_path / "i_a" / "h4_noise.png").is_file()
    assert (tmp_path / "i_a" / "h4.png").is_file()
    out = load_hpatches(tmp_path, cache=False)
    np.testing.assert_array_equal(out.data, bunch.data)
    np.testing.assert_array_equal(out.data_clean, bunch.data_clean)
    np.testing.assert_array_equal(out.target, bunch.target)


def test_resize_is_area_interpolation(tmp_path):
    bunch = random_bunch(seqs=(("v_x", 4),), images=["ref"], size=64, seed=2)
    write_hpatches(bunch, tmp_path)
    out = load_hpatches(tmp_path, images=["ref"], patch_size=32, cache=False)
    assert out.data.shape == (4, 32, 32)
    # 64 -> 32: every output pixel is the mean of its 2x2 block
    block = bunch.data.reshape(4, 32, 2, 32, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_array_equal(out.data, np.rint(block).astype(np.uint8))


def test_resize_65_to_32_keeps_constants_and_ramps():
    const = np.full((1, 65, 65), 77, np.uint8)
    assert np.all(_hpatches_io.resize_patches(const, 32) == 77)
    ramp = np.tile((np.arange(65) * 3).astype(np.uint8), (65, 1))[None]
    out = _hpatches_io.resize_patches(ramp, 32)[0].astype(float)
    centres = (np.arange(32) + 0.5) * 65 / 32 - 0.5  # input coordinate of output centres
    np.testing.assert_allclose(out[0], 3 * centres, atol=0.51)
    assert np.all(out == out[0])  # rows identical
    w = _hpatches_io.area_weights(65, 32)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w.sum(axis=0), 32 / 65)  # every input pixel counted equally


def test_cache_reload_and_invalidation(tmp_path, monkeypatch):
    bunch = random_bunch(seed=3)
    write_hpatches(bunch, tmp_path / "hp")
    cache = tmp_path / "cache"
    first = load_hpatches(tmp_path / "hp", cache=cache)
    assert len(list(cache.glob("*.npy"))) == 2 and len(list(cache.glob("*.json"))) == 2
    assert not list(cache.glob(".*"))  # no temporary leftovers

    def boom(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(_hpatches_io, "_decode_sequence", boom)
    second = load_hpatches(tmp_path / "hp", cache=cache)
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)
    monkeypatch.undo()

    # change one source stack: its sequence is decoded again, with new content
    new = bunch.data.copy()
    rows = np.flatnonzero((bunch.target["sequence"] == "v_b") & (bunch.target["image"] == 7))
    new[rows] = 255 - new[rows]
    write_hpatches({"data": new, "target": bunch.target}, tmp_path / "hp", overwrite=True)
    third = load_hpatches(tmp_path / "hp", cache=cache)
    expected = load_hpatches(tmp_path / "hp", cache=False)
    np.testing.assert_array_equal(third.data, expected.data)
    assert not np.array_equal(third.data, first.data)


def test_parallel_decode_matches_serial(tmp_path):
    bunch = random_bunch(seqs=(("i_a", 2), ("i_b", 3), ("v_c", 1)), seed=4)
    write_hpatches(bunch, tmp_path)
    a = load_hpatches(tmp_path, cache=False, n_jobs=1)
    b = load_hpatches(tmp_path, cache=tmp_path / ".c", n_jobs=2)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.target, b.target)


def test_explicit_sequences_and_partial_images(tmp_path):
    bunch = random_bunch(seed=5)
    write_hpatches(bunch, tmp_path)
    out = load_hpatches(tmp_path, sequences=["v_b"], images=["ref", "t5"],
                        patch_size=None, cache=False)
    assert out.data.shape == (10, 65, 65)
    assert list(out.target["image"]) == [0] * 5 + [15] * 5
    assert list(out.target["label"]) == list(range(5)) * 2  # labels restart at 0
    sel = (bunch.target["sequence"] == "v_b") & np.isin(bunch.target["image"], [0, 15])
    np.testing.assert_array_equal(out.data, bunch.data[sel])


def test_real_release_ref_only(shared_data, tmp_path):
    root = shared_data / "real" / "hpatches_release"
    with pytest.raises(FileNotFoundError, match="e1.png"):
        load_hpatches(root, cache=False)
    out = load_hpatches(root, images=["ref"], patch_size=None, cache=tmp_path)
    assert out.sequence_names == ["v_graffiti"]
    assert out.data.shape == (1123, 65, 65)
    assert np.array_equal(out.target["label"], np.arange(1123))
    stack = np.asarray(Image.open(root / "v_graffiti" / "ref.png").convert("L"))
    np.testing.assert_array_equal(out.data[1122], stack[-65:])
    # patches differ from one another (a real stack, not one repeated tile)
    assert len({out.data[i].tobytes() for i in range(0, 1123, 50)}) == len(range(0, 1123, 50))
    # the official retrieval tasks index v_graffiti patches 0..1122 = this stack
    import csv
    idx = []
    for fn in sorted((shared_data / "hpatches-benchmark-tasks").glob("retr_*.csv")):
        with open(fn) as fh:
            idx += [int(r["idx"]) for r in csv.DictReader(fh) if r["s"] == "v_graffiti"]
    assert max(idx) == len(out.data) - 1 and min(idx) >= 0
    small = load_hpatches(root, images=["ref"], cache=tmp_path)
    assert small.data.shape == (1123, 32, 32)
    assert abs(float(small.data.mean()) - float(out.data.mean())) < 1.0


# ------------------------------------------------------------------ bad input
def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_hpatches(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no HPatches sequence"):
        load_hpatches(tmp_path)


def test_unreadable_png(tmp_path):
    write_hpatches(random_bunch(seed=6), tmp_path)
    (tmp_path / "v_b" / "h2.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"v_b.h2\.png"):
        load_hpatches(tmp_path, cache=tmp_path.parent / "c6")


def test_missing_png(tmp_path):
    write_hpatches(random_bunch(seed=7), tmp_path)
    (tmp_path / "i_a" / "t3.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"i_a.t3\.png"):
        load_hpatches(tmp_path, cache=False)


def test_stack_height_not_multiple(tmp_path):
    write_hpatches(random_bunch(seed=8), tmp_path)
    Image.fromarray(np.zeros((100, 65), np.uint8)).save(tmp_path / "v_b" / "e1.png")
    with pytest.raises(ValueError, match=r"e1\.png.*multiple of the width"):
        load_hpatches(tmp_path, cache=False)


def test_different_patch_counts(tmp_path):
    write_hpatches(random_bunch(seed=9), tmp_path)
    Image.fromarray(np.zeros((65 * 4, 65), np.uint8)).save(tmp_path / "v_b" / "t1.png")
    with pytest.raises(ValueError, match=r"different patch counts.*t1\.png: 4 patches"):
        load_hpatches(tmp_path, cache=False)


def test_write_refuses_to_clobber_and_changes_nothing(tmp_path):
    write_hpatches(random_bunch(seed=10), tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_hpatches(random_bunch(seed=11), tmp_path)
    assert _snapshot(tmp_path) == before


def test_write_bad_bunch_changes_nothing(tmp_path):
    bunch = random_bunch(seed=12)
    with pytest.raises(TypeError, match="uint8"):
        write_hpatches({"data": bunch.data.astype(float), "target": bunch.target}, tmp_path)
    with pytest.raises(ValueError, match="rows"):
        write_hpatches({"data": bunch.data[:-1], "target": bunch.target}, tmp_path)
    bad = bunch.target.copy()
    bad["label"][0] = 2  # duplicate patch index in ref of i_a
    with pytest.raises(ValueError, match="0..n-1"):
        write_hpatches({"data": bunch.data, "target": bad}, tmp_path)
    with pytest.raises(ValueError, match="fields"):
        write_hpatches({"data": bunch.data, "target": bunch.target["label"]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_file_changed_during_decode_is_not_cached_stale(tmp_path, monkeypatch):
    bunch = random_bunch(seqs=(("i_a", 3),), seed=10)
    write_hpatches(bunch, tmp_path / "hp")
    target = tmp_path / "hp" / "i_a" / "e2.png"
    real_read = _hpatches_io._read_stack

    def read_then_change(path):
        arr = real_read(path)
        if path == target and not hasattr(read_then_change, "done"):
            read_then_change.done = True  # another process rewrites it mid-decode
            Image.fromarray(255 - arr).save(target)
            st = target.stat()
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return arr

    monkeypatch.setattr(_hpatches_io, "_read_stack", read_then_change)
    cache = tmp_path / "cache"
    load_hpatches(tmp_path / "hp", cache=cache)
    monkeypatch.undo()
    again = load_hpatches(tmp_path / "hp", cache=cache)
    np.testing.assert_array_equal(again.data, load_hpatches(tmp_path / "hp", cache=False).data)


def test_16bit_png_refused_unless_exact(tmp_path):
    write_hpatches(random_bunch(seed=11), tmp_path)
    path = tmp_path / "v_b" / "e1.png"
    eight = np.asarray(Image.open(path))
    Image.fromarray(eight.astype(np.uint16) * 257).save(path)  # full 16-bit range
    with pytest.raises(ValueError, match=r"e1\.png is a I;16.*values up to 65535.*8-bit"):
        load_hpatches(tmp_path, cache=False)
    Image.fromarray(eight.astype(np.uint16)).save(path)  # 16-bit file holding 0..255: exact
    reloaded = load_hpatches(tmp_path, cache=False)
    Image.fromarray(eight).save(path)
    np.testing.assert_array_equal(reloaded.data, load_hpatches(tmp_path, cache=False).data)


@pytest.mark.parametrize("name", ["../outside", "..", "/etc", "i_a/../../outside", ""])
def test_sequence_names_outside_root_refused(tmp_path, name):
    write_hpatches(random_bunch(seqs=(("i_a", 2),), seed=12), tmp_path / "hp")
    write_hpatches(random_bunch(seqs=(("outside", 2),), seed=13), tmp_path / "other")
    (tmp_path / "outside").symlink_to(tmp_path / "other" / "outside")
    with pytest.raises(ValueError, match="not a sequence folder name inside"):
        load_hpatches(tmp_path / "hp", sequences=[name], cache=False)
    splits = tmp_path / "splits.json"
    splits.write_text('{"a": {"train": [], "test": ["i_a", "%s"]}}' % name)
    with pytest.raises(ValueError, match=r"split 'a' of the splits file holds"):
        load_hpatches(tmp_path / "hp", split="a", splits_file=splits, cache=False)
