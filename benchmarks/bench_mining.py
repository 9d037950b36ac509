"""HPatches table of triplet-mining strategies at an equal training budget (issue 6).

Rows (seed 001's results table, plus seed 000's hard-positive mining), each
trained with and without label-consistent flip/rot90 augmentation
(:class:`PatchAugmentation` ``mode="label"``, seed 001's untested idea):

- random triplets: seed 000's baseline generator, hinge margin 1;
- hard positives: :class:`HardPositiveMiner` (seed 000 sec. 3.2.3), 1 epoch
  of random triplets, then the farthest positive re-mined every epoch,
  random negatives;
- batch-hard 128: 1 warm-up epoch of random triplets, then PK batches of
  128 = 32 labels x K=4 (seed 001), hardest positive and negative;
- stepped batch-hard: 1 warm-up epoch, then :class:`SteppedBatchHard`
  through seed 001's stages (32,2) (64,2) (128,4) (256,6) (512,8) (1024,8),
  advancing only while the loss is below the margin;
- soft-margin stepped: the same with the soft margin at margin 0 (collapse
  point ln 2).

Equal budget: every run trains ``--epochs`` epochs of one pass over the
training patches (PK epochs cover the set once; random-triplet epochs draw
``n_train // 3`` triplets), Adam at 1e-3 for every row (seed 001 used 2e-4
over far longer runs). Data: :func:`make_hpatches_like`, split by sequence;
the held-out sequences are scored with the full HPatches protocol
(:func:`hpatches_evaluate`: verification, matching, retrieval mAP).

``--quick`` (a few minutes on 2 busy CPU cores) scales everything down:
3 training + 1 held-out sequence of 24 points (16 patches each), 4 epochs,
and stages (16,2) (32,2) (64,4) (128,4) since 1024-patch batches need at
least 128 labels of 8 patches. Numbers at this size are noisy: they show
that every strategy runs end to end, not the seeds' gaps.

Usage::

    /work/venv/bin/python benchmarks/bench_mining.py --quick
    /work/venv/bin/python benchmarks/bench_mining.py --sequences 10 --patches 40 --epochs 10
"""
import argparse
import time
import warnings

import numpy as np
import torch

from sklearn_patchdesc._split import held_out_rows  # the library's held-out split
from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.describe import (HardPositiveMiner, L2NetDescriptor, PatchAugmentation,
                                        RandomTripletSampler, SteppedBatchHard)
from sklearn_patchdesc.describe._stepped import DEFAULT_STAGES
from sklearn_patchdesc.metrics import hpatches_evaluate

QUICK_STAGES = ((16, 2), (32, 2), (64, 4), (128, 4))


def strategies(n_train, stages):
    """name -> estimator keyword arguments (besides epochs, seed, callbacks)."""
    per_epoch = max(1, n_train // 3)
    common = dict(optimizer="adam", lr=1e-3)
    hard = dict(criterion__miner="batch_hard", **common)
    return {
        "random triplets": dict(sampler=RandomTripletSampler(per_epoch), batch_size=192,
                                **common),
        "hard positives": dict(sampler=HardPositiveMiner(warmup_epochs=1, n_triplets=per_epoch),
                               batch_size=192, **common),
        "batch-hard 128": dict(sampler=SteppedBatchHard(stages=((128, 4),), warmup_epochs=1),
                               batch_size=192, **hard),
        f"stepped batch-hard <= {stages[-1][0]}": dict(
            sampler=SteppedBatchHard(stages=stages, warmup_epochs=1), batch_size=192, **hard),
        f"soft stepped <= {stages[-1][0]}": dict(
            sampler=SteppedBatchHard(stages=stages, warmup_epochs=1), batch_size=192,
            criterion__margin=0.0, criterion__soft=True, **hard),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, reduced stages")
    ap.add_argument("--sequences", type=int, default=10)
    ap.add_argument("--patches", type=int, default=40, help="points per sequence")
    ap.add_argument("--test", type=int, default=2, help="held-out sequences")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only the rows whose name contains one of these words")
    args = ap.parse_args()
    if args.quick:
        args.sequences, args.patches, args.test, args.epochs = 4, 24, 1, 4
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    data = make_hpatches_like(n_sequences=args.sequences, n_patches_per_sequence=args.patches,
                              random_state=0)
    X, y = data.data, data.target
    seqs = np.unique(y["sequence"])
    tr, te = held_out_rows(y["sequence"], args.test, random_state=0)
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    n_labels = len(np.unique(ytr["label"]))
    stages = QUICK_STAGES if args.quick else DEFAULT_STAGES
    stages = tuple(s for s in stages if s[0] // s[1] <= n_labels) or stages[:1]
    print(f"data: {len(Xtr)} training patches ({n_labels} labels) / {len(Xte)} held-out, "
          f"{len(seqs) - args.test} / {args.test} sequences, generated in "
          f"{time.perf_counter() - t0:.0f} s; {args.epochs} epochs per run; stages {stages}")

    rows = []
    for name, kw in strategies(len(Xtr), stages).items():
        if args.only and not any(w in name for w in args.only):
            continue
        for aug in (False, True):
            cbs = [("augment", PatchAugmentation(mode="label"))] if aug else None
            est = L2NetDescriptor(max_epochs=args.epochs, random_state=0, callbacks=cbs, **kw)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xtr, ytr)
            fit_s = time.perf_counter() - t
            rep = hpatches_evaluate(est.transform(Xte), yte)
            hist = est.history_
            last_b = hist[-1].get("stage_batch_size", kw["batch_size"])
            rows.append((name, "label" if aug else "-", rep.verification, rep.matching,
                         rep.retrieval, rep.mean, float(hist[-1, "train_loss"]), last_b, fit_s))
            print(f"  {name:28s} aug={'label' if aug else 'none':5s} mean mAP {rep.mean:.3f} "
                  f"({fit_s:.0f} s)", flush=True)

    head = (f"{'method':28s} {'aug':5s} {'PV':>6s} {'IM':>6s} {'PR':>6s} {'mean':>6s} "
            f"{'loss':>6s} {'batch':>6s} {'fit s':>6s}")
    print("\n" + head + "\n" + "-" * len(head))
    for name, aug, pv, im, pr, mean, loss, b, s in rows:
        print(f"{name:28s} {aug:5s} {pv:6.3f} {im:6.3f} {pr:6.3f} {mean:6.3f} {loss:6.3f} "
              f"{int(b):6d} {s:6.0f}")
    print(f"\n(last-epoch batch size in patches; total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
