"""benchmarks/train_pretrained.py: --out rules, the recipe behind the shipped card, a tiny replay."""
import json
import shlex

import numpy as np
import pytest
from _benchmark_scripts import load_benchmark
from conftest import shared_data_path

from sklearn_patchdesc.describe import load_pretrained, pretrained_card

TINY = ["--builtin-sequences", "3", "--points-builtin", "2", "--points-real", "2",
        "--heldout-points", "3", "--eval-points", "3", "--max-patches", "48", "--epochs", "1",
        "--batch-size", "8", "--threads", "1",
        # one training set for every stage: generating the recipe's three takes most of the time
        "--data-seed", "0"]


@pytest.fixture(scope="module")
def script():
    return load_benchmark("train_pretrained")


def test_out_is_required_and_refused_inside_the_package(script, capsys):
    with pytest.raises(SystemExit):
        script.main(["--epochs", "1"])
    assert "the following arguments are required: --out" in capsys.readouterr().err
    inside = script.PACKAGE_DIR / "describe" / "pretrained"
    with pytest.raises(SystemExit):
        script.main(["--out", str(inside)])
    assert f"--out {inside} is inside the package" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--recipe", "hardnet-hpatches-like", "--out", "/tmp/x", "--init", "w.pt"])
    assert "--init and --checkpoint-dir do not apply" in capsys.readouterr().err


def _stage_options(script, command):
    """The stage options (defaults filled in) of a single-stage command from a card."""
    args = script.build_parser().parse_args(shlex.split(command)[2:])
    return {k: getattr(args, k) if getattr(args, k) is not None else v
            for k, v in script.STAGE_DEFAULTS.items()}


def test_the_recipe_is_the_chain_the_shipped_card_ran(script):
    card = pretrained_card("hardnet-hpatches-like")
    commands = [s["command"] for s in card["earlier_stages"]] + [card["command"]]
    recipe = script.RECIPES["hardnet-hpatches-like"]
    assert len(commands) == len(recipe) == 5
    for command, stage in zip(commands, recipe):
        ran = _stage_options(script, command)
        assert ran == {**script.STAGE_DEFAULTS, **stage}, command
    assert card["replay"]["command"] == ("python benchmarks/train_pretrained.py --recipe "
                                         "hardnet-hpatches-like --out OUT")
    assert card["replay"]["cpu_seconds"] == card["cpu_seconds"]


@pytest.mark.slow
def test_a_tiny_replay_chains_every_stage_and_resumes(script, tmp_path, monkeypatch):
    shared_data_path("real")  # skips (or fails under CI=true) without the real sequences
    monkeypatch.setenv("SKPD_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["--recipe", "hardnet-hpatches-like", "--out", str(out)] + TINY
    final = script.main(argv)
    cards = [json.loads((out / "stages" / str(i) / "hardnet-hpatches-like.json").read_text())
             for i in range(1, 6)]
    assert json.loads((out / "hardnet-hpatches-like.json").read_text()) == cards[-1] == final
    cpu = [c["cpu_seconds"] for c in cards]
    assert all(0 < a < b for a, b in zip(cpu, cpu[1:]))  # the CPU time of the chain adds up
    for i, (card, stage) in enumerate(zip(cards, script.RECIPES["hardnet-hpatches-like"])):
        assert (out / "stages" / str(i + 1) / "checkpoint" / "checkpoint.pt").is_file()
        assert card["replay"] == {"recipe": "hardnet-hpatches-like", "stage": i + 1,
                                  "command": "python benchmarks/train_pretrained.py "
                                             + shlex.join(argv)}
        assert [s["command"] for s in card["earlier_stages"]] == [
            c["command"] for c in cards[:i]]
        ran = _stage_options(script, card["command"])
        assert ran["seed"] == stage.get("seed", 0) and ran["epochs"] == 1
        assert ran["optimizer"] == stage.get("optimizer", "sgd")
        if i:
            prev = out / "stages" / str(i) / "hardnet-hpatches-like.safetensors"
            assert f"--init {prev} --init-cpu-seconds {cpu[i - 1]}" in card["command"]
    X = np.zeros((2, 32, 32), np.uint8)
    assert load_pretrained(out / "hardnet-hpatches-like.safetensors").transform(X).shape == (2, 128)
    # the same command again: every stage is done, nothing trains
    clocks = [(out / "stages" / str(i) / "checkpoint" / "cpu_seconds.json").read_text()
              for i in range(1, 6)]
    (out / "stages" / "5" / "hardnet-hpatches-like.json").unlink()  # as if killed before the card
    assert script.main(argv)["cpu_seconds"] == cpu[-1]
    assert clocks == [(out / "stages" / str(i) / "checkpoint" / "cpu_seconds.json").read_text()
                      for i in range(1, 6)]
