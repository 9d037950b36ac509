"""FeatureInverter on small sequential nets: modes, module shapes, layouts,
errors, resume, the VGG16 / AlexNet builders and plot_inversion."""
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.image import extract_patches_2d
from skimage import data as skdata

from sklearn_patchdesc.inversion import FeatureInverter, alexnet_features, error_maps, vgg16_features
from sklearn_patchdesc.inversion._decompose import decompose
from sklearn_patchdesc.inversion._modules import InversionModule
from sklearn_patchdesc._vgg_layout import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def patches():
    """128 grey 16x16 uint8 patches of the camera image."""
    return extract_patches_2d(skdata.camera()[::2, ::2], (16, 16), max_patches=128,
                              random_state=0)


def tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
    ).eval()


def small(**kw):
    params = dict(max_epochs=3, batch_size=32, lr=3e-3, random_state=0,
                  module__hidden_channels=8)
    params.update(kw)
    return params


# ------------------------------------------------------------ modes and shapes
@pytest.mark.parametrize("mode", ["stacked", "end_to_end", "joint"])
@pytest.mark.parametrize("shape", ["conv_deconv", "deconv_conv", "deconv_deconv"])
def test_modes_and_shapes_learn(patches, mode, shape):
    inv = FeatureInverter(tiny_net(), "relu2", mode=mode, module=shape, **small()).fit(patches)
    assert inv.blocks_ == [[0, 1, 2], [3], [4, 5]]
    assert inv.feature_shape_ == (8, 4, 4)
    assert len(inv.inverse_) == 3
    assert len(inv.history_) == (3 if mode == "stacked" else 1)
    for history in inv.history_:
        losses = history[:, "train_loss"]
        assert losses[-1] < losses[0], (mode, shape, losses)
        assert "valid_loss" in history[-1]  # train_split=0.1 by default
    if mode == "joint":
        # the optimised loss is the sum of the per-module losses, each recorded
        parts = np.array([inv.history_[0][:, f"train_loss_module{i}"] for i in range(3)])
        np.testing.assert_allclose(parts.sum(axis=0), inv.history_[0][:, "train_loss"],
                                   rtol=1e-4)
        assert "valid_loss_module2" in inv.history_[0][-1]
    out = inv.transform(patches)
    assert out.shape == patches.shape and out.dtype == np.uint8


def test_module_shapes_restore_the_operation_input():
    for f, t in [((32, 16, 16), (32, 32, 32)), ((64, 7, 7), (64, 15, 15)),
                 ((64, 15, 15), (1, 64, 64)), ((128, 1, 1), (128, 8, 8)),
                 ((8, 8, 8), (8, 8, 8)), ((8, 10, 10), (4, 8, 8))]:
        for shape in ("conv_deconv", "deconv_conv", "deconv_deconv"):
            m = InversionModule(f, t, shape, hidden_channels=4)
            assert m(torch.zeros(2, *f)).shape == (2, *t)


def test_layouts_dtypes_and_score(patches):
    inv = FeatureInverter(tiny_net(), "pool1", **small(max_epochs=2)).fit(patches)
    flat = patches.reshape(len(patches), -1).astype(np.float64) / 255
    out = inv.transform(flat)
    assert out.shape == flat.shape and out.dtype == np.float64
    out4 = inv.transform(patches[:, None].astype(np.float32) / 255)
    assert out4.shape == (len(patches), 1, 16, 16) and out4.dtype == np.float32
    np.testing.assert_allclose(out4.reshape(len(patches), -1), out, atol=1e-5)
    assert np.isfinite(inv.score(patches)) and inv.score(patches) == inv.score(flat)


def test_operation_grouping_and_layer_names(patches):
    net = tiny_net()
    names = [op.alias for op in decompose(net)]
    assert names == ["conv1", "bn1", "relu1", "pool1", "conv2", "relu2"]
    inv = FeatureInverter(net, 1, grouping="operation", **small(max_epochs=1)).fit(patches)
    assert inv.blocks_ == [[0], [1]] and inv.operations_ == ["conv1", "bn1"]
    by_path = FeatureInverter(net, "3", **small(max_epochs=1)).fit(patches)
    by_alias = FeatureInverter(net, "pool1", **small(max_epochs=1)).fit(patches)
    np.testing.assert_array_equal(by_path.transform(patches), by_alias.transform(patches))


def test_seeded_and_network_untouched(patches):
    net = tiny_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    a = FeatureInverter(net, "relu1", **small(max_epochs=2)).fit(patches)
    b = FeatureInverter(net, "relu1", **small(max_epochs=2)).fit(patches)
    np.testing.assert_array_equal(a.transform(patches), b.transform(patches))
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.transform(patches), a.transform(patches))
    assert net.training  # mode of the caller's network is kept
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_checkpoint_resume(patches, tmp_path):
    first = FeatureInverter(tiny_net(), "pool1", checkpoint_dir=tmp_path,
                            **small(max_epochs=2)).fit(patches)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["module_0", "module_1"]
    resumed = FeatureInverter(tiny_net(), "pool1", checkpoint_dir=tmp_path,
                              **small(max_epochs=3)).fit(patches)
    for h_first, h in zip(first.history_, resumed.history_):
        assert [row["epoch"] for row in h] == [1, 2, 3]
        assert h[:2, "train_loss"] == h_first[:, "train_loss"]


def test_clone_and_prefixed_params():
    inv = FeatureInverter(tiny_net(), 3, mode="joint", module__hidden_channels=4,
                          optimizer__weight_decay=1e-5)
    params = inv.get_params()
    assert params["module__hidden_channels"] == 4 and params["mode"] == "joint"
    twin = clone(inv).set_params(module__hidden_channels=6, layer="relu1")
    assert twin.module__hidden_channels == 6 and twin.layer == "relu1"


# ---------------------------------------------------------------- bad input
def test_errors(patches):
    net = tiny_net()
    with pytest.raises(ValueError, match=r"layer=6 is out of range.*6 operations"):
        FeatureInverter(net, 6).fit(patches)
    with pytest.raises(ValueError, match="names no operation"):
        FeatureInverter(net, "conv9").fit(patches)
    with pytest.raises(TypeError, match="layer must be"):
        FeatureInverter(net, 1.5).fit(patches)
    with pytest.raises(ValueError, match="mode="):
        FeatureInverter(net, 1, mode="sideways").fit(patches)
    with pytest.raises(ValueError, match="module="):
        FeatureInverter(net, 1, module="conv_conv").fit(patches)
    with pytest.raises(TypeError, match="unexpected argument.*'hiden'"):
        FeatureInverter(net, 1, hiden=8).fit(patches)
    with pytest.raises(TypeError, match="network must be"):
        FeatureInverter("vgg16", 1).fit(patches)

    class Custom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.a(x) * 2

    with pytest.raises(TypeError, match="Cannot split Custom"):
        FeatureInverter(Custom(), 0).fit(patches)
    with pytest.raises(ValueError, match="too small|cannot take"):
        FeatureInverter(alexnet_features(), "pool3").fit(patches)  # 16x16 < 63x63
    with pytest.raises(NotFittedError):
        FeatureInverter(net, 1).transform(patches)
    inv = FeatureInverter(net, "relu1", **small(max_epochs=1)).fit(patches)
    with pytest.raises(ValueError, match="fitted on 16x16 patches, got 8x8"):
        inv.transform(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        inv.transform(np.full((2, 16, 16), np.nan))


def test_unfitted_estimator_network_is_refused(patches):
    from sklearn_patchdesc.describe import L2NetDescriptor

    with pytest.raises(NotFittedError, match="not fitted"):
        FeatureInverter(L2NetDescriptor(), 1).fit(patches)


# ------------------------------------------------------------ VGG / AlexNet
def test_vgg_alexnet_layouts():
    vgg, alex = vgg16_features(), alexnet_features()
    assert len(vgg) == 31 and len(alex) == 13
    convs = [i for i, m in enumerate(vgg) if isinstance(m, torch.nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert [op.alias for op in decompose(vgg)][:5] == ["conv1", "relu1", "conv2", "relu2", "pool1"]
    assert alex(torch.zeros(1, 1, 64, 64)).shape == (1, 256, 1, 1)


def test_torchvision_state_dict_loads_with_grey_folding(tmp_path):
    rgb = vgg16_features(in_channels=3)
    state = {f"features.{k}": v for k, v in rgb.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    grey = vgg16_features(weights=path)
    torch.testing.assert_close(grey[2].weight, rgb[2].weight)
    x = torch.rand(2, 1, 12, 12)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    want = rgb[0]((x.expand(-1, 3, -1, -1) - mean) / std)
    got = grey[0](x)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1], atol=1e-4, rtol=1e-4)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg16_features(weights=tmp_path / "missing.pth")
    torch.save({k: v for k, v in state.items() if k != "features.28.bias"}, path)
    with pytest.raises(ValueError, match="no tensor 'features.28.bias'.*torchvision VGG16"):
        vgg16_features(weights=path)
    torch.save({"classifier.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="no 'features.N.weight' keys"):
        alexnet_features(weights=path)


def test_invert_vgg_pool1(patches):
    inv = FeatureInverter(vgg16_features(), "pool1", **small(max_epochs=1)).fit(patches[:64])
    assert inv.blocks_ == [[0, 1], [2, 3], [4]] and inv.feature_shape_ == (64, 8, 8)
    assert inv.transform(patches[:4]).shape == (4, 16, 16)


# ------------------------------------------------------------------ plotting
def test_error_maps_zero_error_is_grey_and_black(patches):
    signed, absolute = error_maps(patches[:3], patches[:3])
    assert np.all(signed == 0.5) and np.all(absolute == 0.0)
    rec = patches[:3].astype(np.float32) / 255 + 0.1 * np.sign(np.arange(256) - 127.5).reshape(16, 16)
    signed, absolute = error_maps(patches[:3], rec)
    assert signed.min() == 0.0 and signed.max() == 1.0  # renormalised per patch
    assert absolute.min() >= 0.0 and np.allclose(absolute.max(axis=(1, 2)), 1.0)
    with pytest.raises(ValueError, match="same patches"):
        error_maps(patches[:3], patches[:2])


def test_plot_inversion(patches):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_patchdesc.plotting import plot_inversion

    fig = plot_inversion(patches[:5], patches[:5], n_rows=3)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 12
    exact = [ax.images[0].get_array() for ax in fig.axes[:4]]
    assert np.all(exact[2] == 0.5) and np.all(exact[3] == 0.0)
    plt.close(fig)
    fig = plot_inversion(patches[:2], 255 - patches[:2])
    assert len(fig.axes) == 8
    plt.close(fig)
