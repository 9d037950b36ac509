"""benchmarks/update_readme_snippet.py: the README's printed output is the output of its snippet.

The snippet trains for about 100 CPU-seconds, so it is not rerun here: the
script stores what the snippet printed next to the hash of the snippet text,
and these tests check that the README shows exactly that output for exactly
that snippet.
"""
import json

import pytest
from _benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def upd():
    return load_benchmark("update_readme_snippet")


def _readme(upd, code, printed):
    return (f"# title\n\n```python\n{code}```\n\n{upd.START}\nold output\n{upd.END}\n\nmore\n",
            {"snippet_sha256": upd.snippet_hash(code), "stdout": printed, "cpu_seconds": 3,
             "omp_num_threads": "1"})


def test_committed_readme_shows_the_stored_output_of_its_current_snippet(upd):
    stored = json.loads(upd.STORED.read_text())
    assert upd.problems(upd.README.read_text(), stored) == []
    assert stored["stdout"].startswith("learned: HPatchesReport(")


def test_a_changed_snippet_or_hand_edited_output_is_caught(upd):
    text, stored = _readme(upd, "print(1)\n", "1\n")
    text = upd.replace_block(text, upd.readme_block(stored))
    assert upd.problems(text, stored) == []
    assert "\n```text\n1\n```\n" in text and "3 CPU-seconds, run with `OMP_NUM_THREADS=1`" in text
    edited_code = text.replace("print(1)", "print(2)")
    assert upd.problems(edited_code, stored) == [
        "the README snippet changed since its output was stored: run "
        "benchmarks/update_readme_snippet.py"]
    edited_output = text.replace("```text\n1\n", "```text\n2\n")
    assert [p.split(":")[0] for p in upd.problems(edited_output, stored)] == [
        "the README's printed output is not the stored output"]


def test_run_snippet_keeps_stdout_only_and_reports_a_failing_snippet(upd, tmp_path):
    code = "import sys\nprint('to the reader')\nprint('progress', file=sys.stderr)\n"
    got = upd.run_snippet(code, cwd=tmp_path)
    assert got["stdout"] == "to the reader\n"
    assert got["cpu_seconds"] >= 0 and got["wall_seconds"] >= 0
    with pytest.raises(RuntimeError, match=r"(?s)failed \(exit 1\):\n.*ZeroDivisionError"):
        upd.run_snippet("1 / 0\n", cwd=tmp_path)


def test_missing_snippet_or_markers_are_named(upd):
    with pytest.raises(ValueError, match="no ```python block"):
        upd.snippet("# just text\n")
    with pytest.raises(ValueError, match="markers"):
        upd.replace_block("no markers", "block")
