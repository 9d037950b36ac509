"""TaskAwareDenoiser (pixel + descriptor-consistency loss) and the blind noise level."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from sklearn_patchdesc.datasets import add_patch_noise, make_hpatches_like
from sklearn_patchdesc.denoise import (
    DnCNNDenoiser,
    GaussianDenoiser,
    NoiseLevelWarning,
    ShallowUNetDenoiser,
    TaskAwareDenoiser,
    estimate_noise_sigma,
)
from sklearn_patchdesc.denoise._modules import ShallowUNet
from sklearn_patchdesc.denoise._noise_level import NoiseLevelInput
from sklearn_patchdesc.describe import L2NetDescriptor, load_pretrained
from sklearn_patchdesc.persistence import load

SMALL = {"module__channels": (8, 8, 16)}


@pytest.fixture(scope="module")
def data():
    b = make_hpatches_like(n_sequences=2, n_patches_per_sequence=12, noise=True,
                           random_state=0)
    return b.data, b.data_clean, b.target


@pytest.fixture(scope="module")
def descriptor():
    return load_pretrained()


def _consistency(den, desc, X, X_clean):
    # float in, float out: the unclipped output the loss sees
    denoised = den.transform(X.astype(np.float32) / 255)
    return float(np.mean(np.sum((desc.transform(denoised) - desc.transform(X_clean)) ** 2,
                                axis=1)))


def test_consistency_term_brings_descriptors_of_denoised_patches_closer(data, descriptor):
    # from the same pixel-trained start, three more epochs with the consistency term
    # leave the descriptors of denoised patches closer to those of the clean twins than
    # three more epochs of the pixel loss alone
    X, X_clean = data[0][:128], data[1][:128]
    start = ShallowUNetDenoiser(max_epochs=6, batch_size=32, random_state=0, **SMALL)
    start.fit(X, X_clean)
    kw = dict(max_epochs=3, random_state=0, batch_size=32, noise_level=None, residual=False)
    pixel = TaskAwareDenoiser(start, descriptor, consistency_weight=0, **kw).fit(X, X_clean)
    aware = TaskAwareDenoiser(start, descriptor, consistency_weight=1, **kw).fit(X, X_clean)
    assert _consistency(aware, descriptor, X, X_clean) < _consistency(pixel, descriptor, X,
                                                                     X_clean)
    # the two terms are logged per epoch; weight 0 logs a zero consistency term
    assert pixel.history_[:, "train_consistency_loss"] == [0.0] * 3
    assert all(v > 0 for v in aware.history_[:, "train_consistency_loss"])
    assert len(aware.history_[:, "train_pixel_loss"]) == 3


def test_loss_is_the_weighted_sum_of_the_two_terms(data, descriptor):
    X, X_clean, _ = data
    den = TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), descriptor, pixel_weight=0.5,
                            consistency_weight=2.0, max_epochs=1, batch_size=len(X),
                            lr=1e-12, random_state=0).fit(X, X_clean)
    batch = den.history_[-1, "batches"][0]
    assert batch["train_loss"] == pytest.approx(0.5 * batch["pixel_loss"]
                                                + 2.0 * batch["consistency_loss"], rel=1e-5)


def test_labels_train_self_supervised_without_the_consistency_term(data, descriptor):
    X, _, y = data
    den = TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), descriptor, max_epochs=1,
                            random_state=0).fit(X, y)
    assert den.training_mode_ == "neighbor2neighbor"
    assert "train_consistency_loss" not in den.history_[-1]
    assert den.transform(X).shape == X.shape and den.transform(X).dtype == np.uint8


def test_same_seed_same_fit_and_save_load_round_trip(data, descriptor, tmp_path):
    X, X_clean, _ = data
    make = lambda: TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), descriptor, max_epochs=1,  # noqa: E731
                                     random_state=0).fit(X, X_clean)
    a, b = make(), make()
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    loaded = load(a.save(tmp_path / "den.skpd"))
    np.testing.assert_array_equal(loaded.transform(X), a.transform(X))
    assert loaded.noise_sigma_range_ == a.noise_sigma_range_


def test_clone_of_a_pretrained_descriptor_is_loaded_not_refused(data):
    # clone() drops fitted state; a descriptor with pretrained weights reloads them
    X, X_clean, _ = data
    den = clone(TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), load_pretrained(),
                                  max_epochs=1, random_state=0))
    assert den.fit(X, X_clean).transform(X).shape == X.shape


def test_weights_are_searchable_with_gridsearchcv(data, descriptor):
    X, X_clean, _ = data
    search = GridSearchCV(
        TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), FrozenEstimator(descriptor),
                          max_epochs=1, random_state=0),
        {"consistency_weight": [0.0, 1.0], "pixel_weight": [1.0]}, cv=2).fit(X, X_clean)
    assert set(search.cv_results_["param_consistency_weight"]) == {0.0, 1.0}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))  # PSNR in dB


def test_descriptor_of_another_patch_size_is_an_error_naming_both(data):
    X, X_clean, _ = data
    small = L2NetDescriptor(max_epochs=1, batch_size=24, random_state=0)
    small.fit(X[:32, 8:24, 8:24], np.repeat(np.arange(8), 4))
    with pytest.raises(ValueError, match=r"16x16.*32x32"):
        TaskAwareDenoiser(ShallowUNetDenoiser(), small).fit(X, X_clean)


@pytest.mark.parametrize("params, error, match", [
    ({"consistency_weight": -1.0}, ValueError, "consistency_weight must be"),
    ({"pixel_weight": float("nan")}, ValueError, "pixel_weight must be"),
    ({"pixel_weight": 0, "consistency_weight": 0}, ValueError, "nothing to train"),
    ({"noise_level": "high"}, ValueError, "noise_level must be"),
    ({"denoiser": GaussianDenoiser()}, TypeError, "network denoiser"),
    ({"denoiser": DnCNNDenoiser(depth=3)}, ValueError, "only through its first convolution"),
    ({"descriptor": L2NetDescriptor()}, ValueError, "neither fitted nor pretrained"),
    ({"descriptor": GaussianDenoiser()}, TypeError, "learned descriptor"),
])
def test_bad_parameters_are_clear_errors(data, params, error, match):
    X, X_clean, _ = data
    params = {"denoiser": ShallowUNetDenoiser(), "max_epochs": 1, **params}
    with pytest.raises(error, match=match):
        TaskAwareDenoiser(**params).fit(X, X_clean)


def test_noise_level_input_starts_as_the_wrapped_network():
    torch.manual_seed(0)
    inner = ShallowUNet(channels=(4, 8, 8))
    x = torch.rand(3, 1, 32, 32)
    before = inner(x)
    wrapped = NoiseLevelInput(inner)
    assert wrapped.denoiser.enc.in_channels == 2
    torch.testing.assert_close(wrapped(x), before)


def test_blind_estimate_tracks_the_gaussian_levels():
    flat = np.full((200, 32, 32), 128, np.uint8)
    sigmas = [np.median(estimate_noise_sigma(add_patch_noise(flat, lvl, random_state=0)))
              for lvl in ("easy", "hard", "tough")]
    np.testing.assert_allclose(sigmas, [8, 16, 24], rtol=0.08)
    assert estimate_noise_sigma(flat).max() == 0.0
    assert estimate_noise_sigma(np.zeros((2, 2, 2))).shape == (2,)  # too small: reads 0
    with pytest.raises(ValueError):
        estimate_noise_sigma(np.full((2, 32, 32), np.nan))


def test_clean_input_warns_once_naming_the_level_and_still_denoises(data, descriptor):
    X, X_clean, _ = data
    den = TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), descriptor, max_epochs=1,
                            random_state=0).fit(X, X_clean)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = den.transform(X_clean)
        den.transform(X)
    assert out.shape == X.shape
    messages = [str(w.message) for w in caught if w.category is NoiseLevelWarning]
    assert len(messages) == 1 and "look clean" in messages[0]
    level = np.median(estimate_noise_sigma(X_clean))
    assert f"{level:.1f}" in messages[0]
    with pytest.warns(NoiseLevelWarning, match="noisier than anything"):
        den.transform(add_patch_noise(X, 8.0, random_state=0))


def test_residual_denoiser_starts_as_the_identity(data, descriptor):
    X, X_clean, _ = data
    den = TaskAwareDenoiser(ShallowUNetDenoiser(**SMALL), descriptor, max_epochs=1, lr=1e-12,
                            random_state=0).fit(X, X_clean)
    assert den.residual  # the default
    Xf = X.astype(np.float32) / 255
    np.testing.assert_allclose(den.transform(Xf), Xf, atol=1e-6)
    with pytest.raises(ValueError, match="residual must be"):
        TaskAwareDenoiser(ShallowUNetDenoiser(), descriptor, residual="yes").fit(X, X_clean)
