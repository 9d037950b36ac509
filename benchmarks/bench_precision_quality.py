"""Held-out mAP of HardNet trained in float32 vs bf16: same data, epochs and seeds.

Trains :class:`~sklearn_patchdesc.describe.HardNetDescriptor` from random
weights on the shared training part of ``descriptor_data.py`` (built-in photo
sequences and real sequences), once per seed in each precision, and scores
the three held-out real sequences with the HPatches protocol. Prints each
run, then the bf16 - fp32 difference per task: mean and 95 % t-interval over
the seeds (issue 29's target: within 0.005, or an interval that contains 0 or
favours bf16).

bf16 is refused on CPUs without bf16 units. ``--emulate-bf16`` runs it
there anyway (torch emulates the arithmetic: the same numbers, much slower),
so the quality question can be answered on any machine; the times printed
then say nothing about bf16's speed.

Usage::

    SKPD_SHARED=../shared python benchmarks/bench_precision_quality.py [--seeds 3]
        [--epochs 2] [--points 100] [--heldout-points 300] [--emulate-bf16] [--threads 1]
"""
import argparse
import time

import numpy as np
import torch
from scipy import stats

from descriptor_data import TASKS, real_heldout_set, task_scores, training_set
from sklearn_patchdesc import _precision
from sklearn_patchdesc.describe import HardNetDescriptor


def run(precision, seed, X, y, Xt, yt, args):
    est = HardNetDescriptor(max_epochs=args.epochs, batch_size=2 * args.batch, precision=precision,
                            random_state=seed)
    t0 = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - t0
    return task_scores(est.transform(Xt), yt), seconds


def interval(diffs):
    d = np.asarray(diffs, dtype=float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0
    return d.mean(), half


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128, help="anchor/positive pairs per step")
    ap.add_argument("--points", type=int, default=100,
                    help="points per built-in training sequence (real ones: 2x)")
    ap.add_argument("--heldout-points", type=int, default=300,
                    help="points per held-out real sequence")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--emulate-bf16", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    emulated = args.emulate_bf16 and not _precision.has_native_bf16("cpu")
    if emulated:
        _precision.has_native_bf16 = lambda device="cpu": True
    X, y = training_set(n_builtin=8, n_points=args.points, n_points_real=2 * args.points)
    Xt, yt = real_heldout_set(n_points=args.heldout_points)
    print(f"HardNet from random weights, {len(X)} training patches, {args.epochs} epochs, "
          f"batch {args.batch}, {args.threads} thread(s); held out: {len(Xt)} patches of 3 real "
          f"sequences" + ("; bf16 EMULATED (times are not bf16's speed)" if emulated else ""))
    print(f"{'seed':>4} {'prec':>5} " + " ".join(f"{t:>12}" for t in TASKS) + f" {'fit s':>7}")
    results = {}
    for seed in range(args.seeds):
        for precision in ("fp32", "bf16"):
            scores, seconds = run(precision, seed, X, y, Xt, yt, args)
            results[seed, precision] = scores
            print(f"{seed:>4} {precision:>5} " + " ".join(f"{scores[t]:>12.4f}" for t in TASKS)
                  + f" {seconds:>7.0f}", flush=True)
    print("\nbf16 - fp32, mean [95 % t-interval] over seeds")
    for t in TASKS:
        mu, half = interval([results[s, "bf16"][t] - results[s, "fp32"][t]
                             for s in range(args.seeds)])
        print(f"  {t:<13} {mu:+.4f} [{mu - half:+.4f}, {mu + half:+.4f}]")


if __name__ == "__main__":
    main()
