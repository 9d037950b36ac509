"""``demo``: denoise + describe on held-out sequences and print the HPatches table.

Data (built-in, or ``--data``) -> split by sequence (for the built-in set: the
photos the shipped descriptor never saw are the test sequences) -> the shipped
denoiser, trained for the shipped descriptor (or, with ``--denoiser trained``,
a shallow U-Net trained here on the clean twins or self-supervised) -> the
shipped HardNet descriptor fine-tuned on the denoised training patches, and
for comparison the L2-Net baseline of the N-HPatches report trained on the
same patches from scratch -> HPatches tasks on the test sequences for noisy,
denoised and clean input, next to the SIFT and raw-pixel baselines -> table
on stdout, results.json / results.md and figures in ``--out``.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

import numpy as np

from ._common import (check_output_dir, check_precision, heartbeat, json_safe,
                      non_negative_int, note, positive_float, positive_int, progress,
                      torch_device, transform_batches)
from ._demo_table import INPUTS

HELP = "denoise + describe built-in data and print the HPatches table"

DESCRIPTION = """\
The main job. Without --data, generate the built-in N-HPatches-style set
(patches cut from photos bundled with scikit-image, noise rising easy < hard <
tough); split its sequences into train and test (the test sequences are the
photos the shipped descriptor was never trained on); denoise with the
shipped denoiser, trained for the shipped descriptor (or, with --denoiser
trained, train a shallow U-Net on the clean twins, or self-supervised with
--self-supervised);
fine-tune the descriptor shipped with the package (the HardNet recipe of
Mishchuk et al. 2017, see load_pretrained) on the denoised training patches,
and train, for comparison, the baseline of the N-HPatches coursework report
this package starts from (K. Barmpas, "EE3-25 Deep Learning - Final Report",
Imperial College; "seed 000" in the docs): an L2-Net descriptor trained with
random triplets and SGD on the same patches - with progress bars; then print
the HPatches table
(verification / matching / retrieval mAP per difficulty easy / hard / tough
and mean) for noisy, denoised and clean test input, next to the SIFT and
raw-pixel baselines. Writes results.json, results.md and figures (denoising
grid, training curves, PR curves, t-SNE; needs matplotlib) to --out.

The default budget takes a few minutes on a 2-core CPU; --budget scales
epochs and sizes (0.1 = smoke run, 4 = about four times longer).

Output: the results (the table, the PSNR line, the files written) go to
stdout; stage headers, the per-epoch training tables and progress bars go to
stderr (bars and colour only when stderr is a terminal; NO_COLOR=1 turns
colour off). So `demo > results.txt` keeps only the results.

The source documents of the recipes ("seed 000" .. "seed 004") are
summarised in the docs page "Where the recipes come from" (docs/sources.rst)."""

EPILOG = """\
examples:
  python -m sklearn_patchdesc demo
  python -m sklearn_patchdesc demo --budget 0.1 --out /tmp/quick
  python -m sklearn_patchdesc demo --data path/to/hpatches-release --budget 4
  python -m sklearn_patchdesc demo --data path/to/hpatches-sequences-release"""

#: --out default, relative to the current folder (listed in the project's .gitignore)
DEFAULT_OUT = "patchdesc-demo"
#: the shipped descriptor the demo fine-tunes, and its fine-tuning learning rate
#: (a hundredth of HardNetDescriptor's default: the weights are already good; with the
#: demo's earlier 2,500 x 4 denoiser, 0.1 left denoised-input matching 0.015 lower,
#: 0.689 against 0.704; with the 5,000 x 8 one the two were even, 0.711 and 0.711)
PRETRAINED = "hardnet-hpatches-like"
FINE_TUNE_LR = 0.01
LEARNED = "HardNet (shipped+tuned)"
BASELINE = "L2-Net baseline"
#: small batches: more optimiser steps for the same patches (better PSNR per CPU second)
DENOISER_BATCH = 32
#: the shipped pipeline whose denoiser the demo uses by default (--denoiser shipped)
SHIPPED_PIPELINE = "taskaware-hardnet-hpatches-like"


def trains_denoiser(args):
    """Whether the demo trains its own denoiser (``--denoiser trained`` or ``--self-supervised``)."""
    return args.denoiser == "trained" or args.self_supervised


def add_parser(sub):
    """Register the ``demo`` subcommand."""
    import argparse

    p = sub.add_parser("demo", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       allow_abbrev=False)
    p.add_argument("--data", metavar="PATH",
                   help="HPatches / N-HPatches folder, or a folder of image sequences with "
                        "homographies (default: generate the built-in set)")
    p.add_argument("--budget", type=positive_float, default=1.0, metavar="FLOAT",
                   help="scales epochs and data sizes; 1 = a few minutes on 2 CPU cores "
                        "(default: %(default)s)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help="folder for results.json, results.md and figures, created if "
                        "missing (default: %(default)s in the current folder, ignored by "
                        "git in a checkout of this project; files of an earlier run are "
                        "replaced)")
    p.add_argument("--random-state", type=non_negative_int, default=0, metavar="N",
                   help="seed of data, split, training and tasks (default: %(default)s)")
    p.add_argument("--n-sequences", type=positive_int, default=None, metavar="N",
                   help="number of sequences to use (default: 8, or 4 below budget 0.5)")
    p.add_argument("--denoiser", choices=("shipped", "trained"), default="shipped",
                   help="shipped: the denoiser of load_pretrained_pipeline(), trained for "
                        "the shipped descriptor (no training here); trained: train a "
                        "shallow U-Net on the training sequences (default: %(default)s)")
    p.add_argument("--self-supervised", action="store_true",
                   help="train the denoiser on noisy patches only (Neighbor2Neighbor), "
                        "not on the clean twins (implies --denoiser trained)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--device", type=torch_device, default="cpu",
                   help="torch device (default: cpu)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="precision of the networks (default: auto, bf16 where the device has "
                        "bf16 units, else fp32)")
    p.set_defaults(run=run)
    return p


class _Timer(dict):
    @contextmanager
    def __call__(self, stage):
        t0 = time.perf_counter()
        yield
        self[stage] = round(self.get(stage, 0.0) + time.perf_counter() - t0, 2)


def _psnr_by_level(clean, other, levels):
    from ..metrics import patch_psnr

    return {lv: patch_psnr(clean[levels == lv], other[levels == lv])
            if np.any(levels == lv) else float("nan") for lv in ("easy", "hard", "tough")}


def _train(bunch, train_rows, plan, args, timer):
    """Fit the denoiser and both descriptors; returns (denoiser, hardnet, baseline)."""
    from ..denoise import ShallowUNetDenoiser
    from ..describe import L2NetDescriptor, RandomTripletSampler, load_pretrained
    from ._demo_data import label_subset

    rng = np.random.default_rng(args.random_state)
    X, Xc, y = bunch.data, bunch.data_clean, bunch.target
    den_rows = np.sort(rng.choice(train_rows, min(plan.denoiser_patches, len(train_rows)),
                                  replace=False))
    if trains_denoiser(args):
        mode = "self-supervised (Neighbor2Neighbor)" if args.self_supervised else \
            "supervised on the clean twins"
        note(f"\n[1/4] shallow U-Net denoiser, {mode}: {len(den_rows)} patches x "
             f"{plan.denoiser_epochs} epochs")
        den = ShallowUNetDenoiser(max_epochs=plan.denoiser_epochs, batch_size=DENOISER_BATCH,
                                  random_state=args.random_state, device=args.device,
                                  precision=args.precision, verbose=1)
        with timer("train denoiser"):
            den.fit(X[den_rows], y[den_rows] if args.self_supervised else Xc[den_rows])
    else:
        from ..pipeline import load_pretrained_pipeline

        note(f"\n[1/4] shipped denoiser ({SHIPPED_PIPELINE}: trained for the shipped "
             "descriptor, blind noise-level input), no training")
        den = load_pretrained_pipeline(SHIPPED_PIPELINE, denoise_params={
            "device": args.device, "precision": args.precision})[0]
    rows = label_subset(y, train_rows, max(3 * plan.l2net_triplets, plan.hardnet_patches), rng)
    with timer("denoise training patches"):
        Z = transform_batches(den, X[rows], desc="denoising training patches")
    hn_rows = label_subset(y[rows], np.arange(len(rows)), plan.hardnet_patches, rng)
    note(f"\n[2/4] shipped HardNet descriptor ({PRETRAINED}), fine-tuned on denoised "
         f"patches: {len(np.unique(y['label'][rows][hn_rows]))} points ({len(hn_rows)} "
         f"patches) x {plan.hardnet_epochs} epochs")
    hardnet = load_pretrained(PRETRAINED, max_epochs=plan.hardnet_epochs, lr=FINE_TUNE_LR,
                              random_state=args.random_state, device=args.device,
                              precision=args.precision, verbose=1)
    with timer("fine-tune HardNet"):
        hardnet.fit(Z[hn_rows], y[rows][hn_rows])
    note(f"\n[3/4] L2-Net baseline (N-HPatches report: random triplets, SGD 0.1) from "
         f"scratch on denoised patches: {len(np.unique(y['label'][rows]))} points "
         f"({len(rows)} patches), {plan.l2net_triplets} triplets x {plan.l2net_epochs} epochs")
    l2 = L2NetDescriptor(max_epochs=plan.l2net_epochs, random_state=args.random_state,
                         sampler=RandomTripletSampler(n_triplets=plan.l2net_triplets),
                         device=args.device, precision=args.precision, verbose=1)
    with timer("train L2-Net"):
        l2.fit(Z, y[rows])
    return den, hardnet, l2


def _evaluate(models, inputs, y_test, random_state, timer):
    """HPatches reports ``{descriptor: {input: report}}`` and the descriptors."""
    from ..metrics import hpatches_evaluate

    reports, descr = {}, {}
    jobs = [(name, inp) for name in models for inp in INPUTS]
    note(f"\n[4/4] describing and scoring {len(y_test)} test patches "
         f"({len(jobs)} descriptor x input pairs)")
    for name, inp in progress(jobs, desc="HPatches tasks", unit="pairs"):
        # one pair can take over a minute at the default budget: a sign of life within it
        with timer(f"describe+score {name}"), heartbeat(f"scoring {name} on {inp} input"):
            D = transform_batches(models[name], inputs[inp], desc=f"{name} on {inp}")
            descr[(name, inp)] = D
            reports.setdefault(name, {})[inp] = hpatches_evaluate(
                D, y_test, random_state=random_state)
    return reports, descr


def _figures(out, bunch, test_rows, inputs, den, hardnet, l2, reports, descr, random_state):
    from ..datasets._common import image_noise_level
    from . import _demo_figures as fig

    y_test = bunch.target[test_rows]
    levels = image_noise_level(y_test["image"])
    written = [
        fig.denoising_grid(inputs["noisy"], inputs["denoised"], inputs["clean"], levels,
                           out / "denoising_grid.png")]
    if len(den.history_):  # the shipped denoiser comes without a training history
        written.append(fig.training_curves(den, "shallow U-Net denoiser (L1 loss)",
                                           out / "training_denoiser.png"))
    written += [
        fig.training_curves(hardnet, "HardNet fine-tuning (HardNet loss)",
                            out / "training_hardnet.png"),
        fig.training_curves(l2, "L2-Net baseline (triplet loss)", out / "training_l2net.png"),
        fig.pr_curves({f"HardNet {inp}": reports[LEARNED][inp] for inp in INPUTS}
                      | {"L2-Net baseline denoised": reports[BASELINE]["denoised"],
                         "SIFT denoised": reports["SIFT"]["denoised"]},
                      out / "pr_curves.png"),
        fig.tsne({"HardNet (denoised input)": descr[(LEARNED, "denoised")],
                  "raw pixels (denoised input)": descr[("raw pixels", "denoised")]},
                 y_test["label"], out / "tsne.png", random_state=random_state),
    ]
    return written


def run(args):
    """Run the demo; returns the exit status."""
    from ._demo_data import (Plan, describe_source, get_data, shipped_training_sequences,
                             split_by_sequence)

    t_start = time.perf_counter()
    check_precision(args.precision, args.device)
    plan = Plan.from_budget(args.budget)
    data_path = describe_source(args.data) if args.data is not None else None
    out = check_output_dir(args.out, force=True)
    figures = not args.no_figures
    if figures:
        from ._demo_figures import have_matplotlib

        if not have_matplotlib():
            note("note: matplotlib is not installed, so no figures are written "
                 "(pip install -e \".[plot]\"); the table and results files still are")
            figures = False
    from ..describe import RawPatchDescriptor, SIFTPatchDescriptor
    from ._demo_table import markdown_table, per_difficulty, summary_line, text_table

    timer = _Timer()
    with timer("data"), heartbeat("preparing the data"):
        bunch = get_data(data_path, plan, args.random_state, args.n_sequences)
    from ..describe._pretrained import BUILTIN_HELDOUT

    test_mask, test_names = split_by_sequence(
        bunch.target, args.random_state,
        test_photos=BUILTIN_HELDOUT if bunch.get("builtin") else None,
        trained_on=shipped_training_sequences(
            PRETRAINED, None if trains_denoiser(args) else SHIPPED_PIPELINE))
    train_rows, test_rows = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    train_names = sorted(set(bunch.target["sequence"][train_rows]))
    note(f"data ({timer['data']:.0f} s): {bunch.source}; {len(bunch.data)} patches; "
         f"train sequences "
         f"{', '.join(train_names)}; test sequences {', '.join(test_names)}")

    den, hardnet, l2 = _train(bunch, train_rows, plan, args, timer)
    y_test = bunch.target[test_rows]
    inputs = {"noisy": bunch.data[test_rows], "clean": bunch.data_clean[test_rows]}
    with timer("denoise test patches"):
        inputs["denoised"] = transform_batches(den, inputs["noisy"], desc="denoising test")
    models = {LEARNED: hardnet, BASELINE: l2,
              "SIFT": SIFTPatchDescriptor().fit(inputs["clean"][:1]),
              "raw pixels": RawPatchDescriptor().fit(inputs["clean"][:1])}
    reports, descr = _evaluate(models, inputs, y_test, args.random_state, timer)
    results = {name: {inp: per_difficulty(reports[name][inp]) for inp in INPUTS}
               for name in models}

    from ..datasets._common import image_noise_level

    levels = image_noise_level(y_test["image"])
    psnr = {inp: _psnr_by_level(inputs["clean"], inputs[inp], levels)
            for inp in ("noisy", "denoised")}
    n_points = len(np.unique(y_test["label"]))
    title = (f"HPatches mAP on {len(test_names)} held-out test sequences "
             f"({n_points} points x 16 images = {len(test_rows)} patches); descriptors "
             f"trained on the denoised patches of {len(train_names)} other sequences")
    table = text_table(results, title)
    psnr_line = ("Denoising PSNR on the test patches [dB]  easy / hard / tough:  noisy "
                 + " / ".join(f"{psnr['noisy'][lv]:.1f}" for lv in ("easy", "hard", "tough"))
                 + "  ->  denoised "
                 + " / ".join(f"{psnr['denoised'][lv]:.1f}" for lv in ("easy", "hard", "tough")))
    print()
    print(table)
    print(psnr_line)
    print(summary_line(results, LEARNED, psnr))

    out.mkdir(parents=True, exist_ok=True)
    written = []
    if figures:
        with timer("figures"):
            written = _figures(out, bunch, test_rows, inputs, den, hardnet, l2, reports,
                               descr, args.random_state)
    timer["total"] = round(time.perf_counter() - t_start, 2)
    written += _write_results(out, args, plan, bunch, train_names, test_names,
                              (n_points, len(test_rows)), results, reports, psnr, timer, table,
                              psnr_line, markdown_table(results))
    print(f"\nwall time {timer['total']:.0f} s; wrote into {out.resolve()}: "
          + ", ".join(p.name for p in written))
    return 0


def _write_results(out, args, plan, bunch, train_names, test_names, test_size, results,
                   reports, psnr, timer, table, psnr_line, markdown):
    from .. import __version__

    payload = {
        "sklearn_patchdesc": __version__, "command": args.argv,
        "budget": args.budget, "random_state": args.random_state, "plan": plan.as_dict(),
        "data": bunch.source, "train_sequences": train_names, "test_sequences": test_names,
        "n_test_points": int(test_size[0]), "n_test_patches": int(test_size[1]),
        "denoiser": ("trained here" if trains_denoiser(args) else
                     f"shipped ({SHIPPED_PIPELINE})"),
        "denoiser_training": ("self-supervised" if args.self_supervised else "clean targets")
        if trains_denoiser(args) else "shipped: clean targets, pixel + descriptor consistency",
        "results": results, "psnr_db": psnr, "seconds": dict(timer),
        "reports": {name: {inp: rep.as_dict() for inp, rep in per.items()}
                    for name, per in reports.items()},
    }
    paths = [out / "results.json", out / "results.md"]
    paths[0].write_text(json.dumps(json_safe(payload), indent=1, allow_nan=False) + "\n")
    paths[1].write_text(
        f"# sklearn-patchdesc demo\n\n{table.splitlines()[0]}\n\n{markdown}\n{psnr_line}\n\n"
        f"Data: {bunch.source}. Budget {args.budget}, random_state {args.random_state}, "
        f"wall time {timer['total']:.0f} s.\n\n```\n{table}```\n")
    return paths
