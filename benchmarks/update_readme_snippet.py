"""Run the README's Python snippet and write what it printed into the README.

The README shows one Python snippet and, below it, the output it prints. Both
come from one run of this script: it executes the snippet exactly as the README
shows it (a fresh interpreter, this checkout on ``PYTHONPATH``), keeps its
stdout, stores that output next to the SHA-256 of the snippet text in
``docs/_static/readme_snippet.json`` and rewrites the README block between the
``readme-snippet`` markers from the stored output. The snippet trains for
about 100 CPU-seconds, so ``tests/test_readme_snippet.py`` does not rerun it:
it checks that the README block is the rendering of the stored output and that
the stored hash is the hash of the snippet the README shows now, so editing the
snippet without rerunning this script fails the test.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/update_readme_snippet.py   # run and write
    python benchmarks/update_readme_snippet.py --render  # rewrite the README from the JSON only
    python benchmarks/update_readme_snippet.py --check   # exit 1 if README or JSON is stale
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STORED = ROOT / "docs" / "_static" / "readme_snippet.json"
START = "<!-- readme-snippet-output:start (written by benchmarks/update_readme_snippet.py) -->"
END = "<!-- readme-snippet-output:end -->"


def snippet(text):
    """The README's Python snippet: the body of its first fenced ``python`` block."""
    found = re.search(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    if found is None:
        raise ValueError("the README has no ```python block to run")
    return found.group(1)


def snippet_hash(code):
    """SHA-256 (hex) of the snippet text, the key that ties stored output to its code."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def run_snippet(code, cwd=ROOT):
    """Execute ``code`` in a fresh interpreter; its stdout and the CPU time it took.

    Returns
    -------
    dict
        ``stdout`` (str), ``cpu_seconds`` (user + system time of the child,
        rounded to the second), ``wall_seconds`` and ``omp_num_threads`` (the
        environment's setting, ``None`` when unset).

    Raises
    ------
    RuntimeError
        When the snippet exits with an error; the message carries its stderr tail.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"the README snippet failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"stdout": proc.stdout, "cpu_seconds": round(cpu), "wall_seconds": round(wall),
            "omp_num_threads": env.get("OMP_NUM_THREADS")}


def readme_block(stored):
    """The README lines between (and including) the markers, from a stored run."""
    out = stored["stdout"]
    if not out.endswith("\n"):
        out += "\n"
    threads = stored.get("omp_num_threads")
    setting = f"`OMP_NUM_THREADS={threads}`" if threads else "the default thread count"
    return (f"{START}\nIt prints ({stored['cpu_seconds']} CPU-seconds, run with {setting}; "
            "other thread counts\nor CPUs can move the third decimal):\n\n"
            f"```text\n{out}```\n{END}")


def replace_block(text, block):
    """``text`` with the lines from the start marker to the end marker replaced by ``block``."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"the markers {START!r} ... {END!r} are not in the README")
    return text[:i] + block + text[j + len(END):]


def problems(readme_text, stored):
    """Why the README and the stored run disagree (empty when they agree)."""
    found = []
    if stored.get("snippet_sha256") != snippet_hash(snippet(readme_text)):
        found.append("the README snippet changed since its output was stored: run "
                     "benchmarks/update_readme_snippet.py")
    if replace_block(readme_text, readme_block(stored)) != readme_text:
        found.append("the README's printed output is not the stored output: run "
                     "benchmarks/update_readme_snippet.py --render")
    return found


def _write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: a reader never sees half a file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="run nothing, write nothing; exit 1 if README and stored run disagree")
    mode.add_argument("--render", action="store_true",
                      help="run nothing; rewrite the README block from the stored output")
    args = parser.parse_args(argv)
    text = README.read_text()
    if args.check:
        found = problems(text, json.loads(STORED.read_text()))
        print("\n".join(found) or "up to date")
        return 1 if found else 0
    if args.render:
        stored = json.loads(STORED.read_text())
    else:
        code = snippet(text)
        stored = {"snippet_sha256": snippet_hash(code), **run_snippet(code)}
        _write(STORED, json.dumps(stored, indent=1) + "\n")
    new = replace_block(text, readme_block(stored))
    if new != text:
        _write(README, new)
    print(stored["stdout"], end="")
    print(f"written: {README.relative_to(ROOT)}" if new != text else "README up to date",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
