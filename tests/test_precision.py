"""Precision (fp32 / bf16 / fp16 / auto) and devices of the network estimators.

bf16 is refused on CPUs without bf16 units (this project's CI machines), so
the tests of the bf16 and fp16 paths pretend the hardware has them: the
arithmetic is then emulated by torch -- slow, but the same numbers.
"""
import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from _benchmark_scripts import load_benchmark
from sklearn_patchdesc import _precision, _training
from sklearn_patchdesc._precision import resolve_precision
from sklearn_patchdesc._training import TrainingError, check_device
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import HardNetDescriptor
from sklearn_patchdesc.persistence import PersistenceError, load, save

_files = load_benchmark("model_files")  # the one copy, shared with probe_bad_inputs.py
members, rewrite = _files.members, _files.rewrite


@pytest.fixture
def bf16_units(monkeypatch):
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": True)


@pytest.fixture
def no_bf16_units(monkeypatch):
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": False)


def pairs(n_labels=16, size=32, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n_labels, size, size))
    X = np.concatenate([base, np.clip(base + rng.normal(0, 8, base.shape), 0, 255)])
    return X.astype(np.uint8), np.tile(np.arange(n_labels), 2)


def small_hardnet(**kw):
    kw = {"max_epochs": 1, **kw}
    return HardNetDescriptor(trunk="tfeat", batch_size=32, random_state=0, **kw)


# ------------------------------------------------------------- the parameter
@pytest.mark.parametrize("bad", ["float32", "bf32", None, 16])
def test_unknown_precision_is_named(bad):
    with pytest.raises(ValueError, match=r"precision must be one of 'fp32', 'bf16', 'fp16', "
                                         r"'auto'; got"):
        resolve_precision(bad, "cpu")


def test_fp16_is_refused_on_cpu_with_the_reason():
    with pytest.raises(ValueError, match=r"precision='fp16' runs on CUDA only \(device='cpu'\)"):
        resolve_precision("fp16", "cpu")


def test_bf16_without_bf16_units_is_refused_not_slow(no_bf16_units):
    with pytest.raises(ValueError, match="has no bf16 units.*precision='fp32', or 'auto'"):
        resolve_precision("bf16", "cpu")
    est = small_hardnet(precision="bf16")
    X, y = pairs()
    with pytest.raises(ValueError, match="has no bf16 units"):
        est.fit(X, y)


def test_auto_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": True)
    assert resolve_precision("auto", "cpu") == "bf16"


def test_every_network_estimator_has_the_parameter():
    from sklearn_patchdesc._training import NetParams
    from sklearn_patchdesc.utils import all_estimators

    nets = [cls for _, cls in all_estimators() if issubclass(cls, NetParams)]
    assert len(nets) >= 10
    for cls in nets:
        assert cls._get_param_names().count("precision") == 1, cls.__name__


# ------------------------------------------------------------- bf16 in use
class _DtypeSpy:
    """Records the dtype of the first convolution's output and of what the loss receives."""

    def __init__(self, est):
        self.conv, self.loss = set(), set()
        self.est = est

    def attach(self, net):
        conv = next(m for m in net.module_.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda m, i, o: self.conv.add(o.dtype))
        criterion = net.criterion_
        original = criterion.forward

        def forward(emb, *args, **kwargs):
            self.loss.add(emb.dtype)
            return original(emb, *args, **kwargs)

        criterion.forward = forward


def tiny_denoiser(**kw):
    kw = {"max_epochs": 2, **kw}
    return ShallowUNetDenoiser(module__channels=(4, 8, 8), batch_size=8, random_state=0, **kw)


def tiny_patches():
    return np.random.default_rng(0).integers(0, 256, (16, 8, 8)).astype(np.uint8)


def test_bf16_fit_runs_convolutions_in_bf16_and_losses_in_float32(bf16_units, monkeypatch):
    X = tiny_patches()
    est = tiny_denoiser(precision="bf16")
    spy = _DtypeSpy(est)
    original = type(est)._initialize_weights

    def init(self, net):
        original(self, net)
        spy.attach(net)

    monkeypatch.setattr(type(est), "_initialize_weights", init)
    est.fit(X, X)
    assert spy.conv == {torch.bfloat16}
    assert spy.loss == {torch.float32}
    assert all(p.dtype == torch.float32 for p in est.net_.module_.parameters())
    assert est.transform(X).dtype == np.uint8  # the input's layout and dtype, as in float32


def test_bf16_inference_is_close_to_float32(bf16_units):
    X, y = pairs()
    est = small_hardnet().fit(X, y)
    d32 = est.transform(X)
    d16 = est.set_params(precision="bf16").transform(X)
    assert d16.dtype == np.float32
    cos = np.sum(d32 * d16, axis=1)
    assert cos.min() > 0.99  # bf16 keeps ~3 significant digits per layer
    assert not np.array_equal(d32, d16)  # and it did run in bf16


def test_fp16_training_steps_through_a_gradient_scaler(monkeypatch):
    # fp16 is CUDA-only in the public API; the scaler logic is the same on CPU, so run it there
    monkeypatch.setattr(_training, "resolve_precision", lambda p, d="cpu": p)
    X = tiny_patches()
    est = tiny_denoiser(precision="fp16", max_epochs=3).fit(X, X)
    scaler = est.net_.grad_scaler_
    assert isinstance(scaler, torch.amp.GradScaler)
    # it starts at 2**16; steps whose fp16 gradients overflow are skipped and halve it
    assert 1 <= scaler.get_scale() <= 2.0 ** 16
    losses = est.history_[:, "train_loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert tiny_denoiser().fit(X, X).net_.grad_scaler_ is None


def test_a_checkpoint_resumes_only_in_its_own_precision(bf16_units, tmp_path):
    X, y = pairs()
    est = small_hardnet(checkpoint_dir=tmp_path, max_epochs=1).fit(X, y)
    with pytest.raises(TrainingError, match="precision"):
        clone(est).set_params(precision="bf16", max_epochs=2).fit(X, y)


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("device", ["mps", "xpu", "meta"])
def test_devices_the_library_does_not_run_on_get_one_clear_error(device):
    with pytest.raises(ValueError, match=rf"device='{device}' is not supported: .*'cpu' and "
                                         r"'cuda'"):
        check_device(device)
    with pytest.raises(ValueError, match="is not supported"):
        small_hardnet(device=device).fit(*pairs())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's message")
def test_transform_follows_set_params_device_not_the_device_of_fit():
    X, y = pairs()
    est = small_hardnet().fit(X, y)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        est.set_params(device="cuda").transform(X)  # never silently on the CPU
    assert est.set_params(device="cpu").transform(X).shape == (len(X), 128)


def _with_manifest_device(src, device):
    """Copy of the model file ``src`` whose manifest names ``device``."""
    manifest, tensors = members(src)
    text = json.dumps(manifest).replace('"device": "cpu"', f'"device": "{device}"')
    assert f'"device": "{device}"' in text
    return rewrite(src, json.loads(text), tensors, name=f"{device.replace(':', '')}.skpd")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here: the file would load on it")
def test_a_model_saved_on_cuda_loads_on_the_cpu_with_the_same_descriptors(tmp_path):
    X, y = pairs()
    est = small_hardnet().fit(X, y)
    path = _with_manifest_device(save(est, tmp_path / "m.skpd"), "cuda:0")
    with pytest.warns(UserWarning, match=r"saved with device='cuda:0'.*loaded on the CPU"):
        back = load(path)
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.transform(X), est.transform(X))


def test_a_model_file_naming_a_device_never_used_here_is_refused(tmp_path):
    est = small_hardnet().fit(*pairs())
    path = _with_manifest_device(save(est, tmp_path / "m.skpd"), "meta")
    with pytest.raises(PersistenceError, match="device='meta'"):
        load(path)


def test_a_bf16_model_loads_where_bf16_is_slow_as_auto(bf16_units, monkeypatch, tmp_path):
    est = small_hardnet(precision="bf16").fit(*pairs())
    path = save(est, tmp_path / "m.skpd")
    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": False)
    with pytest.warns(UserWarning, match="precision='bf16'.*loaded with precision='auto'"):
        back = load(path)
    assert back.precision == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert back.transform(pairs()[0]).dtype == np.float32
