"""Losses, miners and samplers of sklearn_patchdesc.describe (no network training)."""
import math

import numpy as np
import pytest
import torch

from sklearn_patchdesc.describe import (BatchHardMiner, BatchSizeUnitWarning, ContrastiveLoss,
                                        PKSampler,
                                        RandomTripletSampler, TripletMarginLoss)
from sklearn_patchdesc.describe._samplers import check_triplet_labels

# one triplet: a=(0,0), p=(3,4), n=(6,8) -> d_ap=5, d_an=10 (l2); 25, 100 (sq); 7, 14 (l1)
A, P, N = [0.0, 0.0], [3.0, 4.0], [6.0, 8.0]


def _emb(*rows):
    return torch.tensor(rows, dtype=torch.float32, requires_grad=True)


@pytest.mark.parametrize("kwargs, expected", [
    ({"margin": 6.0}, 1.0),                                   # max(0, 6 + 5 - 10)
    ({"margin": 1.0}, 0.0),
    ({"margin": 1.0, "soft": True}, math.log1p(math.exp(-4.0))),
    ({"margin": 0.0, "soft": True}, math.log1p(math.exp(-5.0))),
    ({"margin": 80.0, "distance": "sqeuclidean"}, 5.0),       # 80 + 25 - 100
    ({"margin": 10.0, "distance": "l1"}, 3.0),                # 10 + 7 - 14
])
def test_triplet_loss_given_hand_computed(kwargs, expected):
    loss = TripletMarginLoss(**kwargs)(_emb(A, P, N), torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_triplet_loss_mean_over_given_triplets_and_nonzero_reducer():
    # two triplets [a1, a2; p1, p2; n1, n2]: losses 1 and 0 (margin 6)
    emb = _emb(A, [0.0, 0.0], P, [0.0, 1.0], N, [0.0, 20.0])
    labels = torch.tensor([0, 1, 0, 1, 2, 3])
    assert TripletMarginLoss(margin=6.0)(emb, labels).item() == pytest.approx(0.5)
    assert TripletMarginLoss(margin=6.0, reducer="nonzero")(emb, labels).item() == pytest.approx(1.0)


def test_lossless_triplet_loss_matches_formula():
    # unit vectors: d_ap = |a-p|^2 = 2 (orthogonal), d_an = 4 (opposite); upper = beta = 4
    a, p, n = [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]
    loss = TripletMarginLoss(lossless=True, distance="sqeuclidean")(_emb(a, p, n), None)
    eps = 1e-8
    expected = -math.log(1 - 2 / 4 + eps) - math.log(1 - (4 - 4) / 4 + eps)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    with pytest.raises(ValueError, match="sqeuclidean"):
        TripletMarginLoss(lossless=True)


def test_collapse_values():
    assert TripletMarginLoss(margin=1.0).collapse_value == 1.0
    assert TripletMarginLoss(margin=0.0, soft=True).collapse_value == pytest.approx(math.log(2))
    x = torch.zeros(6, 4, requires_grad=True)  # every descriptor the same point
    loss = TripletMarginLoss(margin=0.0, soft=True, miner="batch_hard")(x, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert loss.item() == pytest.approx(math.log(2), rel=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all()


def _brute_force_hard(emb, labels):
    d = torch.cdist(emb, emb).numpy()
    labels = labels.numpy()
    out = []
    for i in range(len(labels)):
        pos = (labels == labels[i]) & (np.arange(len(labels)) != i)
        neg = labels != labels[i]
        if pos.any() and neg.any():
            out.append((i, np.flatnonzero(pos)[d[i, pos].argmax()],
                        np.flatnonzero(neg)[d[i, neg].argmin()]))
    return out


def test_batch_hard_miner_picks_hardest_pairs():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(40, 8, generator=g)
    labels = torch.arange(10).repeat_interleave(4)
    a, p, n = BatchHardMiner()(emb, labels)
    assert sorted(zip(a.tolist(), p.tolist(), n.tolist())) == _brute_force_hard(emb, labels)
    # the loss on batch_hard is the mean of the hinge on exactly those triplets
    loss = TripletMarginLoss(margin=1.0, miner="batch_hard")(emb, labels)
    d = torch.cdist(emb, emb)
    expected = torch.relu(1.0 + d[a, p] - d[a, n]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_batch_all_uses_every_valid_triplet():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    a, p, n = BatchHardMiner(mode="all")(torch.randn(6, 3), labels)
    lab = labels.numpy()
    n_expected = sum(((lab == lab[i]).sum() - 1) * (lab != lab[i]).sum() for i in range(6))
    assert len(a) == n_expected == 3 * 2 * 3 + 2 * 1 * 4
    assert (labels[a] == labels[p]).all() and (a != p).all() and (labels[a] != labels[n]).all()


def test_given_layout_needs_multiple_of_three():
    with pytest.raises(ValueError, match="multiple of 3"):
        TripletMarginLoss()(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]))


def test_contrastive_loss_hand_computed():
    # pairs given as [first; second]: (a, p) positive, d=5; (a, n) negative d=10, (a, q) negative d=1
    emb = _emb(A, A, A, P, N, [0.0, 1.0])
    labels = torch.tensor([0, 0, 0, 0, 1, 2])
    loss = ContrastiveLoss(margin=2.0, pairs="given")(emb, labels)
    expected = (0.5 * 25 + 0.5 * 0.0 + 0.5 * (2 - 1) ** 2) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # all pairs of a batch: 1 positive (d=0), 2 negatives (d=1): 0.5 * (0 + 0.25 + 0.25) / 3 ... with margin 1.5
    emb = _emb([0.0, 0.0], [0.0, 0.0], [1.0, 0.0])
    got = ContrastiveLoss(margin=1.5)(emb, torch.tensor([0, 0, 1])).item()
    # PML all-pairs lists ordered pairs: positives (0,1),(1,0); negatives (0,2),(1,2),(2,0),(2,1)
    assert got == pytest.approx((4 * 0.5 * 0.25) / 6, rel=1e-5)


def test_pair_miner_plugs_into_losses():
    calls = []

    def miner(emb, labels):
        calls.append(len(emb))
        return (torch.tensor([0]), torch.tensor([1]), torch.tensor([0]), torch.tensor([2]))

    emb = _emb(A, P, N)
    ContrastiveLoss(miner=miner)(emb, torch.tensor([0, 0, 1]))
    loss = TripletMarginLoss(margin=6.0, miner=miner)(emb, torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(1.0) and calls == [3, 3]


# ------------------------------------------------------------------ samplers
def _labels(seed=0):
    rng = np.random.default_rng(seed)
    return np.repeat(rng.permutation(60) * 7, rng.integers(1, 12, 60))


def test_random_triplet_sampler_valid_and_covering():
    labels = _labels()
    s = RandomTripletSampler()
    batches = list(s.batches(labels, 64, np.random.default_rng(0)))  # 64 patches: 21 triplets
    idx = np.concatenate(batches)
    a, p, n = s.triplets(labels, 0)
    assert (labels[a] == labels[p]).all() and (a != p).all() and (labels[a] != labels[n]).all()
    counts = np.unique(labels, return_counts=True)[1]
    assert len(a) == (np.repeat(counts, counts) >= 2).sum()
    assert sorted(a) == sorted(np.flatnonzero(np.isin(labels, np.unique(labels)[counts >= 2])))
    assert all(len(b) % 3 == 0 for b in batches) and len(idx) == 3 * len(a)
    assert [len(b) for b in batches[:-1]] == [63] * (len(batches) - 1)
    assert len(batches) == s.n_batches(labels, 64) == -(-len(a) // 21)
    a2, _, _ = RandomTripletSampler(n_triplets=500).triplets(labels, 1)
    assert len(a2) == 500


def test_random_triplet_sampler_is_uniform_over_positives():
    labels = np.array([0, 0, 0, 0, 1])
    rng = np.random.default_rng(0)
    a, p, _ = RandomTripletSampler(n_triplets=8000).triplets(labels, rng)
    freq = np.bincount(p[a == 0], minlength=4)[1:4] / (a == 0).sum()
    np.testing.assert_allclose(freq, 1 / 3, atol=0.04)


@pytest.mark.parametrize("S, K", [(4, 2), (8, 4), (3, 6)])
def test_pk_sampler_batches_have_triplets_and_cover(S, K):
    labels = _labels(S + K)
    sampler = PKSampler(n_per_label=K)
    for seed in range(3):  # batch_size counts patches: S labels of K, rounded down to K
        batches = list(sampler.batches(labels, S * K + K - 1, np.random.default_rng(seed)))
        counts = np.unique(labels, return_counts=True)
        coverable = np.flatnonzero(np.isin(labels, counts[0][counts[1] >= 2]))
        assert set(np.concatenate(batches)) == set(coverable)
        for b in batches:
            assert len(b) == S * K
            lab = labels[b]
            ul, uc = np.unique(lab, return_counts=True)
            assert len(ul) >= 2 and (uc >= 2).any()  # a positive and a negative exist
        b = batches[0]
        assert BatchHardMiner()(torch.randn(len(b), 4), torch.as_tensor(labels[b]))[0].numel() > 0


def test_pk_sampler_dominant_label_still_valid():
    labels = np.array([5] * 60 + [9, 9])
    for b in PKSampler(n_per_label=4).index_batches(labels, 16, 0):
        assert len(np.unique(labels[b])) == 2


@pytest.mark.parametrize("labels, match", [
    (np.arange(10), "occurs once"),
    (np.zeros(10, int), "single label"),
    (np.array([], int), "empty"),
])
def test_labels_without_triplets_raise(labels, match):
    with pytest.raises(ValueError, match=match):
        check_triplet_labels(labels)
    with pytest.raises(ValueError, match=match):
        next(PKSampler(n_per_label=2).batches(labels, 8, np.random.default_rng(0)))
    with pytest.raises(ValueError, match=match):
        next(RandomTripletSampler().batches(labels, 8, np.random.default_rng(0)))


def test_pk_sampler_bad_params():
    with pytest.raises(ValueError, match="n_per_label"):
        PKSampler(n_per_label=1).index_batches(np.repeat(np.arange(4), 2), 16, 0)


def test_batch_size_counts_patches_for_every_sampler():
    labels = np.repeat(np.arange(20), 4)
    with pytest.raises(ValueError, match=r"batch_size=2 patches holds no triplet"):
        next(RandomTripletSampler().batches(labels, 2, 0))
    assert len(next(RandomTripletSampler().batches(labels, 3, 0))) == 3
    with pytest.raises(ValueError, match=r"batch_size=7 patches holds 1 label\(s\) of "
                                         r"n_per_label=4 patches.*batch_size >= 8"):
        next(PKSampler(n_per_label=4).batches(labels, 7, 0))
    assert {len(b) for b in PKSampler(n_per_label=4).batches(labels, 8, 0)} == {8}
    assert PKSampler(n_per_label=4).n_batches(labels, 8) == 10


def test_pk_sampler_explicit_labels_per_batch_keeps_the_old_meaning_and_warns():
    labels = np.repeat(np.arange(20), 4)
    with pytest.warns(BatchSizeUnitWarning, match=r"n_labels_per_batch=5\) is deprecated.*"
                                                  r"batch_size=20 \(S x K\)"):
        batches = list(PKSampler(5, 4).batches(labels, 999, 0))
    assert {len(b) for b in batches} == {20}  # S x K, whatever the batch_size
