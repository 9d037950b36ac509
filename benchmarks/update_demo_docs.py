"""Write the demo's numbers into the README and the docs from one demo run.

The README table, ``docs/demo_table.rst`` (included by
``docs/headline_table.rst``) and ``docs/demo_results.json`` all come from the
``results.json`` of one ``python -m sklearn_patchdesc demo`` run, so the
numbers a reader sees in the README and in the docs cannot drift apart
(``tests/test_demo_docs.py`` checks that the committed files agree with the
committed JSON).

Usage::

    python -m sklearn_patchdesc demo --out /tmp/demo        # on an idle machine
    python benchmarks/update_demo_docs.py /tmp/demo/results.json
    python benchmarks/update_demo_docs.py --check           # exit 1 if out of date
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn_patchdesc._cli._demo import BASELINE, LEARNED
from sklearn_patchdesc._cli._demo_table import INPUTS, mean_map, psnr_change, summary_line

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RST = ROOT / "docs" / "demo_table.rst"
COMPACT = ROOT / "docs" / "demo_results.json"
#: (descriptor, input) rows of the README's short table
README_ROWS = ((LEARNED, "clean"), (LEARNED, "denoised"), ("SIFT", "clean"),
               (BASELINE, "clean"))
README_START = "<!-- demo-table:start (written by benchmarks/update_demo_docs.py) -->"
README_END = "<!-- demo-table:end -->"
#: keys of a demo results.json kept in docs/demo_results.json (the curves are left out)
KEPT = ("sklearn_patchdesc", "command", "budget", "random_state", "plan", "data",
        "train_sequences", "test_sequences", "n_test_points", "n_test_patches", "results",
        "psnr_db")


def compact(payload):
    """The part of a demo ``results.json`` the docs use (no curves, no reports)."""
    missing = [k for k in ("results", "psnr_db", "seconds", "random_state") if k not in payload]
    if missing:
        raise ValueError(f"not a demo results.json: keys {missing} are missing")
    out = {k: payload[k] for k in KEPT if k in payload}
    out["wall_seconds"] = round(float(payload["seconds"]["total"]))
    return out


def readme_block(c):
    """The README's short table with the sentence that introduces it."""
    lines = [README_START,
             f"At the default budget (`random_state={c['random_state']}`, {c['wall_seconds']} s "
             "wall on two CPU cores, 2 threads) it printed, as mean",
             "mAP on the two held-out photos (full table: `docs/headline_table.rst`):", "",
             "| Descriptor, input | Verification | Matching | Retrieval |",
             "|---|---|---|---|"]
    for name, inp in README_ROWS:
        vals = " | ".join(f"{v:.3f}" for v in mean_map(c["results"], name, inp))
        lines.append(f"| {name}, {inp} | {vals} |")
    lines.append(README_END)
    return "\n".join(lines)


def rst_table(c):
    """``docs/demo_table.rst``: the run's description, list-table and recovery line."""
    res, psnr = c["results"], c["psnr_db"]
    levels = ("easy", "hard", "tough")
    noisy = " / ".join(f"{psnr['noisy'][lv]:.1f}" for lv in levels)
    den = " / ".join(f"{psnr['denoised'][lv]:.1f}" for lv in levels)
    pts = c.get("n_test_points")
    size = f"{pts:,} points x 16 images = {c['n_test_patches']:,} patches" if pts else ""
    test = ", ".join(f"``{s}``" for s in c.get("test_sequences", []))
    lines = [
        ".. Written by benchmarks/update_demo_docs.py from docs/demo_results.json;",
        "   do not edit by hand.", "",
        f"Demo run: ``python -m sklearn_patchdesc demo`` (budget {c['budget']}, "
        f"``random_state={c['random_state']}``, {c['wall_seconds']} s wall). "
        f"Test sequences {test}" + (f" ({size})" if size else "") + ". "
        f"PSNR of noisy -> denoised test patches: {noisy} dB to {den} dB "
        f"(easy / hard / tough): {psnr_change(psnr)}.",
        "", ".. list-table::", "   :header-rows: 1", "   :widths: 25 20 18 18 18", "",
        "   * - Descriptor", "     - Input", "     - Verification", "     - Matching",
        "     - Retrieval"]
    for name in res:
        for inp in INPUTS:
            lines += [f"   * - {name}", f"     - {inp}"]
            lines += [f"     - {v:.3f}" for v in mean_map(res, name, inp)]
    lines += ["", summary_line(res, LEARNED, psnr)]
    return "\n".join(lines) + "\n"


def replace_block(text, block, start=README_START, end=README_END):
    """``text`` with the lines from ``start`` to ``end`` replaced by ``block``."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"the markers {start!r} ... {end!r} are not in the README")
    return text[:i] + block + text[j + len(end):]


def outputs(c):
    """``{path: new text}`` of every file this script writes."""
    return {COMPACT: json.dumps(c, indent=1) + "\n",
            RST: rst_table(c),
            README: replace_block(README.read_text(), readme_block(c))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", type=Path,
                        help="results.json of a demo run (default: the committed "
                             "docs/demo_results.json, i.e. only re-render)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs from its rendering")
    args = parser.parse_args(argv)
    source = args.results or COMPACT
    payload = json.loads(source.read_text())
    c = payload if args.results is None else compact(payload)
    stale = []
    for path, text in outputs(c).items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)  # atomic: a reader never sees half a file
    verb = "out of date" if args.check else "written"
    print("\n".join(f"{verb}: {p.relative_to(ROOT)}" for p in stale) or "up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
