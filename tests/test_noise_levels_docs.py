"""benchmarks/bench_noise_levels.py --write-docs: the denoising guide's noise table is a stored run."""
import json

import pytest
from _benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_noise_levels")


def _text(path):
    return " ".join(path.read_text().split())


def test_the_guide_shows_the_stored_run(bench):
    stored = json.loads(bench.STORED.read_text())
    text = bench.PAGE.read_text()
    assert bench.replace_block(text, bench.docs_table(stored)) == text, (
        "docs/guide/denoising.rst's noise table is not the stored run: run "
        "python benchmarks/bench_noise_levels.py --write-docs")
    rows = {r["input"]: r for r in stored["rows"]}
    assert f"clean input comes back at {rows['clean input']['psnr_out']:.1f} dB" in _text(
        bench.PAGE)
    left = [100 * rows[n]["sigma_out"] / rows[n]["sigma_in"] for n in bench.DOCS_ROWS
            if n != "clean input"]
    assert f"every level ({min(left):.0f}-{max(left):.0f} %)" in _text(bench.PAGE)


def test_the_table_is_rendered_from_the_rows(bench):
    rows = [{"input": name, "sigma_in": 10.04, "sigma_out": 5.06, "sigma_clean": 1.0,
             "psnr_in": None if name == "clean input" else 20.25, "psnr_out": 30.0}
            for name in bench.DOCS_ROWS]
    table = bench.docs_table({"rows": rows}).splitlines()
    assert table[0] == bench.START and table[-1] == bench.END
    assert "clean input             10.0      5.1         1.0          --       30.0" in table
    assert "gaussian sigma 48       10.0      5.1         1.0          20.2     30.0" in table
    with pytest.raises(ValueError, match="markers"):
        bench.replace_block("no markers", "block")
