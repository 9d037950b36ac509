"""Training state that never lies: Ctrl-C, checkpoints of other fits, failed fits, divergence.

Each test reproduces a defect of issue 16 on the old code (a swallowed
KeyboardInterrupt, a reused checkpoint_dir resuming another fit, a failed fit
that looked fitted, a diverged fit without NaN that passed silently).
"""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_validate
from skorch.callbacks import Callback, EarlyStopping

from sklearn_patchdesc._checkpoint import CHECKPOINT_FILE, load_checkpoint
from sklearn_patchdesc._training import StopTraining, TrainingError
from sklearn_patchdesc.denoise import DnCNNDenoiser, ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor


class InterruptAt(Callback):
    """Raise KeyboardInterrupt inside batch ``batch`` of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch, batch=1):
        self.epoch = epoch
        self.batch = batch

    def on_batch_end(self, net, training=None, **kwargs):
        if training and len(net.history) == self.epoch and \
                len(net.history[-1, "batches"]) == self.batch:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (48, 8, 8)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 30, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


def small(**kw):
    kw.setdefault("max_epochs", 3)
    kw.setdefault("batch_size", 16)
    kw.setdefault("random_state", 0)
    kw.setdefault("lr", 1e-3)
    return ShallowUNetDenoiser(module__channels=(4, 4, 4), **kw)


def weights(est):
    return {k: v.clone() for k, v in est.net_.module_.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_reaches_the_caller_after_the_last_complete_epoch_is_checkpointed(data, tmp_path):
    noisy, clean = data
    est = small(max_epochs=5, checkpoint_dir=tmp_path, callbacks=[("stop", InterruptAt(3))])
    with pytest.raises(KeyboardInterrupt):
        est.fit(noisy, clean)
    with pytest.raises(NotFittedError):  # the interrupted fit is not a fit
        est.transform(noisy)
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["history"].count(
        '"epoch"') == 2
    # the resumed fit ends with the weights of an uninterrupted one
    resumed = small(max_epochs=5, checkpoint_dir=tmp_path).fit(noisy, clean)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5]
    assert_same(weights(resumed), weights(small(max_epochs=5).fit(noisy, clean)))


def test_ctrl_c_during_a_refit_keeps_the_previous_model(data):
    noisy, clean = data
    est = small(max_epochs=1).fit(noisy, clean)
    before, out = weights(est), est.transform(noisy)
    est.set_params(max_epochs=3, callbacks=[("stop", InterruptAt(2))])
    with pytest.raises(KeyboardInterrupt):
        est.fit(noisy, clean)
    assert_same(weights(est), before)
    np.testing.assert_array_equal(est.transform(noisy), out)


class StopAt(Callback):
    """End the fit on purpose at the end of epoch ``epoch`` with StopTraining."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise StopTraining


@pytest.mark.parametrize("stopper", ["StopTraining", "EarlyStopping"])
def test_a_deliberate_early_stop_is_not_an_interrupt(data, stopper):
    # skorch ends a fit on any KeyboardInterrupt; only a real Ctrl-C may reach the caller
    noisy, clean = data
    cb = StopAt(2) if stopper == "StopTraining" else EarlyStopping(
        monitor="train_loss", patience=1, threshold=1e9)
    est = small(max_epochs=5, callbacks=[("stop", cb)]).fit(noisy, clean)
    assert len(est.history_) == 2
    assert est.transform(noisy[:2]).shape == (2, 8, 8)


def test_search_marks_an_interrupted_trial_failed_and_stops(data):
    optuna = pytest.importorskip("optuna")
    from scipy.stats import loguniform

    from sklearn_patchdesc.model_selection import TPESearchCV

    noisy, clean = data
    storage = optuna.storages.InMemoryStorage()
    search = TPESearchCV(small(max_epochs=2, callbacks=[("stop", InterruptAt(1))]),
                         {"lr": loguniform(1e-4, 1e-2)}, n_trials=3, cv=2,
                         scoring=lambda est, X, y: est.score(X, y),
                         storage=storage, study_name="ctrl-c")
    with pytest.raises(KeyboardInterrupt):
        search.fit(noisy, clean)
    trials = optuna.load_study(study_name="ctrl-c", storage=storage).get_trials()
    assert len(trials) == 1 and trials[0].state.name == "FAIL"


# ------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("change", ["data", "lr", "seed", "optimizer"])
def test_a_checkpoint_of_another_fit_is_refused(data, tmp_path, change):
    noisy, clean = data
    small(max_epochs=2, checkpoint_dir=tmp_path).fit(noisy, clean)
    kw, X = dict(max_epochs=4, checkpoint_dir=tmp_path), noisy
    if change == "data":
        X = noisy[::-1].copy()
    elif change == "lr":
        kw["optimizer__lr"] = 0.5
    elif change == "seed":
        kw["random_state"] = 1
    else:  # an Adam state given to SGD used to fail later with KeyError: 'momentum'
        kw["optimizer"] = "sgd"
        kw["optimizer__momentum"] = 0.9
    with pytest.raises(TrainingError, match="belongs to another fit"):
        small(**kw).fit(X, clean)


def test_same_fit_with_more_epochs_resumes(data, tmp_path):
    noisy, clean = data
    small(max_epochs=2, checkpoint_dir=tmp_path, verbose=0).fit(noisy, clean)
    est = small(max_epochs=3, checkpoint_dir=tmp_path).fit(noisy, clean)
    assert len(est.history_) == 3 and len(est.history_[0, "batches"]) == 3


def test_optimizer_state_of_another_optimizer_is_a_clear_error(data, tmp_path):
    noisy, clean = data
    small(max_epochs=1, checkpoint_dir=tmp_path).fit(noisy, clean)
    sgd = small(optimizer="sgd", optimizer__momentum=0.9)._build_net().initialize()
    with pytest.raises(TrainingError, match="momentum"):
        load_checkpoint(sgd, tmp_path)  # without a fingerprint to compare


def test_cross_validation_folds_never_share_a_checkpoint(data, tmp_path):
    noisy, clean = data
    with pytest.raises(TrainingError, match="belongs to another fit.*per fold"):
        cross_validate(small(max_epochs=1, checkpoint_dir=tmp_path), noisy, clean,
                       cv=KFold(2), error_score="raise",
                       scoring=lambda est, X, y: est.score(X, y))


def test_checkpoint_dir_that_cannot_be_created_fails_before_training(data, tmp_path):
    noisy, clean = data
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    epochs = []

    class Count(Callback):
        def on_epoch_begin(self, net, **kwargs):
            epochs.append(1)

    with pytest.raises(ValueError, match="checkpoint_dir=.*a-file/sub.*cannot hold"):
        small(checkpoint_dir=blocker / "sub", callbacks=[("count", Count())]).fit(noisy, clean)
    assert epochs == []


# ------------------------------------------------------- transactional fits
def test_failed_first_fit_leaves_the_estimator_unfitted(data):
    noisy, clean = data
    est = small(lr=1e30, optimizer="sgd")
    with pytest.raises(TrainingError):
        est.fit(np.full_like(noisy, 255), clean)
    with pytest.raises(NotFittedError):
        est.transform(noisy)
    assert not [k for k in vars(est) if k.endswith("_")]


def test_failed_refit_keeps_the_previous_model(data):
    noisy, clean = data
    est = small(max_epochs=1).fit(noisy, clean)
    before, out = weights(est), est.transform(noisy)
    est.set_params(lr=1e30, optimizer="sgd")
    with pytest.raises(TrainingError):
        est.fit(np.full_like(noisy, 255), clean)
    with pytest.raises(ValueError):  # bad input in a refit: the same
        est.fit(noisy[:, :3, :3], clean)
    assert_same(weights(est), before)
    np.testing.assert_array_equal(est.transform(noisy), out)


# ------------------------------------------------------------- divergence
@pytest.mark.parametrize("make", [
    lambda **kw: ShallowUNetDenoiser(module__channels=(8, 16, 16), **kw),
    lambda **kw: DnCNNDenoiser(depth=5, module__channels=16, **kw),
], ids=["shallow_unet", "dncnn"])
def test_divergence_without_nan_is_a_training_error(make):
    rng = np.random.default_rng(1)
    clean = rng.integers(0, 256, (64, 16, 16)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    est = make(lr=1e3, max_epochs=5, batch_size=16, random_state=0)
    with pytest.raises(TrainingError, match="Training diverged"):
        est.fit(noisy, clean)
    with pytest.raises(NotFittedError):
        est.transform(noisy)


@pytest.mark.parametrize("options", [{"lr": 1e8}, {"lr": 1e4}, {"lr": 1e3, "optimizer": "adam"}],
                         ids=["sgd-1e8", "sgd-1e4", "adam-1e3"])
def test_runaway_weights_under_a_bounded_loss_are_a_training_error(options):
    # the triplet loss of unit descriptors is bounded and the output stays finite and varied,
    # so only the weights show the blow-up (norm 13.9 -> 2.5e8 at lr=1e8; mAP 0.67, not 0.81)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (200, 32, 32), dtype=np.uint8)
    y = np.repeat(np.arange(50), 4)
    est = L2NetDescriptor(max_epochs=2, random_state=0, **options)
    with pytest.raises(TrainingError, match="norm of the weights grew from"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.transform(X)


def test_sane_fit_is_not_taken_for_divergence(data):
    noisy, clean = data
    est = clone(small(max_epochs=4)).fit(noisy, clean)
    assert len(est.history_) == 4
