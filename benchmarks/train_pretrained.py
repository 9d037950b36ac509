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

Resumable: every epoch is checkpointed in ``--checkpoint-dir``; running the
same command again continues where it stopped (CPU time adds up).

Usage::

    python benchmarks/train_pretrained.py [--epochs 6] [--checkpoint-dir /tmp/skpd-pretrain]

The shipped ``hardnet-hpatches-like`` came from five runs, each starting
from the previous one's output (its card lists them under
``earlier_stages`` with the exact commands; folders renamed here)::

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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import (REAL_HELDOUT, TASKS, real_heldout_set, task_scores,  # noqa: E402
                             training_set)

import sklearn_patchdesc  # noqa: E402
from sklearn_patchdesc.datasets import add_patch_noise  # noqa: E402
from sklearn_patchdesc.describe import (HardNetDescriptor, RawPatchDescriptor,  # noqa: E402
                                        SIFTPatchDescriptor)
from sklearn_patchdesc.describe._pretrained import (BUILTIN_HELDOUT, PRETRAINED_DIR,  # noqa: E402
                                                    evaluation_set)

LEVELS = np.array(["none"] + ["easy"] * 5 + ["hard"] * 5 + ["tough"] * 5)


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
    return {"seed": args.seed, "cpu_seconds": round(cpu_seconds, 1), "threads": args.threads,
            "git_commit": git_commit(),
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="hardnet-hpatches-like")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                    help="sgd: momentum 0.9, dampening 0.9, weight decay 1e-4 (HardNet's); "
                         "adam: torch defaults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noisy-fraction", type=float, default=0.5)
    ap.add_argument("--points-real", type=int, default=500,
                    help="points cut from each real training sequence (default: %(default)s)")
    ap.add_argument("--data-seed", type=int, default=0,
                    help="random_state of the generator that cuts the training patches; a "
                         "later stage can train on new points of the same sequences")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-dir", default="/tmp/skpd-pretrain")
    ap.add_argument("--out", default=str(PRETRAINED_DIR))
    ap.add_argument("--init", default=None, metavar="WEIGHTS",
                    help="start from these weights (e.g. an earlier run's .safetensors) "
                         "instead of random ones; a new linear schedule starts")
    ap.add_argument("--init-cpu-seconds", type=float, default=0.0,
                    help="CPU-seconds already spent on the --init weights (added to the card)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = Path(args.checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)

    X, y = training_set(n_points_real=args.points_real, random_state=args.data_seed)
    rng = np.random.default_rng(args.seed)
    noisy = rng.random(len(X)) < args.noisy_fraction
    X = X.copy()
    X[noisy] = add_patch_noise(X[noisy], LEVELS[y["image"][noisy]], random_state=args.seed)
    sequences = sorted(set(y["sequence"].astype(str)))
    print(f"training on {len(X)} patches of {len(sequences)} sequences "
          f"({noisy.mean():.0%} noisy)", flush=True)

    est = HardNetDescriptor(max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            optimizer=args.optimizer,
                            pretrained=args.init,
                            random_state=args.seed, verbose=1, checkpoint_dir=str(ckpt),
                            callbacks=[("cpu_clock", CPUClock(ckpt))])
    est.fit(X, y)
    cpu = json.loads((ckpt / "cpu_seconds.json").read_text())[str(args.epochs)]
    cpu += args.init_cpu_seconds

    Xr, yr = real_heldout_set()
    real = {"hardnet": task_scores(est.transform(Xr), yr),
            "sift": task_scores(SIFTPatchDescriptor().fit(Xr).transform(Xr), yr),
            "rootsift": task_scores(SIFTPatchDescriptor(root=True).fit(Xr).transform(Xr), yr),
            "raw": task_scores(RawPatchDescriptor().fit(Xr).transform(Xr), yr)}
    Xe, ye = evaluation_set()
    fixed = task_scores(est.transform(Xe), ye)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{args.name}.safetensors"
    write_weights(est.net_.module_, weights, layout="kornia.feature.HardNet")
    card = {
        "name": args.name,
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
            "generator_random_state": args.data_seed,
            "builtin_photos_held_out": list(BUILTIN_HELDOUT),
            "real_sequences_held_out": list(REAL_HELDOUT),
        },
        "recipe": {"loss": "HardNetLoss(margin=1, anchor_swap=True)",
                   "sampler": f"PKSampler({args.batch_size}, 2)",
                   "optimizer": ("SGD momentum 0.9 dampening 0.9 weight decay 1e-4"
                                 if args.optimizer == "sgd" else "Adam (torch defaults)"),
                   "lr": args.lr, "lr_schedule": "linear to 0", "epochs": args.epochs,
                   "initial_weights": (Path(args.init).name if args.init
                                       else "random (orthogonal)")},
        "command": "python benchmarks/train_pretrained.py " + " ".join(sys.argv[1:]),
        "earlier_stages": earlier_stages(args.init),
        **provenance(args, cpu),
        "heldout_real": {
            "what": "make_hpatches_like(sequences=<the held-out real sequences>, "
                    "n_patches_per_sequence=300, random_state=100), clean, full HPatches "
                    "protocol (hpatches_evaluate)",
            "mAP": real,
        },
        "evaluation_set": {
            "what": "sklearn_patchdesc.describe.evaluation_set() (built-in photos chelsea, "
                    "coins; never trained on), hpatches_evaluate",
            "mAP": fixed,
        },
    }
    card_path = out / f"{args.name}.json"
    write_card(card, card_path)
    print(json.dumps({"cpu_seconds": card["cpu_seconds"], "heldout_real": real,
                      "evaluation_set": fixed}, indent=1))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {card_path}")


if __name__ == "__main__":
    main()
