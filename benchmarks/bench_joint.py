"""Does joint fine-tuning (JointDenoiseDescribe) beat training the steps separately?

Equal budget: every network gets ``2 k`` epochs of updates.

- ``separate``: ``Pipeline(denoiser(2k epochs), descriptor(2k epochs))`` -- the
  denoiser self-supervised on the noisy patches, then the descriptor on its
  output;
- ``joint lam=L``: the same pipeline with ``k`` + ``k`` epochs, then
  ``JointDenoiseDescribe`` fine-tunes both for ``k`` epochs on descriptor loss
  + ``L`` x Neighbor2Neighbor loss (no clean patches either);
- ``noisy only``: the descriptor alone on the noisy patches (2k epochs),
  for reference.

Data: ``make_hpatches_like(noise=True)``; training and test sets are disjoint
sequences. Printed: HPatches verification / matching / retrieval / mean mAP
on the test sequences, and wall time.

Run: ``python benchmarks/bench_joint.py [--sequences 6] [--patches 20] [--k 2]
[--lam 0.1 1.0] [--seeds 0]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline

from sklearn_patchdesc._split import held_out_rows  # the library's held-out split
from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor
from sklearn_patchdesc.pipeline import JointDenoiseDescribe

TASKS = ("hpatches_verification", "hpatches_matching", "hpatches_retrieval", "hpatches_mean")


def _denoiser(epochs, seed):
    return ShallowUNetDenoiser(max_epochs=epochs, batch_size=64, random_state=seed)


def _descriptor(epochs, seed):
    return L2NetDescriptor(max_epochs=epochs, batch_size=192, optimizer="adam", lr=1e-3,
                           random_state=seed)


def _scores(est, X, y, name=""):
    out = [get_scorer(t)(est, X, y) for t in TASKS]
    print(f"  done: {name:24s} hpatches_mean {out[-1]:.4f}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=6)
    parser.add_argument("--patches", type=int, default=12, help="points per sequence")
    parser.add_argument("--k", type=int, default=2, help="half the epochs per network")
    parser.add_argument("--lam", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)

    data = make_hpatches_like(n_sequences=args.sequences, n_patches_per_sequence=args.patches,
                              noise=True, random_state=0)
    X, y = data.data, data.target
    names = np.unique(y["sequence"])
    tr, te = held_out_rows(y["sequence"], 1 / 3, random_state=0)  # a third held out
    test_names = np.unique(y["sequence"][te])
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    print(f"train {len(Xtr)} patches ({len(names) - len(test_names)} sequences), "
          f"test {len(Xte)} patches ({len(test_names)} sequences), 2k = {2 * args.k} epochs "
          f"per network, seeds {args.seeds}", flush=True)
    k = args.k
    rows = {}
    for seed in args.seeds:
        t = time.perf_counter()
        sep = Pipeline([("denoise", _denoiser(2 * k, seed)),
                        ("describe", _descriptor(2 * k, seed))]).fit(Xtr, ytr)
        rows.setdefault("separate", []).append((_scores(sep, Xte, yte, "separate"), time.perf_counter() - t))

        t = time.perf_counter()
        noisy = _descriptor(2 * k, seed).fit(Xtr, ytr)
        rows.setdefault("noisy only (no denoiser)", []).append(
            (_scores(noisy, Xte, yte, "noisy only"), time.perf_counter() - t))

        t = time.perf_counter()
        half = Pipeline([("denoise", _denoiser(k, seed)),
                         ("describe", _descriptor(k, seed))]).fit(Xtr, ytr)
        t_half = time.perf_counter() - t
        for lam in args.lam:
            t = time.perf_counter()
            joint = JointDenoiseDescribe(half[0], half[1], lam=lam, max_epochs=k, batch_size=192,
                                         lr=1e-4, random_state=seed).fit(Xtr, ytr)
            rows.setdefault(f"joint lam={lam:g}", []).append(
                (_scores(joint, Xte, yte, f"joint lam={lam:g}"), t_half + time.perf_counter() - t))

    print(f"\n{'method':28s} {'verif':>7s} {'match':>7s} {'retr':>7s} {'MEAN':>7s} {'time s':>7s}")
    for name, vals in rows.items():
        s = np.mean([v[0] for v in vals], axis=0)
        sd = np.std([v[0][3] for v in vals])
        tm = np.mean([v[1] for v in vals])
        extra = f"  (mean sd {sd:.4f} over {len(vals)} seeds)" if len(vals) > 1 else ""
        print(f"{name:28s} {s[0]:7.4f} {s[1]:7.4f} {s[2]:7.4f} {s[3]:7.4f} {tm:7.1f}{extra}")


if __name__ == "__main__":
    main()
