"""TorchModuleDescriptor / FunctionDescriptor: any descriptor as a fitted transformer."""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from torch import nn

from sklearn_patchdesc._data import run_batched
from sklearn_patchdesc.datasets import load_image_sequences, make_hpatches_like
from sklearn_patchdesc.denoise import GaussianDenoiser
from sklearn_patchdesc.describe import (FunctionDescriptor, L2Net, TorchModuleDescriptor,
                                        load_hardnet_weights)
from sklearn_patchdesc.metrics import hpatches_evaluate
from tests.conftest import shared_data_path

kornia_feature = pytest.importorskip("kornia.feature")


@pytest.fixture(scope="module")
def real32():
    """32x32 patches cut from the real v_churchill sequence."""
    seqs = load_image_sequences(shared_data_path("real", "hpatches_sequences", "v_churchill"))
    return make_hpatches_like(seqs, n_patches_per_sequence=15, random_state=0)


def _random_kornia_hardnet(seed=0):
    torch.manual_seed(seed)
    net = kornia_feature.HardNet(pretrained=False)
    with torch.no_grad():  # BatchNorm statistics away from 0 / 1, so they matter
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return net


def test_wrapped_kornia_hardnet_equals_the_library_trunk(real32):
    kornia_net = _random_kornia_hardnet()
    wrapped = TorchModuleDescriptor(kornia_net, inference_batch_size=100).fit(real32.data)
    D = wrapped.transform(real32.data)
    # the library's own L2-Net trunk with the same state dict (the keys are kornia's)
    trunk = load_hardnet_weights(L2Net(), kornia_net.state_dict())
    X4 = real32.data[:, None]
    ref = run_batched(trunk, X4, batch_size=100)  # the inference loop of every descriptor
    assert D.shape == (240, 128) and D.dtype == np.float32
    np.testing.assert_allclose(D, ref, atol=1e-5)
    # one sequence: retrieval has no distractors there (refused as uninformative)
    tasks = ("verification", "matching")
    got = hpatches_evaluate(D, real32.target, tasks=tasks).scores
    want = hpatches_evaluate(ref, real32.target, tasks=tasks).scores
    assert set(got) == set(tasks)
    for task in got:
        assert abs(got[task] - want[task]) <= 1e-6, (task, got[task], want[task])
    # the wrapper's copy runs; the user's module is left as it was (train mode, weights)
    assert kornia_net.training and wrapped.module_ is not kornia_net
    assert not wrapped.module_.training


def test_drops_into_pipeline_score_and_clone(real32):
    pipe = Pipeline([("denoise", GaussianDenoiser()),
                     ("describe", TorchModuleDescriptor(_random_kornia_hardnet()))])
    X, y = real32.data, real32.target
    pipe.fit(X, y)
    assert pipe.transform(X).shape == (len(X), 128)
    assert 0.0 < pipe.score(X, y["label"]) <= 1.0  # one sequence: the label-only protocol
    c = clone(pipe.named_steps["describe"]).fit(X)
    np.testing.assert_array_equal(c.transform(X[:10]), pipe.named_steps["describe"].transform(X[:10]))
    assert c.get_feature_names_out()[0] == "torchmoduledescriptor0"


class _Flat4D(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True).expand(-1, 3, 1, 1)


class _NaNFrom(nn.Module):
    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.where(m > self.threshold, torch.nan, m).expand(-1, 4)


def test_output_errors_name_shape_and_row():
    X = np.zeros((6, 8, 8), np.uint8)
    X[4:] = 255
    est = TorchModuleDescriptor(nn.Flatten()).fit(X)
    assert est.n_descriptor_features_ == 64
    # fit probes the output on two patches; a failed refit leaves the estimator unfitted
    with pytest.raises(ValueError, match=r"returned shape \(2, 3, 1, 1\) for a batch of 2 "
                                         r"patches.*\(B, D\) = \(2, D\).*nn.Flatten"):
        est.set_params(module=_Flat4D()).fit(X)
    assert not hasattr(est, "n_descriptor_features_")
    est = TorchModuleDescriptor(_NaNFrom(0.5), inference_batch_size=4).fit(X[:2])
    with pytest.raises(ValueError, match=r"NaN or infinity for 2 patch\(es\); the first is "
                                         r"row 4 of X"):
        est.transform(X)
    changing = FunctionDescriptor(lambda b: np.zeros((len(b), 3 if len(b) == 2 else 5)),
                                  inference_batch_size=4).fit(X[:2])
    with pytest.raises(ValueError, match="returned 5 features per patch, but 3 when fitted"):
        changing.transform(X)
    with pytest.raises(ValueError, match=r"returned shape \(1, 3\) for a batch of 2"):
        FunctionDescriptor(lambda b: np.zeros((1, 3))).fit(X[:2])
    with pytest.raises(ValueError, match=r"failed on a batch of shape \(2, 1, 8, 8\)"):
        TorchModuleDescriptor(nn.Linear(3, 3)).fit(X[:2])
    with pytest.raises(TypeError, match="FunctionDescriptor"):
        TorchModuleDescriptor(np.mean).fit(X)
    with pytest.raises(ValueError, match="inference_batch_size must be a positive integer"):
        TorchModuleDescriptor(nn.Flatten(), inference_batch_size=0).fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            TorchModuleDescriptor(nn.Flatten(), device="cuda").fit(X)


def test_function_descriptor_batches_in_order():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (11, 4, 4), dtype=np.uint8)
    calls = []

    def f(batch):
        calls.append(batch.shape)
        return batch.reshape(len(batch), -1) * 2

    est = FunctionDescriptor(f, inference_batch_size=4).fit(X)
    D = est.transform(X)
    np.testing.assert_allclose(D, X.reshape(11, -1) / 255.0 * 2, rtol=1e-6)
    assert calls[1:] == [(4, 1, 4, 4), (4, 1, 4, 4), (3, 1, 4, 4)]  # after fit's probe
    with pytest.raises(ValueError, match="fitted on 4x4 patches"):
        est.transform(np.zeros((2, 5, 5), np.uint8))


def test_save_refuses_a_user_module(tmp_path):
    from sklearn_patchdesc.persistence import PersistenceError, save

    est = TorchModuleDescriptor(_random_kornia_hardnet()).fit(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(PersistenceError, match=r"TorchModuleDescriptor\.module.*kornia"):
        save(est, tmp_path / "m.skpd")
    assert list(tmp_path.iterdir()) == []


def test_the_wrapper_follows_precision_and_device_like_the_library_networks(monkeypatch):
    from sklearn_patchdesc import _precision
    from sklearn_patchdesc.describe import L2Net

    X = np.random.default_rng(0).integers(0, 256, (8, 32, 32), dtype=np.uint8)
    torch.manual_seed(0)
    est = TorchModuleDescriptor(L2Net()).fit(X)
    d32 = est.transform(X)
    with pytest.raises(ValueError, match="The 'precision'|precision must be one of"):
        est.set_params(precision="half").transform(X)
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": True)
    d16 = est.set_params(precision="bf16").transform(X)
    assert d16.dtype == np.float32 and not np.array_equal(d16, d32)
    assert np.sum(d16 * d32, axis=1).min() > 0.99
    with pytest.raises(ValueError, match="is not supported"):
        est.set_params(precision="fp32", device="meta").transform(X)
