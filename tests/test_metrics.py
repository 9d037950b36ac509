"""HPatches tasks: loop reference vs fast code, task files, properties, errors."""
import csv

import numpy as np
import pytest

from sklearn_patchdesc.metrics import (hpatches_evaluate, hpatches_matching,
                                       hpatches_retrieval, hpatches_verification)

DT = [("label", "i8"), ("sequence", "U24"), ("image", "i1")]


def make_set(n_seq=4, n_p=12, d=8, noise=(0.3, 0.6, 1.0), seed=0, label0=100):
    """Synthetic record set: every patch of every image; shuffled row order."""
    rng = np.random.default_rng(seed)
    names = [("v_" if s % 2 else "i_") + f"seq{s}" for s in range(n_seq)]
    seq = np.repeat(names, 16 * n_p)
    image = np.tile(np.repeat(np.arange(16), n_p), n_seq)
    idx = np.tile(np.arange(n_p), 16 * n_seq)
    label = label0 + np.repeat(np.arange(n_seq), 16 * n_p) * n_p + idx
    t = np.empty(len(seq), DT)
    t["label"], t["sequence"], t["image"] = label, seq, image
    pts = rng.normal(size=(label.max() + 1, d))
    lvl = np.where(image == 0, 0, (image - 1) // 5)
    X = pts[label] + rng.normal(size=(len(t), d)) * np.asarray(noise)[lvl][:, None]
    perm = rng.permutation(len(t))
    return X[perm], t[perm], names


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_tasks(tmp_path, names, n_p, rng, n_pairs=60, n_q=15, n_d=30, split="x"):
    ns = len(names)
    pos, intra, inter = [], [], []
    for _ in range(n_pairs):
        s, s2 = rng.integers(ns), rng.integers(ns)
        i1, i2 = rng.choice(n_p, 2, replace=False)
        t1, t2 = rng.choice(6, 2, replace=False)
        pos.append((names[s], t1, i1, names[s], t2, i1))
        intra.append((names[s], t1, i1, names[s], t2, i2))
        inter.append((names[s], t1, i1, names[s2], t2, rng.integers(n_p)))
    h = ["s1", "t1", "idx1", "s2", "t2", "idx2"]
    write_csv(tmp_path / f"verif_pos_split-{split}.csv", h, pos)
    write_csv(tmp_path / f"verif_neg_intra_split-{split}.csv", h, intra)
    write_csv(tmp_path / f"verif_neg_inter_split-{split}.csv", h, inter)
    pts = [(names[s], i) for s in range(ns) for i in range(n_p)]
    order = rng.permutation(len(pts))
    write_csv(tmp_path / f"retr_queries_split-{split}.csv", ["s", "idx"], [pts[k] for k in order[:n_q]])
    write_csv(tmp_path / f"retr_distractors_split-{split}.csv", ["s", "idx"],
              [pts[k] for k in order[n_q:n_q + n_d]])


# ------------------------------------------------------------------ reference
def ref_ap(dist, lab, numpos=None):
    order = sorted(range(len(dist)), key=lambda i: dist[i])
    p = sum(lab) if numpos is None else numpos
    tp = fp = 0
    prec, rec = [1.0], [0.0]
    for i in order:
        tp, fp = tp + bool(lab[i]), fp + (not lab[i])
        prec.append(max(tp, 1e-10) / max(tp + fp, 1e-10))
        rec.append(tp / max(p, 1e-10))
    return sum((rec[k + 1] - rec[k]) * (prec[k] + prec[k + 1]) / 2 for k in range(len(rec) - 1))


def ref_auc(dist, lab):
    order = sorted(range(len(dist)), key=lambda i: dist[i])
    p, n = sum(lab), len(lab) - sum(lab)
    tp = area = 0.0
    for i in order:
        if lab[i]:
            tp += 1
        else:
            area += tp / p / n
    return area


class Lookup:
    def __init__(self, X, t):
        first = {}
        for r in t:
            first[r["sequence"]] = min(first.get(r["sequence"], 10**18), r["label"])
        self.X, self.map = X, {}
        for row, r in enumerate(t):
            self.map[(str(r["sequence"]), int(r["image"]), int(r["label"] - first[r["sequence"]]))] = row

    def desc(self, s, img, idx):
        return self.X[self.map[(s, img, idx)]]


def img(t, d):
    return 0 if t == 0 else t + 5 * d


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [[int(v) if v.lstrip("-").isdigit() else v for v in r] for r in rows]


def ref_verification(L, tmp_path, split="x"):
    files = {k: read(tmp_path / f"verif_{k}_split-{split}.csv")
             for k in ("pos", "neg_intra", "neg_inter")}
    out = []
    for d in range(3):
        dist = {k: [float(np.linalg.norm(L.desc(s1, img(t1, d), i1) - L.desc(s2, img(t2, d), i2)))
                    for s1, t1, i1, s2, t2, i2 in rows] for k, rows in files.items()}
        P = len(dist["pos"])
        for k in ("neg_inter", "neg_intra"):
            allp = dist[k] + dist["pos"]
            lab = [0] * len(dist[k]) + [1] * P
            n_imb = P + int(0.2 * P)
            out.append((ref_ap(allp[:n_imb], lab[:n_imb]), ref_auc(allp, lab)))
    return out


def ref_matching(L, names, n_p):
    per_diff = []
    for d in range(3):
        groups = {}
        for s in names:
            aps = []
            for i in range(1, 6):
                dists, correct = [], []
                for q in range(n_p):
                    a = L.desc(s, 0, q)
                    D = [float(np.linalg.norm(a - L.desc(s, i + 5 * d, c))) for c in range(n_p)]
                    nn = int(np.argmin(D))
                    dists.append(D[nn])
                    correct.append(nn == q)
                aps.append(ref_ap(dists, correct, numpos=n_p))
            groups.setdefault(s[0], []).append(np.mean(aps))
        per_diff.append(np.mean([np.mean(v) for v in groups.values()]))
    return float(np.mean(per_diff))


def ref_retrieval(L, tmp_path, pools, split="x"):
    q = read(tmp_path / f"retr_queries_split-{split}.csv")
    dis = read(tmp_path / f"retr_distractors_split-{split}.csv")
    res = []
    for d in range(3):
        per_pool = []
        for k in pools:
            aps = []
            for s, i in q:
                a = L.desc(s, 0, i)
                lst = [float(np.linalg.norm(a - L.desc(s, j + 5 * d, i))) for j in range(1, 6)]
                lst += [float(np.linalg.norm(a - L.desc(s2, 0, i2))) for s2, i2 in dis if s2 != s]
                lab = [1] * 5 + [0] * (len(lst) - 5)
                aps.append(ref_ap(lst[:k], lab[:k]))
            per_pool.append(np.mean(aps))
        res.append(np.mean(per_pool))
    return float(np.mean(res))


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_equals_loop_reference(tmp_path, seed):
    n_p = 10
    X, t, names = make_set(n_p=n_p, seed=seed)
    write_tasks(tmp_path, names, n_p, np.random.default_rng(seed))
    L = Lookup(X, t)
    pools = (7, 12, 20, 1000)
    rep = hpatches_evaluate(X, t, tasks_dir=tmp_path, split="x", pool_sizes=pools)
    ver = rep.details["verification"]["per_difficulty"]
    ref = ref_verification(L, tmp_path)
    fast = [(ver[d][k]["ap"], ver[d][k]["auc"]) for d in ("easy", "hard", "tough")
            for k in ("inter", "intra")]
    np.testing.assert_allclose(fast, ref, atol=1e-9)
    assert abs(rep.verification - np.mean([a for a, _ in ref])) < 1e-9
    assert abs(rep.matching - ref_matching(L, names, n_p)) < 1e-9
    assert abs(rep.retrieval - ref_retrieval(L, tmp_path, pools)) < 1e-9
    # single-number functions agree with the report
    assert hpatches_verification(X, t, tasks_dir=tmp_path, split="x") == rep.verification
    assert hpatches_matching(X, t) == rep.matching
    assert hpatches_retrieval(X, t, tasks_dir=tmp_path, split="x", pool_sizes=pools) == rep.retrieval


def test_official_retrieval_files_map_correctly(shared_data, tmp_path):
    src = shared_data / "hpatches-benchmark-tasks"
    q, d = read(src / "retr_queries_split-a.csv"), read(src / "retr_distractors_split-a.csv")
    assert len(q) == 10000 and len(d) == 20000
    keep = sorted({s for s, _ in q})[:4]
    n_p = 1 + max(i for s, i in q + d if s in keep)
    qk = [r for r in q if r[0] in keep]
    dk = [r for r in d if r[0] in keep]
    write_csv(tmp_path / "retr_queries_split-a.csv", ["s", "idx"], qk)
    write_csv(tmp_path / "retr_distractors_split-a.csv", ["s", "idx"], dk)
    # descriptors encode (sequence, idx): exact positives iff the mapping is right
    rng = np.random.default_rng(0)
    X, t, _ = make_set(n_seq=4, n_p=n_p, d=16, noise=(0, 0, 0), label0=7)
    t["sequence"] = np.asarray(keep)[[int(s[-1]) for s in t["sequence"]]]
    score = hpatches_retrieval(X, t, tasks_dir=tmp_path, split="a")
    assert score == 1.0
    # a shifted idx mapping (first label off by one) breaks it
    X2 = X + rng.normal(size=X.shape) * 1e-3
    bad = t.copy()
    bad["label"] = np.where(bad["image"] == 0, bad["label"] + 1, bad["label"])
    bad = bad[bad["label"] < bad["label"].max()]
    with pytest.raises(ValueError, match="absent from the data"):
        hpatches_retrieval(X2[: len(bad)], bad, tasks_dir=tmp_path, split="a")
    # the whole official file needs all its sequences
    with pytest.raises(ValueError, match="sequence"):
        hpatches_retrieval(X, t, tasks_dir=src, split="a")


def test_identical_positives_give_one_and_random_is_chance():
    X, t, _ = make_set(n_seq=5, n_p=40, noise=(0, 0, 0))
    rep = hpatches_evaluate(X, t)
    assert rep.verification == rep.matching == rep.retrieval == 1.0
    rng = np.random.default_rng(1)
    R = rng.normal(size=X.shape)
    rep = hpatches_evaluate(R, t, n_pairs=20000)
    auc = [r["auc"] for k in rep.details["verification"]["per_difficulty"].values()
           for r in k.values()]
    assert abs(np.mean(auc) - 0.5) < 0.03
    assert abs(rep.verification - 1 / 6) < 0.04  # imbalanced: 0.2 P positives vs P negatives
    assert rep.matching < 0.1 and rep.retrieval < 0.15


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_invariant_to_sample_order_and_rotation(distance):
    X, t, _ = make_set(n_seq=4, n_p=15, seed=3)
    base = hpatches_evaluate(X, t, distance=distance)
    perm = np.random.default_rng(0).permutation(len(t))
    p = hpatches_evaluate(X[perm], t[perm], distance=distance)
    for task in ("verification", "matching", "retrieval"):
        assert abs(p.scores[task] - base.scores[task]) < 1e-12
    if distance == "l2":
        Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(X.shape[1],) * 2))
        r = hpatches_evaluate(X @ Q, t)
        for task in ("verification", "matching", "retrieval"):
            assert abs(r.scores[task] - base.scores[task]) < 1e-9


def test_hamming_and_label_only_protocol():
    X, t, _ = make_set(n_seq=3, n_p=20, d=64, noise=(0.2, 0.4, 0.6))
    bits = X > 0
    a = hpatches_evaluate(bits, t, distance="hamming")
    b = hpatches_evaluate(np.packbits(bits, axis=1), t, distance="hamming")
    assert a.scores == b.scores and 0.5 < a.mean <= 1
    lab = hpatches_evaluate(X, t["label"])
    assert lab.protocol == "labels" and 0.5 < lab.mean <= 1
    assert set(lab.details["retrieval"]["per_difficulty"]) == {"all"}
    # ungrouped labels in any order
    assert abs(hpatches_evaluate(X[::-1], t["label"][::-1]).mean - lab.mean) < 0.05


def test_subsets_missing_images_and_difficulties():
    X, t, _ = make_set(n_seq=4, n_p=15)
    keep = t["image"] <= 5  # only ref + easy
    rep = hpatches_evaluate(X[keep], t[keep])
    v = rep.details["verification"]["per_difficulty"]
    assert np.isnan(v["hard"]["inter"]["ap"]) and not np.isnan(v["easy"]["inter"]["ap"])
    assert set(rep.details["matching"]["per_difficulty"]["easy"]) >= {"i", "v", "mean"}
    assert all(0 <= s <= 1 for s in rep.scores.values())
    rng = np.random.default_rng(0)
    some = rng.random(len(t)) < 0.6  # random patches missing everywhere
    rep = hpatches_evaluate(X[some], t[some])
    assert all(0 <= s <= 1 for s in rep.scores.values())
    one = t["sequence"] == t["sequence"][0]  # a single sequence: no inter negatives
    rep = hpatches_evaluate(X[one], t[one], tasks=("verification", "matching"))
    assert np.isnan(rep.details["verification"]["per_difficulty"]["easy"]["inter"]["ap"])
    with pytest.raises(ValueError, match="no distractor"):  # retrieval: any descriptor 1.0
        hpatches_evaluate(X[one], t[one])


def test_report_table_dict_curves():
    X, t, _ = make_set()
    rep = hpatches_evaluate(X, t)
    s = str(rep)
    for word in ("Verification", "Matching", "Retrieval", "Easy", "Tough", "inter", "20000"):
        assert word in s
    d = rep.as_dict()
    assert set(d) >= {"verification", "matching", "retrieval", "mean", "details"}
    assert abs(d["mean"] - np.mean([rep.verification, rep.matching, rep.retrieval])) < 1e-12
    c = rep.curves["easy"]["inter"]
    assert c["pr"]["precision"][0] == 1.0 and c["roc"]["tpr"][-1] == 1.0
    assert "pr" not in str(d["details"]["verification"])  # curves only with as_dict(curves=True)
    assert "precision" in str(rep.as_dict(curves=True)["details"])


def test_bad_inputs(tmp_path):
    X, t, names = make_set(n_seq=2, n_p=5)
    with pytest.raises(ValueError, match="must match"):
        hpatches_verification(X[:-1], t)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hpatches_matching(Xn, t)
    with pytest.raises(ValueError, match="Unknown distance"):
        hpatches_retrieval(X, t, distance="cosine")
    with pytest.raises(ValueError, match="2-D"):
        hpatches_retrieval(X[:, 0], t)
    with pytest.raises(ValueError, match="binary"):
        hpatches_retrieval(X, t, distance="hamming")
    with pytest.raises(FileNotFoundError, match="verif_pos_split-zz"):
        hpatches_verification(X, t, tasks_dir=tmp_path, split="zz")
    with pytest.raises(ValueError, match="together"):
        hpatches_verification(X, t, tasks_dir=tmp_path)
    write_tasks(tmp_path, names + ["v_missing"], 5, np.random.default_rng(0), split="m")
    with pytest.raises(ValueError, match="v_missing"):
        hpatches_verification(X, t, tasks_dir=tmp_path, split="m")
    with pytest.raises(ValueError, match="n_pairs"):
        hpatches_verification(X, t, n_pairs=0)
    with pytest.raises(ValueError, match="record target"):
        hpatches_retrieval(X, t["label"], tasks_dir=tmp_path, split="m")
