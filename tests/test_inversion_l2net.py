"""Inverting a briefly trained L2NetDescriptor: what do its layers keep?

Reconstructions from the first block beat a constant image clearly, and a
deeper layer (the last 3x3 convolution block, six stacked modules) does not do
better than the first at the same per-module budget and seed (seed 003:
quality decays with depth).
"""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.describe import L2Net, L2NetDescriptor
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.inversion._decompose import decompose
from sklearn_patchdesc.inversion._inverter import psnr

BUDGET = dict(max_epochs=6, batch_size=32, lr=3e-3, random_state=0, train_split=None,
              module__hidden_channels=16)


@pytest.fixture(scope="module")
def fitted():
    data = make_hpatches_like(n_sequences=1, n_patches_per_sequence=16, random_state=0)
    X, y = data.data, data.target
    descriptor = L2NetDescriptor(max_epochs=1, batch_size=96, random_state=0).fit(X, y)
    return X, descriptor


@pytest.fixture(scope="module")
def inverted(fitted, tmp_path_factory):
    """relu1 and relu6 inverters; relu6 reuses relu1's first module from its checkpoint."""
    X, descriptor = fitted
    ckpt = tmp_path_factory.mktemp("inversion")
    first = FeatureInverter(FrozenEstimator(descriptor), "relu1", checkpoint_dir=ckpt,
                            **BUDGET).fit(X)
    deep = FeatureInverter(FrozenEstimator(descriptor), "relu6", checkpoint_dir=ckpt,
                           **BUDGET).fit(X)
    return first, deep


def test_l2net_decomposition(fitted):
    _, descriptor = fitted
    aliases = [op.alias for op in decompose(descriptor.net_.module_)]
    assert aliases[:4] == ["patchstandardize1", "conv1", "bn1", "relu1"]
    assert aliases[-4:] == ["conv7", "bn7", "flatten1", "l2normalize1"]


def test_first_layer_beats_a_constant_image_and_depth_does_not_help(fitted, inverted):
    X, _ = fitted
    first, deep = inverted
    X4 = X[:, None].astype(np.float32) / 255
    constant = psnr(X4, np.full_like(X4, X4.mean()))
    p_first, p_deep = first.score(X), deep.score(X)
    print(f"PSNR constant {constant:.2f} dB, relu1 {p_first:.2f} dB, relu6 {p_deep:.2f} dB")
    assert first.blocks_ == [[0, 1, 2, 3]] and len(deep.blocks_) == 6
    assert p_first > constant + 1.5
    assert p_deep < p_first - 0.3
    # equal budget: the shared first module was resumed from its checkpoint, not retrained
    assert deep.history_[0][:, "train_loss"] == first.history_[0][:, "train_loss"]
    for h in deep.history_:
        assert len(h) == BUDGET["max_epochs"]
        assert h[-1, "train_loss"] < h[0, "train_loss"]


def test_clone_keeps_the_frozen_descriptor(fitted, inverted):
    X, _ = fitted
    first, _ = inverted
    twin = clone(first).set_params(checkpoint_dir=None, max_epochs=1)
    assert twin.fit(X[:64]).transform(X[:3]).shape == (3, 32, 32)


def test_l2net_wrong_patch_size_and_unfitted(fitted):
    X, descriptor = fitted
    big = np.zeros((4, 64, 64), np.uint8)
    with pytest.raises(ValueError, match="works on 32x32 patches"):
        FeatureInverter(descriptor, "relu1").fit(big)
    with pytest.raises(ValueError, match="out of range"):
        FeatureInverter(descriptor, 24).fit(X)
    with pytest.raises(Exception) as info:
        FeatureInverter(clone(descriptor), "relu1").fit(X)
    assert "not fitted" in str(info.value) and "FrozenEstimator" in str(info.value)
    torch.manual_seed(0)
    assert len(decompose(L2Net())) == 24  # the bare torch module decomposes alike
