"""Does the denoising stage pay its way for the shipped descriptor? Gap closure per method.

Test data: noisy patches (N-HPatches gaussian levels) and their clean twins
cut by ``make_hpatches_like`` from the real sequences ``boat``, ``graffiti``,
``ubc`` (never trained on by the shipped descriptor or any denoiser here).
Training data: the training part of ``descriptor_data`` (noisy/clean pairs;
``--train-patches`` drawn per seed). For the shipped HardNet (fixed) and SIFT
(reference) it scores mAP per task on clean, noisy and denoised input, for

- (a) ``pixel``: a shallow U-Net trained on the L1 loss (today's denoisers);
- (b) ``task-aware``: :class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser`,
  residual (identity at the start), blind noise-level input, L1 +
  descriptor consistency for the frozen shipped HardNet;
- (c) ``joint``: :class:`~sklearn_patchdesc.pipeline.JointDenoiseDescribe`
  fine-tuning (a)'s U-Net and the shipped HardNet together on labelled noisy
  patches;
- (d) ``fine-tuned, no denoiser``: the shipped HardNet fine-tuned on the noisy
  training patches;
- ``shipped``: the shipped pipeline, :func:`~sklearn_patchdesc.pipeline.load_pretrained_pipeline`
  (one row, not retrained per seed).

Gap closure = (method - shipped HardNet on noisy) / (shipped HardNet on clean
- on noisy), same patches; the reference is always the shipped descriptor,
so (c) and (d), which change the descriptor, are measured against the same
baseline. Each row is repeated for ``--seeds`` training seeds; the table
prints the mean and the 95 % t-interval of the difference to noisy input.

    python benchmarks/bench_denoise_value.py                  # ~35 CPU-minutes
    python benchmarks/bench_denoise_value.py --quick          # smoke run
    python benchmarks/bench_denoise_value.py --shipped-only   # no training: references + shipped
    python benchmarks/bench_denoise_value.py --figure docs/_static/denoise_value.png
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import TASKS, noisy_heldout_set, noisy_training_set  # noqa: E402

from sklearn_patchdesc._cli._demo_table import per_difficulty  # noqa: E402
from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TaskAwareDenoiser  # noqa: E402
from sklearn_patchdesc.describe import (PKSampler, SIFTPatchDescriptor,  # noqa: E402
                                        load_pretrained)
from sklearn_patchdesc.metrics import hpatches_evaluate  # noqa: E402
from sklearn_patchdesc.pipeline import (JointDenoiseDescribe,  # noqa: E402
                                        load_pretrained_pipeline)

LEVELS = ("easy", "hard", "tough")
METHODS = ("pixel", "task-aware", "joint", "fine-tuned, no denoiser")


def scores(D, y):
    """``{task: {mean, easy, hard, tough}}`` of descriptors ``D``."""
    table = per_difficulty(hpatches_evaluate(D, y))
    return {t: {k: float(table[t][k]) for k in ("mean",) + LEVELS} for t in TASKS}


def run_seed(seed, args, Xtr, Ctr, ytr, Xn, yt):
    """The four methods' descriptors of the noisy test patches for one training seed."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(Xtr), min(args.train_patches, len(Xtr)), replace=False))
    X, C, y = Xtr[rows], Ctr[rows], ytr[rows]
    hardnet = load_pretrained()
    out, cpu = {}, {}

    t0 = time.process_time()
    pixel = ShallowUNetDenoiser(max_epochs=args.epochs, random_state=seed).fit(X, C)
    cpu["pixel"] = time.process_time() - t0
    out["pixel"] = hardnet.transform(pixel.transform(Xn))
    out["pixel/sift"] = pixel.transform(Xn)

    t0 = time.process_time()
    aware = TaskAwareDenoiser(ShallowUNetDenoiser(), hardnet, residual=True, pixel_weight=0.5,
                              max_epochs=args.epochs, random_state=seed).fit(X, C)
    cpu["task-aware"] = time.process_time() - t0
    out["task-aware"] = hardnet.transform(aware.transform(Xn))
    out["task-aware/sift"] = aware.transform(Xn)
    if args.sift_only:  # the SIFT rows need only the two denoisers
        return out, cpu

    t0 = time.process_time()
    joint = JointDenoiseDescribe(pixel, load_pretrained(), lam=1.0,
                                 sampler=PKSampler(n_per_label=2), batch_size=128,
                                 max_epochs=args.fine_tune_epochs, lr=1e-4,
                                 random_state=seed).fit(X, y)
    cpu["joint"] = time.process_time() - t0 + cpu["pixel"]
    out["joint"] = joint.transform(Xn)

    t0 = time.process_time()
    tuned = load_pretrained(max_epochs=args.fine_tune_epochs, lr=0.01,
                            random_state=seed).fit(X, y)
    cpu["fine-tuned, no denoiser"] = time.process_time() - t0
    out["fine-tuned, no denoiser"] = tuned.transform(Xn)
    return out, cpu


def interval(diffs):
    """Mean and 95 % t-interval half-width of per-seed differences."""
    d = np.asarray(diffs, float)
    if len(d) < 2:
        return float(d.mean()), float("nan")
    return float(d.mean()), float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1)
                                  / np.sqrt(len(d)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one seed (smoke run)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-patches", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=4, help="denoiser epochs, (a) and (b)")
    ap.add_argument("--fine-tune-epochs", type=int, default=2, help="(c) and (d)")
    ap.add_argument("--heldout-points", type=int, default=150)
    ap.add_argument("--shipped-only", action="store_true",
                    help="only the reference rows and the shipped pipeline (no training)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sift-only", action="store_true",
                    help="train only (a) and (b) and rescore the SIFT reference rows, replacing "
                         "them in the --json file (after a change to SIFTPatchDescriptor)")
    ap.add_argument("--json", default=None, help="write all numbers to this file")
    ap.add_argument("--figure", default=None, help="write the gap-closure figure here")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.train_patches, args.epochs, args.fine_tune_epochs = 1, 300, 1, 1
        args.heldout_points = 20
    if args.shipped_only:
        args.seeds = 0
    torch.set_num_threads(args.threads)

    Xtr, Ctr, ytr = noisy_training_set(n_builtin_points=40 if args.quick else 100,
                                       n_points_real=40 if args.quick else 300)
    Xn, Xc, yt = noisy_heldout_set(args.heldout_points)
    hardnet, sift = load_pretrained(), SIFTPatchDescriptor().fit(Xc)
    ref = {"noisy": scores(hardnet.transform(Xn), yt),
           "clean": scores(hardnet.transform(Xc), yt)}
    sift_rows = {"noisy": scores(sift.transform(Xn), yt), "clean": scores(sift.transform(Xc), yt)}

    per_seed, cpu = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    sift_seed = {"pixel": [], "task-aware": []}
    if args.sift_only:
        return _rescore_sift(args, sift, Xn, Xc, Xtr, Ctr, ytr, yt, sift_rows, sift_seed)
    for seed in range(args.seeds):
        out, c = run_seed(seed, args, Xtr, Ctr, ytr, Xn, yt)
        for m in METHODS:
            per_seed[m].append(scores(out[m], yt))
            cpu[m].append(c[m])
        for m in sift_seed:
            sift_seed[m].append(scores(sift.transform(out[f"{m}/sift"]), yt))
        print(f"seed {seed} done", flush=True)

    ref["shipped pipeline"] = scores(load_pretrained_pipeline().transform(Xn), yt)
    lo, hi = ref["noisy"], ref["clean"]
    print(f"\nShipped HardNet on {len(Xn)} held-out noisy patches (boat, graffiti, ubc); "
          f"{args.seeds} seeds, {args.train_patches} training pairs")
    print(f"{'input':<26}" + "".join(f"{t:>13}" for t in TASKS) + f"{'tough match':>13}")
    for name, row in (("clean", hi), ("noisy", lo), ("shipped pipeline", ref["shipped pipeline"])):
        print(f"{name:<26}" + "".join(f"{row[t]['mean']:>13.4f}" for t in TASKS)
              + f"{row['matching']['tough']:>13.4f}")
    summary = {}
    methods = METHODS if args.seeds else ()
    for m in methods:
        mean = {t: np.mean([s[t]["mean"] for s in per_seed[m]]) for t in TASKS}
        tough = np.mean([s["matching"]["tough"] for s in per_seed[m]])
        print(f"{m:<26}" + "".join(f"{mean[t]:>13.4f}" for t in TASKS) + f"{tough:>13.4f}")
    print("\nDifference to noisy input, mean [95 % interval] over seeds; gap closure")
    for m in methods + ("shipped pipeline",):
        rows = per_seed.get(m, [ref["shipped pipeline"]])
        summary[m] = {}
        cells = []
        for t, level in [(t, "mean") for t in TASKS] + [("matching", "tough")]:
            diffs = [s[t][level] - lo[t][level] for s in rows]
            mu, half = interval(diffs)
            gap = hi[t][level] - lo[t][level]
            closure = mu / gap if gap > 0 else float("nan")
            summary[m][f"{t}/{level}"] = {"diff": mu, "half_width": half, "closure": closure}
            cells.append(f"{t[:5]}{'' if level == 'mean' else '-' + level} {mu:+.4f}"
                         f" [{mu - half:+.4f},{mu + half:+.4f}] {closure:+.0%}")
        print(f"{m:<26}" + "  ".join(cells))
    print("\nSIFT (reference): clean " + " / ".join(f"{sift_rows['clean'][t]['mean']:.4f}"
                                                   for t in TASKS)
          + ", noisy " + " / ".join(f"{sift_rows['noisy'][t]['mean']:.4f}" for t in TASKS))
    for m, rows in (sift_seed.items() if args.seeds else ()):
        print(f"SIFT on {m} denoised: " + " / ".join(
            f"{np.mean([s[t]['mean'] for s in rows]):.4f}" for t in TASKS))
    if args.seeds:
        print("CPU seconds per training (mean over seeds): " + ", ".join(
            f"{m} {np.mean(cpu[m]):.0f}" for m in METHODS))

    result = {"args": vars(args), "n_test_patches": int(len(Xn)), "reference": ref,
              "sift": sift_rows, "per_seed": per_seed, "sift_per_seed": sift_seed,
              "cpu_seconds": cpu, "summary": summary}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.figure:
        figure(summary, args.figure, args.seeds)
    return result


def _rescore_sift(args, sift, Xn, Xc, Xtr, Ctr, ytr, yt, sift_rows, sift_seed):
    """``--sift-only``: the SIFT rows of every seed, written into the ``--json`` file."""
    if not args.json or not Path(args.json).is_file():
        raise SystemExit("--sift-only replaces the SIFT rows of an earlier run: give its --json")
    for seed in range(args.seeds):
        out, _ = run_seed(seed, args, Xtr, Ctr, ytr, Xn, yt)
        for m in sift_seed:
            sift_seed[m].append(scores(sift.transform(out[f"{m}/sift"]), yt))
    for name, rows in [(k, [v]) for k, v in sift_rows.items()] + list(sift_seed.items()):
        print(f"SIFT on {name} input: " + " / ".join(
            f"{np.mean([s[t]['mean'] for s in rows]):.4f}" for t in TASKS))
    result = json.loads(Path(args.json).read_text())
    result.update(sift=sift_rows, sift_per_seed=sift_seed,
                  sift_rescored={"command": " ".join(sys.argv), "seeds": args.seeds})
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


def figure(summary, path, n_seeds):
    """Bars of gap closure per method and task, with the seeds' 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [f"{t}/mean" for t in TASKS] + ["matching/tough"]
    methods = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        clos = [summary[m][k]["closure"] for k in keys]
        gap = [summary[m][k]["diff"] / summary[m][k]["closure"]
               if summary[m][k]["closure"] else np.nan for k in keys]
        err = [summary[m][k]["half_width"] / g if g else 0 for k, g in zip(keys, gap)]
        ax.bar(np.arange(len(keys)) + i * width, np.asarray(clos) * 100, width,
               yerr=np.nan_to_num(np.asarray(err) * 100), label=m, capsize=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.axhline(50, color="grey", ls="--", lw=0.8)
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2)
    ax.set_xticklabels(["verification", "matching", "retrieval", "matching (tough)"])
    ax.set_ylabel("gap closure (%)")
    ax.set_title(f"Shipped HardNet, noisy real held-out patches ({n_seeds} seeds, 95 % CI)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
