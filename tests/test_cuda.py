"""The CUDA path: fits, precisions, pinned batches and files moved between devices.

Skipped without a GPU (CI has none); ``benchmarks/gpu_check.sh`` runs them on
a GPU machine (``pytest -m cuda``).
"""
import numpy as np
import pytest
import torch

from sklearn_patchdesc._data import PatchDataset, PatchLoader
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import HardNetDescriptor
from sklearn_patchdesc.persistence import load, save

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def pairs(n_labels=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n_labels, 32, 32))
    X = np.concatenate([base, np.clip(base + rng.normal(0, 8, base.shape), 0, 255)])
    return X.astype(np.uint8), np.tile(np.arange(n_labels), 2)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16", "auto"])
def test_hardnet_trains_on_cuda_in_every_precision(precision):
    X, y = pairs()
    est = HardNetDescriptor(max_epochs=2, batch_size=64, device="cuda", precision=precision,
                            random_state=0).fit(X, y)
    assert next(est.net_.module_.parameters()).device.type == "cuda"
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    D = est.transform(X)
    assert D.dtype == np.float32 and D.shape == (len(X), 128)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-4)
    scaler = est.net_.grad_scaler_
    assert (scaler is not None) == (precision == "fp16")


def test_a_cuda_model_gives_the_same_descriptors_on_the_cpu(tmp_path):
    X, y = pairs()
    est = HardNetDescriptor(max_epochs=1, batch_size=64, device="cuda", random_state=0).fit(X, y)
    on_gpu = est.transform(X)
    back = load(save(est, tmp_path / "m.skpd"))
    assert back.device == "cuda"
    on_cpu = back.set_params(device="cpu").transform(X)
    np.testing.assert_allclose(on_cpu, on_gpu, atol=1e-4)
    again = back.set_params(device="cuda").transform(X)  # and back
    np.testing.assert_allclose(again, on_gpu, atol=1e-6)


def test_a_cpu_model_moves_to_cuda():
    X, y = pairs()
    est = HardNetDescriptor(max_epochs=1, batch_size=64, random_state=0).fit(X, y)
    np.testing.assert_allclose(est.set_params(device="cuda").transform(X),
                               est.set_params(device="cpu").transform(X), atol=1e-4)


def test_batches_are_pinned_for_asynchronous_copies():
    X, y = pairs()
    xb, yb = next(iter(PatchLoader(PatchDataset(X, y), batch_size=16, pin_memory=True)))
    assert xb.is_pinned() and yb.is_pinned()


def test_a_denoiser_trains_on_cuda_in_bf16():
    X = np.random.default_rng(0).integers(0, 256, (64, 16, 16)).astype(np.uint8)
    est = ShallowUNetDenoiser(max_epochs=2, batch_size=16, device="cuda", precision="bf16",
                              random_state=0).fit(X, X)
    out = est.transform(X)
    assert out.dtype == np.uint8 and out.shape == X.shape


def test_a_missing_cuda_index_is_named():
    n = torch.cuda.device_count()
    with pytest.raises(ValueError, match=f"device='cuda:{n}' but this machine has {n} CUDA"):
        HardNetDescriptor(max_epochs=1, device=f"cuda:{n}").fit(*pairs())
