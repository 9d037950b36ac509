"""Rescore the untrained reference rows (SIFT, RootSIFT, raw pixels) of the shipped card.

The shipped descriptor's card (``describe/pretrained/hardnet-hpatches-like.json``)
records, next to the trained descriptor's held-out mAP, the mAP of the
handcrafted baselines on the same held-out set. Those rows depend on the
library's baselines, not on the weights: when a baseline's implementation
changes (``SIFTPatchDescriptor`` delegating to ``kornia.feature.SIFTDescriptor``
in 0.1), this script recomputes them on the card's own held-out set and writes
them into the card, keeping the previous rows and saying why, when and with
which versions. The trained descriptor's row is left exactly as trained.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/rescore_card_references.py --why "..."
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import kornia
import sklearn

from descriptor_data import real_heldout_set, task_scores
from sklearn_patchdesc._files import atomic_write
from sklearn_patchdesc.describe import RawPatchDescriptor, SIFTPatchDescriptor

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "sklearn_patchdesc" / "describe" / "pretrained" / "hardnet-hpatches-like.json"
BASELINES = {"sift": lambda: SIFTPatchDescriptor(), "rootsift": lambda: SIFTPatchDescriptor(root=True),
             "raw": lambda: RawPatchDescriptor()}


def _held_out_size(what):
    """``n_patches_per_sequence`` and ``random_state`` the card's held-out set was cut with."""
    n = re.search(r"n_patches_per_sequence=(\d+)", what)
    seed = re.search(r"random_state=(\d+)", what)
    if n is None or seed is None:
        raise SystemExit(f"cannot read the held-out set's size from the card: {what!r}")
    return int(n.group(1)), int(seed.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--why", required=True, help="what changed in the baselines")
    ap.add_argument("--card", type=Path, default=CARD)
    args = ap.parse_args(argv)
    card = json.loads(args.card.read_text())
    heldout = card["heldout_real"]
    n_points, seed = _held_out_size(heldout["what"])
    X, y = real_heldout_set(n_points=n_points, random_state=seed)
    new = {name: task_scores(make().fit(X).transform(X), y) for name, make in BASELINES.items()}
    for name, scores in new.items():
        old = heldout["mAP"][name]
        print(f"{name:>9}: " + " / ".join(f"{old[t]:.4f} -> {scores[t]:.4f}" for t in scores))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    heldout.setdefault("references_rescored", []).append({
        "why": args.why, "date": time.strftime("%Y-%m-%d"), "git_commit": commit,
        "command": "python benchmarks/rescore_card_references.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "versions": {"kornia": kornia.__version__, "scikit-learn": sklearn.__version__},
        "previous": {name: heldout["mAP"][name] for name in new}})
    heldout["mAP"].update(new)
    with atomic_write(args.card) as tmp:  # a crash leaves the old card, never half a card
        tmp.write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {args.card}")


if __name__ == "__main__":
    main()
