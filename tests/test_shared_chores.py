"""One implementation per shared chore (issue 13, item 3): PSNR, the fitted
patch-size check, batched inference, atomic writes, the difficulty table,
the VGG layout, FeatureInverter composing its nets."""
import numpy as np
import pytest
import torch

from sklearn_patchdesc._data import run_batched
from sklearn_patchdesc._files import atomic_write
from sklearn_patchdesc._training import BasePatchNet, NetParams
from sklearn_patchdesc._vgg_layout import VGG_CONFIGS, vgg_layers
from sklearn_patchdesc.datasets._common import IMAGE_NAMES, image_noise_level
from sklearn_patchdesc.denoise import GaussianDenoiser
from sklearn_patchdesc.describe import RawPatchDescriptor
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.inversion._inverter import psnr
from sklearn_patchdesc.metrics import patch_psnr


def _tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU()).eval()


@pytest.fixture(scope="module")
def inverter():
    X = np.random.default_rng(0).random((32, 8, 8)).astype(np.float32)
    return FeatureInverter(_tiny_net(), layer=-1, max_epochs=1, batch_size=16, random_state=0,
                           module__hidden_channels=4).fit(X), X


def test_psnr_has_one_rule_identical_patches_are_inf():
    """The inverter's copy capped identical patches at 100 dB, the metric said inf."""
    X4 = np.random.default_rng(1).random((5, 1, 8, 8))
    assert psnr(X4, X4) == patch_psnr(X4[:, 0], X4[:, 0], data_range=1.0) == np.inf
    noisy = np.clip(X4 + 0.05, 0, 1)
    assert psnr(X4, noisy) == pytest.approx(patch_psnr(X4[:, 0], noisy[:, 0]))


def test_fitted_patch_size_message_is_the_same_everywhere(inverter):
    inv, _ = inverter
    X8 = np.zeros((4, 8, 8), np.uint8)
    others = [GaussianDenoiser().fit(X8), RawPatchDescriptor().fit(X8), inv]
    for est in others:
        with pytest.raises(ValueError, match=rf"X has 36 features, but {type(est).__name__} is "
                                             r"expecting 64 features as input \(it was fitted "
                                             r"on 8x8 patches, got 6x6\)"):
            est.transform(np.zeros((2, 6, 6), np.float32))


def test_feature_inverter_composes_its_nets(inverter):
    inv, X = inverter
    assert isinstance(inv, NetParams) and not isinstance(inv, BasePatchNet)
    assert not hasattr(inv, "save") and not hasattr(inv, "_forward")
    assert all(isinstance(n, BasePatchNet) for n in inv.nets_)
    assert inv.transform(X).shape == X.shape


def test_run_batched_restores_mode_and_keeps_order():
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5)).train()
    X = np.arange(10 * 4, dtype=np.uint8).reshape(10, 1, 2, 2)
    out = run_batched(module, X, batch_size=3)
    np.testing.assert_allclose(out, X.reshape(10, 4) / 255.0, rtol=1e-6)  # eval: no dropout
    assert module.training
    assert run_batched(module, X[:0]).shape == (0, 0)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_noise_level_table():
    levels = image_noise_level(np.arange(len(IMAGE_NAMES)))
    assert dict(zip(IMAGE_NAMES, levels)) == {
        **{n: "easy" for n in IMAGE_NAMES if n[0] in "re"},
        **{n: "hard" for n in IMAGE_NAMES if n[0] == "h"},
        **{n: "tough" for n in IMAGE_NAMES if n[0] == "t"}}


@pytest.mark.parametrize("name,n_conv", [("vgg11", 8), ("vgg16", 13)])
def test_vgg_layout_is_torchvisions(name, n_conv):
    layers = vgg_layers(name, in_channels=1)
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == n_conv and convs[0].in_channels == 1
    # torchvision's vgg11 / vgg16 ``features``: 2 + 3 per pooling stage ... same length
    assert len(layers) == 2 * n_conv + 5
    assert [m.out_channels for m in convs] == [c for c in VGG_CONFIGS[name] if c != "M"]


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/skpd_pwned_by_vgg_pickle",))


def test_one_weight_reader_for_every_network_that_takes_published_weights(tmp_path):
    """HardNet, the VGG16 / AlexNet extractors and TernausNet read weights one way (issue 31)."""
    import os
    import pickle

    from sklearn_patchdesc.denoise import TernausNetDenoiser
    from sklearn_patchdesc.describe import L2Net, load_hardnet_weights
    from sklearn_patchdesc.inversion import alexnet_features, vgg16_features

    X = np.zeros((4, 32, 32), np.uint8)
    loaders = {"HardNet": lambda p: load_hardnet_weights(L2Net(), p),
               "VGG16": lambda p: vgg16_features(weights=p),
               "AlexNet": lambda p: alexnet_features(weights=p),
               "vgg11": lambda p: TernausNetDenoiser(encoder_weights=p).fit(X)}
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"features.0.weight": _Evil()}))
    missing = tmp_path / "missing.pth"
    for name, load in loaders.items():
        with pytest.raises(ValueError, match=rf"cannot read '{evil}' as {name} weights"):
            load(evil)
        with pytest.raises(FileNotFoundError, match=rf"the {name} weights file '{missing}' "
                                                    "does not exist"):
            load(missing)
    assert not os.path.exists("/tmp/skpd_pwned_by_vgg_pickle")
    # a state dict in memory is accepted by every one of them (it was a file only for VGG16)
    torch.manual_seed(0)
    src = vgg16_features()
    got = vgg16_features(weights={f"module.features.{k}": v for k, v in src.state_dict().items()})
    torch.testing.assert_close(got[28].weight, src[28].weight)
