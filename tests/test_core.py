"""The shared core: patch validation, vectorised batches, the training path."""
import numpy as np
import pytest
import torch
from sklearn.base import TransformerMixin, clone

from sklearn_patchdesc._data import PatchDataset, PatchLoader
from sklearn_patchdesc._training import BasePatchNet, TrainingError
from sklearn_patchdesc._validation import (
    check_labels,
    check_patches,
    is_record_target,
    restore_patches,
)


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 1, 8, 8), (5, 64)])
def test_layouts_round_trip(shape):
    X = np.arange(np.prod(shape)).reshape(shape) % 256
    X = X.astype(np.uint8)
    X4, layout = check_patches(X)
    assert X4.shape == (5, 1, 8, 8) and X4.dtype == np.float32
    assert X4.max() <= 1.0
    back = restore_patches(X4, layout)
    assert back.shape == shape and back.dtype == np.uint8
    np.testing.assert_array_equal(back, X)


def test_float_input_kept_on_its_scale_and_dtype():
    X = np.random.default_rng(0).random((3, 4, 4))
    X4, layout = check_patches(X)
    np.testing.assert_allclose(X4[:, 0], X, rtol=1e-6)
    out = restore_patches(X4 * 2, layout)
    assert out.dtype == np.float64 and out.max() > 1.0  # not clipped for floats


def test_uint8_restore_rounds_and_clips():
    _, layout = check_patches(np.zeros((1, 2, 2), np.uint8))
    out = restore_patches(np.array([[[[-0.1, 0.5], [1.2, 0.2]]]], np.float32), layout)
    np.testing.assert_array_equal(out, [[[0, 128], [255, 51]]])


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((0, 8, 8)), "0 patch"),
        (np.zeros((2, 8, 6)), "non-square"),
        (np.zeros((2, 10)), "square number"),
        (np.zeros((2, 3, 8, 8)), "one channel"),
        (np.zeros((2, 2, 2, 2, 2)), "rank 5"),
        (np.full((2, 4, 4), np.nan), "NaN"),
        (np.full((2, 4, 4), np.inf), "NaN or infinity"),
    ],
)
def test_bad_patches_raise_value_error(X, match):
    with pytest.raises(ValueError, match=match):
        check_patches(X)


def test_bad_dtype_and_size_constraints():
    with pytest.raises(TypeError, match="dtype"):
        check_patches(np.array([["a"] * 4]))
    with pytest.raises(ValueError, match="multiple of 32"):
        check_patches(np.zeros((1, 48, 48)), multiple_of=32)
    with pytest.raises(ValueError, match="at least 16x16"):
        check_patches(np.zeros((1, 8, 8)), min_size=16)


def test_labels_from_record_array_and_plain():
    rec = np.zeros(3, dtype=[("label", "i8"), ("sequence", "U8"), ("image", "i1")])
    rec["label"] = [4, 4, 7]
    assert is_record_target(rec) and not is_record_target(np.arange(3))
    np.testing.assert_array_equal(check_labels(rec, 3), [4, 4, 7])
    np.testing.assert_array_equal(check_labels([1.0, 2.0], 2), [1, 2])
    with pytest.raises(ValueError, match="3 labels for 2 patches"):
        check_labels(rec, 2)
    with pytest.raises(ValueError, match="non-integer"):
        check_labels([0.5, 1.0], 2)
    with pytest.raises(ValueError, match="without the fields"):
        check_labels(np.zeros(2, dtype=[("a", "i8")]), 2)


# -------------------------------------------------------------------- batches
def test_loader_batches_cover_data_once_and_convert_uint8():
    X = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    loader = PatchLoader(PatchDataset(X, np.arange(10)), batch_size=4, shuffle=True, seed=1)
    seen = []
    for xb, yb in loader:
        assert xb.dtype == torch.float32
        np.testing.assert_allclose(xb.flatten().numpy() * 255, yb.numpy(), atol=1e-4)
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(10)) and len(loader) == 3
    first, second = [list(map(int, yb)) for _, yb in loader], None
    second = [list(map(int, yb)) for _, yb in loader]
    assert first != second  # a fresh permutation every epoch


def test_loader_uses_sampler_batches():
    class Pairs:
        def batches(self, labels, batch_size, rng):
            yield np.array([0, 0, 1])

    loader = PatchLoader(PatchDataset(np.zeros((3, 1, 2, 2), np.uint8), np.array([5, 6, 7])),
                         sampler=Pairs())
    (_, yb), = list(loader)
    assert yb.tolist() == [5, 5, 6]


# ------------------------------------------------------------------- training
class _Tiny(torch.nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class _TinyDenoiser(TransformerMixin, BasePatchNet):
    # a new network estimator declares only what differs from the shared parameters
    _init_params = {"max_epochs": 2, "batch_size": 16, "lr": 1e-2}

    def _module_spec(self):
        return _Tiny, {}

    def _criterion_spec(self):
        return torch.nn.MSELoss, {}

    def fit(self, X, y):
        X4, _ = self._validate_patches(X, reset=True)
        Y4, _ = check_patches(y)
        return self._train(PatchDataset(X4, Y4))

    def transform(self, X):
        X4, layout = self._validate_patches(X, reset=False)
        return restore_patches(self._forward(X4), layout)


@pytest.fixture(scope="module")
def noisy_clean():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (96, 8, 8)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


def test_prefixed_params_clone_and_set():
    est = _TinyDenoiser(module__width=6, optimizer__weight_decay=0.1)
    assert est.get_params()["module__width"] == 6
    twin = clone(est)
    assert twin.module__width == 6 and twin.optimizer__weight_decay == 0.1
    twin.set_params(module__width=3, max_epochs=5)
    assert (twin.module__width, twin.max_epochs, est.module__width) == (3, 5, 6)
    misspelt = _TinyDenoiser(widht=3)  # __init__ only stores; fit complains
    assert clone(misspelt).get_params()["widht"] == 3


def test_module_params_reach_the_network(noisy_clean):
    noisy, clean = noisy_clean
    est = _TinyDenoiser(module__width=7, max_epochs=1, random_state=0).fit(noisy, clean)
    assert est.net_.module_.net[0].out_channels == 7
    assert est.net_.module_.net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_same_random_state_same_model_and_caller_rng_untouched(noisy_clean):
    noisy, clean = noisy_clean
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = _TinyDenoiser(random_state=0).fit(noisy, clean).transform(noisy)
    assert torch.rand(1) == before
    b = _TinyDenoiser(random_state=0).fit(noisy, clean).transform(noisy)
    c = _TinyDenoiser(random_state=1).fit(noisy, clean).transform(noisy)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_checkpoint_resume_runs_only_missing_epochs(noisy_clean, tmp_path):
    noisy, clean = noisy_clean
    _TinyDenoiser(max_epochs=2, random_state=0, checkpoint_dir=tmp_path).fit(noisy, clean)
    assert (tmp_path / "checkpoint.pt").exists()
    assert not list(tmp_path.glob("*.tmp"))
    resumed = _TinyDenoiser(max_epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(noisy, clean)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3]
    assert len(resumed.history_[-1, "batches"]) == 6  # the third epoch really ran


def test_resume_from_foreign_checkpoint_is_a_clear_error(noisy_clean, tmp_path):
    noisy, clean = noisy_clean
    _TinyDenoiser(max_epochs=1, checkpoint_dir=tmp_path, module__width=4).fit(noisy, clean)
    with pytest.raises(TrainingError, match="belongs to another fit.*module__width"):
        _TinyDenoiser(max_epochs=2, checkpoint_dir=tmp_path, module__width=5).fit(noisy, clean)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="Cannot read"):
        _TinyDenoiser(max_epochs=2, checkpoint_dir=tmp_path).fit(noisy, clean)


def test_nan_loss_stops_with_message(noisy_clean):
    noisy, clean = noisy_clean
    est = _TinyDenoiser(lr=1e30, optimizer="sgd", random_state=0)
    with pytest.raises(TrainingError, match="training loss became"):
        est.fit(np.full_like(noisy, 255), clean)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"max_epochs": 0}, ValueError,
         r"The 'max_epochs' parameter of _TinyDenoiser must be an int in the range \[1, inf\)"),
        ({"batch_size": 2.5}, ValueError, "The 'batch_size' parameter of _TinyDenoiser"),
        ({"lr": -1}, ValueError, r"The 'lr' parameter .* range \(0.0, inf\). Got -1 instead"),
        ({"precision": "float32"}, ValueError, "The 'precision' parameter .* Got 'float32'"),
        ({"train_split": 1.0}, ValueError, "The 'train_split' parameter"),
        ({"verbose": "loud"}, ValueError, "The 'verbose' parameter"),
        ({"optimizer": "adagrad2"}, ValueError, "not known"),
        ({"optimizer": 3}, TypeError, "optimizer must be"),
        ({"widht": 3}, TypeError, "unexpected argument.*'widht'.*module__"),
    ],
)
def test_bad_common_params(noisy_clean, params, error, match):
    noisy, clean = noisy_clean
    with pytest.raises(error, match=match):
        _TinyDenoiser(**params).fit(noisy, clean)


def test_transform_checks_fitted_and_patch_size(noisy_clean):
    from sklearn.exceptions import NotFittedError

    noisy, clean = noisy_clean
    with pytest.raises(NotFittedError):
        _TinyDenoiser().transform(noisy)
    est = _TinyDenoiser(max_epochs=1).fit(noisy, clean)
    with pytest.raises(ValueError, match="X has 16 features, but _TinyDenoiser is expecting 64"):
        est.transform(noisy[:, :4, :4])
