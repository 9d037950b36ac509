"""Training and held-out patch sets shared by the descriptor benchmarks.

Training data: the generator's built-in photo sequences except two photos,
plus the real image sequences of ``../shared/data/real`` except three. Held
out (never trained on): the real sequences ``boat``, ``graffiti``, ``ubc``
(cut by the same generator, with their real homographies) and the built-in
photos ``chelsea`` and ``coins`` (the fixed set of the model card, which needs
no shared data: see :func:`sklearn_patchdesc.describe.evaluation_set`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sklearn_patchdesc.datasets import load_image_sequences, make_hpatches_like
from sklearn_patchdesc.describe._pretrained import BUILTIN_HELDOUT
from sklearn_patchdesc.metrics import hpatches_evaluate

REAL_ROOT = Path(os.environ.get("SKPD_SHARED", Path(__file__).resolve().parents[2] / "shared")
                 ) / "data" / "real"
REAL_FOLDERS = ("hpatches_sequences", "oxford_affine", "kaze_iguazu")
REAL_HELDOUT = ("boat", "graffiti", "ubc")
TASKS = ("verification", "matching", "retrieval")


def real_sequences():
    """The complete real sequences (v_calder has no homographies and is skipped)."""
    if not REAL_ROOT.is_dir():
        raise FileNotFoundError(f"real sequences not found at {REAL_ROOT}; set SKPD_SHARED to "
                                "the folder that holds data/real")
    import warnings

    seqs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # v_calder is incomplete by design
        for folder in REAL_FOLDERS:
            seqs += load_image_sequences(REAL_ROOT / folder, on_error="skip")
    return seqs


def task_scores(descriptors, y):
    """``{task: mAP}`` of the full HPatches protocol (:func:`hpatches_evaluate`)."""
    rep = hpatches_evaluate(descriptors, y)
    return {t: float(rep.scores[t]) for t in TASKS}


def cached(name, make):
    """``make()`` -> ``(X, y)``, cached as ``$SKPD_BENCH_CACHE/<name>.npz`` when that is set."""
    root = os.environ.get("SKPD_BENCH_CACHE")
    if not root:
        return make()
    path = Path(root) / f"{name}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            y = np.rec.fromarrays([z["label"], z["sequence"], z["image"]],
                                  names=["label", "sequence", "image"])
            return z["X"], y
    X, y = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, X=X, label=y["label"], sequence=y["sequence"].astype(str), image=y["image"])
    os.replace(tmp, path)
    return X, y


def _concat(*bunches):
    X = np.concatenate([b.data for b in bunches])
    offset, targets = 0, []
    for b in bunches:  # labels unique over the whole set
        t = b.target.copy()
        t["label"] += offset
        offset = int(t["label"].max()) + 1
        targets.append(t)
    return X, np.concatenate(targets)


def training_set(n_builtin=24, n_points=300, n_points_real=500, random_state=0):
    """Patches and record target of the training part (clean patches)."""
    return cached(f"train-{n_builtin}-{n_points}-{n_points_real}-{random_state}",
                  lambda: _training_set(n_builtin, n_points, n_points_real, random_state))


def _training_set(n_builtin, n_points, n_points_real, random_state):
    b = make_hpatches_like(n_sequences=n_builtin, n_patches_per_sequence=n_points,
                           random_state=random_state, n_jobs=2)
    photo = [s.split("_", 1)[-1].rstrip("0123456789") for s in b.target["sequence"].astype(str)]
    keep = ~np.isin(photo, BUILTIN_HELDOUT)
    b.data, b.target = b.data[keep], b.target[keep]
    train_real = [s for s in real_sequences() if s.name not in REAL_HELDOUT]
    r = make_hpatches_like(sequences=train_real, n_patches_per_sequence=n_points_real,
                           random_state=random_state + 1, n_jobs=2)
    return _concat(b, r)


def real_heldout_set(n_points=300, random_state=100):
    """The three held-out real sequences, cut by the generator (clean patches)."""
    return cached(f"heldout-{n_points}-{random_state}",
                  lambda: _real_heldout_set(n_points, random_state))


def _real_heldout_set(n_points, random_state):
    test = [s for s in real_sequences() if s.name in REAL_HELDOUT]
    b = make_hpatches_like(sequences=test, n_patches_per_sequence=n_points,
                           random_state=random_state, n_jobs=2)
    return b.data, b.target


def noisy_pairs(sequences, n_points, random_state):
    """``(noisy, clean, target)`` cut by the generator with N-HPatches noise.

    Cached as ``$SKPD_BENCH_CACHE/noisy-<hash>.npz`` when that is set.
    """
    import hashlib

    names = ",".join(s.name for s in sequences) if sequences is not None else "builtin"
    key = hashlib.sha1(f"{names}-{n_points}-{random_state}".encode()).hexdigest()[:12]

    def make():
        if sequences is None:
            b = make_hpatches_like(n_sequences=24, n_patches_per_sequence=n_points, noise=True,
                                   random_state=random_state, n_jobs=2)
        else:
            b = make_hpatches_like(sequences=sequences, n_patches_per_sequence=n_points,
                                   noise=True, random_state=random_state, n_jobs=2)
        return np.stack([b.data, b.data_clean], axis=1), b.target

    XX, y = cached(f"noisy-{key}", make)
    return XX[:, 0], XX[:, 1], y


def noisy_training_set(n_builtin_points=100, n_points_real=300, random_state=0):
    """Noisy patches, clean twins and targets of the training part (see module docstring)."""
    Xb, Cb, yb = noisy_pairs(None, n_builtin_points, random_state)
    photo = np.array([s.split("_", 1)[-1].rstrip("0123456789")
                      for s in yb["sequence"].astype(str)])
    keep = ~np.isin(photo, BUILTIN_HELDOUT)
    train_real = [s for s in real_sequences() if s.name not in REAL_HELDOUT]
    Xr, Cr, yr = noisy_pairs(train_real, n_points_real, random_state + 1)
    yb, yr = yb[keep].copy(), yr.copy()
    yr["label"] += int(yb["label"].max()) + 1
    return (np.concatenate([Xb[keep], Xr]), np.concatenate([Cb[keep], Cr]),
            np.concatenate([yb, yr]))


def noisy_heldout_set(n_points=300, random_state=100):
    """Noisy patches, clean twins and targets of the three held-out real sequences."""
    test = [s for s in real_sequences() if s.name in REAL_HELDOUT]
    return noisy_pairs(test, n_points, random_state)
