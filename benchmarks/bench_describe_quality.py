"""HPatches table of raw pixels / SIFT / L2-Net (random triplets vs batch-hard).

Data: :func:`sklearn_patchdesc.datasets.make_hpatches_like` (clean patches,
the generator's synthetic sequences), split by sequence: the last
``--test`` sequences are held out and scored with the full HPatches protocol
of :func:`sklearn_patchdesc.metrics.hpatches_evaluate`. The two L2-Net rows
get the same budget: ``--epochs`` epochs of one pass per training patch
(a PK epoch covers the training set once; the random-triplet epoch draws
``n_train // 3`` triplets):

- random triplets: seed 000's baseline generator (hinge, margin 1), Adam 1e-3
  (seed 000's TPE optimiser: SGD 0.1 needs far more epochs than this budget);
- batch-hard: PK batches (S labels x K patches, seed 001), hardest positive
  and negative per anchor, hinge margin 1, Adam 1e-3.

Usage::

    python benchmarks/bench_describe_quality.py [--sequences 8] [--patches 40] [--test 2] [--epochs 3]
"""
import argparse
import time

import numpy as np
import torch

from sklearn_patchdesc._split import held_out_rows  # the library's held-out split
from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.describe import (L2NetDescriptor, PKSampler, RandomTripletSampler,
                                        RawPatchDescriptor, SIFTPatchDescriptor)
from sklearn_patchdesc.metrics import hpatches_evaluate


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=8)
    ap.add_argument("--patches", type=int, default=40, help="points per sequence")
    ap.add_argument("--test", type=int, default=2, help="held-out sequences")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    data = make_hpatches_like(n_sequences=args.sequences, n_patches_per_sequence=args.patches,
                              random_state=0)
    X, y = data.data, data.target
    seqs = np.unique(y["sequence"])
    tr, te = held_out_rows(y["sequence"], args.test, random_state=0)
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    print(f"data: {len(Xtr)} training / {len(Xte)} held-out patches "
          f"({len(seqs) - args.test} / {args.test} sequences), "
          f"generated in {time.perf_counter() - t0:.0f} s")

    per_epoch = len(Xtr)
    S, K = 16, 4
    models = {
        "raw pixels (MStd)": RawPatchDescriptor(),
        "SIFT": SIFTPatchDescriptor(),
        "RootSIFT": SIFTPatchDescriptor(root=True),
        "L2-Net random triplets": L2NetDescriptor(
            max_epochs=args.epochs, batch_size=192, optimizer="adam", lr=1e-3,
            sampler=RandomTripletSampler(per_epoch // 3), random_state=0),
        f"L2-Net batch-hard (S={S}, K={K})": L2NetDescriptor(
            max_epochs=args.epochs, optimizer="adam", lr=1e-3, batch_size=S * K,
            sampler=PKSampler(n_per_label=K), criterion__miner="batch_hard", random_state=0),
    }
    rows = []
    for name, est in models.items():
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t0
        scores = hpatches_evaluate(est.transform(Xte), yte).scores
        rows.append((name, scores, fit_s))
        print(f"  done {name} ({fit_s:.0f} s)", flush=True)

    print(f"\nHPatches mAP on held-out sequences; L2-Net budget {args.epochs} x {per_epoch} "
          "patch passes")
    print(f"{'descriptor':<34} {'verif.':>7} {'match.':>7} {'retr.':>7} {'mean':>7} {'fit s':>6}")
    for name, s, fit_s in rows:
        v, m, r = s["verification"], s["matching"], s["retrieval"]
        print(f"{name:<34} {v:>7.3f} {m:>7.3f} {r:>7.3f} {(v + m + r) / 3:>7.3f} {fit_s:>6.0f}")


if __name__ == "__main__":
    main()
