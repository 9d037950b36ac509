"""SIFTPatchDescriptor against kornia.feature.SIFTDescriptor on real-derived patches.

SIFTPatchDescriptor delegates to kornia's SIFTDescriptor (n_cells -> num_spatial_bins,
n_bins -> num_ang_bins, clip -> clipval, root -> rootsift) and reorders kornia's
orientation-major values cell-major. The issue's target (issue 30): HPatches mAP within
0.01 of kornia's on every task, SIFT and RootSIFT, with the descriptors themselves
correlated; the hand-written numpy SIFT this replaces missed it (matching +0.015 for SIFT,
+0.012 for RootSIFT on these patches).
"""
import numpy as np
import pytest

from sklearn_patchdesc.datasets import load_image_sequences, make_hpatches_like
from sklearn_patchdesc.describe import SIFTPatchDescriptor, TorchModuleDescriptor
from sklearn_patchdesc.metrics import hpatches_evaluate
from tests.conftest import shared_data_path

import kornia.feature as KF  # noqa: E402  (a core dependency: SIFTPatchDescriptor is its SIFT)


@pytest.fixture(scope="module")
def real32():
    # two real sequences: retrieval needs distractors from another sequence
    seqs = (load_image_sequences(shared_data_path("real", "hpatches_sequences", "v_churchill"))
            + load_image_sequences(shared_data_path("real", "oxford_affine", "boat")))
    return make_hpatches_like(seqs, n_patches_per_sequence=40, random_state=0)


def _kornia(X, n_cells=4, n_bins=8, clip=0.2, root=False):
    """kornia's descriptors of X, reordered cell-major like SIFTPatchDescriptor's."""
    module = KF.SIFTDescriptor(X.shape[-1], n_bins, n_cells, rootsift=root, clipval=clip)
    D = TorchModuleDescriptor(module).fit(X).transform(X)
    return D.reshape(len(X), n_bins, n_cells ** 2).transpose(0, 2, 1).reshape(len(X), -1)


@pytest.mark.parametrize("root", [False, True], ids=["SIFT", "RootSIFT"])
def test_agrees_with_kornia(real32, root):
    X, y = real32.data, real32.target
    ours = SIFTPatchDescriptor(root=root).fit(X).transform(X)
    theirs = _kornia(X, root=root)
    corr = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(ours, theirs)])
    assert corr.min() >= 0.999, corr.min()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    mine = hpatches_evaluate(ours, y).scores
    ref = hpatches_evaluate(theirs, y).scores
    for task in ("verification", "matching", "retrieval"):
        assert abs(mine[task] - ref[task]) <= 0.01, (task, mine[task], ref[task])


def test_parameters_map_onto_kornia(real32):
    """n_cells, n_bins, clip and root reach kornia's num_spatial_bins, num_ang_bins,
    clipval and rootsift, at another patch side (16)."""
    X = real32.data[:64, ::2, ::2]
    ours = SIFTPatchDescriptor(n_cells=2, n_bins=6, clip=0.3, root=True).fit(X).transform(X)
    assert ours.shape == (64, 2 * 2 * 6)
    np.testing.assert_allclose(ours, _kornia(X, n_cells=2, n_bins=6, clip=0.3, root=True),
                               atol=1e-5)
    default = SIFTPatchDescriptor(n_cells=2, n_bins=6).fit(X).transform(X)
    assert np.abs(default - ours).max() > 0.05  # clip and root do change the values


def test_patch_side_kornia_cannot_pool():
    X = np.zeros((2, 7, 7), np.uint8)
    est = SIFTPatchDescriptor()
    with pytest.raises(ValueError, match=r"cannot pool 7x7 patches into n_cells=4 .*\[6, 8\]"):
        est.fit(X)
    assert not hasattr(est, "patch_size_")  # a refused fit leaves it unfitted
    assert SIFTPatchDescriptor(n_cells=1).fit(X).transform(X).shape == (2, 8)
