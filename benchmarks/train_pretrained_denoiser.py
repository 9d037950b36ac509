"""Train the denoiser of the shipped pipeline for the shipped descriptor, and write its card.

:class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser` (a shallow U-Net with
the blind noise-level input channel), on noisy patches and their clean twins
cut by ``make_hpatches_like(noise=True)`` from the training part of
``descriptor_data`` (built-in photos except ``chelsea`` / ``coins``, real
sequences except ``boat``, ``graffiti``, ``ubc``: the same split as the
shipped descriptor, so neither network ever saw the held-out sequences).
Stages, each a resumable fit:

- ``pixel`` (without ``--residual``): the L1 loss alone, from random weights;
- ``aware``: ``--pixel-weight`` x L1 plus ``--consistency-weight`` times the
  squared distance between the frozen shipped HardNet's descriptors of the
  denoised and of the clean patch; from stage ``pixel``, or with
  ``--residual`` from a residual network that starts as the identity (from
  random weights a plain network under the consistency term crawls:
  measured 1.6-1.9 after 10 epochs of 128 patches, against 0.46 for the
  pixel loss alone);
- ``label`` (with ``--label-epochs N``): the denoiser fine-tuned through the
  frozen descriptor's own HardNet loss on the labelled noisy patches
  (:class:`~sklearn_patchdesc.pipeline.JointDenoiseDescribe` with
  ``freeze_descriptor=True``) plus ``--label-lam`` x the self-supervised
  pixel term, which targets matching directly.

Each stage checkpoints every epoch in its own folder under
``--checkpoint-dir``; running the same command again resumes (CPU time adds
up). Then it writes ``<out>/<name>.safetensors`` (the network's state dict)
and ``<out>/<name>.json`` (the model card: data, command, seed, CPU time,
git commit, noise range, held-out numbers per level: PSNR and the shipped
descriptor's mAP on noisy, denoised and clean input).

Usage::

    python benchmarks/train_pretrained_denoiser.py --out DIR [--checkpoint-dir DIR]

The shipped ``taskaware-hardnet-hpatches-like`` (its card has the exact command)::

    python benchmarks/train_pretrained_denoiser.py --residual --pixel-weight 0.5 \
        --consistency-weight 1 --aware-lr 1e-3 --aware-epochs 4 --label-epochs 2 \
        --max-patches 24000 --threads 2 --out OUT

``--out`` is required: writing into the package (``sklearn_patchdesc/denoise/pretrained``)
replaces the shipped weights and is a deliberate choice.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import (REAL_HELDOUT, TASKS, noisy_heldout_set,  # noqa: E402
                             noisy_training_set)
from train_pretrained import CPUClock, provenance, write_card, write_weights  # noqa: E402

from sklearn_patchdesc._cli._demo_table import per_difficulty  # noqa: E402
from sklearn_patchdesc.datasets._common import image_noise_level  # noqa: E402
from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TaskAwareDenoiser  # noqa: E402
from sklearn_patchdesc.describe import PKSampler, load_pretrained  # noqa: E402
from sklearn_patchdesc.describe._pretrained import BUILTIN_HELDOUT  # noqa: E402
from sklearn_patchdesc.metrics import hpatches_evaluate, patch_psnr  # noqa: E402
from sklearn_patchdesc.pipeline import JointDenoiseDescribe  # noqa: E402

LEVELS = ("easy", "hard", "tough")
DESCRIPTOR = "hardnet-hpatches-like"


def per_level_scores(descriptor, X, y):
    """``{"mean": {task: mAP}, level: {task: mAP}}`` of the full HPatches protocol."""
    table = per_difficulty(hpatches_evaluate(descriptor.transform(X), y))
    return {level: {t: float(table[t][level]) for t in TASKS}
            for level in ("mean",) + LEVELS}


def stage(name, ckpt, args, X, C, **params):
    """Fit one stage (resumable in ``ckpt/name``); return (estimator, CPU seconds so far)."""
    folder = Path(ckpt) / name
    folder.mkdir(parents=True, exist_ok=True)
    est = TaskAwareDenoiser(ShallowUNetDenoiser(), load_pretrained(DESCRIPTOR),
                            noise_level="blind", batch_size=args.batch_size,
                            random_state=args.seed, verbose=1, checkpoint_dir=str(folder),
                            callbacks=[("cpu_clock", CPUClock(folder))], **params)
    est.fit(X, C)
    cpu = json.loads((folder / "cpu_seconds.json").read_text())[str(params["max_epochs"])]
    return est, cpu


def label_stage(aware, args, X, y):
    """Fine-tune ``aware``'s network through the frozen descriptor's loss (resumable).

    The weights end up in ``aware`` itself; returns the stage's CPU seconds.
    """
    folder = Path(args.checkpoint_dir) / "label"
    folder.mkdir(parents=True, exist_ok=True)
    joint = JointDenoiseDescribe(aware, load_pretrained(DESCRIPTOR), freeze_descriptor=True,
                                 lam=args.label_lam, sampler=PKSampler(n_per_label=2),
                                 batch_size=256,
                                 max_epochs=args.label_epochs, lr=args.label_lr,
                                 random_state=args.seed, verbose=1,
                                 checkpoint_dir=str(folder),
                                 callbacks=[("cpu_clock", CPUClock(folder))])
    joint.fit(X, y)
    aware.net_.module_.load_state_dict(joint.net_.module_.denoiser.state_dict())
    return json.loads((folder / "cpu_seconds.json").read_text())[str(args.label_epochs)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="taskaware-hardnet-hpatches-like")
    ap.add_argument("--out", required=True,
                    help="folder for <name>.safetensors and <name>.json")
    ap.add_argument("--checkpoint-dir", default="/tmp/skpd-denoiser")
    ap.add_argument("--pixel-epochs", type=int, default=6)
    ap.add_argument("--aware-epochs", type=int, default=3)
    ap.add_argument("--consistency-weight", type=float, default=1.0)
    ap.add_argument("--aware-lr", type=float, default=1e-4)
    ap.add_argument("--residual", action="store_true",
                    help="one stage: a residual network (identity at the start) trained "
                         "with the consistency term from random weights; no pixel stage")
    ap.add_argument("--pixel-weight", type=float, default=1.0,
                    help="weight of the L1 term in the task-aware stage")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--points-builtin", type=int, default=100,
                    help="points per built-in sequence (default: %(default)s)")
    ap.add_argument("--points-real", type=int, default=300,
                    help="points per real training sequence (default: %(default)s)")
    ap.add_argument("--label-epochs", type=int, default=0,
                    help="a last stage, 'label': the denoiser fine-tuned through the frozen "
                         "descriptor's own HardNet loss on the labelled noisy patches "
                         "(JointDenoiseDescribe(freeze_descriptor=True)) plus --label-lam x "
                         "the self-supervised pixel term (default: %(default)s, no stage)")
    ap.add_argument("--label-lr", type=float, default=1e-4)
    ap.add_argument("--label-lam", type=float, default=1.0)
    ap.add_argument("--max-patches", type=int, default=None,
                    help="train on this many patches drawn at random (default: all)")
    ap.add_argument("--heldout-points", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, C, y = noisy_training_set(args.points_builtin, args.points_real, args.data_seed)
    if args.max_patches and args.max_patches < len(X):
        rows = np.sort(np.random.default_rng(args.seed).choice(len(X), args.max_patches,
                                                                 replace=False))
        X, C, y = X[rows], C[rows], y[rows]
    sequences = sorted(set(y["sequence"].astype(str)))
    print(f"training on {len(X)} noisy/clean pairs of {len(sequences)} sequences", flush=True)

    common = dict(consistency_weight=args.consistency_weight, pixel_weight=args.pixel_weight,
                  residual=args.residual)
    if args.residual:
        pixel, cpu_pixel = None, 0.0
        aware, cpu_aware = stage("aware", args.checkpoint_dir, args, X, C,
                                 max_epochs=args.aware_epochs, lr=args.aware_lr, **common)
    else:
        pixel, cpu_pixel = stage("pixel", args.checkpoint_dir, args, X, C, residual=False,
                                 consistency_weight=0.0, max_epochs=args.pixel_epochs)
        start = Path(args.checkpoint_dir) / "pixel.safetensors"
        write_weights(pixel.net_.module_, start)
        aware, cpu_aware = stage("aware", args.checkpoint_dir, args, X, C, lr=args.aware_lr,
                                 pretrained=str(start), max_epochs=args.aware_epochs,
                                 **common)

    Xn, Xc, yt = noisy_heldout_set(args.heldout_points)
    inputs = {"noisy": Xn, "clean": Xc}
    if pixel is not None:
        inputs["pixel_denoised"] = pixel.transform(Xn)
    cpu_label = 0.0
    if args.label_epochs:
        inputs["aware_denoised"] = aware.transform(Xn)
        cpu_label = label_stage(aware, args, X, y)
    inputs["denoised"] = aware.transform(Xn)
    level = image_noise_level(yt["image"])
    descriptor = load_pretrained(DESCRIPTOR)
    mAP = {k: per_level_scores(descriptor, v, yt) for k, v in inputs.items()}
    psnr = {k: {lv: float(patch_psnr(Xc[level == lv], v[level == lv])) for lv in LEVELS}
            for k, v in inputs.items() if k != "clean"}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{args.name}.safetensors"
    write_weights(aware.net_.module_, weights)
    card = {
        "name": args.name,
        "estimator": "TaskAwareDenoiser",
        "denoiser": "ShallowUNetDenoiser",
        "denoiser_module_params": {},
        "denoiser_params": {"noise_level": "blind", "lr": args.aware_lr, **common},
        "descriptor": DESCRIPTOR,
        "patch_size": 32,
        "architecture": "shallow U-Net (16/32/64 channels) with a second input channel "
                        "holding the blind per-patch noise estimate (Immerkaer)",
        "weights": weights.name,
        "noise_sigma_range": list(aware.noise_sigma_range_),
        "training_data": {
            "generator": "sklearn_patchdesc.datasets.make_hpatches_like(noise=True): "
                         "N-HPatches gaussian noise of each image's level, clean twins",
            "sequences": sequences,
            "n_patches": int(len(X)),
            "points_per_builtin_sequence": args.points_builtin,
            "points_per_real_sequence": args.points_real,
            "generator_random_state": args.data_seed,
            "builtin_photos_held_out": list(BUILTIN_HELDOUT),
            "real_sequences_held_out": list(REAL_HELDOUT),
        },
        "recipe": {
            "stages": ([] if args.residual else [
                {"name": "pixel", "loss": "L1", "optimizer": "Adam", "lr": 1e-3,
                 "epochs": args.pixel_epochs, "from": "random (He-normal)"}]) + [
                {"name": "aware", "loss": f"{args.pixel_weight} x L1 + "
                                          f"{args.consistency_weight} x |f(D(x)) - f(clean)|^2, "
                                          f"f = frozen {DESCRIPTOR}",
                 "optimizer": "Adam", "lr": args.aware_lr, "epochs": args.aware_epochs,
                 "from": ("random, residual (identity at the start)" if args.residual
                          else "stage pixel")}] + ([
                {"name": "label", "loss": f"HardNetLoss of frozen {DESCRIPTOR} on the "
                                          f"denoised labelled noisy patches + "
                                          f"{args.label_lam} x Neighbor2Neighbor",
                 "sampler": "PKSampler(n_per_label=2), 256 patches (128 pairs) per step",
                 "optimizer": "Adam", "lr": args.label_lr,
                 "epochs": args.label_epochs, "from": "stage aware"}]
                if args.label_epochs else []),
            "batch_size": args.batch_size,
        },
        "command": "python benchmarks/train_pretrained_denoiser.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        **provenance(args, cpu_pixel + cpu_aware + cpu_label),
        "heldout_real": {
            "what": f"make_hpatches_like(sequences=<{', '.join(REAL_HELDOUT)}>, "
                    f"n_patches_per_sequence={args.heldout_points}, noise=True, "
                    "random_state=100); the shipped descriptor's mAP (hpatches_evaluate) on "
                    "noisy, stage-1 (pixel) denoised, shipped (task-aware) denoised and "
                    "clean input, mean and per noise level; PSNR (dB) per level",
            "mAP": mAP,
            "psnr": psnr,
        },
    }
    card_path = out / f"{args.name}.json"
    write_card(card, card_path)
    print(json.dumps({"cpu_seconds": card["cpu_seconds"], "mAP": {
        k: v["mean"] for k, v in mAP.items()}, "psnr": psnr}, indent=1))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card_path}")


if __name__ == "__main__":
    main()
