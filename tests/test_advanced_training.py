"""Advanced training (issue 6): hard-positive mining, stepped batch-hard,
collapse detection, flip/rot90 augmentation and the OPMS pair miner.

Unit tests drive the samplers/callbacks with small arrays or a stub net; the
few end-to-end fits use tiny synthetic sets (the CI machine has 2 cores).
"""
import math
import warnings

import numpy as np
import pytest
import torch
from skorch.history import History

from sklearn_patchdesc._training import TrainingError
from sklearn_patchdesc.describe import (CollapseMonitor, ContrastiveLoss, HardPositiveMiner,
                                        L2NetDescriptor, MultiScaleDescriptor, OnlinePairMiner,
                                        PatchAugmentation, PKSampler, SteppedBatchHard,
                                        TripletMarginLoss)
from sklearn_patchdesc.describe._augment import dihedral_transform
from sklearn_patchdesc.describe._collapse import CollapseWarning, mean_pairwise_distance
from sklearn_patchdesc.describe._hard_positive import farthest_positives, nearest_negatives


def labelled_patches(n_labels=16, k=4, size=16, noise=0.05, seed=0):
    """K shifted, noisy views of random smooth patches per label (float32 in [0, 1])."""
    rng = np.random.default_rng(seed)
    base = rng.random((n_labels, size // 4 + 2, size // 4 + 2))
    base = np.kron(base, np.ones((4, 4)))  # blocky, so small shifts keep views alike
    views = []
    for _ in range(k):
        dy, dx = rng.integers(0, 8, 2)
        v = base[:, dy:dy + size, dx:dx + size] + noise * rng.standard_normal((n_labels, size, size))
        views.append(v)
    X = np.clip(np.stack(views, 1).reshape(-1, size, size), 0, 1).astype(np.float32)
    return X, np.repeat(np.arange(n_labels), k)


# --------------------------------------------------------------- hard positives
def test_farthest_positive_is_the_farthest_same_label_row():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 60)
    labels[:3] = 99  # a group of three, a singleton at the end
    labels[-1] = 1000
    emb = rng.standard_normal((60, 5)).astype(np.float32)
    got = farthest_positives(emb, labels)
    for i in range(60):
        same = np.flatnonzero((labels == labels[i]) & (np.arange(60) != i))
        if len(same) == 0:
            assert got[i] == i
            continue
        d = np.linalg.norm(emb[same] - emb[i], axis=1)
        assert got[i] == same[np.argmax(d)]
    neg = nearest_negatives(emb, labels)
    for i in range(0, 60, 7):
        other = np.flatnonzero(labels != labels[i])
        assert neg[i] == other[np.argmin(np.linalg.norm(emb[other] - emb[i], axis=1))]


def test_hard_positive_miner_builds_triplets_with_the_farthest_positive():
    labels = np.repeat(np.arange(5), 4)
    emb = np.zeros((20, 2), np.float32)
    emb[:, 0] = np.tile([0.0, 1.0, 2.0, 5.0], 5)  # in each label row 3 is far from all
    emb[:, 1] = np.repeat(np.arange(5) * 100.0, 4)
    miner = HardPositiveMiner(negatives="hard").initialize()
    a, p, n = miner.triplets(labels, 0)  # before a refresh: random triplets
    assert np.all(labels[a] == labels[p]) and np.all(labels[a] != labels[n])
    miner.embeddings_, miner.labels_ = emb, labels
    miner.positives_ = farthest_positives(emb, labels)
    a, p, n = miner.triplets(labels, 0)
    expect = np.where(a % 4 == 3, a - 3, (a // 4) * 4 + 3)
    np.testing.assert_array_equal(p, expect)
    assert np.all(np.abs(labels[n] - labels[a]) == 1)  # nearest other label
    batch = next(miner.batches(labels, 12, 0))
    assert len(batch) == 12
    with pytest.raises(ValueError, match="differ from the embedded"):
        miner.triplets(labels[:12], 0)


def test_hard_positive_miner_refreshes_after_warmup_in_a_fit():
    X, y = labelled_patches(8, 4)
    est = L2NetDescriptor(sampler=HardPositiveMiner(warmup_epochs=1, refresh_every=1),
                          max_epochs=2, batch_size=48, random_state=0).fit(X, y)
    assert est.sampler_ is not est.sampler
    hist = est.history_
    assert "hard_positive_distance" not in hist[0] and hist[1, "hard_positive_distance"] > 0
    miner = dict(est.net_.callbacks_)["sampler"]
    assert miner.n_refreshes_ == 1 and miner.positives_.shape == (32,)


# ------------------------------------------------------------ stepped batch-hard
class StubNet:
    """What SteppedBatchHard reads from a skorch net."""

    def __init__(self, criterion, sampler, batch_size=24):
        self.criterion_ = criterion
        self.iterator_train__sampler = sampler
        self.history = History()
        self.batch_size = batch_size
        self.module_ = torch.nn.Linear(2, 2)

    def epoch(self, cb, loss):
        self.history.new_epoch()
        self.history.record("train_loss", loss)
        cb.on_epoch_end(self)


STAGES = ((8, 2), (16, 2), (32, 4))


def test_stepped_batch_hard_advances_only_below_the_collapse_point():
    crit = TripletMarginLoss(margin=1.0, miner="batch_hard")
    cb = SteppedBatchHard(stages=STAGES, headroom=0.95).initialize()
    net = StubNet(crit, cb)
    cb.on_train_begin(net)
    for loss in (1.2, 1.0, 0.96, 0.951):  # above or at the margin, or within the headroom
        net.epoch(cb, loss)
        assert cb.stage_ == 0
    net.epoch(cb, 0.9)
    assert cb.stage_ == 1 and cb.transitions_ == [(5, 1)]
    net.epoch(cb, 1.5)  # above: stays (no step back by default), never advances
    assert cb.stage_ == 1
    net.epoch(cb, 0.5)
    net.epoch(cb, 0.1)  # last stage: stays
    assert cb.stage_ == 2
    assert [r["stage_batch_size"] for r in net.history] == [8] * 5 + [16, 16, 32]
    assert [r["stage"] for r in net.history] == [0] * 5 + [1, 1, 2]
    # its own PK batches follow the stage
    batches = list(cb.batches(np.repeat(np.arange(16), 8), None, 0))
    assert all(len(b) == 32 for b in batches)


def test_stepped_batch_hard_soft_margin_threshold_and_step_back():
    crit = TripletMarginLoss(margin=0.0, soft=True, miner="batch_hard")
    pk = PKSampler(n_per_label=2)
    cb = SteppedBatchHard(stages=STAGES, step_back=True, min_epochs=2).initialize()
    net = StubNet(crit, pk)
    cb.on_train_begin(net)
    assert cb.threshold_for(net) == pytest.approx(math.log(2))
    net.epoch(cb, 0.5)  # below ln 2 but min_epochs=2
    assert cb.stage_ == 0
    net.epoch(cb, 0.5)
    assert cb.stage_ == 1 and (net.batch_size, pk.n_per_label) == (16, 2)
    net.epoch(cb, 0.70)  # above ln 2: back to stage 0
    assert cb.stage_ == 0 and (net.batch_size, pk.n_per_label) == (8, 2)


def test_stepped_batch_hard_warmup_uses_given_triplets_then_batch_hard():
    crit = TripletMarginLoss(margin=1.0, miner="batch_hard")
    cb = SteppedBatchHard(stages=STAGES, warmup_epochs=2).initialize()
    net = StubNet(crit, cb)
    cb.on_train_begin(net)
    assert cb.stage_ == -1 and net.criterion_.miner == "given"
    assert len(next(cb.batches(np.repeat(np.arange(8), 4), 12, 0))) == 12  # [a; p; n]
    net.epoch(cb, 0.2)
    assert cb.stage_ == -1
    net.epoch(cb, 0.2)
    assert cb.stage_ == 0 and net.criterion_ is crit


def test_stepped_batch_hard_rejects_unusable_setups():
    cb = SteppedBatchHard(stages=STAGES).initialize()
    with pytest.raises(ValueError, match="mined triplet loss"):
        cb.on_train_begin(StubNet(TripletMarginLoss(), cb))
    with pytest.raises(ValueError, match="drives PK batches"):
        cb.on_train_begin(StubNet(TripletMarginLoss(miner="batch_hard"), object()))
    with pytest.raises(ValueError, match="invalid"):
        SteppedBatchHard(stages=((6, 4),)).initialize()


def test_stepped_batch_hard_in_a_fit_with_warm_weights():
    X, y = labelled_patches(8, 4)
    warm = L2NetDescriptor(max_epochs=1, batch_size=48, random_state=0).fit(X, y)
    est = L2NetDescriptor(sampler=SteppedBatchHard(stages=((8, 2), (16, 4)), init_weights=warm,
                                                   threshold=10.0),
                          criterion__miner="batch_hard", optimizer="adam", lr=2e-4,
                          max_epochs=2, random_state=0).fit(X, y)
    h = est.history_
    assert [r["stage_batch_size"] for r in h] == [8, 16]  # threshold 10: always below
    assert h[-1, "batches", -1, "train_batch_size"] == 16


# --------------------------------------------------------------------- collapse
def _collapse_setup(lr, batchnorm, action="rollback"):
    X, y = labelled_patches(16, 16)
    monitor = CollapseMonitor(action=action)
    est = MultiScaleDescriptor(
        depth=2, channels=(8, 16), deep_features=32, shallow_channels=8, input_size=16,
        batchnorm=batchnorm, criterion=TripletMarginLoss, criterion__miner="batch_hard",
        sampler=PKSampler(n_per_label=16), batch_size=256, lr=lr, max_epochs=3, random_state=0,
        callbacks=[("collapse", monitor)])
    return est, X, y


def test_collapse_monitor_fires_on_a_collapsing_setup_and_rolls_back():
    # seed 001: large batch-hard batches (K = 16), a high learning rate, random init
    est, X, y = _collapse_setup(lr=0.5, batchnorm=False)
    with pytest.warns(CollapseWarning, match="collapse detected at epoch .*Rolled back"):
        est.fit(X, y)
    mon = dict(est.net_.callbacks_)["collapse"]
    assert mon.collapsed_epoch_ is not None and len(est.history_) == mon.collapsed_epoch_
    assert est.history_[-1, "collapsed"]
    assert mon.distances_[-1] < mon.min_distance
    # the weights are those of the last good epoch again
    restored = mean_pairwise_distance(est.transform(X[mon.probe_rows_]))
    assert restored == pytest.approx(mon.distances_[mon.good_epoch_], rel=1e-4)


def test_collapse_monitor_raise_action():
    est, X, y = _collapse_setup(lr=0.5, batchnorm=False, action="raise")
    with pytest.raises(TrainingError, match="collapse"):
        est.fit(X, y)


def test_collapse_monitor_stays_quiet_on_a_healthy_setup():
    est, X, y = _collapse_setup(lr=0.01, batchnorm=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        est.fit(X, y)
    mon = dict(est.net_.callbacks_)["collapse"]
    assert mon.collapsed_epoch_ is None and len(est.history_) == 3
    assert all(r["probe_distance"] > 0.1 for r in est.history_)


def test_collapse_monitor_loss_pinned_at_the_margin():
    mon = CollapseMonitor(probe=np.random.default_rng(0).random((6, 8, 8)), loss_patience=2,
                          action="raise").initialize()
    net = StubNet(TripletMarginLoss(margin=1.0), None)
    net.module_ = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    net.optimizer_ = torch.optim.SGD(net.module_.parameters(), lr=0.1)
    net.device = "cpu"
    mon.on_train_begin(net)
    for loss in (1.3, 1.001):
        net.history.new_epoch()
        net.history.record("train_loss", loss)
        mon.on_epoch_end(net)
    net.history.new_epoch()
    net.history.record("train_loss", 0.999)
    with pytest.raises(TrainingError, match="stayed at the collapse value"):
        mon.on_epoch_end(net)


# ----------------------------------------------------------------- augmentation
def test_dihedral_transform_matches_numpy():
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    for code in range(8):
        out = dihedral_transform(x, [code, 0])
        ref = np.rot90(x[0, 0].numpy(), code % 4)
        if code >= 4:
            ref = np.flip(ref, axis=-1)
        np.testing.assert_array_equal(out[0, 0].numpy(), ref)
        np.testing.assert_array_equal(out[1], x[1])


def test_label_consistent_augmentation_keeps_same_label_patches_aligned():
    X, y = labelled_patches(6, 4, noise=0.0)
    X[4:8] = X[4]  # label 1: four identical patches
    xb = torch.from_numpy(X[:, None]).clone()
    yb = torch.from_numpy(y)
    aug = PatchAugmentation(mode="label").initialize()
    aug.rng_ = np.random.default_rng(0)
    codes = aug.draw_codes(y, np.random.default_rng(1))
    for lab in np.unique(y):
        assert len(set(codes[y == lab])) == 1  # one transform per label
    assert np.all(codes > 0)
    aug.on_batch_begin(None, batch=(xb, yb), training=True)  # in place
    assert not torch.equal(xb, torch.from_numpy(X[:, None]))
    assert torch.equal(xb[4], xb[5]) and torch.equal(xb[4], xb[7])
    # independent flips break the alignment of same-label patches
    ind = PatchAugmentation(mode="independent").initialize()
    codes = ind.draw_codes(np.zeros(400, int), np.random.default_rng(0))
    assert len(set(codes)) == 7
    # validation batches are left alone
    xv = torch.from_numpy(X[:, None]).clone()
    aug.on_batch_begin(None, batch=(xv, yb), training=False)
    assert torch.equal(xv, torch.from_numpy(X[:, None]))


def test_augmentation_options():
    only_rot = PatchAugmentation(flips=False).initialize()
    assert set(only_rot._choices()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="mode"):
        PatchAugmentation(mode="sometimes").initialize()
    none = PatchAugmentation(p=0.0).initialize()
    assert not none.draw_codes(np.arange(10), np.random.default_rng(0)).any()


def test_augmentation_is_off_by_default_and_trains_when_on():
    est = L2NetDescriptor()
    assert not any(isinstance(c, PatchAugmentation) for _, c in (est.callbacks or []))
    X, y = labelled_patches(8, 2)
    L2NetDescriptor(max_epochs=1, batch_size=48, random_state=0,
                    callbacks=[("augment", PatchAugmentation("label"))]).fit(X, y)


# --------------------------------------------------------------------------- OPMS
def test_opms_lambda_grows_from_zero_to_one_over_the_epochs():
    miner = OnlinePairMiner()
    assert [miner.lambda_at(e, 4) for e in range(1, 5)] == [0.25, 0.5, 0.75, 1.0]
    fixed = OnlinePairMiner(lambda_start=0.5, lambda_end=0.5)
    assert fixed.lambda_at(1, 10) == fixed.lambda_at(10, 10) == 0.5


def test_opms_prunes_pairs_that_satisfy_the_margin():
    # labels 0 and 1 close together; label 2 far from everything
    emb = np.array([[0, 0], [0, .1], [0, .2], [0, .3], [5, 0], [5, .1]], dtype=float)
    labels = np.array([0, 0, 1, 1, 2, 2])
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    miner = OnlinePairMiner(margin=1.0, negatives_per_positive=10)
    a1, p, a2, n, pruned = miner.mine(dist, labels, np.random.default_rng(0), lam=0.0)
    # anchors 4, 5: max d_pos^2 + 1 < min d_neg^2 -> all their pairs go
    assert not np.isin([4, 5], np.concatenate([a1, a2])).any()
    assert len(a1) == 4 and set(zip(a1, p)) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    # negatives beyond the margin (to label 2) are pruned too
    assert np.all(dist[a2, n] < 1.0) and np.all(labels[a2] != labels[n])
    assert pruned > 0
    raw = OnlinePairMiner(random=True, negatives_per_positive=10)
    a1r, _, a2r, _, pruned_r = raw.mine(dist, labels, np.random.default_rng(0), lam=1.0)
    assert pruned_r == 0 and len(a1r) == 6 and len(a2r) == 24


def test_opms_lambda_one_prefers_hard_negatives():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((40, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.repeat(np.arange(10), 4)
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    miner = OnlinePairMiner(margin=2.0, prune=False)
    means = []
    for lam in (0.0, 1.0):
        d = [dist[a2, n].mean() for a2, n in
             (miner.mine(dist, labels, np.random.default_rng(s), lam)[2:4] for s in range(20))]
        means.append(np.mean(d))
    assert means[1] < means[0]


def test_opms_in_a_contrastive_fit_records_lambda():
    X, y = labelled_patches(8, 4)
    est = L2NetDescriptor(criterion=ContrastiveLoss, criterion__miner=OnlinePairMiner(),
                          sampler=PKSampler(n_per_label=4), batch_size=16, optimizer="adam", lr=1e-3,
                          max_epochs=2,
                          random_state=0).fit(X, y)
    assert [r["opms_lambda"] for r in est.history_] == [0.5, 1.0]
    assert est.history_[-1, "opms_positive_pairs"] > 0
    assert np.isfinite(est.history_[-1, "train_loss"])
