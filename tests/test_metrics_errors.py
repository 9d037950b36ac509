"""Bad input to the HPatches tasks: errors name the patch, or the file and line."""
import re

import numpy as np
import pytest
from test_metrics import make_set, write_tasks

from sklearn_patchdesc._cli import main
from sklearn_patchdesc.metrics import (hpatches_evaluate, hpatches_retrieval,
                                       hpatches_verification)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_descriptor_names_the_first_bad_patch(bad):
    X, t, _ = make_set(n_seq=3, n_p=10)
    X = X.astype(np.float32)
    X[[40, 7], [1, 3]] = bad
    seq, img, idx = t["sequence"][7], t["image"][7], t["label"][7] - t["label"][
        t["sequence"] == t["sequence"][7]].min()
    img_name = ["ref"] + [f"{d}{i}" for d in "eht" for i in range(1, 6)]
    with pytest.raises(ValueError, match=re.escape(
            f"2 row(s); the first is row 7 (sequence '{seq}', image '{img_name[img]}', "
            f"patch index {idx})")):
        hpatches_evaluate(X, t)
    with pytest.raises(ValueError, match=re.escape(f"row 7 (label {t['label'][7]})")):
        hpatches_evaluate(X, t["label"])


def test_evaluate_command_names_the_csv_file_and_line_of_a_nan(tmp_path, capsys):
    X, t, names = make_set(n_seq=2, n_p=10)
    order = np.lexsort((t["label"], t["image"], t["sequence"]))
    X, t = X[order], t[order]
    r = np.flatnonzero((t["sequence"] == names[1]) & (t["image"] == 7))[4]  # h2, patch 4
    X[r, 2] = np.nan
    root = tmp_path / "d"
    for s in names:  # written by hand: save_descriptors_csv refuses NaN
        for code, name in enumerate(["ref"] + [f"{d}{i}" for d in "eht" for i in range(1, 6)]):
            keep = (t["sequence"] == s) & (t["image"] == code)
            (root / s).mkdir(parents=True, exist_ok=True)
            np.savetxt(root / s / f"{name}.csv", X[keep], fmt="%.9g", delimiter=",")
    assert main(["evaluate", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"{root / names[1] / 'h2.csv'}, line 5" in err and "column 3" in err
    assert "Traceback" not in err


def _tasks(tmp_path, names, n_p=10):
    write_tasks(tmp_path, names, n_p, np.random.default_rng(0))
    return tmp_path


def _edit(path, line_no, text):
    lines = path.read_text().splitlines()
    lines[line_no - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("stem,line,text,message", [
    ("verif_pos", 6, "{s0},1,3,{s0},2,10", "line 6: references 1 patch(es) absent from the data, "
                                           "e.g. sequence '{s0}', image 2, idx 10 (the data has "
                                           "indices 0..9"),
    ("verif_neg_inter", 3, "{s0},1,3,{s0},2,x", "line 3: column 'idx2' must hold integers; got 'x'"),
    ("verif_neg_intra", 9, "{s0},1,3,{s0},2", "line 9: 5 comma-separated field(s); expected 6"),
    ("verif_pos", 2, "{s0},7,3,{s0},2,3", "line 2: column t1 must hold image indices 0..5"),
    ("verif_pos", 4, "v_gone,1,3,{s0},2,3", "line 4: sequence 'v_gone' is absent from the data"),
    ("verif_pos", 5, "{s0},1,-3,{s0},2,3", "line 5: column 'idx1' holds a negative patch index"),
    ("retr_queries", 3, "{s0},12", "line 3: references 1 patch(es) absent"),
    ("retr_distractors", 7, "{s0},10", "line 7: references 1 patch(es) absent"),
])
def test_task_file_errors_name_file_and_line(tmp_path, stem, line, text, message):
    X, t, names = make_set(n_seq=3, n_p=10)
    d = _tasks(tmp_path, names)
    path = d / f"{stem}_split-x.csv"
    _edit(path, line, text.format(s0=names[0]))
    task = hpatches_verification if stem.startswith("verif") else hpatches_retrieval
    with pytest.raises(ValueError, match=re.escape(f"{path}, {message.format(s0=names[0])}")):
        task(X, t, tasks_dir=d, split="x")


def test_task_line_numbers_skip_blank_lines_and_missing_counterparts(tmp_path):
    X, t, names = make_set(n_seq=3, n_p=10)
    d = _tasks(tmp_path, names)
    path = d / "verif_pos_split-x.csv"
    lines = path.read_text().splitlines()
    lines.insert(2, "")  # a blank line 3: data row 1 is now on line 4
    lines[3] = f"{names[1]},1,3,{names[1]},2,11"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 4: references")):
        hpatches_verification(X, t, tasks_dir=d, split="x")
    # a query whose counterpart in e3 is missing from the data: the query's line
    q = d / "retr_queries_split-x.csv"
    s, i = q.read_text().splitlines()[2].split(",")
    first = t["label"][t["sequence"] == s].min()
    drop = (t["sequence"] == s) & (t["image"] == 3) & (t["label"] == first + int(i))
    with pytest.raises(ValueError, match=re.escape(f"{q}, line 3: references 1 patch")):
        hpatches_retrieval(X[~drop], t[~drop], tasks_dir=d, split="x")


@pytest.mark.parametrize("case, match", [("one sequence", "no distractor"),
                                         ("identical", "identical")])
def test_evaluate_command_refuses_uninformative_descriptors(tmp_path, capsys, case, match):
    from sklearn_patchdesc.datasets import save_descriptors_csv

    X, t, _ = make_set(n_seq=3, n_p=10)
    if case == "one sequence":  # random descriptors used to print retrieval 100.00
        keep = t["sequence"] == t["sequence"][0]
        X, t = np.random.default_rng(0).normal(size=X.shape)[keep], t[keep]
    else:
        X = np.ones_like(X)
    save_descriptors_csv(X.astype(np.float32), t, tmp_path, "d")
    assert main(["evaluate", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "not scored" in err and match in err and "Traceback" not in err
