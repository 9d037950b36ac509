"""Command line: --help, make-data, evaluate, export, and user errors.

Commands run in-process through ``main(argv)`` (fast); one test runs the real
``python -m sklearn_patchdesc`` entry point in a subprocess.
"""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_patchdesc.__main__ import main
from sklearn_patchdesc._cli._common import CLIError, json_safe
from sklearn_patchdesc.datasets import IMAGE_NAMES, load_hpatches, save_descriptors_csv
from sklearn_patchdesc.describe import SIFTPatchDescriptor
from sklearn_patchdesc.metrics import hpatches_evaluate

COMMANDS = ("make-data", "evaluate", "export")  # demo: tests/test_cli_demo.py


def _snapshot(root):
    root = Path(root)
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*"))


def _numbers(report_dict):
    """Every number of a report dict except timings (those differ run to run)."""
    return {k: v for k, v in report_dict.items() if k not in ("timings",)}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SKPD_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def nhpatches(tmp_path_factory):
    """A small N-HPatches folder written by ``make-data --noise``."""
    out = tmp_path_factory.mktemp("data") / "nh"
    assert main(["make-data", str(out), "--noise", "--n-sequences", "2",
                 "--n-patches", "40", "--random-state", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def sift_csv(nhpatches, tmp_path_factory):
    """SIFT descriptors of ``nhpatches`` written by ``save_descriptors_csv``."""
    data = load_hpatches(nhpatches, cache=False)
    D = SIFTPatchDescriptor().fit(data.data).transform(data.data)
    root = save_descriptors_csv(D, data.target, tmp_path_factory.mktemp("descr"), "sift")
    return root, D, data.target


def test_help_for_every_command(capsys):
    assert main(["--help"]) == 0
    for cmd in COMMANDS:
        assert main([cmd, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"usage: sklearn-patchdesc {cmd}" in out and "examples:" in out


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "sklearn_patchdesc", "evaluate", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "DESCRIPTOR_DIR" in res.stdout


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "<command>" in capsys.readouterr().err


def test_make_data_writes_a_loadable_folder(nhpatches, capsys):
    data = load_hpatches(nhpatches, cache=False)
    assert data.data.shape == (2 * 40 * 16, 32, 32) and "data_clean" in data
    assert len(data.sequence_names) == 2
    assert sorted(p.name for p in (nhpatches / data.sequence_names[0]).iterdir()) == sorted(
        [f"{n}.png" for n in IMAGE_NAMES] + [f"{n}_noise.png" for n in IMAGE_NAMES])


def test_make_data_prints_a_summary_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "hp"
    assert main(["make-data", str(out), "--n-sequences", "1", "--n-patches", "20"]) == 0
    text = capsys.readouterr().out
    for word in ("sequences", "patches", "images", "on disk"):
        assert word in text
    before = _snapshot(out)
    assert main(["make-data", str(out), "--n-sequences", "1", "--n-patches", "20"]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and "Traceback" not in err
    assert _snapshot(out) == before
    assert main(["make-data", str(out), "--n-sequences", "1", "--n-patches", "20",
                 "--force", "--random-state", "1"]) == 0
    assert _snapshot(out) != before
    assert load_hpatches(out, cache=False).data.shape[0] > 0


def test_evaluate_gives_the_python_numbers(sift_csv, capsys):
    root, D, target = sift_csv
    # "%.9g" round-trips float32 exactly; the command line computes in float64
    D = D.astype(np.float64)
    assert main(["evaluate", str(root), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = json_safe(hpatches_evaluate(D, target).as_dict())  # NaN -> null, as printed
    assert got["n_sequences"] == 2 and got["n_dims"] == D.shape[1]
    assert _numbers(got)["details"] == _numbers(want)["details"]
    for task in ("verification", "matching", "retrieval", "mean"):
        assert got[task] == pytest.approx(want[task], abs=1e-12)
    assert main(["evaluate", str(root)]) == 0
    table = capsys.readouterr().out
    assert "Verification" in table and "Matching" in table and "Retrieval" in table
    assert f"{100 * want['mean']:.2f}" in table


def test_evaluate_reads_official_task_files(sift_csv, tmp_path, capsys):
    root, D, target = sift_csv
    D = D.astype(np.float64)
    seqs = sorted(set(target["sequence"]))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "splits.json").write_text(json.dumps({"x": {"train": [], "test": seqs}}))
    rng = np.random.default_rng(0)
    for stem, k in (("retr_queries", 10), ("retr_distractors", 30)):
        lines = ["s,idx"] + [f"{seqs[i % 2]},{j}" for i, j in enumerate(
            rng.permutation(40)[:k // 2].tolist() * 2)]
        (tasks / f"{stem}_split-x.csv").write_text("\n".join(lines) + "\n")
    assert main(["evaluate", str(root), "--tasks", str(tasks), "--split", "x", "--json",
                 "--task", "retrieval", "--task", "matching"]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out)
    want = hpatches_evaluate(D, target, tasks_dir=tasks, split="x",
                             tasks=("matching", "retrieval")).as_dict()
    assert got["retrieval"] == pytest.approx(want["retrieval"], abs=1e-12)
    assert got["matching"] == pytest.approx(want["matching"], abs=1e-12)
    assert got["task_source"]["retrieval"] == "files"
    # verification files are absent: generated instead, with a note
    assert main(["evaluate", str(root), "--tasks", str(tasks), "--split", "x",
                 "--task", "verification"]) == 0
    assert "generating verification tasks" in capsys.readouterr().err


def test_evaluate_with_a_tasks_folder_without_task_files_names_no_split(sift_csv, tmp_path,
                                                                        capsys):
    root, _, _ = sift_csv
    empty = tmp_path / "no-tasks"
    empty.mkdir()
    assert main(["evaluate", str(root), "--tasks", str(empty)]) == 0
    out, err = capsys.readouterr()
    assert "split=a" not in out and "split 'a'" not in out
    assert "split=None" in out and "generated (random_state=0)" in out
    assert "generating verification tasks" in err
    assert main(["evaluate", str(root), "--tasks", str(empty), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] is None


def test_export_builtin_baseline_round_trips_through_evaluate(nhpatches, tmp_path, capsys):
    out = tmp_path / "descr"
    assert main(["export", "builtin:raw", "--data", str(nhpatches), str(out),
                 "--name", "raw", "--clean"]) == 0
    files = sorted(p.name for p in (out / "raw").iterdir())
    assert len(files) == 2 and (out / "raw" / files[0] / "t5.csv").is_file()
    assert "wrote" in capsys.readouterr().out
    assert main(["evaluate", str(out / "raw"), "--json", "--task", "matching"]) == 0
    got = json.loads(capsys.readouterr().out)["matching"]
    from sklearn_patchdesc.describe import RawPatchDescriptor

    data = load_hpatches(nhpatches, cache=False)
    D = RawPatchDescriptor().fit(data.data_clean).transform(data.data_clean)
    assert got == pytest.approx(hpatches_evaluate(D, data.target, tasks=["matching"]).matching,
                                abs=1e-6)


def test_export_of_a_saved_model_matches_its_transform(nhpatches, tmp_path, capsys):
    from sklearn_patchdesc.describe import L2NetDescriptor
    from sklearn_patchdesc.persistence import save

    data = load_hpatches(nhpatches, cache=False)
    model = L2NetDescriptor(max_epochs=1, batch_size=96, random_state=0).fit(
        data.data[:320], data.target[:320])
    path = save(model, tmp_path / "l2net.skpd")
    out = tmp_path / "descr"
    assert main(["export", str(path), "--data", str(nhpatches), str(out), "--name", "l2"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "l2"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = hpatches_evaluate(model.transform(data.data).astype(np.float64), data.target)
    for task in ("verification", "matching", "retrieval"):
        assert got[task] == pytest.approx(getattr(want, task), abs=1e-6)


@pytest.mark.parametrize("content,guess", [
    (pickle.dumps({"not": "a model"}), "pickle"),
    (b"some text, not a model\n", "unknown content"),
])
def test_export_refuses_a_file_that_is_not_a_model(nhpatches, tmp_path, capsys, content,
                                                   guess):
    model = tmp_path / "model.skpd"
    model.write_bytes(content)
    before = _snapshot(tmp_path)
    status = main(["export", str(model), "--data", str(nhpatches), str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.count("not a sklearn_patchdesc model file") == 1 and guess in err, err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, message", [
    (["make-data", "{tmp}/f.txt"], "not a folder"),
    (["make-data", "{tmp}/o", "--from", "{tmp}/missing"], "not found"),
    (["make-data", "{tmp}/o", "--n-sequences", "0"], "positive integer"),
    (["make-data", "{tmp}/o", "--noise", "--noise-kind", "pink", "--n-sequences", "1"],
     "noise kind"),
    (["evaluate", "{tmp}/missing"], "not found"),
    (["evaluate", "{tmp}"], "no <sequence>/<image>.csv"),
    (["evaluate", "{tmp}", "--split", "a"], "--tasks"),
    (["evaluate", "{tmp}", "--distance", "cosine"], "invalid choice"),
    (["export", "builtin:raw", "--data", "{tmp}/missing", "{tmp}/o"], "not found"),
    (["export", "builtin:nope", "--data", "{tmp}", "{tmp}/o"], "unknown built-in"),
    (["export", "{tmp}/missing.skpd", "--data", "{tmp}", "{tmp}/o"], "model file not found"),
    (["export", "builtin:raw", "{tmp}/o"], "--data"),
])
def test_bad_arguments_fail_cleanly_and_change_nothing(argv, message, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    before = _snapshot(tmp_path)
    status = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert status != 0
    assert message in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_bad_csv_is_reported_with_its_path(sift_csv, tmp_path, capsys):
    root, _, _ = sift_csv
    bad = tmp_path / "bad"
    seq = next(root.iterdir())
    (bad / seq.name).mkdir(parents=True)
    for f in seq.iterdir():
        (bad / seq.name / f.name).write_text(f.read_text())
    (bad / seq.name / "e3.csv").write_text("1,2,3\n4,5,6\n")
    assert main(["evaluate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "e3.csv" in err and "Traceback" not in err


@pytest.mark.parametrize("exc", [ValueError("a bug"), TypeError("a bug"),
                                 ImportError("a bug")])
def test_an_unexpected_library_error_keeps_its_traceback(sift_csv, monkeypatch, capsys, exc):
    # a ValueError / TypeError / ImportError inside library code is a bug, not a user
    # error: main lets it through (Python prints the traceback), no one-line summary
    import sklearn_patchdesc.metrics as metrics

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(metrics, "hpatches_evaluate", broken)
    with pytest.raises(type(exc), match="a bug"):
        main(["evaluate", str(sift_csv[0])])
    assert "error:" not in capsys.readouterr().err


def test_an_unexpected_error_prints_a_traceback_from_the_entry_point(tmp_path):
    # the real entry point: a library bug (here a TypeError) reaches stderr as a traceback
    code = ("import sys, sklearn_patchdesc.datasets as d\n"
            "def broken(*a, **k): raise TypeError('a bug in make_hpatches_like')\n"
            "d.make_hpatches_like = broken\n"
            "from sklearn_patchdesc.__main__ import main\n"
            f"sys.exit(main(['make-data', {str(tmp_path / 'o')!r}]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "TypeError: a bug in make_hpatches_like" in res.stderr


def test_a_library_verdict_on_a_user_file_stays_one_line(tmp_path, capsys):
    # load_hpatches refuses a stack that is not an image (its ValueError is about the
    # user's folder): one line, naming the file
    seq = tmp_path / "data" / "v_x"
    seq.mkdir(parents=True)
    for name in IMAGE_NAMES:
        (seq / f"{name}.png").write_text("not an image")
    argv = ["export", "builtin:raw", "--data", str(tmp_path / "data"), str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("sklearn-patchdesc export: error: ") and "ref.png" in err[-1]
    assert not any("Traceback" in line for line in err)
    with pytest.raises(CLIError, match="ref.png"):  # --traceback: the full story
        main(["--traceback"] + argv)
