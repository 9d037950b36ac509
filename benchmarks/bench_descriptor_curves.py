"""Learning curves: held-out HPatches mAP against training CPU-seconds.

Each recipe is trained from random weights on the training part of
``descriptor_data`` (built-in photo sequences + real sequences) for
``--budget`` CPU-seconds of this process (all threads; evaluation excluded),
and its descriptors of the held-out real sequences (``boat``, ``graffiti``,
``ubc``: never trained on) are scored with the full HPatches protocol at
``--points`` along the way. The training set is cut to the labels one run
can visit in its budget (one epoch, measured speed; several epochs of the
whole set for a recipe fast enough to visit it more than once), so schedules
that decay over the fit (HardNet's) end with the budget. SIFT, RootSIFT and raw
pixels are horizontal lines. Every recipe runs with ``--seeds`` seeds:
the table gives the mean and spread at each point, the figure the mean curve.

Recipes:

- ``baseline``: :class:`L2NetDescriptor` defaults, the L2-Net baseline of the
  N-HPatches report (random triplets, SGD 0.1; seed 000);
- ``batch-hard``: the same trunk with PK batches (64 labels x 2) and
  batch-hard mining, Adam 1e-3 (seed 001's recipe);
- ``hardnet``: :class:`HardNetDescriptor` defaults (HardNet's loss, anchor
  swap, SGD with linear decay);
- ``hardnet:key=value,...``: the same with parameters changed, e.g.
  ``hardnet:trunk=tfeat,lr=0.1`` (the shallow TFeat trunk).

Usage::

    python benchmarks/bench_descriptor_curves.py [--budget 300] [--seeds 0 1 2]
        [--recipes baseline batch-hard hardnet] [--out docs/_static] [--add]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import TASKS, real_heldout_set, task_scores, training_set  # noqa: E402

from sklearn_patchdesc.describe import (HardNetDescriptor, L2NetDescriptor, PKSampler,  # noqa: E402
                                        RandomTripletSampler, RawPatchDescriptor,
                                        SIFTPatchDescriptor, embed)


def _number_or_text(v):
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def recipe(name, seed, n_train_patches):
    """A fresh estimator of recipe ``name`` (one epoch over its training cut)."""
    if name == "baseline":
        return L2NetDescriptor(max_epochs=1, random_state=seed,
                               sampler=RandomTripletSampler(n_train_patches // 3))
    if name == "batch-hard":
        return L2NetDescriptor(max_epochs=1, random_state=seed, batch_size=128,
                               sampler=PKSampler(n_per_label=2),
                               criterion__miner="batch_hard", optimizer="adam", lr=1e-3)
    if name.startswith("hardnet"):
        # "hardnet" = defaults; "hardnet:lr=10,batch_size=256" overrides
        params = {}
        if ":" in name:
            for item in name.split(":", 1)[1].split(","):
                k, v = item.split("=")
                params[k] = _number_or_text(v)
        if params.get("optimizer", "sgd") != "sgd":
            params.setdefault("lr", 1e-3)
        return HardNetDescriptor(max_epochs=1, random_state=seed, **params)
    raise ValueError(f"unknown recipe {name!r}")


class _BudgetReached(Exception):
    pass


class CPUBudgetCurve(Callback):
    """Score held-out descriptors at CPU-second marks; stop at the last one."""

    def __init__(self, points, X, y):
        self.points = points
        self.X, self.y = X, y

    def on_train_begin(self, net, **kwargs):
        self.curve_ = []
        self.spent_ = 0.0
        self.next_ = 0
        self.t_ = time.process_time()

    def on_batch_end(self, net, training=None, **kwargs):
        if not training:
            return
        now = time.process_time()
        self.spent_ += now - self.t_
        while self.next_ < len(self.points) and self.spent_ >= self.points[self.next_]:
            self.curve_.append((self.points[self.next_], task_scores(embed(net, self.X), self.y)))
            self.next_ += 1
        self.t_ = time.process_time()  # evaluation time is not training time
        if self.next_ == len(self.points):
            raise _BudgetReached


class _EpochCPU(Callback):
    """CPU-seconds of each training epoch."""

    def on_train_begin(self, net, **kwargs):
        self.seconds_ = []

    def on_epoch_begin(self, net, **kwargs):
        self.t_ = time.process_time()

    def on_epoch_end(self, net, **kwargs):
        self.seconds_.append(time.process_time() - self.t_)


def speed(name, X, y):
    """Training patches per CPU-second of a recipe, from the second of two short epochs.

    The first epoch also pays the once-per-fit costs (input checks, weight
    init, first-call allocations), which made a one-epoch estimate too slow
    for the fast trunks: their budget epoch then ended early.
    """
    rows = np.isin(y["label"], np.unique(y["label"])[:600])
    est = recipe(name, 0, int(rows.sum())).set_params(max_epochs=2,
                                                      callbacks=[("cpu", _EpochCPU())])
    est.fit(X[rows], y[rows])
    return rows.sum() / dict(est.net_.callbacks_)["cpu"].seconds_[-1]


def run(name, seed, budget, points, Xtr, ytr, Xte, yte, rate):
    rng = np.random.default_rng(seed)
    labels = np.unique(ytr["label"])
    per_label = len(ytr) / len(labels)
    wanted = 1.15 * budget * rate  # training patches the budget can visit, with a margin
    n_labels = min(len(labels), int(wanted / per_label) + 2)
    rows = np.isin(ytr["label"], rng.choice(labels, n_labels, replace=False))
    # a recipe fast enough to visit the whole set more than once gets more epochs of it
    epochs = max(1, int(np.ceil(wanted / len(ytr))))
    probe = CPUBudgetCurve(points, Xte, yte)
    est = recipe(name, seed, int(rows.sum()))
    est.set_params(max_epochs=epochs, callbacks=[("budget", probe)])
    try:
        est.fit(Xtr[rows], ytr[rows])
    except _BudgetReached:
        pass
    if len(probe.curve_) < len(points):  # the epoch ended early: score the end point
        probe.curve_.append((probe.spent_, task_scores(embed(est.net_, Xte), yte)))
    return probe.curve_


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="CPU-seconds per run")
    ap.add_argument("--points", type=float, nargs="*", default=None,
                    help="CPU-second marks (default: 30 60 120 180 and the budget)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipes", nargs="+", default=["baseline", "batch-hard", "hardnet"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout-points", type=int, default=200)
    ap.add_argument("--out", default="docs/_static", help="folder for the figure and JSON")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("--add", action="store_true",
                    help="add these recipes' curves to the JSON already in --out (same "
                         "points and held-out set) instead of replacing it")
    ap.add_argument("--lines-only", action="store_true",
                    help="rescore only the untrained lines (SIFT, RootSIFT, raw pixels) on the "
                         "same held-out set and replace them in the JSON in --out, keeping its "
                         "curves (after a change to a handcrafted descriptor)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    points = args.points or sorted({p for p in (30, 60, 120, 180) if p < args.budget}
                                   | {args.budget})
    if args.quick:
        args.seeds, points = args.seeds[:1], [5.0, 10.0]
    t0 = time.time()
    if args.quick:
        Xtr, ytr = training_set(n_builtin=4, n_points=40, n_points_real=40)
    elif args.lines_only:  # nothing trains
        Xtr, ytr = np.empty((0, 32, 32), np.uint8), None
    else:
        Xtr, ytr = training_set()
    Xte, yte = real_heldout_set(n_points=40 if args.quick else args.heldout_points)
    print(f"data: {len(Xtr)} training / {len(Xte)} held-out patches "
          f"({len(np.unique(yte['sequence']))} real held-out sequences), "
          f"{time.time() - t0:.0f} s", flush=True)

    lines = {}
    for label, est in (("SIFT", SIFTPatchDescriptor()), ("RootSIFT", SIFTPatchDescriptor(root=True)),
                       ("raw pixels", RawPatchDescriptor())):
        lines[label] = task_scores(est.fit(Xte).transform(Xte), yte)
        print(f"{label:>12}: " + " / ".join(f"{lines[label][t]:.3f}" for t in TASKS), flush=True)
    if args.lines_only:
        return _replace_lines(Path(args.out), lines, len(Xte))

    curves = {}
    for name in args.recipes:
        rate = speed(name, Xtr, ytr)
        print(f"{name}: {rate:.0f} training patches per CPU-second", flush=True)
        curves[name] = {}
        for seed in args.seeds:
            t = time.time()
            curves[name][seed] = run(name, seed, points[-1], points, Xtr, ytr, Xte, yte, rate)
            last = curves[name][seed][-1]
            print(f"  seed {seed}: {last[0]:.0f} CPU-s -> " + " / ".join(
                f"{last[1][t]:.3f}" for t in TASKS) + f"  ({time.time() - t:.0f} s wall)",
                flush=True)
    table = _table(curves, lines, points)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": " ".join(sys.argv), "points": points, "lines": lines,
              "curves": {n: {str(s): c for s, c in v.items()} for n, v in curves.items()},
              "n_train": int(len(Xtr)), "n_heldout": int(len(Xte)),
              "date": time.strftime("%Y-%m-%d")}
    if args.add and (out / "descriptor_curves.json").is_file():
        result = _added(json.loads((out / "descriptor_curves.json").read_text()), result)
    if not args.quick:
        _write(out, result)


def _write(out, result):
    """The JSON and the figure of ``result`` in the folder ``out``."""
    (out / "descriptor_curves.json").write_text(json.dumps(result, indent=1))
    _figure(result, out / "descriptor_curves.png")
    print(f"wrote {out / 'descriptor_curves.png'} and descriptor_curves.json")


def _replace_lines(out, lines, n_heldout):
    """Put freshly scored untrained ``lines`` into the JSON in ``out``; redraw the figure."""
    prev = json.loads((out / "descriptor_curves.json").read_text())
    if prev["n_heldout"] != n_heldout:
        raise SystemExit(f"--lines-only: the JSON was scored on {prev['n_heldout']} held-out "
                         f"patches, this run on {n_heldout}; pass its --heldout-points")
    result = dict(prev, lines=lines, command=f"{prev['command']} ; {' '.join(sys.argv)}",
                  date=f"{prev['date']} ; {time.strftime('%Y-%m-%d')}")
    points = prev["points"]
    curves = {n: {int(s): c for s, c in v.items()} for n, v in prev["curves"].items()}
    print(_table(curves, lines, points))
    _write(out, result)


def _added(prev, new):
    """``prev`` with the curves of ``new`` added (both runs must score the same way)."""
    if prev["points"] != new["points"] or prev["n_heldout"] != new["n_heldout"]:
        raise SystemExit(f"--add: the JSON has points {prev['points']} on {prev['n_heldout']} "
                         f"held-out patches, this run {new['points']} on {new['n_heldout']}")
    for label, v in new["lines"].items():  # same held-out set -> same handcrafted lines
        if any(abs(v[t] - prev["lines"][label][t]) > 1e-9 for t in TASKS):
            raise SystemExit(f"--add: {label} scores differ from the JSON's; another held-out set")
    merged = dict(prev, curves={**prev["curves"], **new["curves"]})
    merged["command"] = f"{prev['command']} ; {new['command']}"
    merged["date"] = f"{prev['date']} ; {new['date']}" if prev["date"] != new["date"] else new["date"]
    return merged


def _table(curves, lines, points):
    rows = ["", "| recipe | CPU-s | " + " | ".join(TASKS) + " | mean |", "|---" * 6 + "|"]
    for name, by_seed in curves.items():
        for i, p in enumerate(points):
            vals = [c[i][1] for c in by_seed.values() if len(c) > i]
            if not vals:
                continue
            cells = []
            for t in list(TASKS) + ["mean"]:
                v = np.array([np.mean([x[k] for k in TASKS]) if t == "mean" else x[t]
                              for x in vals])
                cells.append(f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
            rows.append(f"| {name} | {p:.0f} | " + " | ".join(cells) + " |")
    for label, v in lines.items():
        rows.append(f"| {label} | - | " + " | ".join(f"{v[t]:.3f}" for t in TASKS)
                    + f" | {np.mean([v[t] for t in TASKS]):.3f} |")
    return "\n".join(rows)


def _figure(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
    for ax, task in zip(axes, TASKS):
        for name, by_seed in result["curves"].items():
            pts = {}
            for curve in by_seed.values():
                for x, s in curve:
                    # a run whose epoch ended a little early is drawn at the nearest mark
                    mark = min(result["points"], key=lambda p: abs(p - x))
                    pts.setdefault(mark, []).append(s[task])
            xs = sorted(pts)
            m = np.array([np.mean(pts[x]) for x in xs])
            sd = np.array([np.std(pts[x]) for x in xs])
            ax.plot(xs, m, marker="o", label=name)
            ax.fill_between(xs, m - sd, m + sd, alpha=0.2)
        for (label, v), style in zip(result["lines"].items(), ("--", ":", "-.")):
            ax.axhline(v[task], color="k", linestyle=style, linewidth=1, label=label)
        ax.set_title(f"{task} mAP (held-out real sequences)")
        ax.set_xlabel("training CPU-seconds (all threads)")
    axes[0].set_ylabel("mAP")
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--replot":  # figure from a written JSON
        _json = Path(sys.argv[2])
        _figure(json.loads(_json.read_text()), _json.with_suffix(".png"))
    else:
        main()
