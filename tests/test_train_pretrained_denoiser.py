"""benchmarks/train_pretrained_denoiser.py end to end at a tiny size: weights, card, resume."""
import json

import numpy as np

from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TaskAwareDenoiser

from _benchmark_scripts import load_benchmark
from conftest import shared_data_path

TINY = ["--points-builtin", "4", "--points-real", "4", "--heldout-points", "6",
        "--max-patches", "200", "--pixel-epochs", "1", "--aware-epochs", "1"]


def test_two_stages_write_loadable_weights_and_a_card_and_resume(tmp_path, monkeypatch):
    shared_data_path("real")  # skips (or fails under CI=true) without the real sequences
    monkeypatch.setenv("SKPD_BENCH_CACHE", str(tmp_path / "cache"))
    script = load_benchmark("train_pretrained_denoiser")
    argv = TINY + ["--out", str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "ckpt"),
                   "--name", "tiny"]
    script.main(argv)
    card = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert [s["name"] for s in card["recipe"]["stages"]] == ["pixel", "aware"]
    assert card["training_data"]["n_patches"] == 200
    assert set(card["heldout_real"]["mAP"]) == {"noisy", "denoised", "pixel_denoised", "clean"}
    assert card["cpu_seconds"] > 0 and card["command"].endswith("--name tiny")
    weights = tmp_path / "out" / "tiny.safetensors"
    den = TaskAwareDenoiser(ShallowUNetDenoiser(), pretrained=weights, residual=False,
                            consistency_weight=0)._fit_without_training()
    X = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    assert den.transform(X).shape == X.shape
    # the same command again resumes from the checkpoints: no epoch runs twice
    clock = (tmp_path / "ckpt" / "aware" / "cpu_seconds.json").read_text()
    script.main(argv)
    assert (tmp_path / "ckpt" / "aware" / "cpu_seconds.json").read_text() == clock
    assert json.loads((tmp_path / "out" / "tiny.json").read_text())["cpu_seconds"] == \
        card["cpu_seconds"]
