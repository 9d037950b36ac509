"""HPatches numbers against the official evaluation code on tied distances.

``../shared/data/hpatches-oracle`` holds two cases (see its SOURCES.md) with the
numbers the official hpatches-benchmark code printed: ``d1`` (values rounded to
a few levels, L2: many exactly tied distances) and ``d2`` (0/1 bits, L1).
Every number of ``expected.json`` must agree to 1e-6, through
``hpatches_evaluate`` and through the ``evaluate`` command on CSVs in the
official layout.
"""
import json

import numpy as np
import pytest

from sklearn_patchdesc._cli import main
from sklearn_patchdesc.datasets import save_descriptors_csv
from sklearn_patchdesc.metrics import hpatches_evaluate

from conftest import shared_data_path

CASES = {"d1": "l2", "d2": "l1"}
DIFF = {"e": "easy", "h": "hard", "t": "tough"}
TOL = 1e-6


def _case(name):
    folder = shared_data_path("hpatches-oracle", name, "expected.json").parent
    z = np.load(folder / "case.npz")
    target = np.rec.fromarrays([z["label"], z["sequence"], z["image"]],
                               names="label,sequence,image")
    return folder, z["descriptors"], target, json.loads((folder / "expected.json").read_text())


def _numbers(details, scores):
    """Every number of expected.json, computed from a report's details / scores."""
    ver = details["verification"]["per_difficulty"]
    mat = details["matching"]
    ret = {k: {str(p): v for p, v in details["retrieval"]["per_difficulty"][d]["pools"].items()}
           for k, d in DIFF.items()}
    largest = str(max(int(p) for p in ret["e"]))
    per_seq = [np.mean([s[DIFF[k]]["ap"] for s in mat["per_sequence"].values()]) for k in DIFF]
    return {
        "verification": scores["verification"],
        "verification_imbalanced_ap": {k: {n: ver[d][n]["ap"] for n in ("inter", "intra")}
                                       for k, d in DIFF.items()},
        "verification_balanced_auc": {k: {n: ver[d][n]["auc"] for n in ("inter", "intra")}
                                      for k, d in DIFF.items()},
        "matching": scores["matching"],
        "matching_pooled": float(np.mean(per_seq)),
        "matching_per_difficulty": {k: mat["per_difficulty"][d]["mean"] for k, d in DIFF.items()},
        "retrieval": scores["retrieval"],
        "retrieval_largest_pool": float(np.mean([ret[k][largest] for k in DIFF])),
        "retrieval_per_difficulty": ret,
    }


def _compare(got, want, path=""):
    assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
    for key, w in want.items():
        g = got[key]
        if isinstance(w, dict):
            _compare(g, w, f"{path}/{key}")
        else:
            assert abs(g - w) <= TOL, f"{path}/{key}: {g!r} vs official {w!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_hpatches_evaluate_gives_the_official_numbers(name):
    folder, X, target, want = _case(name)
    rep = hpatches_evaluate(X, target, distance=CASES[name], tasks_dir=folder / "tasks",
                            split="x", curve_points=0)
    _compare(_numbers(rep.details, rep.scores), want)
    # float64 input of the same values: the same numbers (ties do not depend on the dtype)
    rep64 = hpatches_evaluate(X.astype(np.float64), target, distance=CASES[name],
                              tasks_dir=folder / "tasks", split="x", curve_points=0)
    assert rep64.scores == rep.scores


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_command_on_official_csv_layout(name, tmp_path, capsys):
    folder, X, target, want = _case(name)
    root = save_descriptors_csv(X, target, tmp_path, "descr")
    assert main(["evaluate", str(root), "--tasks", str(folder / "tasks"), "--split", "x",
                 "--distance", CASES[name], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["task_source"]["verification"] == got["task_source"]["retrieval"] == "files"
    _compare(_numbers(got["details"], got), want)


def test_library_ties_differ_from_near_ties():
    """The d1 numbers need exact ties: float32 product-form distances give others."""
    folder, X, target, want = _case("d1")
    rng = np.random.default_rng(0)
    # a perturbation far below any real difference breaks every exact tie
    Xp = X.astype(np.float64) + rng.normal(size=X.shape) * 1e-9
    rep = hpatches_evaluate(Xp, target, tasks_dir=folder / "tasks", split="x", curve_points=0)
    assert abs(rep.verification - want["verification"]) > 1e-4
    assert abs(rep.retrieval - want["retrieval"]) > 1e-4
