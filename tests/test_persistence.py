"""Persistence: pickle/joblib round trips and the pickle-free save/load format."""
import io
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from sklearn_patchdesc.denoise import GaussianDenoiser, ShallowUNetDenoiser
from sklearn_patchdesc.describe import (
    L2NetDescriptor,
    PKSampler,
    RawPatchDescriptor,
    SIFTPatchDescriptor,
    TripletMarginLoss,
)
from sklearn_patchdesc.persistence import PersistenceError, allowed_classes, load, save


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    y = np.repeat(np.arange(20), 3)
    return X, y


@pytest.fixture(scope="module")
def fitted_pipe(data):
    X, y = data
    return Pipeline([
        ("denoise", ShallowUNetDenoiser(max_epochs=1, batch_size=32, random_state=0,
                                        module__channels=(4, 8, 8))),
        ("describe", L2NetDescriptor(max_epochs=1, batch_size=60, optimizer="adam", lr=1e-3,
                                     criterion__margin=0.5, random_state=0)),
    ]).fit(X, y)


def test_pickle_and_joblib_round_trip_identical_transforms(fitted_pipe, data, tmp_path):
    X, _ = data
    expected = fitted_pipe.transform(X)
    again = pickle.loads(pickle.dumps(fitted_pipe))
    np.testing.assert_array_equal(again.transform(X), expected)
    joblib.dump(fitted_pipe, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pipe.joblib").transform(X), expected)


def test_save_load_pipeline_identical_transforms_and_state(fitted_pipe, data, tmp_path):
    X, y = data
    path = save(fitted_pipe, tmp_path / "pipe.skpd")
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe.skpd"]  # no temp file left
    loaded = load(path)
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.transform(X), fitted_pipe.transform(X))
    np.testing.assert_array_equal(loaded[0].transform(X), fitted_pipe[0].transform(X))
    assert loaded.get_params(deep=False).keys() == fitted_pipe.get_params(deep=False).keys()
    d0, d1 = fitted_pipe[-1], loaded[-1]
    assert d1.criterion__margin == 0.5 and d1.optimizer == "adam"
    assert d1.n_features_in_ == d0.n_features_in_ and d1.patch_size_ == 32
    assert len(d1.history_) == len(d0.history_) == 1
    assert d1.history_[-1, "train_loss"] == pytest.approx(d0.history_[-1, "train_loss"])
    opt0, opt1 = d0.net_.optimizer_.state_dict(), d1.net_.optimizer_.state_dict()
    for k, state in opt0["state"].items():
        torch.testing.assert_close(opt1["state"][k]["exp_avg"], state["exp_avg"])
    clone(loaded)  # unfitted copy works
    # a loaded network estimator can go on training
    d1.net_.partial_fit(X[:30].reshape(30, 1, 32, 32).astype(np.float32) / 255, y[:30])


def test_estimator_methods_save_and_class_load(fitted_pipe, data, tmp_path):
    X, _ = data
    denoiser = fitted_pipe[0]
    denoiser.save(tmp_path / "d.skpd")
    again = ShallowUNetDenoiser.load(tmp_path / "d.skpd")
    np.testing.assert_array_equal(again.transform(X), denoiser.transform(X))
    with pytest.raises(TypeError, match="holds a ShallowUNetDenoiser"):
        L2NetDescriptor.load(tmp_path / "d.skpd")


@pytest.mark.parametrize("est", [GaussianDenoiser(sigma=0.7), RawPatchDescriptor(),
                                 SIFTPatchDescriptor(n_bins=4)], ids=lambda e: type(e).__name__)
def test_save_load_training_free_estimators(est, data, tmp_path):
    X, y = data
    est = clone(est).fit(X, y)
    loaded = load(save(est, tmp_path / "m.skpd"))
    assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_frozen_estimator_inside_pipeline(fitted_pipe, data, tmp_path):
    X, y = data
    pipe = Pipeline([("denoise", FrozenEstimator(fitted_pipe[0])),
                     ("describe", RawPatchDescriptor())]).fit(X, y)
    loaded = load(save(pipe, tmp_path / "f.skpd"))
    assert isinstance(loaded[0], FrozenEstimator)
    np.testing.assert_array_equal(loaded.transform(X), pipe.transform(X))


def test_unfitted_and_allow_listed_values_round_trip(tmp_path):
    est = L2NetDescriptor(optimizer=torch.optim.AdamW, sampler=PKSampler(n_per_label=3), batch_size=12,
                          criterion=TripletMarginLoss(margin=0.3, miner="batch_hard"),
                          activations=("relu",) * 6, checkpoint_dir=tmp_path / "ck",
                          random_state=np.random.RandomState(3), module__dropout=0.2)
    loaded = load(save(est, tmp_path / "u.skpd"))
    assert loaded.optimizer is torch.optim.AdamW
    assert loaded.activations == ("relu",) * 6 and loaded.module__dropout == 0.2
    assert isinstance(loaded.sampler, PKSampler) and loaded.sampler.n_per_label == 3
    assert loaded.criterion.margin == pytest.approx(0.3) and loaded.criterion.miner == "batch_hard"
    assert loaded.checkpoint_dir is None  # a folder of the saving machine is never saved
    assert loaded.random_state.randint(1000) == np.random.RandomState(3).randint(1000)
    assert "sklearn_patchdesc.describe.L2NetDescriptor" in allowed_classes()


class _MyOptimizer(torch.optim.SGD):
    pass


@pytest.mark.parametrize("params, where", [
    ({"callbacks": [("cb", lambda net: None)]}, r"L2NetDescriptor\.callbacks\[0\]\[1\]"),
    ({"optimizer": _MyOptimizer}, r"L2NetDescriptor\.optimizer: the class .*_MyOptimizer"),
    ({"iterator_train__collate_fn": print}, r"L2NetDescriptor\.iterator_train__collate_fn"),
])
def test_unsavable_params_clear_error_naming_param(params, where, tmp_path):
    pipe = Pipeline([("describe", L2NetDescriptor(**params))])
    with pytest.raises(PersistenceError, match=where):
        save(pipe, tmp_path / "x.skpd")
    assert list(tmp_path.iterdir()) == []  # nothing written


# ---------------------------------------------------------------- safety
class _Malicious:
    """Unpickling this creates the marker file (what an attacker's payload would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _malicious_files(tmp_path, marker):
    payload = pickle.dumps(_Malicious(marker))
    files = {}
    files["raw.pkl"] = payload
    buf = io.BytesIO()
    joblib.dump(_Malicious(marker), buf)
    files["joblib.skpd"] = buf.getvalue()
    buf = io.BytesIO()
    joblib.dump(_Malicious(marker), buf, compress=3)
    files["joblib_z.skpd"] = buf.getvalue()
    buf = io.BytesIO()  # torch.save-style zip holding data.pkl
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    files["torch.skpd"] = buf.getvalue()
    buf = io.BytesIO()  # our member names, but a pickle instead of JSON/safetensors
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", payload)
        zf.writestr("tensors.safetensors", payload)
    files["ours_with_pickle.skpd"] = buf.getvalue()
    buf = io.BytesIO()  # valid manifest naming a class outside the allow-list
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", (
            '{"format": "sklearn_patchdesc.model", "format_version": 1, "root": '
            '{"__estimator__": "os.system", "params": {"__dict__": {"command": "touch '
            + str(marker) + '"}}}}'))
        from safetensors.torch import save as st_save
        zf.writestr("tensors.safetensors", st_save({}))
    files["foreign_class.skpd"] = buf.getvalue()
    paths = []
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        paths.append(tmp_path / name)
    return paths


def test_malicious_files_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    paths = _malicious_files(tmp_path, marker)
    # sanity: the payload does work when unpickled
    pickle.loads(paths[0].read_bytes())
    assert marker.exists()
    marker.unlink()
    messages = {}
    for path in paths:
        with pytest.raises(PersistenceError) as info:
            load(path)
        messages[path.name] = str(info.value)
        assert not marker.exists(), path.name
    assert "pickle" in messages["raw.pkl"] and "never unpickles" in messages["raw.pkl"]
    assert "pickle" in messages["joblib.skpd"]
    assert "compressed" in messages["joblib_z.skpd"]
    assert "not a sklearn_patchdesc model file" in messages["torch.skpd"]
    for name, message in messages.items():  # each message says it once (issue 17)
        assert message.count("sklearn_patchdesc model file") <= 1, message
    assert "not valid JSON" in messages["ours_with_pickle.skpd"]
    assert "allow-list" in messages["foreign_class.skpd"]
    with pytest.raises(PersistenceError):  # the class method goes through the same check
        L2NetDescriptor.load(paths[0])
    assert not marker.exists()


def test_truncated_and_damaged_files(fitted_pipe, tmp_path):
    path = save(fitted_pipe[0], tmp_path / "d.skpd")
    content = path.read_bytes()
    for n in (0, 10, len(content) // 2, len(content) - 5):
        bad = tmp_path / f"cut{n}.skpd"
        bad.write_bytes(content[:n])
        with pytest.raises(PersistenceError):
            load(bad)
    flipped = bytearray(content)
    flipped[len(content) // 3] ^= 0xFF  # inside the stored tensors: CRC mismatch
    (tmp_path / "flip.skpd").write_bytes(bytes(flipped))
    with pytest.raises(PersistenceError):
        load(tmp_path / "flip.skpd")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.skpd")


# ------------------------------------------------- bounded reading (issue 16.7)
def _model_zip(tmp_path, name, manifest, tensors=b"", compression=zipfile.ZIP_STORED):
    from safetensors.torch import save as st_save

    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("manifest.json", manifest if isinstance(manifest, (str, bytes))
                    else __import__("json").dumps(manifest))
        zf.writestr("tensors.safetensors", tensors or st_save({}))
    return path


def _manifest(root):
    return {"format": "sklearn_patchdesc.model", "format_version": 1, "root": root}


def _peak_rss_kib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_zip_bomb_refused_before_inflating(tmp_path):
    from safetensors.torch import save as st_save

    # 1.5 GiB of zeros deflates to about 1.5 MiB; built in a stream, never whole in memory
    path = tmp_path / "bomb.skpd"
    header = st_save({"t0": torch.zeros(1)})  # a valid header, then the long tail
    n_bytes = 3 * 2**29
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", '{"format": "sklearn_patchdesc.model"}')
        with zf.open("tensors.safetensors", "w", force_zip64=True) as fh:
            fh.write(header)
            block = bytes(2**24)
            for _ in range(n_bytes // len(block)):
                fh.write(block)
    assert path.stat().st_size < 4 * 2**20
    before = _peak_rss_kib()
    with pytest.raises(PersistenceError, match="inflate to .* more than the cap"):
        load(path)
    with pytest.raises(PersistenceError, match="zip bomb"):  # under the cap: the ratio refuses
        load(path, max_bytes=2**31)
    assert _peak_rss_kib() - before < 64 * 2**10  # peak memory rose by less than 64 MiB


def test_other_zip_compression_methods_refused(tmp_path):
    path = _model_zip(tmp_path, "bz.skpd", _manifest({}), compression=zipfile.ZIP_BZIP2)
    with pytest.raises(PersistenceError, match="compression method 12"):
        load(path)


def test_deep_nesting_and_huge_numbers_clear_errors(tmp_path):
    deep_json = '{"format": "sklearn_patchdesc.model", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(PersistenceError, match="nests too deeply"):
        load(_model_zip(tmp_path, "deep_json.skpd", deep_json))
    with pytest.raises(PersistenceError, match="oversized number"):
        load(_model_zip(tmp_path, "bigint.skpd", '{"x": ' + "9" * 5000 + "}"))
    # parses as JSON (under the parser's limit) but deeper than the decoder walks
    value = {"__tuple__": []}
    for _ in range(300):
        value = {"__tuple__": [value]}
    root = {"__estimator__": "sklearn_patchdesc.describe.RawPatchDescriptor",
            "params": {"__dict__": {}}, "fitted": {"__dict__": {"deep_": value}}}
    with pytest.raises(PersistenceError, match="nests deeper than 100 levels"):
        load(_model_zip(tmp_path, "deep.skpd", _manifest(root)))


def test_string_array_allocation_bounded(tmp_path):
    # 100k one-letter strings declared as <U999999: np.array would ask for 400 GB
    root = {"__estimator__": "sklearn_patchdesc.describe.RawPatchDescriptor",
            "params": {"__dict__": {}},
            "fitted": {"__dict__": {"names_": {"__strarray__": "<U999999", "shape": [100_000],
                                               "values": ["a"] * 100_000}}}}
    with pytest.raises(PersistenceError, match="string array of 100000 x <U999999"):
        load(_model_zip(tmp_path, "strings.skpd", _manifest(root)))


@pytest.mark.parametrize("where, name, match", [
    ("fitted", "transform", "fitted attribute 'transform'"),  # would replace a method
    ("fitted", "_unexpected_kwargs", "fitted attribute '_unexpected_kwargs'"),
    ("fitted", "__class__", "fitted attribute '__class__'"),
    ("fitted", "checkpoint_dir", "fitted attribute 'checkpoint_dir'"),  # a parameter
    ("params", "transform", "parameter 'transform'"),  # through **kwargs
    ("params", "fit", "parameter 'fit'"),
])
def test_manifest_sets_only_known_names(tmp_path, where, name, match):
    root = {"__estimator__": "sklearn_patchdesc.denoise.DnCNNDenoiser",
            "params": {"__dict__": {}}}
    root.setdefault(where, {"__dict__": {}})["__dict__"][name] = "/tmp/elsewhere"
    with pytest.raises(PersistenceError, match=match):
        load(_model_zip(tmp_path, "names.skpd", _manifest(root)))


def test_manifest_cannot_set_checkpoint_dir_or_pipeline_memory(tmp_path):
    root = {"__estimator__": "sklearn_patchdesc.denoise.DnCNNDenoiser",
            "params": {"__dict__": {"checkpoint_dir": "/tmp/elsewhere", "module__depth": 3}}}
    with pytest.raises(PersistenceError, match="sets DnCNNDenoiser.checkpoint_dir"):
        load(_model_zip(tmp_path, "ck.skpd", _manifest(root)))
    del root["params"]["__dict__"]["checkpoint_dir"]
    assert load(_model_zip(tmp_path, "ok.skpd", _manifest(root))).module__depth == 3
    pipe = {"__estimator__": "sklearn.pipeline.Pipeline", "params": {"__dict__": {
        "steps": [{"__tuple__": ["raw", {"__estimator__":
                                         "sklearn_patchdesc.describe.RawPatchDescriptor",
                                         "params": {"__dict__": {}}}]}],
        "memory": "/tmp/cached_pickles"}}}
    with pytest.raises(PersistenceError, match="sets Pipeline.memory"):
        load(_model_zip(tmp_path, "mem.skpd", _manifest(pipe)))
    saved = load(save(Pipeline([("raw", RawPatchDescriptor())], memory=str(tmp_path)),
                      tmp_path / "saved.skpd"))
    assert saved.memory is None


def test_library_object_arguments_checked(tmp_path):
    root = {"__estimator__": "sklearn_patchdesc.describe.L2NetDescriptor",
            "params": {"__dict__": {"sampler": {
                "__object__": "sklearn_patchdesc.describe.PKSampler",
                "init": {"__dict__": {"n_labels_per_batch": 4, "n_per_label": 2, "__class__": 1}}}}}}
    with pytest.raises(PersistenceError, match="argument '__class__' of PKSampler"):
        load(_model_zip(tmp_path, "obj.skpd", _manifest(root)))
