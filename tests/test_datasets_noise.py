"""add_patch_noise: levels, kinds, determinism, dtypes."""
import numpy as np
import pytest

from sklearn_patchdesc.datasets import add_patch_noise


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(0)
    base = rng.integers(40, 216, (200, 1, 1))
    return np.clip(base + rng.normal(0, 20, (200, 32, 32)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["gaussian", "poisson", "shot", "speckle",
                                  "salt-and-pepper", "mixed"])
def test_strength_rises_easy_hard_tough(clean, kind):
    p = [psnr(add_patch_noise(clean, lv, kind=kind, random_state=0), clean)
         for lv in ("easy", "hard", "tough")]
    assert p[0] > p[1] + 1.5 > p[2] + 3.0, p
    assert p[2] > 10


def test_documented_gaussian_levels(clean):
    flat = np.full((100, 32, 32), 128, np.uint8)
    for lv, sigma in (("easy", 8), ("hard", 16), ("tough", 24), (1.5, 12)):
        noisy = add_patch_noise(flat, lv, random_state=1)
        assert noisy.astype(float).std() == pytest.approx(sigma, rel=0.05)
    sp = add_patch_noise(flat, "hard", kind="salt-and-pepper", random_state=0)
    assert np.mean(sp != 128) == pytest.approx(0.04, abs=0.005)
    assert np.array_equal(add_patch_noise(flat, "none", random_state=0), flat)


def test_deterministic_dtype_and_per_patch_levels(clean):
    a = add_patch_noise(clean, "hard", kind="mixed", random_state=5)
    b = add_patch_noise(clean, "hard", kind="mixed", random_state=5)
    assert a.dtype == np.uint8 and a.shape == clean.shape and np.array_equal(a, b)
    f = clean.astype(np.float32) / 255
    nf = add_patch_noise(f, "easy", random_state=0)
    assert nf.dtype == np.float32 and nf.min() >= 0 and nf.max() <= 1
    assert psnr(nf * 255, f * 255) == pytest.approx(psnr(add_patch_noise(clean, "easy", random_state=0), clean), abs=0.5)
    levels = np.array(["easy"] * 100 + ["tough"] * 100, dtype=object)
    mixed = add_patch_noise(clean, levels, random_state=0)
    assert psnr(mixed[:100], clean[:100]) > psnr(mixed[100:], clean[100:]) + 5


def test_bad_input(clean):
    with pytest.raises(ValueError, match="unknown noise level 'extreme'"):
        add_patch_noise(clean, "extreme")
    with pytest.raises(ValueError, match="unknown noise kind"):
        add_patch_noise(clean, "easy", kind="pink")
    with pytest.raises(ValueError, match="one entry per patch"):
        add_patch_noise(clean, ["easy", "hard"])
    with pytest.raises(ValueError, match=">= 0"):
        add_patch_noise(clean, -1.0)
    with pytest.raises(ValueError, match="NaN"):
        add_patch_noise(np.full((2, 4, 4), np.nan), "easy", data_range=1.0)
