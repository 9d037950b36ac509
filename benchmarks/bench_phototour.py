"""The PhotoTour protocol at small scale: train on one set, FPR95 on the others, HPatches mAP.

The real Brown sets (Liberty, Notre Dame, Yosemite) are not shipped, so this
script builds three sets in their folder layout with ``write_phototour`` and
reads them back with ``load_phototour``, exactly as a user's copy would be read:

- ``synth-a`` / ``synth-b``: patches cut by ``make_hpatches_like`` from the
  first / last four of its eight built-in sequences (synthetic homographies
  over real photos);
- ``churchill``: patches cut from the real HPatches sequence v_churchill
  (../shared/data/real), also scored with the HPatches tasks.

Each row trains one descriptor on ``--train`` and prints FPR95 (%, lower is
better) on the evaluation pairs of the other sets and the HPatches
verification and matching mAP on churchill (one sequence, so retrieval, whose
distractors come from other sequences, is not scored); SIFT is the untrained
baseline. The numbers show the protocol working, not scores comparable with
published ones (sets of a few thousand patches instead of 450k-630k):

    python benchmarks/bench_phototour.py                       # 120 points per sequence, 3 epochs
    python benchmarks/bench_phototour.py --n-patches 100 --epochs 10

With a copy of the real sets (official layout or torchvision's ``<name>.pt``
files, never downloaded here), ``--root`` prints the field's table instead:
train on Liberty, FPR95 on Notre Dame and Yosemite, HPatches mAP on churchill:

    python benchmarks/bench_phototour.py --root ~/data/phototour --train liberty --epochs 10
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sklearn_patchdesc.datasets import (load_image_sequences, load_phototour,
                                        make_hpatches_like, write_phototour)
from sklearn_patchdesc.describe import HardNetDescriptor, SIFTPatchDescriptor
from sklearn_patchdesc.metrics import hpatches_evaluate, phototour_fpr95

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "hpatches_sequences"
#: the Brown / UBC PhotoTour sets, in the field's table order (train on the first)
BROWN = ("liberty", "notredame", "yosemite")


def _sets(n_patches, seed, real_only=False):
    real = make_hpatches_like(load_image_sequences(REAL / "v_churchill"),
                              n_patches_per_sequence=n_patches, patch_size=64,
                              random_state=seed)
    if real_only:
        return {"churchill": {"data": real.data, "target": real.target}}
    synth = make_hpatches_like(n_sequences=8, n_patches_per_sequence=n_patches, patch_size=64,
                               random_state=seed)
    names = synth.sequence_names
    seq = synth.target["sequence"]
    return {"synth-a": {"data": synth.data[np.isin(seq, names[:4])],
                        "target": synth.target[np.isin(seq, names[:4])]},
            "synth-b": {"data": synth.data[np.isin(seq, names[4:])],
                        "target": synth.target[np.isin(seq, names[4:])]},
            "churchill": {"data": real.data, "target": real.target}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-patches", type=int, default=120, help="3-D points per sequence")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", default=None,
                   help="set to train on (default synth-a, or liberty with --root)")
    p.add_argument("--root", default=None,
                   help="folder holding the real Brown sets (liberty, notredame, yosemite)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.train = args.train or ("liberty" if args.root else "synth-a")
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        bunches = _sets(args.n_patches, args.seed, real_only=args.root is not None)
        for name, b in bunches.items():
            write_phototour(b, root, name, random_state=args.seed)
        sets = {name: load_phototour(root, name) for name in bunches}
        if args.root is not None:  # the user's copies, read as they are
            sets = {**{n: load_phototour(args.root, n) for n in BROWN}, **sets}
        hp_target = bunches["churchill"]["target"]
        print(f"sets (read in {time.perf_counter() - t0:.0f} s): "
              + ", ".join(f"{n}: {len(s.data)} patches, {len(s.pairs)} pairs"
                          for n, s in sets.items()))
        if args.train not in sets:
            raise SystemExit(f"--train {args.train!r} is none of the sets {sorted(sets)}")
        tests = [n for n in sets if n != args.train]
        train = sets[args.train]
        rows = [("SIFT (no training)", SIFTPatchDescriptor()),
                (f"HardNetDescriptor, {args.epochs} epochs on {args.train}",
                 HardNetDescriptor(max_epochs=args.epochs, random_state=args.seed))]
        head = ["descriptor"] + [f"FPR95 {n} (%)" for n in tests] + \
            ["HPatches mAP churchill (verif / match)", "fit (s)"]
        print(" | ".join(head))
        for label, est in rows:
            t0 = time.perf_counter()
            est.fit(train.data, train.target)
            fit_s = time.perf_counter() - t0
            cells = [label]
            for n in tests:
                s = sets[n]
                cells.append(f"{100 * phototour_fpr95(est.transform(s.data), s.pairs, s.is_match):.1f}")
            sc = hpatches_evaluate(est.transform(sets["churchill"].data), hp_target,
                                   tasks=("verification", "matching")).scores
            cells.append(" / ".join(f"{sc[t]:.3f}" for t in ("verification", "matching")))
            cells.append(f"{fit_s:.0f}")
            print(" | ".join(cells))


if __name__ == "__main__":
    main()
