"""benchmarks/update_demo_docs.py: the README and docs state one demo run's numbers."""
import json
from pathlib import Path

import pytest
from _benchmark_scripts import load_benchmark

from sklearn_patchdesc._cli._demo_table import INPUTS, TASKS, margins, recovery

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def upd():
    return load_benchmark("update_demo_docs")


def _results(upd, learned, sift):
    """A results dict with the given per-task means for HardNet clean/denoised and SIFT."""
    def per(vals):
        return {t: {"easy": v, "hard": v, "tough": v, "mean": v} for t, v in zip(TASKS, vals)}

    out = {}
    for name, by_input in ((upd.LEARNED, learned), (upd.BASELINE, {"clean": (0.7, 0.3, 0.8)}),
                           ("SIFT", sift)):
        out[name] = {inp: per(by_input.get(inp, by_input["clean"])) for inp in INPUTS}
    return out


def test_margins_and_recovery_are_computed_from_the_means(upd):
    res = _results(upd, {"clean": (0.95, 0.80, 0.99), "denoised": (0.95 * 0.9, 0.40, 0.99)},
                   {"clean": (0.85, 0.55, 0.90)})
    assert margins(res, upd.LEARNED, "SIFT") == pytest.approx([0.10, 0.25, 0.09])
    assert recovery(res, upd.LEARNED) == pytest.approx([90.0, 50.0, 100.0])


def test_rendered_blocks_carry_the_numbers_and_the_run(upd):
    res = _results(upd, {"clean": (0.95, 0.80, 0.99), "denoised": (0.9, 0.7, 0.98)},
                   {"clean": (0.85, 0.55, 0.90)})
    c = {"results": res, "random_state": 3, "budget": 1.0, "wall_seconds": 123,
         "test_sequences": ["i_a", "v_b"], "n_test_points": 2000, "n_test_patches": 32000,
         "psnr_db": {"noisy": {"easy": 30.0, "hard": 24.0, "tough": 20.6},
                     "denoised": {"easy": 34.0, "hard": 32.0, "tough": 30.05}}}
    block = upd.readme_block(c)
    assert block.startswith(upd.README_START) and block.endswith(upd.README_END)
    assert "| HardNet (shipped+tuned), denoised | 0.900 | 0.700 | 0.980 |" in block
    assert "`random_state=3`, 123 s wall" in block
    rst = upd.rst_table(c)
    assert "2,000 points x 16 images = 32,000 patches" in rst
    assert "30.0 / 24.0 / 20.6 dB to 34.0 / 32.0 / 30.1 dB" in rst
    assert "+0.100 / +0.250 / +0.090" in rst
    text = "before\n" + upd.README_START + "\nold\n" + upd.README_END + "\nafter\n"
    assert upd.replace_block(text, "NEW") == "before\nNEW\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        upd.replace_block("no markers here", "NEW")


def test_compact_rejects_a_file_that_is_not_a_demo_result(upd):
    with pytest.raises(ValueError, match="not a demo results.json.*results"):
        upd.compact({"seconds": {"total": 1.0}, "random_state": 0, "psnr_db": {}})


def test_committed_readme_and_docs_agree_with_the_committed_demo_run(upd):
    c = json.loads(upd.COMPACT.read_text())
    for path, text in upd.outputs(c).items():
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} is out of date: run "
            "python benchmarks/update_demo_docs.py")
