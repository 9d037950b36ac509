"""phototour_revisited_map (Mishkin's brown_phototour_revisited) against a direct computation,
and the image ids it groups by, read from and written to ``interest.txt``."""
import numpy as np
import pytest

from sklearn_patchdesc.datasets import load_phototour, write_phototour
from sklearn_patchdesc.metrics import phototour_revisited_map


def _reference(D, labels, images, p=2):
    """The protocol spelled out: loops over groups and anchors, AP over distinct thresholds."""
    aps = []
    for g in np.unique(images):
        rows = np.flatnonzero(images == g)
        correct, conf = [], []
        for i in rows:
            d = {j: np.sum(np.abs(D[i] - D[j]) ** p) ** (1 / p) for j in rows}
            negs = [d[j] for j in rows if labels[j] != labels[i]]
            d_neg = min(negs) if negs else np.inf
            for j in rows:
                if j != i and labels[j] == labels[i]:
                    lo, hi = min(d[j], d_neg), max(d[j], d_neg)
                    correct.append(d[j] <= d_neg)
                    conf.append(1.0 - (1.0 if hi == 0 else lo / hi))
        if not correct:
            continue
        correct, conf = np.array(correct), np.array(conf)
        if not correct.any():
            aps.append(0.0)
            continue
        ap, recall_before = 0.0, 0.0
        for t in np.unique(conf)[::-1]:  # thresholds from the most confident down
            taken = conf >= t
            recall = correct[taken].sum() / correct.sum()
            ap += (recall - recall_before) * correct[taken].mean()
            recall_before = recall
        aps.append(ap)
    return float(np.mean(aps))


def _data(seed, n=120, n_groups=5):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, n_groups, n)
    labels = rng.integers(0, 25, n)
    D = rng.normal(size=(25, 8))[labels] + 0.7 * rng.normal(size=(n, 8))  # points + noise
    D[labels % 3 == 0] = np.round(D[labels % 3 == 0])  # coarse values: tied distances
    D[5] = D[7]  # an exact duplicate
    return D, labels, images


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_a_direct_computation(seed):
    D, labels, images = _data(seed)
    assert phototour_revisited_map(D, labels, images) == pytest.approx(
        _reference(D, labels, images), abs=1e-12)
    assert phototour_revisited_map(D, labels, images, distance="l1") == pytest.approx(
        _reference(D, labels, images, p=1), abs=1e-12)


def test_special_groups():
    D = np.array([[0., 0.], [0., 0.], [1., 1.], [5., 5.], [5., 6.], [9., 9.], [9., 8.]])
    labels = np.array([0, 0, 1, 2, 2, 3, 4])
    images = np.array([0, 0, 0, 1, 1, 2, 2])
    # group 0: the duplicate pair (0/0 ratio, correct) against a farther negative;
    # group 1: one point only, no negative (correct, ratio 0); group 2: no pair, left out
    assert phototour_revisited_map(D, labels, images) == 1.0
    assert phototour_revisited_map(D, labels, images) == _reference(D, labels, images)
    # a positive farther than the negative in group 0 makes that pair wrong there
    far = D.copy()
    far[1] = [3., 3.]
    assert phototour_revisited_map(far, labels, images) == pytest.approx(
        _reference(far, labels, images))
    assert phototour_revisited_map(far, labels, images) == pytest.approx(0.5)  # (0 + 1) / 2


def test_zero_over_zero_ratio_ranks_last():
    """An anchor at distance 0 from both its positive and its hardest negative: correct,
    but a ratio of 1 (confidence 0), so it ranks after the wrong pairs."""
    D = np.array([[20, 20], [20, 20], [20, 20],      # points 5, 5 and 6, all equal
                  [30, 30], [30, 30.5],              # point 7: a clear match
                  [40, 40], [43, 40], [41, 40.]])    # point 8 with point 9 in between
    labels = np.array([5, 5, 6, 7, 7, 8, 8, 9])
    # confidences: point 7 twice ~0.97 (correct), point 8 2/3 and 1/3 (wrong), point 5
    # twice 0 (correct): precision 1 at recall 1/2, then 4/6 at recall 1
    got = phototour_revisited_map(D, labels, np.zeros(8, int))
    assert got == pytest.approx(0.5 + 0.5 * 4 / 6)
    assert got == pytest.approx(_reference(D, labels, np.zeros(8, int)))


def test_bad_input():
    D, labels, images = _data(0)
    with pytest.raises(ValueError, match="image_ids must be 1-D with one entry per descriptor"):
        phototour_revisited_map(D, labels, images[:-1])
    with pytest.raises(ValueError, match="no group does"):
        phototour_revisited_map(D[:3], [0, 1, 2], [0, 0, 0])
    D[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 4"):
        phototour_revisited_map(D, labels, images)


def test_interest_txt_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    bunch = {"data": rng.integers(0, 256, (40, 32, 32), dtype=np.uint8),
             "target": np.repeat(np.arange(20), 2), "image_ids": np.arange(40) % 3 + 10}
    path = write_phototour(bunch, tmp_path, "s", n_pairs=20)
    assert (path / "interest.txt").read_text().splitlines()[:2] == ["10 0 0 0 0", "11 0 0 0 0"]
    b = load_phototour(tmp_path, "s")
    np.testing.assert_array_equal(b.image_ids, bunch["image_ids"])
    del bunch["image_ids"]
    assert write_phototour(bunch, tmp_path / "none", "s", n_pairs=20)
    assert load_phototour(tmp_path / "none", "s").image_ids is None
    lines = (path / "interest.txt").read_text().splitlines()
    (path / "interest.txt").write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(ValueError, match=r"interest.txt has 38 lines for the 40 patches .*line 39"):
        load_phototour(tmp_path, "s")
    lines[6] = "x 1 2 3 4"
    (path / "interest.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"interest.txt, line 7: 'x' is not an integer"):
        load_phototour(tmp_path, "s")
    with pytest.raises(ValueError, match="image_ids must be integers, one per patch"):
        write_phototour({**bunch, "image_ids": np.zeros(3, int)}, tmp_path / "bad", "s")
