"""make_hpatches_like: determinism, correspondence, difficulty and noise orderings."""
import numpy as np
import pytest

from sklearn_patchdesc.datasets import (IMAGE_NAMES, load_hpatches, load_image_sequences,
                                        make_hpatches_like, write_hpatches)


def ncc(a, b):
    a = a.reshape(len(a), -1).astype(float)
    b = b.reshape(len(b), -1).astype(float)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-9)


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def groups(code_lo, code_hi, y):
    return (y["image"] >= code_lo) & (y["image"] < code_hi)


@pytest.fixture(scope="module")
def generated():
    return make_hpatches_like(n_sequences=4, n_patches_per_sequence=80, noise=True,
                              random_state=0)


def test_format(generated):
    b = generated
    assert b.data.dtype == np.uint8 and b.data.shape[1:] == (32, 32)
    assert b.data_clean.shape == b.data.shape
    assert b.sequence_names == sorted(b.sequence_names) and len(b.sequence_names) == 4
    assert all(s[:2] in ("v_", "i_") for s in b.sequence_names)
    assert {s[:2] for s in b.sequence_names} == {"v_", "i_"}
    y = b.target
    assert len(y) == 16 * b.n_patches.sum() and np.all(b.n_patches == 80)
    assert b.image_names == list(IMAGE_NAMES)
    # labels consecutive per sequence, each label in all 16 images exactly once
    labels, counts = np.unique(y["label"], return_counts=True)
    assert np.array_equal(labels, np.arange(320)) and np.all(counts == 16)
    for s, first in zip(b.sequence_names, range(0, 320, 80)):
        assert y["label"][y["sequence"] == s].min() == first
    assert np.all(b.overlap[y["image"] == 0] == 1)


def test_positives_really_correspond(generated):
    X, y = generated.data_clean, generated.target
    ref = X[y["image"] == 0]
    e1 = X[y["image"] == 1]
    assert np.array_equal(y["label"][y["image"] == 0], y["label"][y["image"] == 1])
    pos = np.median(ncc(ref, e1))
    rng = np.random.default_rng(0)
    neg = np.median(ncc(ref, ref[rng.permutation(len(ref))]))
    assert pos > 0.8 and neg < 0.3 and pos - neg > 0.5


def test_difficulty_ordering(generated):
    X, y = generated.data_clean, generated.target
    ref = X[y["image"] == 0]
    sims = [np.mean([np.median(ncc(ref, X[y["image"] == c])) for c in range(lo, lo + 5)])
            for lo in (1, 6, 11)]
    assert sims[0] > sims[1] + 0.05 > sims[2] + 0.1
    ov = [np.median(generated.overlap[groups(lo, lo + 5, y)]) for lo in (1, 6, 11)]
    assert ov[0] == pytest.approx(0.85, abs=0.03)   # HPatches easy
    assert ov[1] == pytest.approx(0.72, abs=0.03)   # HPatches hard
    assert 0.5 < ov[2] < 0.66                       # tough: harder still


def test_noise_ordering(generated):
    X, C, y = generated.data, generated.data_clean, generated.target
    p = [psnr(X[groups(lo, hi, y)], C[groups(lo, hi, y)]) for lo, hi in ((1, 6), (6, 11), (11, 16))]
    assert p[0] > p[1] + 2 > p[2] + 2
    assert psnr(X[y["image"] == 0], C[y["image"] == 0]) == pytest.approx(p[0], abs=1.0)


def test_deterministic_and_seed_dependent():
    kw = dict(n_sequences=2, n_patches_per_sequence=30)
    a = make_hpatches_like(random_state=3, **kw)
    b = make_hpatches_like(random_state=3, **kw)
    c = make_hpatches_like(random_state=4, **kw)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(a.data, c.data)
    X, y = make_hpatches_like(random_state=3, return_X_y=True, **kw)
    np.testing.assert_array_equal(X, a.data)
    assert "data_clean" not in a


def test_round_trip_generated_nhpatches(generated, tmp_path):
    write_hpatches(generated, tmp_path)
    back = load_hpatches(tmp_path, cache=False)
    np.testing.assert_array_equal(back.data, generated.data)
    np.testing.assert_array_equal(back.data_clean, generated.data_clean)
    np.testing.assert_array_equal(back.target, generated.target)


def test_real_sequences_give_patch_sets(shared_data):
    real = shared_data / "real"
    seqs = (load_image_sequences(real / "oxford_affine" / "graffiti")
            + load_image_sequences(real / "oxford_affine" / "boat")
            + load_image_sequences(real / "hpatches_sequences" / "v_churchill")
            + load_image_sequences(real / "kaze_iguazu"))
    b = make_hpatches_like(sequences=seqs, n_patches_per_sequence=40, random_state=0)
    assert b.sequence_names == ["i_iguazu", "v_boat", "v_churchill", "v_graffiti"]
    assert np.all(b.n_patches == 40)
    X, y = b.data, b.target
    rng = np.random.default_rng(1)
    for s in b.sequence_names:
        m = y["sequence"] == s
        ref, e1 = X[m & (y["image"] == 0)], X[m & (y["image"] == 1)]
        pos = np.median(ncc(ref, e1))
        neg = np.median(ncc(ref, ref[rng.permutation(len(ref))]))
        assert pos > 0.6 and pos > neg + 0.3, (s, pos, neg)
        frames = b.frames[s]
        assert frames.shape == (40, 4)


def test_sequences_given_as_a_path(shared_data):
    """A folder path works like the list load_image_sequences returns."""
    folder = shared_data / "real" / "oxford_affine" / "boat"
    from_path = make_hpatches_like(sequences=folder, n_patches_per_sequence=10, random_state=0)
    from_list = make_hpatches_like(sequences=load_image_sequences(folder),
                                   n_patches_per_sequence=10, random_state=0)
    assert from_path.sequence_names == ["v_boat"]
    np.testing.assert_array_equal(from_path.data, from_list.data)


def test_too_small_images():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (20, 20)).astype(np.uint8)
    seq = {"name": "v_tiny", "images": [img] * 6, "homographies": np.tile(np.eye(3), (5, 1, 1))}
    with pytest.raises(ValueError, match="no patch fits.*v_tiny.*20x20"):
        make_hpatches_like(sequences=[seq], random_state=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="6 images and 5 homographies"):
        make_hpatches_like(sequences=[{"name": "x", "images": [np.zeros((50, 50))] * 6,
                                       "homographies": np.eye(3)}])
    with pytest.raises(ValueError, match="unknown noise kind"):
        make_hpatches_like(noise="pink", n_sequences=1)
    with pytest.raises(ValueError, match="n_patches_per_sequence"):
        make_hpatches_like(n_patches_per_sequence=0)
