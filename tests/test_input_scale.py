"""One input-scale rule for every estimator: integers 0..255, floats [0, 1].

On the old code int64 / list / uint16 input was read as [0, 1] floats (a
denoiser's score of -31 dB instead of 17 dB) and uint16 output wrapped to 65535.
"""
import numpy as np
import pytest
from torch import nn

from sklearn_patchdesc._validation import check_patches, restore_patches
from sklearn_patchdesc.denoise import DnCNNDenoiser
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.metrics import patch_psnr


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 216, (32, 8, 8)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int32, np.int16])
def test_integer_patches_are_read_like_uint8(dtype):
    X = np.arange(64, dtype=np.uint8).reshape(1, 8, 8) * 4
    a, la = check_patches(X)
    b, lb = check_patches(X.astype(dtype))
    np.testing.assert_array_equal(a, b)
    assert lb.dtype == dtype and lb.is_uint8
    np.testing.assert_array_equal(check_patches(X.tolist())[0], a)  # lists: int64


@pytest.mark.parametrize("X, match", [
    (np.full((2, 4, 4), 1000, np.uint16), "uint16 values from 1000 to 1000.*0..255"),
    (np.full((2, 4, 4), -3, np.int64), "int64 values from -3"),
    (np.arange(32, dtype=np.float32).reshape(2, 4, 4) * 8, "whole numbers up to 248.*0..255"),
])
def test_values_off_the_scale_are_refused(X, match):
    with pytest.raises(ValueError, match=match):
        check_patches(X)


def test_floats_on_their_scale_are_taken_as_given():
    X = np.linspace(-0.1, 1.1, 32, dtype=np.float32).reshape(2, 4, 4)
    np.testing.assert_array_equal(check_patches(X)[0][:, 0], X)
    ones = np.ones((2, 4, 4))
    assert check_patches(ones)[0].max() == 1.0


@pytest.mark.parametrize("dtype, top", [(np.uint16, 255), (np.int8, 127), (np.int64, 255)])
def test_integer_output_keeps_its_dtype_without_wrapping(dtype, top):
    _, layout = check_patches(np.zeros((1, 2, 2), dtype))
    out = restore_patches(np.array([[[[-0.5, 0.2], [1.7, 0.6]]]], np.float32), layout)
    assert out.dtype == dtype
    assert out.ravel().tolist() == [0, 51, top, min(153, top)]


def test_denoiser_reads_int_and_list_input_like_uint8(pair):
    noisy, clean = pair
    kw = dict(depth=3, module__channels=8, max_epochs=2, batch_size=16, random_state=0)
    ref = DnCNNDenoiser(**kw).fit(noisy, clean)
    other = DnCNNDenoiser(**kw).fit(noisy.astype(np.int64), clean.tolist())
    out16 = other.transform(noisy.astype(np.uint16))
    assert out16.dtype == np.uint16 and out16.max() <= 255
    np.testing.assert_array_equal(out16, ref.transform(noisy))
    assert other.score(noisy.astype(np.int64), clean.astype(np.int32)) == pytest.approx(
        ref.score(noisy, clean))
    assert ref.score(noisy, clean) > 10  # dB on the right scale (was -31 for int input)
    with pytest.raises(ValueError, match="0..255"):
        ref.transform((noisy.astype(np.uint16) * 257))


def test_metric_reads_int_input_on_the_0_255_scale(pair):
    noisy, clean = pair
    assert patch_psnr(clean.astype(np.int64), noisy.tolist()) == pytest.approx(
        patch_psnr(clean, noisy))


def test_feature_inverter_output_dtype_follows_input(pair):
    noisy, _ = pair
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    inv = FeatureInverter(net, layer=-1, max_epochs=1, batch_size=16, random_state=0,
                          module__hidden_channels=2).fit(noisy.astype(np.int64))
    out = inv.transform(noisy.astype(np.uint16))
    assert out.dtype == np.uint16 and out.max() <= 255
    np.testing.assert_array_equal(out, inv.transform(noisy))
    with pytest.raises(ValueError, match="whole numbers"):
        inv.transform(noisy.astype(np.float64))


def test_object_array_of_ints_is_read_like_the_list():
    X = (np.arange(64).reshape(1, 8, 8) * 4)
    a, layout = check_patches(X.astype(object))
    np.testing.assert_array_equal(a, check_patches(X.tolist())[0])
    assert layout.is_uint8
    with pytest.raises(TypeError, match="must hold numbers"):
        check_patches(np.array([[1, "a", 2, 3]], dtype=object))


@pytest.mark.parametrize("shift", [0.25, 0.5, -0.25])
def test_fractional_0_255_floats_are_refused(shift):
    X = np.arange(64, dtype=np.float64).reshape(1, 8, 8) * 4 + shift
    with pytest.raises(ValueError, match=r"values from .* to 25\d\.\d+.*\[0, 1\] scale"):
        check_patches(X)


def test_floats_a_little_off_the_unit_scale_are_taken_as_given():
    X = np.linspace(-3.4, 4.4, 32).reshape(2, 4, 4)  # centred or noisy data
    np.testing.assert_array_equal(check_patches(X)[0][:, 0], X.astype(np.float32))


def test_denoiser_refuses_fractional_0_255_float_targets(pair):
    noisy, clean = pair
    est = DnCNNDenoiser(depth=3, module__channels=8, max_epochs=1, batch_size=16,
                        random_state=0)
    with pytest.raises(ValueError, match=r"\[0, 1\] scale"):
        est.fit(noisy / 255.0, clean.astype(float) + 0.25)
