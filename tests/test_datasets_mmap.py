"""load_hpatches(..., mmap_mode="r"): arrays mapped from the .npy cache."""
import numpy as np
import pytest
from _datasets_helpers import random_bunch

from sklearn_patchdesc.datasets import load_hpatches, write_hpatches


@pytest.mark.parametrize("noisy", [False, True])
def test_mmap_load_equals_in_memory_load(tmp_path, noisy):
    bunch = random_bunch(seqs=(("i_a", 3), ("v_b", 5), ("v_c", 2)), noisy=noisy)
    write_hpatches(bunch, tmp_path / "hp")
    cache = tmp_path / "cache"
    mem = load_hpatches(tmp_path / "hp", patch_size=None, cache=cache)
    mm = load_hpatches(tmp_path / "hp", patch_size=None, cache=cache, mmap_mode="r")
    keys = ("data", "data_clean") if noisy else ("data",)
    for k in keys:
        assert isinstance(mm[k], np.memmap) and not mm[k].flags.writeable
        assert not isinstance(mem[k], np.memmap)
        np.testing.assert_array_equal(mm[k], mem[k])
        np.testing.assert_array_equal(mm[k], bunch[k])
    np.testing.assert_array_equal(mm.target, mem.target)
    # a subset of sequences is joined on its own; the second load reuses the join
    sub = load_hpatches(tmp_path / "hp", patch_size=None, cache=cache, mmap_mode="r",
                        sequences=["v_c", "i_a"])
    np.testing.assert_array_equal(sub.data, load_hpatches(
        tmp_path / "hp", patch_size=None, cache=False, sequences=["v_c", "i_a"]).data)
    n_joined = len(list(cache.glob("joined__*.npy")))
    load_hpatches(tmp_path / "hp", patch_size=None, cache=cache, mmap_mode="r")
    assert len(list(cache.glob("joined__*.npy"))) == n_joined
    assert not list(cache.glob(".*.tmp"))


def test_mmap_mode_needs_the_cache(tmp_path):
    write_hpatches(random_bunch(), tmp_path / "hp")
    with pytest.raises(ValueError, match="needs cache"):
        load_hpatches(tmp_path / "hp", cache=False, mmap_mode="r")
    with pytest.raises(ValueError, match="mmap_mode"):
        load_hpatches(tmp_path / "hp", cache=tmp_path / "c", mmap_mode="w+")
