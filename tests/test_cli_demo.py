"""The demo end to end with a tiny budget, and its argument errors."""
import json
from pathlib import Path

import pytest

from sklearn_patchdesc.__main__ import main


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SKPD_CACHE", str(tmp_path_factory.mktemp("cache")))


def _snapshot(root):
    root = Path(root)
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*"))


def test_demo_help(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--budget" in out and "--data" in out and "examples:" in out


def test_demo_help_names_its_sources_and_streams(capsys):
    assert main(["demo", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Where the recipes come from" in out and "docs/sources.rst" in out
    assert "results (the table" in out and "go to stdout" in out and "stderr" in out
    for jargon in ("keras", "TPE-tuned"):
        assert jargon not in out


def test_demo_default_output_folder_is_git_ignored():
    import shutil
    import subprocess

    from sklearn_patchdesc._cli._demo import DEFAULT_OUT

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", DEFAULT_OUT + "/x"])
    assert proc.returncode == 0, f"{DEFAULT_OUT}/ is not in .gitignore"


def test_demo_runs_end_to_end_with_a_tiny_budget(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert main(["demo", "--budget", "0.02", "--n-sequences", "3", "--out", str(out)]) == 0
    text, err = capsys.readouterr()
    # the stream convention: results on stdout, training logs on stderr, no colour codes
    assert "train_loss" in err and "train_loss" not in text
    assert "\x1b[" not in text and "\x1b[" not in err
    assert str(out.resolve()) in text
    for word in ("Patch Verification", "Image Matching", "Patch Retrieval",
                 "HardNet (shipped+tuned)", "L2-Net baseline", "SIFT", "raw pixels", "Clean",
                 "Denoised", "Noisy", "PSNR"):
        assert word in text
    assert "HardNet (shipped+tuned): clean input minus SIFT on clean input" in text
    for name in ("results.json", "results.md", "denoising_grid.png",
                 "training_l2net.png", "training_hardnet.png",
                 "pr_curves.png", "tsne.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    # the default denoiser is the shipped one: nothing trained, so no denoiser curve
    assert not (out / "training_denoiser.png").exists()
    res = json.loads((out / "results.json").read_text())
    assert res["denoiser"] == "shipped (taskaware-hardnet-hpatches-like)"
    assert set(res["results"]) == {"HardNet (shipped+tuned)", "L2-Net baseline", "SIFT",
                                   "raw pixels"}
    for per_input in res["results"].values():
        assert set(per_input) == {"clean", "denoised", "noisy"}
        for tables in per_input.values():
            assert set(tables) == {"verification", "matching", "retrieval"}
            assert set(tables["matching"]) == {"easy", "hard", "tough", "mean"}
            assert 0 <= tables["matching"]["mean"] <= 1
    assert set(res["test_sequences"]).isdisjoint(res["train_sequences"])
    assert "| Patch Verification |" in (out / "results.md").read_text()


def test_demo_says_when_matplotlib_is_missing_before_any_work(tmp_path, capsys, monkeypatch):
    from sklearn_patchdesc._cli import _demo_figures

    monkeypatch.setattr(_demo_figures, "have_matplotlib", lambda: False)
    calls = []
    monkeypatch.setattr("sklearn_patchdesc._cli._demo_data.get_data",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
                            KeyboardInterrupt()))
    assert main(["demo", "--out", str(tmp_path / "o")]) == 130
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert calls and not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, message", [
    (["demo", "--budget", "-1"], "positive number"),
    (["demo", "--budget", "nan"], "positive number"),
    (["demo", "--data", "{tmp}/missing"], "not found"),
    (["demo", "--data", "{tmp}/f.txt"], "not a folder"),
    (["demo", "--out", "{tmp}/f.txt"], "not a folder"),
    (["demo", "--n-sequences", "x"], "positive integer"),
    (["demo", "--device", "garbage"], "not a torch device"),
])
def test_demo_bad_arguments_fail_cleanly_and_change_nothing(argv, message, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    before = _snapshot(tmp_path)
    status = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert status != 0 and message in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_demo_with_too_few_sequences_is_a_clear_error(tmp_path, capsys):
    data = tmp_path / "one"
    assert main(["make-data", str(data), "--n-sequences", "1", "--n-patches", "20"]) == 0
    capsys.readouterr()
    status = main(["demo", "--data", str(data), "--budget", "0.02", "--out",
                   str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 1 and "at least 3 sequences" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_builtin_test_sequences_are_the_photos_the_shipped_descriptor_never_saw():
    import numpy as np

    from sklearn_patchdesc._cli._demo_data import split_by_sequence
    from sklearn_patchdesc.describe._pretrained import BUILTIN_HELDOUT

    names = ["v_camera", "i_astronaut", "i_chelsea", "v_coins", "v_rocket", "i_chelsea2"]
    target = np.rec.fromarrays([np.arange(6), np.array(names), np.zeros(6, np.int8)],
                               names=["label", "sequence", "image"])
    mask, test = split_by_sequence(target, 0, test_photos=BUILTIN_HELDOUT)
    assert test == ["i_chelsea", "i_chelsea2", "v_coins"]
    assert mask.tolist() == [False, False, True, True, False, True]
    # other data (or none of those photos present): the usual random split, two tested
    _, test = split_by_sequence(target[[0, 1, 4]], 0, test_photos=BUILTIN_HELDOUT)
    assert len(test) == 2 and set(test) < {"v_camera", "i_astronaut", "v_rocket"}


def test_demo_interrupted_in_training_exits_130_and_writes_no_results(tmp_path, capsys,
                                                                     monkeypatch):
    from skorch.callbacks import Callback

    from sklearn_patchdesc.denoise import ShallowUNetDenoiser

    class Interrupt(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            if training and len(net.history[-1, "batches"]) == 2:
                raise KeyboardInterrupt

    # Ctrl-C inside the denoiser's second batch (skorch used to swallow it)
    monkeypatch.setattr(ShallowUNetDenoiser, "_extra_callbacks",
                        lambda self: [("interrupt", Interrupt())])
    out = tmp_path / "o"
    status = main(["demo", "--budget", "0.02", "--n-sequences", "3", "--no-figures",
                   "--denoiser", "trained", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 130 and "interrupted" in captured.err
    assert "HPatches mAP" not in captured.out
    assert not out.exists() or not any(out.iterdir())


def test_demo_can_train_its_own_denoiser(tmp_path, capsys):
    out = tmp_path / "trained"
    assert main(["demo", "--budget", "0.02", "--n-sequences", "3", "--no-figures",
                 "--denoiser", "trained", "--out", str(out)]) == 0
    _, err = capsys.readouterr()
    assert "shallow U-Net denoiser, supervised on the clean twins" in err
    res = json.loads((out / "results.json").read_text())
    assert res["denoiser"] == "trained here" and res["denoiser_training"] == "clean targets"
