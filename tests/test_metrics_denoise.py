"""patch_psnr / patch_ssim against scikit-image, data-range conventions."""
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sklearn_patchdesc.metrics import patch_psnr, patch_ssim


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_match_skimage(dtype):
    rng = np.random.default_rng(0)
    clean = rng.random((5, 16, 16))
    noisy = np.clip(clean + rng.normal(size=clean.shape) * 0.1, 0, 1)
    if dtype == np.uint8:
        clean, noisy = (np.rint(a * 255).astype(np.uint8) for a in (clean, noisy))
    rng_ = 255 if dtype == np.uint8 else 1.0
    psnr = patch_psnr(clean, noisy, average=False)
    ssim = patch_ssim(clean, noisy, average=False)
    for k in range(5):
        assert abs(psnr[k] - peak_signal_noise_ratio(clean[k], noisy[k], data_range=rng_)) < 1e-9
        ref = structural_similarity(clean[k].astype(float), noisy[k].astype(float), data_range=rng_)
        assert abs(ssim[k] - ref) < 1e-9
    assert abs(patch_psnr(clean, noisy) - psnr.mean()) < 1e-12


def test_layouts_ranges_and_errors():
    rng = np.random.default_rng(1)
    a = rng.random((3, 8, 8))
    b = a + 0.01
    v = patch_psnr(a, b)
    assert abs(v - 40.0) < 1e-9
    assert abs(patch_psnr(a.reshape(3, 64), b.reshape(3, 1, 8, 8)) - v) < 1e-9
    assert abs(patch_psnr(a * 255, b * 255, data_range=255) - v) < 1e-9
    assert patch_psnr(a, a) == np.inf and abs(patch_ssim(a, a) - 1) < 1e-12
    with pytest.raises(ValueError, match="must match"):
        patch_psnr(a, b[:2])
    with pytest.raises(ValueError, match="NaN"):
        patch_ssim(a, np.full_like(a, np.nan))
    with pytest.raises(ValueError, match="win_size"):
        patch_ssim(a, b, win_size=9)
