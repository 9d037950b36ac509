"""JointDenoiseDescribe: end-to-end fine-tuning through the shared core."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from sklearn_patchdesc._training import BasePatchNet
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor
from sklearn_patchdesc.persistence import load, save
from sklearn_patchdesc.pipeline import JointDenoiseDescribe, JointModule, JointNeuralNet


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (60, 32, 32), dtype=np.uint8), np.repeat(np.arange(20), 3)


@pytest.fixture(scope="module")
def parts(data):
    X, y = data
    den = ShallowUNetDenoiser(max_epochs=1, batch_size=30, random_state=0,
                              module__channels=(4, 4, 4)).fit(X)
    desc = L2NetDescriptor(max_epochs=1, batch_size=60, random_state=0,
                           criterion__margin=0.5).fit(X, y)
    return den, desc


def test_joint_fine_tunes_both_from_fitted_weights(parts, data, tmp_path):
    X, y = data
    den, desc = parts
    den_before = den.transform(X)
    joint = JointDenoiseDescribe(den, FrozenEstimator(desc), lam=0.5, max_epochs=2,
                                 batch_size=60, random_state=0).fit(X, y)
    assert isinstance(joint, BasePatchNet) and isinstance(joint.net_, JointNeuralNet)
    assert isinstance(joint.net_.module_, JointModule)
    np.testing.assert_array_equal(den.transform(X), den_before)  # inputs never modified
    assert joint.net_.criterion_.margin == 0.5  # the descriptor's loss options
    hist = joint.history_
    assert len(hist) == 2
    for key in ("train_loss", "train_descriptor_loss", "train_denoise_loss"):
        assert np.isfinite(hist[-1, key])
    assert hist[-1, "train_denoise_loss"] > 0
    D = joint.transform(X)
    assert D.shape == (60, 128) and D.dtype == np.float32
    assert joint.denoise(X).shape == X.shape and joint.denoise(X).dtype == np.uint8
    # the denoiser sub-network moved away from its starting weights
    start = den.net_.module_.state_dict()
    moved = joint.net_.module_.denoiser.state_dict()
    assert any(not np.allclose(start[k].numpy(), moved[k].numpy()) for k in start)
    again = load(save(joint, tmp_path / "j.skpd"))
    np.testing.assert_array_equal(again.transform(X), D)
    assert 0.0 <= joint.score(X, y) <= 1.0


def test_joint_from_scratch_same_seed_same_model_and_lam_zero(data):
    X, y = data
    def make(lam):
        return JointDenoiseDescribe(ShallowUNetDenoiser(module__channels=(4, 4, 4)),
                                    L2NetDescriptor(), lam=lam, max_epochs=1, batch_size=60,
                                    random_state=0)
    a, b = make(1.0).fit(X, y), clone(make(1.0)).fit(X, y)
    np.testing.assert_allclose(a.transform(X), b.transform(X), atol=1e-6)
    z = make(0).fit(X, y)
    assert z.history_[-1, "train_denoise_loss"] == 0.0


def test_joint_bad_parts_and_lam(data):
    X, y = data
    with pytest.raises(TypeError, match="denoiser must be a network estimator"):
        JointDenoiseDescribe("unet", L2NetDescriptor()).fit(X, y)
    with pytest.raises(ValueError, match="lam"):
        JointDenoiseDescribe(ShallowUNetDenoiser(), L2NetDescriptor(), lam=-1).fit(X, y)


def test_frozen_descriptor_trains_only_the_denoiser_through_the_descriptor_loss(parts, data):
    X, y = data
    den, desc = parts
    joint = JointDenoiseDescribe(den, desc, freeze_descriptor=True, lam=0.5, max_epochs=2,
                                 batch_size=60, lr=1e-3, random_state=0).fit(X, y)
    start = desc.net_.module_.state_dict()
    after = joint.net_.module_.descriptor.state_dict()
    for k in start:  # weights and batch-norm statistics unchanged
        np.testing.assert_array_equal(start[k].numpy(), after[k].numpy())
    moved = joint.net_.module_.denoiser.state_dict()
    assert any(not np.allclose(den.net_.module_.state_dict()[k].numpy(), moved[k].numpy())
               for k in moved)
    # its descriptors are the frozen descriptor's of the denoised patches (up to the
    # uint8 rounding of denoise())
    cosine = np.sum(desc.transform(joint.denoise(X)) * joint.transform(X), axis=1)
    assert cosine.min() > 0.99
    with pytest.raises(ValueError, match="freeze_descriptor must be"):
        JointDenoiseDescribe(den, desc, freeze_descriptor="yes").fit(X, y)
