"""Descriptor estimators: parameters, resume, plug-ins, bad input.

scikit-learn's estimator checks run once for every estimator in
tests/test_estimator_checks.py.
"""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback
from test_describe_data import make_texture_patches

from sklearn_patchdesc._training import EpochCheckpoint  # noqa: F401  (core callback)
from sklearn_patchdesc.describe import (L2NetDescriptor, PKSampler, RandomTripletSampler,
                                        RawPatchDescriptor, SIFTPatchDescriptor,
                                        TripletMarginLoss)

# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def small():
    X, y = make_texture_patches(n_sequences=3, n_points=6, random_state=3)
    return X, y  # 288 patches, 18 labels x 16 images, 3 sequences


def _quick(**kw):
    params = dict(max_epochs=1, batch_size=48, sampler=RandomTripletSampler(24), random_state=0)
    params.update(kw)
    return L2NetDescriptor(**params)


@pytest.fixture(scope="module")
def fitted(small):
    X, y = small
    return _quick().fit(X, y)


# ------------------------------------------------------------ transforms
@pytest.mark.parametrize("est", [RawPatchDescriptor(), RawPatchDescriptor(size=16),
                                 SIFTPatchDescriptor(), SIFTPatchDescriptor(root=True)])
def test_handcrafted_layouts_and_dtypes(small, est):
    X, _ = small
    D = est.fit(X).transform(X)
    assert D.dtype == np.float32 and D.shape[0] == len(X) and np.isfinite(D).all()
    np.testing.assert_allclose(est.transform(X.reshape(len(X), -1)), D, atol=1e-6)
    np.testing.assert_allclose(est.transform(X[:, None]), D, atol=1e-6)
    np.testing.assert_allclose(est.transform(X / 255.0), D, atol=1e-4)
    if isinstance(est, SIFTPatchDescriptor):
        assert D.shape[1] == 128
        np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, atol=1e-5)
        if not est.root:
            # clip=1 leaves the unit histogram unclipped; clip=0.2 must be it clipped at 0.2
            # and renormalised (Lowe 2004), and the clip must bite on these patches
            unclipped = SIFTPatchDescriptor(clip=1.0).fit(X).transform(X)
            assert (unclipped > 0.2).any()
            clipped = np.minimum(unclipped, 0.2)
            np.testing.assert_allclose(
                D, clipped / np.linalg.norm(clipped, axis=1, keepdims=True), atol=1e-6)
    assert len(est.get_feature_names_out()) == D.shape[1]


def test_sift_orientation_bins():
    edge = np.zeros((1, 32, 32), np.float32)
    edge[:, :, 16:] = 1  # gradient along +x: orientation bin 0 only
    D = SIFTPatchDescriptor().fit(edge).transform(edge).reshape(4, 4, 8)
    assert D[..., 1:].max() == 0 and D[..., 0].max() > 0
    assert D[:, 1:3, 0].min() > D[:, 0, 0].max()  # only the central column has gradient


def test_l2net_transform_unit_norm_float32_any_layout(small, fitted):
    X, _ = small
    D = fitted.transform(X)
    assert D.shape == (len(X), 128) and D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(fitted.transform(X.reshape(len(X), -1)), D, atol=1e-5)
    np.testing.assert_allclose(fitted.transform(X / 255.0), D, atol=1e-4)
    np.testing.assert_allclose(fitted.transform(X[:7]), D[:7], atol=1e-5)  # batch-independent
    assert fitted.history_[-1, "train_loss"] > 0
    assert len(fitted.get_feature_names_out()) == 128


def test_l2net_deterministic_and_picklable(small, fitted):
    import pickle

    X, y = small
    again = _quick().fit(X, y)
    np.testing.assert_allclose(again.transform(X[:20]), fitted.transform(X[:20]), atol=1e-5)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(X[:20]), fitted.transform(X[:20]), atol=1e-6)


def test_score_is_hpatches_mean(small, fitted):
    X, y = small
    for est in (fitted, RawPatchDescriptor().fit(X)):
        s = est.score(X, y)
        assert 0.0 <= s <= 1.0


# ------------------------------------------------------------ parameters
def test_clone_and_prefixed_params_reach_the_net(small):
    X, y = small
    est = _quick(module__out_features=128, optimizer__momentum=0.9,
                 iterator_train__batch_size=21, criterion__margin=0.5)
    params = est.get_params()
    assert params["optimizer__momentum"] == 0.9 and params["iterator_train__batch_size"] == 21
    c = clone(est).set_params(module__dropout=0.3, optimizer__momentum=0.5)
    assert c.get_params()["module__dropout"] == 0.3 and est.get_params()["optimizer__momentum"] == 0.9
    c.fit(X, y)
    assert c.net_.optimizer_.param_groups[0]["momentum"] == 0.5
    assert c.net_.criterion_.margin == 0.5
    dropouts = [m for m in c.net_.module_.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts[0].p == 0.3
    assert len(c.history_[-1, "batches"]) == -(-24 // 7)  # 24 triplets, 21 patches = 7 a batch


def test_tpe_params_reachable_by_set_params(small):
    X, y = small
    est = _quick().set_params(**L2NetDescriptor.TPE_PARAMS).fit(X, y)
    layers = list(est.net_.module_.features)
    acts = [m for m in layers if isinstance(m, (torch.nn.ReLU, torch.nn.Sigmoid))]
    assert [type(a).__name__ for a in acts] == ["ReLU", "ReLU", "Sigmoid", "Sigmoid", "ReLU", "ReLU"]
    assert isinstance(est.net_.optimizer_, torch.optim.Adam)
    assert est.net_.optimizer_.param_groups[0]["lr"] == 1e-3
    assert [m.p for m in layers if isinstance(m, torch.nn.Dropout)] == [0.5]


@pytest.mark.parametrize("criterion_kw", [
    {"criterion__miner": "batch_hard"},
    {"criterion__miner": "batch_all", "criterion__soft": True, "criterion__margin": 0.0},
    {"criterion__lossless": True, "criterion__distance": "sqeuclidean",
     "criterion__miner": "batch_hard"},
])
def test_pk_batches_with_mined_losses(small, criterion_kw):
    X, y = small
    keep = y["label"] < 6  # 6 labels x 16 patches: 6 PK batches of 4 x 4
    X, y = X[keep], y[keep]
    est = _quick(sampler=PKSampler(n_per_label=4), batch_size=16, optimizer="adam", lr=1e-3, **criterion_kw).fit(X, y)
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    assert est.net_.criterion_.last_n_triplets_ > 0


class _RecordingSampler(RandomTripletSampler, Callback):
    """A sampler that is also a callback (the hook HardPositiveMiner uses)."""

    def __init__(self, n_triplets=None):
        super().__init__(n_triplets)
        self.epochs_seen = 0

    def on_epoch_begin(self, net, **kwargs):
        assert net.iterator_train__sampler is self
        self.epochs_seen += 1


def test_sampler_callback_is_registered_and_caller_object_untouched(small):
    X, y = small
    sampler = _RecordingSampler(12)
    est = _quick(sampler=sampler, max_epochs=2).fit(X, y)
    assert est.sampler_.epochs_seen == 2 and sampler.epochs_seen == 0
    assert dict(est.net_.callbacks_)["sampler"] is est.sampler_


def test_criterion_instance_is_copied(small):
    X, y = small
    loss = TripletMarginLoss(margin=0.3)
    est = _quick(criterion=loss).fit(X, y)
    assert est.net_.criterion_ is not loss and est.net_.criterion_.margin == 0.3


# ------------------------------------------------------- validation split
def test_validation_split_by_sequence_with_hpatches_score():
    X, y = make_texture_patches(n_sequences=5, n_points=4, random_state=3)
    est = _quick(max_epochs=2, train_split=0.4, valid_scoring="hpatches_mean",
                 early_stopping=5).fit(X, y)
    assert len(est.valid_groups_) == 2 and set(est.valid_groups_) <= set(y["sequence"])
    hist = est.history_
    assert len(hist) == 2
    scores = hist[:, "valid_hpatches_mean"]
    assert all(0.0 <= s <= 1.0 for s in scores) and np.isfinite(hist[:, "valid_loss"]).all()


def test_retrieval_validation_score_needs_two_held_out_sequences(small):
    # one held-out sequence leaves retrieval without distractors (every descriptor scores 1)
    X, y = small
    with pytest.raises(ValueError, match="needs at least two.*holds out 1"):
        _quick(train_split=0.3, valid_scoring="hpatches_mean").fit(X, y)
    est = _quick(train_split=0.3, valid_scoring="hpatches_verification").fit(X, y)
    assert np.isfinite(est.history_[-1, "valid_hpatches_verification"])


def test_validation_split_on_plain_labels_groups_by_label(small):
    X, y = small
    est = _quick(train_split=0.2).fit(X, y["label"])
    assert set(est.valid_groups_) <= set(y["label"])
    assert "valid_loss" in est.history_[-1]


def test_early_stopping_needs_a_split(small):
    X, y = small
    with pytest.raises(ValueError, match="train_split"):
        _quick(early_stopping=2).fit(X, y)


# ---------------------------------------------------------- checkpointing
def test_checkpoint_resume_runs_only_missing_epochs(small, tmp_path):
    X, y = small
    first = _quick(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    resumed = _quick(max_epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert len(resumed.history_) == 2
    assert resumed.history_[0, "train_loss"] == pytest.approx(first.history_[0, "train_loss"])
    fresh = _quick(max_epochs=0 + 1, random_state=123)
    assert fresh.get_params()["checkpoint_dir"] is None


# --------------------------------------------------------------- bad input
def test_bad_input(small, fitted):
    X, y = small
    Xf = X.astype(np.float32) / 255
    Xf[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _quick().fit(Xf, y)
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(Xf)
    with pytest.raises(ValueError, match="expecting 1024 features"):
        fitted.transform(X[:, :16, :16])
    with pytest.raises(ValueError, match="requires y"):
        _quick().fit(X, None)
    with pytest.raises(ValueError, match="labels for"):
        _quick().fit(X, y["label"][:-1])
    with pytest.raises(ValueError, match="square"):
        SIFTPatchDescriptor().fit(X[:, :, :20])
    with pytest.raises(ValueError, match="expecting"):
        RawPatchDescriptor().fit(X).transform(X[:, :16, :16])


@pytest.mark.parametrize("labels, match", [
    (lambda n: np.arange(n), "occurs once"),
    (lambda n: np.zeros(n, int), "single label"),
])
def test_labels_without_triplets_fail_fast(small, labels, match):
    X, _ = small
    with pytest.raises(ValueError, match=match):
        _quick(max_epochs=50).fit(X, labels(len(X)))
    with pytest.raises(ValueError, match=match):
        _quick(sampler=PKSampler(n_per_label=4), batch_size=16, criterion__miner="batch_hard").fit(X, labels(len(X)))
