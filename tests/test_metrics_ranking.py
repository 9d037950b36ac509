"""AP / AUC definitions: properties, a loop reference, agreement with scikit-learn."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from sklearn_patchdesc.metrics._ranking import (precision_recall_official,
                                                verification_ap_auc)


def ref_curves(distances, labels, numpos=None):
    """Plain loops: stable ranking by distance, trapezoid PR and ROC areas."""
    order = sorted(range(len(distances)), key=lambda i: distances[i])  # stable
    p = sum(labels) if numpos is None else numpos
    n = len(labels) - sum(labels)
    tp = fp = 0
    prec, rec, tpr, fpr = [1.0], [0.0], [0.0], [0.0]
    for i in order:
        if labels[i]:
            tp += 1
        else:
            fp += 1
        prec.append(max(tp, 1e-10) / max(tp + fp, 1e-10))
        rec.append(tp / max(p, 1e-10))
        tpr.append(tp / max(p, 1e-10))
        fpr.append(fp / max(n, 1e-10))
    ap = sum((rec[k + 1] - rec[k]) * (prec[k] + prec[k + 1]) / 2 for k in range(len(rec) - 1))
    area = sum((fpr[k + 1] - fpr[k]) * (tpr[k] + tpr[k + 1]) / 2 for k in range(len(fpr) - 1))
    return ap, area


dists = arrays(np.float64, st.integers(1, 40), elements=st.integers(0, 6).map(float))


@settings(max_examples=60, deadline=None)
@given(dists, dists)
def test_verification_matches_loop_reference_with_ties(d_pos, d_neg):
    ap, area = verification_ap_auc(d_pos, d_neg)
    d = np.concatenate([d_neg, d_pos])  # official order: [negatives; positives]
    lab = [0] * len(d_neg) + [1] * len(d_pos)
    ref_ap, ref_auc = ref_curves(list(d), lab)
    assert abs(ap - ref_ap) < 1e-9 and abs(area - ref_auc) < 1e-9
    assert 0 <= ap <= 1 and 0 <= area <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**31))
def test_agrees_with_sklearn_without_ties(n_pos, n_neg, seed):
    rng = np.random.default_rng(seed)
    d = rng.permutation(n_pos + n_neg).astype(float) + rng.random()  # distinct
    d_neg, d_pos = d[:n_neg], d[n_neg:]
    ap, area = verification_ap_auc(d_pos, d_neg)
    y = np.r_[np.zeros(n_neg), np.ones(n_pos)]
    assert abs(area - roc_auc_score(y, -d)) < 1e-12
    precision, recall, _ = precision_recall_curve(y, -d)
    # the official precision floor (1e-10 / rank instead of 0) differs by < 1e-9
    assert abs(ap - auc(recall, precision)) < 1e-9


@settings(max_examples=40, deadline=None)
@given(dists, st.integers(0, 10))
def test_numpos_larger_than_listed(d, extra):
    lab = (np.arange(len(d)) % 3 == 0)
    p = int(lab.sum()) + extra
    _, _, ap = precision_recall_official(d, lab, numpos=p)
    ref_ap, _ = ref_curves(list(d), list(lab), numpos=p)
    assert (p == 0 and np.isnan(ap)) or abs(ap - ref_ap) < 1e-9


def test_perfect_and_worst():
    ap, area = verification_ap_auc([0.0, 0.1], [1.0, 2.0, 3.0])
    assert ap == 1.0 and area == 1.0
    ap, area = verification_ap_auc([5.0], [1.0, 2.0])
    assert area == 0.0 and abs(ap - (1e-10 / 2 + 1 / 3) / 2) < 1e-12


def test_random_is_chance():
    rng = np.random.default_rng(0)
    ap, area = verification_ap_auc(rng.random(20000), rng.random(20000))
    assert abs(area - 0.5) < 0.02 and abs(ap - 0.5) < 0.02
