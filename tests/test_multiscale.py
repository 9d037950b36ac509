"""MultiScaleDescriptor (SimNet, seed 004): input sizes,
VGG16 weights from a file, and a digits pipeline with KNeighborsClassifier."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from sklearn_patchdesc.describe import MultiScaleDescriptor, MultiScaleNet, OnlinePairMiner

TINY = dict(depth=1, channels=(4,), deep_features=8, shallow_channels=4, out_features=8,
            input_size=8, max_epochs=1, batch_size=96, random_state=0)


def test_digits_pipeline_with_knn_beats_chance():
    # seed 004 judged SimNet by classification accuracy; chance is 10 % here
    X, y = load_digits(return_X_y=True)  # 8x8 images, floats 0..16
    X = X / 16.0  # float patches are read on the [0, 1] scale
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=300, test_size=300,
                                          random_state=0, stratify=y)
    desc = MultiScaleDescriptor(depth=2, channels=(16, 32), deep_features=64,
                                shallow_channels=16, input_size=16, max_epochs=2,
                                batch_size=96, random_state=0)
    pipe = make_pipeline(desc, KNeighborsClassifier())
    pipe.fit(Xtr, ytr)
    assert pipe.score(Xte, yte) > 0.6
    assert pipe[0].patch_size_ == 8
    assert [round(r["opms_lambda"], 3) for r in pipe[0].history_] == [0.5, 1.0]


@pytest.mark.parametrize("size", [8, 20, 32, 64])
def test_any_square_size_is_resized_to_the_working_size(size):
    net = MultiScaleNet(depth=2, channels=(4, 8), deep_features=8, shallow_channels=4,
                        out_features=16, input_size=16).eval()
    out = net(torch.rand(5, 1, size, size))
    assert out.shape == (5, 16)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)


def test_fit_transform_on_small_patches_and_contrastive_defaults():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 12, 12), dtype=np.uint8)
    y = np.repeat(np.arange(10), 4)
    est = MultiScaleDescriptor(**TINY).fit(X, y)
    D = est.transform(X)
    assert D.shape == (40, 8) and D.dtype == np.float32
    crit = est.net_.criterion_
    assert type(crit).__name__ == "ContrastiveLoss" and crit.margin == 1.0
    assert isinstance(crit.miner, OnlinePairMiner)
    with pytest.raises(ValueError, match="expecting 144 features"):
        est.transform(X[:, :8, :8])


def test_vgg16_weights_come_only_from_a_given_file(tmp_path):
    from sklearn_patchdesc.inversion._vgg import vgg16_features

    torch.manual_seed(0)
    feats = vgg16_features(in_channels=1)
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, path)
    net = MultiScaleNet(depth=1, weights=path)
    convs = [m for m in net.deep if isinstance(m, torch.nn.Conv2d)]
    torch.testing.assert_close(convs[0].weight, feats[0].weight)
    torch.testing.assert_close(convs[1].bias, feats[2].bias)
    with pytest.raises(ValueError, match="VGG16 widths"):
        MultiScaleNet(depth=1, channels=(8,), weights=path)
    with pytest.raises(FileNotFoundError):
        MultiScaleNet(depth=1, weights=tmp_path / "missing.pth")


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=6), "depth"), (dict(input_size=12), "input_size"),
    (dict(depth=2, channels=(8,)), "one width per block"), (dict(dropout=1.0), "dropout"),
])
def test_bad_architecture_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiScaleNet(**kwargs)
