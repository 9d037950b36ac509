"""The demo's logic in units (issue 32): which sequences it tests on, the device check,
progress in logs, the PR-curve labels and the summary sentence. The whole demo is slow;
these tests run its parts."""
import io
import time
from types import SimpleNamespace

import numpy as np
import pytest
from _datasets_helpers import random_bunch

from sklearn_patchdesc.__main__ import main
from sklearn_patchdesc._cli import _common, _demo, _demo_data
from sklearn_patchdesc._cli._common import CLIError, heartbeat, progress
from sklearn_patchdesc._cli._demo_data import shipped_training_sequences, split_by_sequence
from sklearn_patchdesc._cli._demo_table import INPUTS, TASKS, summary_line
from sklearn_patchdesc.datasets import write_hpatches
from sklearn_patchdesc.datasets._common import make_target

#: the names the demo gives the Oxford affine sequences of ../shared/data/real
OXFORD = ["i_ubc", "v_bikes", "v_boat", "v_graffiti", "v_trees"]


def _target(names, n=3):
    return make_target(names, [n] * len(names), ["ref", "e1"])


@pytest.fixture(scope="module")
def trained():
    return shipped_training_sequences(_demo.PRETRAINED, _demo.SHIPPED_PIPELINE)


# ------------------------------------------------------------ test sequences
def test_the_model_cards_name_the_sequences_to_keep_out(trained):
    assert {"v_trees", "v_bikes", "v_churchill", "i_astronaut"} <= trained
    assert not {"v_boat", "v_graffiti", "i_ubc", "i_chelsea", "v_coins"} & trained


@pytest.mark.parametrize("random_state", range(8))
def test_real_sequences_the_shipped_model_was_trained_on_are_never_tested_on(random_state,
                                                                              trained):
    """Random states 1, 3 and 5 used to put v_trees in the test set."""
    mask, test = split_by_sequence(_target(OXFORD), random_state, trained_on=trained)
    assert test and not set(test) & {"v_trees", "v_bikes"}
    assert set(test) <= {"i_ubc", "v_boat", "v_graffiti"} and len(test) == 2
    assert mask.sum() == len(test) * 3 * 2


def test_data_made_only_of_training_sequences_is_refused(trained):
    with pytest.raises(CLIError, match=r"the data has 0 sequence\(s\) the shipped models were "
                                 r"not trained on \(none; of v_bikes, v_churchill, v_trees\)"):
        split_by_sequence(_target(["v_bikes", "v_trees", "v_churchill"]), 0, trained_on=trained)
    with pytest.raises(CLIError, match=r"1 sequence\(s\) the shipped models were not trained on "
                                 r"\(v_boat;"):
        split_by_sequence(_target(["v_bikes", "v_trees", "v_boat"]), 0, trained_on=trained)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_the_demo_always_tests_on_two_sequences_at_least(n):
    """Retrieval needs distractors from another test sequence (one sequence scores 1.0)."""
    names = ["i_a", "i_b", "v_c", "v_d", "v_e"][:n]
    for seed in range(6):
        mask, test = split_by_sequence(_target(names), seed)
        assert 2 <= len(test) < n and mask.sum() == len(test) * 3 * 2
    with pytest.raises(CLIError, match="at least 3 sequences"):
        split_by_sequence(_target(names[:2]), 0)


def test_without_training_sequences_the_split_is_unchanged(trained):
    names = ["i_a", "i_b", "v_c", "v_d", "v_e"]
    from sklearn_patchdesc._split import held_out_groups

    _, test = split_by_sequence(_target(names), 4, trained_on=trained)
    assert test == [str(s) for s in held_out_groups(names, 0.35, 4)]


def test_small_builtin_sets_hold_a_held_out_photo():
    """Two built-in sequences used to be camera and astronaut, both trained on."""
    seqs = _demo_data._builtin_sequences_with_held_out_photos(
        2, ("chelsea", "coins"), np.random.default_rng(0))
    assert [s["name"] for s in seqs] == ["i_chelsea", "v_camera"]


def test_incomplete_hpatches_folders_are_left_out_with_a_note(tmp_path, capsys):
    write_hpatches(random_bunch(seqs=(("i_a", 2), ("v_b", 2), ("v_c", 2))), tmp_path)
    for p in (tmp_path / "v_b").iterdir():
        if p.name != "ref.png":
            p.unlink()
    assert _demo_data._complete_hpatches_folders(tmp_path) == ["i_a", "v_c"]
    assert "leaving out 1 incomplete sequence folder(s)" in capsys.readouterr().err


# ------------------------------------------------------------ device
@pytest.mark.parametrize("device", ["mps", "xpu", "meta"])
def test_demo_device_that_cannot_compute_is_refused_before_any_work(device, tmp_path, capsys,
                                                                    monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("data prepared before the device was checked")

    monkeypatch.setattr(_demo_data, "get_data", no_work)
    status = main(["demo", "--device", device, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and f"argument --device: '{device}' is not supported" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


# ------------------------------------------------------------ progress in logs
class _Clock:
    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_progress_writes_plain_lines_at_a_low_rate_when_not_a_terminal():
    log = io.StringIO()  # not a terminal, like a CI log
    items = list(progress(range(10), "scoring", unit="pairs", stream=log, interval=30,
                          clock=_Clock(7.0)))
    assert items == list(range(10))
    lines = log.getvalue().splitlines()
    assert lines[0] == "scoring: 5/10 pairs (50 %), 35 s"  # 7 s per item, from 7 s
    assert lines[-1].startswith("scoring: 10 pairs done in") and "\r" not in log.getvalue()
    assert len(lines) == 2  # at 35 s and the end (77 s): not one line per item
    quiet = io.StringIO()
    list(progress(range(3), "quick", stream=quiet, interval=30, clock=_Clock(1.0)))
    assert quiet.getvalue() == ""


def test_heartbeat_speaks_during_one_long_call_when_not_a_terminal():
    log = io.StringIO()
    with heartbeat("preparing the data", stream=log, interval=0.05):
        time.sleep(0.3)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2 and all(ln.startswith("preparing the data: still running (")
                                   for ln in lines)
    n = len(lines)
    time.sleep(0.15)
    assert len(log.getvalue().splitlines()) == n  # stopped with the block


def test_demo_scoring_stage_reports_progress_in_a_log(capsys, monkeypatch):
    from sklearn_patchdesc.describe import RawPatchDescriptor

    monkeypatch.setattr(_common, "LOG_INTERVAL_S", 0.0)
    b = random_bunch(seqs=(("i_a", 6), ("v_b", 6)), size=16)
    inputs = {inp: b.data for inp in INPUTS}
    reports, _ = _demo._evaluate({"raw": RawPatchDescriptor().fit(b.data)}, inputs, b.target,
                                 0, _demo._Timer())
    err = capsys.readouterr().err
    assert set(reports["raw"]) == set(INPUTS)
    assert "HPatches tasks: 1/3 pairs (33 %)" in err and "HPatches tasks: 3 pairs done" in err


# ------------------------------------------------------------ figure and summary
def test_pr_curve_legend_gives_the_curve_ap_and_the_table_value():
    pytest.importorskip("matplotlib")
    from sklearn_patchdesc._cli._demo_figures import pr_legend

    ver = {lv: {"inter": {"ap": 0.9}, "intra": {"ap": 0.7}} for lv in ("easy", "hard", "tough")}
    report = SimpleNamespace(
        details={"verification": {"per_difficulty": ver},
                 "matching": {"per_difficulty": {}}, "retrieval": {"per_difficulty": {}}},
        curves={lv: {"inter": {"pr": {}}, "intra": {"pr": {}}} for lv in ver},
        verification=0.8, matching=0.5, retrieval=0.6)
    assert pr_legend("HardNet clean", report, "easy") == \
        "HardNet clean (inter AP 0.900; table 0.800)"


def _results(clean, denoised, noisy):
    def per(v):
        return {t: {"easy": v, "hard": v, "tough": v, "mean": v} for t in TASKS}

    by = {"clean": clean, "denoised": denoised, "noisy": noisy}
    return {name: {inp: per(by[inp]) for inp in INPUTS} for name in ("HardNet", "SIFT")}


def test_summary_never_claims_recovery_when_denoising_lowered_psnr():
    """--budget 0.1 on real data: easy patches 30.1 -> 27.1 dB, and "recovers 100.6 %"."""
    psnr = {"noisy": {"easy": 30.1, "hard": 24.0, "tough": 20.5},
            "denoised": {"easy": 27.1, "hard": 25.0, "tough": 22.0}}
    text = summary_line(_results(0.8, 0.8048, 0.79), "HardNet", psnr)
    assert "recover" not in text
    assert "mAP on denoised input 100.6 / 100.6 / 100.6 %" in text
    assert "on noisy input 98.8 / 98.8 / 98.8 %" in text
    assert "denoising LOWERED PSNR on easy patches (30.1 -> 27.1 dB)" in text
    better = {"noisy": psnr["noisy"], "denoised": {"easy": 33.0, "hard": 27.0, "tough": 24.0}}
    assert "denoising raised PSNR at every noise level" in summary_line(
        _results(0.8, 0.78, 0.7), "HardNet", better)


def test_demo_precision_the_machine_cannot_run_fast_is_refused_before_any_work(
        tmp_path, capsys, monkeypatch):
    from sklearn_patchdesc import _precision

    monkeypatch.setattr(_precision, "has_native_bf16", lambda device="cpu": False)

    def no_work(*args, **kwargs):
        raise AssertionError("data prepared before the precision was checked")

    monkeypatch.setattr(_demo_data, "get_data", no_work)
    status = main(["demo", "--precision", "bf16", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status != 0 and "--precision bf16: precision='bf16' but device='cpu' has no bf16" in err
    assert "Traceback" not in err
