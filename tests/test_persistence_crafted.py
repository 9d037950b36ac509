"""Crafted and altered model files (issue 32): refused, bounded, never opening a named path.

Every case here loaded on the old code: a tensor used many times took memory per
use, string arrays were capped one by one, a dtype changed in the tensors member
was cast silently, manifest fields were taken as given and a TernausNet file made
``load`` open its ``encoder_weights`` path.
"""
import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load

from _benchmark_scripts import load_benchmark
from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TernausNetDenoiser
from sklearn_patchdesc import _state_dict, _vgg_layout
from sklearn_patchdesc.denoise import _modules
from sklearn_patchdesc.describe import RawPatchDescriptor
from sklearn_patchdesc.persistence import PersistenceError, load, save

_files = load_benchmark("model_files")  # the one copy, shared with probe_bad_inputs.py
members, rewrite = _files.members, _files.rewrite

RAW = "sklearn_patchdesc.describe.RawPatchDescriptor"


@pytest.fixture(scope="module")
def patches():
    return np.random.default_rng(0).integers(0, 256, (16, 32, 32), dtype=np.uint8)


@pytest.fixture(scope="module")
def unet(patches):
    return ShallowUNetDenoiser(max_epochs=1, batch_size=16, random_state=0,
                               module__channels=(4, 4, 4)).fit(patches, patches)


def _crafted(tmp_path, root, tensors=None, name="crafted.skpd"):
    manifest = {"format": "sklearn_patchdesc.model", "format_version": 1, "root": root}
    return rewrite(tmp_path / name, manifest, tensors or {}, name)


def _raw_with(fitted):
    return {"__estimator__": RAW, "params": {"__dict__": {}}, "fitted": {"__dict__": fitted}}


def test_a_tensor_used_twice_is_refused(tmp_path):
    refs = {f"a{i}_": {"__tensor__": "t0"} for i in range(50)}
    path = _crafted(tmp_path, _raw_with(refs), {"t0": torch.zeros(2**18)})
    with pytest.raises(PersistenceError, match="'t0' is referenced more than once"):
        load(path)
    refs = {f"a{i}_": {"__ndarray__": "t0", "dtype": "<f4"} for i in range(2)}
    with pytest.raises(PersistenceError, match="referenced more than once"):
        load(_crafted(tmp_path, _raw_with(refs), {"t0": torch.zeros(4)}, "nd.skpd"))


def test_string_arrays_share_one_budget_for_the_file(tmp_path):
    # each array is far under the 1 GiB cap of one array; together 40 x 16 MiB from 4 KB
    arrays = {f"s{i}_": {"__strarray__": "<U4096", "shape": [1024], "values": ["a"] * 1024}
              for i in range(40)}
    path = _crafted(tmp_path, _raw_with(arrays))
    assert path.stat().st_size < 2**20
    with pytest.raises(PersistenceError, match="at most 4 times its size"):
        load(path)
    # a legitimate string array loads
    ok = {"names_": {"__strarray__": "<U5", "shape": [2], "values": ["i_a", "v_bc"]}}
    assert load(_crafted(tmp_path, _raw_with(ok), name="ok.skpd")).names_.tolist() == [
        "i_a", "v_bc"]


def test_a_changed_tensor_dtype_is_refused(unet, tmp_path):
    path = save(unet, tmp_path / "unet.skpd")
    manifest, blob = members(path)
    tensors = st_load(blob)
    module = manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["module"]["__dict__"]
    key = next(v["__tensor__"] for v in module.values() if tensors[v["__tensor__"]].ndim == 4)
    tensors[key] = tensors[key].view(torch.int32)  # the same bytes read as I32
    with pytest.raises(PersistenceError, match=r"stored as torch.int32 .* holds torch.float32"):
        load(rewrite(path, manifest, tensors))
    arr = _crafted(tmp_path, _raw_with({"w_": {"__ndarray__": "t0", "dtype": "<f4"}}),
                   {"t0": torch.arange(3, dtype=torch.int32)})
    with pytest.raises(PersistenceError, match="stored as int32 but the manifest says float32"):
        load(arr)


@pytest.mark.parametrize("history, match", [
    ("[1, 2, 3]", "entry 0 of the training history"),
    ('{"epoch": 1}', "is a dict, not a list of epochs"),
    ('[{"epoch": 2, "batches": []}]', "is not epoch 1"),
    ('[{"epoch": 1, "batches": [3]}]', "list of batch dicts"),
])
def test_a_malformed_training_history_is_refused(unet, tmp_path, history, match):
    manifest, blob = members(save(unet, tmp_path / "unet.skpd"))
    manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["history"] = history
    with pytest.raises(PersistenceError, match=match):
        load(rewrite(tmp_path / "unet.skpd", manifest, blob))


@pytest.mark.parametrize("fitted, match", [
    ({"patch_size_": 32, "n_features_in_": 7}, "n_features_in_ is 7, but patch_size_ = 32"),
    ({"patch_size_": -5, "n_features_in_": 25}, "patch_size_ must be a positive integer"),
    ({"patch_size_": "32", "n_features_in_": 1024}, "got '32'"),
    ({"patch_size_": True, "n_features_in_": 1}, "got True"),
    ({"patch_size_": 32}, "n_features_in_ is None"),
    ({"n_features_in_": 1024}, "patch_size_ must be a positive integer .*got None"),
])
def test_fitted_patch_size_fields_are_validated(tmp_path, fitted, match):
    with pytest.raises(PersistenceError, match=match):
        load(_crafted(tmp_path, _raw_with(fitted)))
    ok = load(_crafted(tmp_path, _raw_with({"patch_size_": 8, "n_features_in_": 64}), name="o"))
    assert ok.transform(np.zeros((2, 8, 8), np.uint8)).shape == (2, 64)


def test_patch_size_breaking_the_estimator_rule_is_refused(unet, tmp_path):
    manifest, blob = members(save(unet, tmp_path / "unet.skpd"))
    fitted = manifest["root"]["fitted"]["__dict__"]
    assert fitted["patch_size_"] == 32
    ok = load(rewrite(tmp_path / "unet.skpd", manifest, blob))
    assert ok.patch_size_ == 32
    tern = {"__estimator__": "sklearn_patchdesc.denoise.TernausNetDenoiser",
            "params": {"__dict__": {}}, "fitted": {"__dict__": {"patch_size_": 40,
                                                                "n_features_in_": 1600}}}
    with pytest.raises(PersistenceError, match="patch_size_ = 40 breaks.*multiple_of"):
        load(_crafted(tmp_path, tern))


def _vgg_file(path, base):
    feats = _modules._vgg_features(_modules.VGG_CONFIGS["vgg11"], base)
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, path)
    return path


def test_ternausnet_loads_without_opening_its_encoder_weights_path(patches, tmp_path,
                                                                   monkeypatch):
    weights = _vgg_file(tmp_path / "vgg.pth", 4)
    est = TernausNetDenoiser(encoder_weights=weights, max_epochs=1, batch_size=16,
                             random_state=0, module__base_channels=4).fit(patches, patches)
    path = save(est, tmp_path / "tern.skpd")
    want = est.transform(patches)
    weights.unlink()  # the weights moved away: they are inside the model file

    def opened(*args, **kwargs):
        raise AssertionError("load() opened a path named in the file")

    # every reader of a weights file (TernausNet's encoder goes through _vgg_layout)
    monkeypatch.setattr(_vgg_layout, "read_state_dict", opened)
    monkeypatch.setattr(_state_dict, "read_state_dict", opened)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.transform(patches), want)
    assert loaded.encoder_weights == weights  # the parameter is kept as saved
    # a crafted path (existing or not) is never opened: both load alike
    manifest, blob = members(path)
    for target in ("/etc/hostname", str(tmp_path / "no-such-file")):
        manifest["root"]["params"]["__dict__"]["encoder_weights"] = target
        again = load(rewrite(path, manifest, blob))
        np.testing.assert_array_equal(again.transform(patches), want)


def test_round_trip_still_identical(patches, unet, tmp_path):
    raw = RawPatchDescriptor().fit(patches)
    for est in (unet, raw):
        np.testing.assert_array_equal(load(save(est, tmp_path / "m.skpd")).transform(patches),
                                      est.transform(patches))


def test_altered_optimizer_state_is_refused(unet, tmp_path):
    manifest, blob = members(save(unet, tmp_path / "unet.skpd"))
    opt = manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["optimizer"]
    slot = opt["__dict__"]["state"]["__items__"][0][1]["__dict__"]
    key = slot["exp_avg"]["__tensor__"]
    tensors = st_load(blob)
    assert tensors[key].ndim == 4
    for changed, match in [(tensors[key].transpose(0, 1).contiguous(), "'exp_avg'.*torch.float32 "
                                                                       r"\(4, 1, 3, 3\)"),
                           (tensors[key].view(torch.int32), "'exp_avg'.*stored as torch.int32")]:
        altered = dict(tensors, **{key: changed})
        with pytest.raises(PersistenceError, match=match):
            load(rewrite(tmp_path / "unet.skpd", manifest, altered))


@pytest.mark.parametrize("optimizer", ["lbfgs", "hybrid", "sgd"])
def test_optimizer_states_of_every_kind_still_load(patches, tmp_path, optimizer):
    est = ShallowUNetDenoiser(max_epochs=1, batch_size=16, random_state=0, optimizer=optimizer,
                              module__channels=(4, 4, 4)).fit(patches[:8], patches[:8])
    loaded = load(save(est, tmp_path / "m.skpd"))
    np.testing.assert_array_equal(loaded.transform(patches), est.transform(patches))
