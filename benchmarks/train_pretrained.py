"""Train the descriptor shipped in the package, and write its model card.

Trains :class:`~sklearn_patchdesc.describe.HardNetDescriptor` from random
weights on the training part of ``descriptor_data`` (built-in photo
sequences except ``chelsea`` / ``coins``, real sequences except ``boat``,
``graffiti``, ``ubc``); half of the patches, drawn at random, get
N-HPatches-style noise of their image's level (easy / hard / tough), so the
descriptor also works on noisy and denoised patches. Then it writes
``<out>/<name>.safetensors`` (the network's state dict, nothing else) and
``<out>/<name>.json`` (the model card: data, command, seed, CPU time, git
commit, held-out mAP on the real held-out sequences next to SIFT's, and the
exact mAP on the fixed set :func:`~sklearn_patchdesc.describe.evaluation_set`
that ``tests/test_pretrained.py`` reproduces).

Resumable: every epoch is checkpointed in ``--checkpoint-dir`` (default
``<out>/checkpoint``); running the same command again continues where it
stopped (CPU time adds up). ``--out`` is required and may not lie inside the
installed package: replacing the shipped weights is a deliberate copy, never
a default.

Usage::

    python benchmarks/train_pretrained.py --out DIR [--epochs 6] [--checkpoint-dir DIR]
    python benchmarks/train_pretrained.py --recipe hardnet-hpatches-like --out DIR

``--recipe NAME`` replays the whole chain of stages behind shipped weights
(:data:`RECIPES`): stage ``i`` trains in ``<out>/stages/<i>/`` (its own
checkpoint folder and its own weights and card) from the weights of stage
``i - 1``, a finished stage (its card written) is not run again, so the same
command resumes a replay wherever it stopped; the last stage's weights and
card are copied to ``<out>``. Each stage card's ``command`` is the
single-stage command that stage ran, ``earlier_stages`` lists the stages
before it, ``replay`` gives the recipe command, and ``cpu_seconds`` adds up
the CPU time of the whole replay. Options given next to ``--recipe``
(``--epochs``, ``--batch-size``, ``--points-real``, ``--threads`` ... and
the sizes ``--builtin-sequences``, ``--points-builtin``, ``--max-patches``, ``--heldout-points``,
``--eval-points``) override every stage's value; ``tests/test_train_pretrained.py``
replays the chain that way at a tiny size. A replay reruns the recipe on
today's code: expect the card's numbers within noise, not the same bytes.

The shipped ``hardnet-hpatches-like`` came from five runs, each starting
from the previous one's output (its card lists them under
``earlier_stages`` with the exact commands; folders renamed here; the recipe
``hardnet-hpatches-like`` is this chain, 11,733 CPU-s on two cores)::

    python benchmarks/train_pretrained.py --epochs 3 --out /tmp/s1
    python benchmarks/train_pretrained.py --init /tmp/s1/hardnet-hpatches-like.safetensors \
        --init-cpu-seconds 1489.9 --epochs 3 --lr 2e-4 --optimizer adam --seed 1 \
        --threads 1 --out /tmp/s2
    python benchmarks/train_pretrained.py --init /tmp/s2/hardnet-hpatches-like.safetensors \
        --init-cpu-seconds 2790.1 --epochs 3 --batch-size 256 --lr 1e-4 --optimizer adam \
        --seed 2 --out /tmp/s3
    python benchmarks/train_pretrained.py --init /tmp/s3/hardnet-hpatches-like.safetensors \
        --init-cpu-seconds 4685.5 --epochs 3 --batch-size 256 --lr 1e-4 --optimizer adam \
        --seed 3 --points-real 2000 --data-seed 1 --out /tmp/s4
    python benchmarks/train_pretrained.py --init /tmp/s4/hardnet-hpatches-like.safetensors \
        --init-cpu-seconds 8354.8 --epochs 3 --batch-size 256 --lr 1e-4 --optimizer adam \
        --seed 4 --points-real 2000 --data-seed 2 --out /tmp/s5

The fourth and fifth train on new points of the same sequences (``--data-seed``),
four times as many per real sequence as the first. Matching mAP on the real
held-out sequences after each stage: 0.702, 0.726, 0.736 (the third repeated
the first stage's data), 0.753, 0.763.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import (REAL_HELDOUT, real_heldout_set, task_scores,  # noqa: E402
                             training_set)

import sklearn_patchdesc  # noqa: E402
from sklearn_patchdesc._precision import resolve_precision  # noqa: E402
from sklearn_patchdesc.datasets import add_patch_noise  # noqa: E402
from sklearn_patchdesc.describe import (HardNetDescriptor, RawPatchDescriptor,  # noqa: E402
                                        SIFTPatchDescriptor)
from sklearn_patchdesc.describe._pretrained import BUILTIN_HELDOUT, evaluation_set  # noqa: E402

LEVELS = np.array(["none"] + ["easy"] * 5 + ["hard"] * 5 + ["tough"] * 5)
PACKAGE_DIR = Path(sklearn_patchdesc.__file__).resolve().parent

#: the stage chains behind shipped weights: per stage, the options of its
#: single-stage command (each stage starts from the previous one's weights);
#: ``tests/test_train_pretrained.py`` checks them against the shipped card
RECIPES = {
    "hardnet-hpatches-like": (
        {"epochs": 3},
        {"epochs": 3, "lr": 2e-4, "optimizer": "adam", "seed": 1, "threads": 1},
        {"epochs": 3, "batch_size": 256, "lr": 1e-4, "optimizer": "adam", "seed": 2},
        {"epochs": 3, "batch_size": 256, "lr": 1e-4, "optimizer": "adam", "seed": 3,
         "points_real": 2000, "data_seed": 1},
        {"epochs": 3, "batch_size": 256, "lr": 1e-4, "optimizer": "adam", "seed": 4,
         "points_real": 2000, "data_seed": 2},
    ),
}
#: options of one stage, with their defaults (a recipe stage sets some of them)
STAGE_DEFAULTS = {"epochs": 6, "batch_size": 128, "lr": 1.0, "optimizer": "sgd", "seed": 0,
                  "noisy_fraction": 0.5, "points_real": 500, "data_seed": 0, "threads": 2,
                  "precision": "auto"}
#: sizes that are not part of a recipe (the test shrinks them)
SIZE_DEFAULTS = {"builtin_sequences": 24, "points_builtin": 300, "max_patches": None, "heldout_points": 300,
                 "eval_points": 100}


class CPUClock(Callback):
    """Add this process's training CPU-seconds to ``<dir>/cpu_seconds.json`` each epoch."""

    def __init__(self, dirname):
        self.dirname = dirname

    def on_train_begin(self, net, **kwargs):
        self.t_ = time.process_time()

    def on_epoch_end(self, net, **kwargs):
        path = Path(self.dirname) / "cpu_seconds.json"
        done = json.loads(path.read_text()) if path.is_file() else {}
        now = time.process_time()
        done[str(len(net.history))] = done.get(str(len(net.history) - 1), 0.0) + now - self.t_
        self.t_ = now
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(done))
        os.replace(tmp, path)


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(args, cpu_seconds):
    """The card fields that say how a run was made: seed, CPU time, threads, commit, versions."""
    precision = getattr(args, "precision", "fp32")
    return {"seed": args.seed, "cpu_seconds": round(cpu_seconds, 1), "threads": args.threads,
            "precision": resolve_precision(precision, "cpu"), "git_commit": git_commit(),
            "versions": {"sklearn_patchdesc": sklearn_patchdesc.__version__,
                         "torch": torch.__version__},
            "date": time.strftime("%Y-%m-%d")}


def write_weights(module, path, **metadata):
    """A module's state dict as safetensors (weights only), written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = Path(path).with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", **metadata})
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_card(card, path):
    """A model card as indented JSON, written atomically."""
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(tmp, path)


def earlier_stages(init):
    """The stages that made the ``--init`` weights, read from their model card if any."""
    card = Path(init).with_suffix(".json") if init else None
    if card is None or not card.is_file():
        return []
    prev = json.loads(card.read_text())
    stage = {k: prev.get(k) for k in ("command", "recipe", "seed", "cpu_seconds", "git_commit")}
    return prev.get("earlier_stages", []) + [stage]


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True,
                    help="folder for the weights and the card (not inside the package)")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                    help="replay every stage of this recipe, each in <out>/stages/<i>")
    ap.add_argument("--name", default="hardnet-hpatches-like")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int,
                    help="anchor/positive pairs per step (HardNet's unit, the one the recipes "
                         "and the shipped cards use); the estimator gets twice as many patches")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--optimizer", choices=("sgd", "adam"),
                    help="sgd: momentum 0.9, dampening 0.9, weight decay 1e-4 (HardNet's); "
                         "adam: torch defaults")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--noisy-fraction", type=float)
    ap.add_argument("--points-real", type=int,
                    help="points cut from each real training sequence (default: 500)")
    ap.add_argument("--data-seed", type=int,
                    help="random_state of the generator that cuts the training patches; a "
                         "later stage can train on new points of the same sequences")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                    help="auto (default): bf16 where the CPU has bf16 units, else fp32; the "
                         "card records which ran")
    ap.add_argument("--builtin-sequences", type=int,
                    help="built-in photo sequences generated, held-out photos then dropped "
                         "(default: 24)")
    ap.add_argument("--points-builtin", type=int,
                    help="points per built-in photo sequence (default: 300)")
    ap.add_argument("--max-patches", type=int,
                    help="train on at most this many patches, drawn at random (default: all)")
    ap.add_argument("--heldout-points", type=int,
                    help="points per held-out real sequence in the card (default: 300)")
    ap.add_argument("--eval-points", type=int,
                    help="points per sequence of the card's evaluation_set (default: 100)")
    ap.add_argument("--checkpoint-dir", default=None,
                    help="per-epoch checkpoints (default: <out>/checkpoint)")
    ap.add_argument("--init", default=None, metavar="WEIGHTS",
                    help="start from these weights (e.g. an earlier run's .safetensors) "
                         "instead of random ones; a new linear schedule starts")
    ap.add_argument("--init-cpu-seconds", type=float, default=0.0,
                    help="CPU-seconds already spent on the --init weights (added to the card)")
    return ap


def check_out(ap, out):
    """``out`` resolved; an argparse error if it lies inside the installed package."""
    out = Path(out).resolve()
    if out == PACKAGE_DIR or PACKAGE_DIR in out.parents:
        ap.error(f"--out {out} is inside the package ({PACKAGE_DIR}); write elsewhere and "
                 "copy the weights and card into the package deliberately.")
    return out


def _given(args, names):
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def stage_command(opts, sizes, init, init_cpu, ckpt, out, name):
    """The single-stage command that trains with ``opts`` (what a card records)."""
    words = ["python", "benchmarks/train_pretrained.py"]
    if init is not None:
        words += ["--init", str(init), "--init-cpu-seconds", f"{init_cpu}"]
    for key, value in {**opts, **sizes}.items():
        default = {**STAGE_DEFAULTS, **SIZE_DEFAULTS}[key]
        if value is not None and value != default:
            words += [f"--{key.replace('_', '-')}", f"{value}"]
    words += ["--name", name, "--checkpoint-dir", str(ckpt), "--out", str(out)]
    return shlex.join(words)


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    out = check_out(ap, args.out)
    stage_opts = _given(args, STAGE_DEFAULTS)
    sizes = {**SIZE_DEFAULTS, **_given(args, SIZE_DEFAULTS)}
    if args.recipe is None:
        opts = {**STAGE_DEFAULTS, **stage_opts}
        ckpt = Path(args.checkpoint_dir) if args.checkpoint_dir else out / "checkpoint"
        command = "python benchmarks/train_pretrained.py " + shlex.join(
            sys.argv[1:] if argv is None else argv)
        return train_stage(opts, sizes, args.init, args.init_cpu_seconds, ckpt, out, args.name,
                           command)
    if args.init is not None or args.checkpoint_dir is not None:
        ap.error("--recipe starts from random weights and checkpoints each stage in "
                 "<out>/stages/<i>/checkpoint; --init and --checkpoint-dir do not apply.")
    replay = "python benchmarks/train_pretrained.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    init, init_cpu, card = None, 0.0, None
    for i, recipe_stage in enumerate(RECIPES[args.recipe], start=1):
        folder = out / "stages" / str(i)
        opts = {**STAGE_DEFAULTS, **recipe_stage, **stage_opts}
        weights, card_path = folder / f"{args.name}.safetensors", folder / f"{args.name}.json"
        if card_path.is_file() and weights.is_file():
            card = json.loads(card_path.read_text())
            print(f"stage {i}: done before ({card_path})", flush=True)
        else:
            print(f"stage {i} of {len(RECIPES[args.recipe])}: {opts}", flush=True)
            command = stage_command(opts, sizes, init, init_cpu, folder / "checkpoint", folder,
                                    args.name)
            card = train_stage(opts, sizes, init, init_cpu, folder / "checkpoint", folder,
                               args.name, command,
                               replay={"recipe": args.recipe, "stage": i, "command": replay})
        init, init_cpu = weights, card["cpu_seconds"]
    for src in (init, init.with_suffix(".json")):
        tmp = out / (src.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, out / src.name)
    print(f"replayed {len(RECIPES[args.recipe])} stages of {args.recipe}: "
          f"{card['cpu_seconds']:.1f} CPU-s in all; wrote {out / init.name}")
    return card


def train_stage(opts, sizes, init, init_cpu, ckpt, out, name, command, replay=None):
    """Train one stage, write ``<out>/<name>.safetensors`` and its card; return the card."""
    args = argparse.Namespace(**opts)
    torch.set_num_threads(args.threads)
    ckpt = Path(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)

    X, y = training_set(n_builtin=sizes["builtin_sequences"], n_points=sizes["points_builtin"], n_points_real=args.points_real,
                        random_state=args.data_seed)
    if sizes["max_patches"] and sizes["max_patches"] < len(X):
        rows = np.sort(np.random.default_rng(args.seed).choice(len(X), sizes["max_patches"],
                                                                 replace=False))
        X, y = X[rows], y[rows]
    rng = np.random.default_rng(args.seed)
    noisy = rng.random(len(X)) < args.noisy_fraction
    X = X.copy()
    X[noisy] = add_patch_noise(X[noisy], LEVELS[y["image"][noisy]], random_state=args.seed)
    sequences = sorted(set(y["sequence"].astype(str)))
    print(f"training on {len(X)} patches of {len(sequences)} sequences "
          f"({noisy.mean():.0%} noisy)", flush=True)

    est = HardNetDescriptor(max_epochs=args.epochs, batch_size=2 * args.batch_size, lr=args.lr,
                            optimizer=args.optimizer,
                            pretrained=str(init) if init is not None else None,
                            precision=args.precision, random_state=args.seed, verbose=1,
                            checkpoint_dir=str(ckpt),
                            callbacks=[("cpu_clock", CPUClock(ckpt))])
    est.fit(X, y)
    cpu = json.loads((ckpt / "cpu_seconds.json").read_text())[str(args.epochs)]
    cpu += init_cpu

    Xr, yr = real_heldout_set(n_points=sizes["heldout_points"])
    real = {"hardnet": task_scores(est.transform(Xr), yr),
            "sift": task_scores(SIFTPatchDescriptor().fit(Xr).transform(Xr), yr),
            "rootsift": task_scores(SIFTPatchDescriptor(root=True).fit(Xr).transform(Xr), yr),
            "raw": task_scores(RawPatchDescriptor().fit(Xr).transform(Xr), yr)}
    Xe, ye = evaluation_set(n_points=sizes["eval_points"])
    fixed = task_scores(est.transform(Xe), ye)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.safetensors"
    write_weights(est.net_.module_, weights, layout="kornia.feature.HardNet")
    card = {
        "name": name,
        "estimator": "HardNetDescriptor",
        "architecture": "L2-Net trunk (HardNet layout: features.0 ... features.20), 32x32 "
                        "grey patches in, 128-d unit vectors out",
        "weights": weights.name,
        "training_data": {
            "generator": "sklearn_patchdesc.datasets.make_hpatches_like (clean patches, "
                         "then N-HPatches gaussian noise of the image's level on a random "
                         f"{args.noisy_fraction:.0%} of them)",
            "sequences": sequences,
            "n_patches": int(len(X)),
            "n_points": int(len(np.unique(y["label"]))),
            "points_per_real_sequence": args.points_real,
            "points_per_builtin_sequence": sizes["points_builtin"],
            "generator_random_state": args.data_seed,
            "builtin_photos_held_out": list(BUILTIN_HELDOUT),
            "real_sequences_held_out": list(REAL_HELDOUT),
        },
        "recipe": {"loss": "HardNetLoss(margin=1, anchor_swap=True)",
                   "sampler": f"PKSampler(n_per_label=2), {args.batch_size} pairs "
                              f"({2 * args.batch_size} patches) per step",
                   "optimizer": ("SGD momentum 0.9 dampening 0.9 weight decay 1e-4"
                                 if args.optimizer == "sgd" else "Adam (torch defaults)"),
                   "lr": args.lr, "lr_schedule": "linear to 0", "epochs": args.epochs,
                   "initial_weights": (Path(init).name if init is not None
                                       else "random (orthogonal)")},
        "command": command,
        "earlier_stages": earlier_stages(init),
        **({"replay": replay} if replay else {}),
        **provenance(args, cpu),
        "heldout_real": {
            "what": "make_hpatches_like(sequences=<the held-out real sequences>, "
                    f"n_patches_per_sequence={sizes['heldout_points']}, random_state=100), "
                    "clean, full HPatches "
                    "protocol (hpatches_evaluate)",
            "mAP": real,
        },
        "evaluation_set": {
            "what": f"sklearn_patchdesc.describe.evaluation_set(n_points={sizes['eval_points']}) "
                    "(built-in photos chelsea, "
                    "coins; never trained on), hpatches_evaluate",
            "mAP": fixed,
        },
    }
    card_path = out / f"{name}.json"
    write_card(card, card_path)
    print(json.dumps({"cpu_seconds": card["cpu_seconds"], "heldout_real": real,
                      "evaluation_set": fixed}, indent=1))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card_path}")
    return card


if __name__ == "__main__":
    main()
