"""Streaming over read-only memmaps releases the pages it read (resident memory stays low)."""
import numpy as np
import pytest

from sklearn_patchdesc._data import PatchDataset, release_pages, release_rows
from sklearn_patchdesc.describe import RawPatchDescriptor
from sklearn_patchdesc.metrics._distances import bound_in_dtype

MiB = 2**20


def _rss_file():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssFile in /proc/self/status")


@pytest.fixture
def mapped(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (16_000, 32, 32), dtype=np.uint8)  # 15.6 MiB
    np.save(tmp_path / "x.npy", X)
    return X, np.load(tmp_path / "x.npy", mmap_mode="r")


def test_transform_of_a_memmap_releases_its_pages(mapped):
    X, m = mapped
    RawPatchDescriptor(size=8).fit(X[:1]).transform(X[:300])  # loads the code pages first
    before = _rss_file()
    D = RawPatchDescriptor(size=8).fit(m[:1]).transform(m)
    assert _rss_file() - before < 4 * MiB  # without the release: the whole 15.6 MiB
    np.testing.assert_array_equal(D, RawPatchDescriptor(size=8).fit(X[:1]).transform(X))


def test_training_batches_release_their_rows(mapped):
    X, m = mapped
    ds = PatchDataset(m[:, None], np.arange(len(m)))
    rng = np.random.default_rng(1)
    PatchDataset(X[:300, None], np.arange(300)).batch(np.arange(256))  # code pages first
    before = _rss_file()
    for _ in range(60):  # ~15k random rows: most pages of the file (~10 MiB unreleased)
        idx = rng.integers(0, len(m), 256)
        xb, yb = ds.batch(idx)
    assert _rss_file() - before < 4 * MiB
    np.testing.assert_array_equal(np.rint(xb.numpy()[:, 0] * 255).astype(np.uint8), X[idx])
    np.testing.assert_array_equal(yb.numpy(), idx)


def test_writable_and_in_memory_arrays_are_left_alone(tmp_path):
    np.save(tmp_path / "y.npy", np.zeros((1000, 64), np.uint8))
    cow = np.load(tmp_path / "y.npy", mmap_mode="c")
    cow[:] = 7  # private changes: dropping their pages would lose them
    release_pages(cow)
    release_rows(cow, np.arange(10))
    assert (cow == 7).all()
    a = np.ones((10, 10))
    release_pages(a)
    release_rows(a, [1, 2])
    assert (a == 1).all()


def test_bound_in_dtype_keeps_every_float32_comparison():
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.standard_normal(20_000) * 10, [0.0, np.inf, -np.inf, 1e300, -1e300]])
    b = bound_in_dtype(t, np.float32)
    assert b.dtype == np.float32
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)
    for x in (t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))):
        np.testing.assert_array_equal(x <= t, x <= b)
