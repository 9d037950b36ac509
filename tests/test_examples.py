"""Every gallery example runs in quick mode and writes its figures.

Each ``examples/plot_*.py`` found is run in a fresh interpreter with
``SKPD_EXAMPLE_QUICK=1`` (tiny data and training), ``SKPD_EXAMPLE_OUT`` set to
a temporary folder and the Agg backend; it must exit with status 0 and save
at least one figure there. New examples are picked up automatically.

Budget: the whole module should stay under about 4 minutes on an otherwise
idle 2-core machine, i.e. roughly 8 CPU-minutes for all examples. Each
example may use at most ``CPU_BUDGET`` seconds of CPU time in quick mode
(``RLIMIT_CPU``, so the limit does not depend on how busy the machine is); the
wall-clock ``WALL_TIMEOUT`` only guards against hangs.
"""
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
FIGURE_SUFFIXES = {".png", ".pdf", ".svg", ".jpg", ".jpeg"}
CPU_BUDGET = 120  # CPU seconds (all threads) per example in quick mode
WALL_TIMEOUT = 900


def _limit_cpu():
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_BUDGET, CPU_BUDGET + 5))


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def test_examples_found():
    assert EXAMPLES, "no examples/plot_*.py found"


def test_examples_have_a_gallery_header():
    """sphinx-gallery needs a docstring with a title as the first statement."""
    for path in EXAMPLES:
        text = path.read_text()
        assert text.lstrip().startswith(('"""', "r\"\"\"")), path.name
        lines = text.lstrip().lstrip("r").lstrip('"').splitlines()
        title = next(line for line in lines if line.strip())
        underline = lines[lines.index(title) + 1]
        assert set(underline.strip()) <= set("=-~^") and underline.strip(), path.name
        assert len(underline.rstrip()) >= len(title.rstrip()), (
            f"{path.name}: title underline shorter than the title")
        assert "SKPD_EXAMPLE_QUICK" in text and "SKPD_EXAMPLE_OUT" in text, (
            f"{path.name} must honour SKPD_EXAMPLE_QUICK and SKPD_EXAMPLE_OUT")


@pytest.mark.slow
@pytest.mark.timeout(WALL_TIMEOUT + 30)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(path, tmp_path):
    out = tmp_path / "figures"
    out.mkdir()
    env = dict(os.environ, SKPD_EXAMPLE_QUICK="1", SKPD_EXAMPLE_OUT=str(out),
               MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.setdefault("OMP_NUM_THREADS", "2")
    t0, c0 = time.perf_counter(), _children_cpu()
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=WALL_TIMEOUT,
                              preexec_fn=_limit_cpu)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} ran more than {WALL_TIMEOUT} s (wall clock) in quick mode")
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    assert proc.returncode != -24, (  # SIGXCPU
        f"{path.name} used more than {CPU_BUDGET} CPU seconds in quick mode; "
        "shrink its SKPD_EXAMPLE_QUICK sizes")
    assert proc.returncode == 0, (
        f"{path.name} exited {proc.returncode} after {seconds:.0f} s\n"
        f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    figures = [p for p in out.rglob("*") if p.suffix.lower() in FIGURE_SUFFIXES]
    assert figures, f"{path.name} wrote no figure into SKPD_EXAMPLE_OUT ({out})"
    assert all(p.stat().st_size > 0 for p in figures)
    print(f"{path.name}: {seconds:.1f} s wall, {cpu:.1f} s CPU, {len(figures)} figure(s)")
