"""End-to-end quality: descriptors judged by the HPatches tasks on held-out sequences.

Data: ``make_texture_patches`` (test_describe_data.py), 6 training and 3
held-out sequences with disjoint labels, full record-array protocol of
:func:`sklearn_patchdesc.metrics.hpatches_evaluate`. The L2-Net budget is
2 x 1000 random triplets (6000 patch passes: ~20 s at the ~300 patches/s
of a free 2-core CPU); with it L2-Net beat raw pixels by 0.03-0.06 mAP on
every task when the test was written (0.89/0.71/0.93 vs 0.84/0.68/0.87).
"""
import numpy as np
import pytest
from test_describe_data import make_texture_patches

from sklearn_patchdesc.describe import (L2NetDescriptor, RandomTripletSampler,
                                        RawPatchDescriptor, SIFTPatchDescriptor)
from sklearn_patchdesc.metrics import hpatches_evaluate

TASKS = ("verification", "matching", "retrieval")


@pytest.fixture(scope="module")
def split():
    Xtr, ytr = make_texture_patches(n_sequences=6, n_points=40, random_state=0)
    Xte, yte = make_texture_patches(n_sequences=3, n_points=40, random_state=1,
                                    first_label=10_000)
    assert not set(ytr["label"]) & set(yte["label"])
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope="module")
def raw_scores(split):
    Xtr, _, Xte, yte = split
    return hpatches_evaluate(RawPatchDescriptor().fit(Xtr).transform(Xte), yte).scores


def test_l2net_beats_raw_pixels_on_all_tasks(split, raw_scores):
    Xtr, ytr, Xte, yte = split
    est = L2NetDescriptor(max_epochs=2, batch_size=150, sampler=RandomTripletSampler(1000),
                          optimizer="adam", lr=1e-3, random_state=0).fit(Xtr, ytr)
    D = est.transform(Xte)
    assert D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, atol=1e-5)
    scores = hpatches_evaluate(D, yte).scores
    for task in TASKS:
        assert scores[task] > raw_scores[task], (task, scores, raw_scores)
    assert est.history_[-1, "train_loss"] < est.history_[0, "train_loss"]


def test_sift_beats_raw_pixels_on_matching(split, raw_scores):
    Xtr, _, Xte, yte = split
    for root in (False, True):
        D = SIFTPatchDescriptor(root=root).fit(Xtr).transform(Xte)
        scores = hpatches_evaluate(D, yte, tasks=("matching",)).scores
        assert scores["matching"] > raw_scores["matching"] + 0.02, (root, scores, raw_scores)
