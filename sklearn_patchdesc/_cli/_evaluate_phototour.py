"""``evaluate DESCRIPTORS --phototour FOLDER``: FPR95 of descriptors on a PhotoTour set.

The descriptors are one row per patch of the set, in patch-id order (row k
describes patch k of the bitmap sheets), as a CSV (``--delimiter``) or a
``.npy`` file; the folder is the official layout of one set (``info.txt``,
``m50_*_0.txt``; the sheets are not read). Prints the false positive rate at
95 % recall on the folder's pairs (the standard 100k when present), computed
by :func:`sklearn_patchdesc.metrics.phototour_fpr95`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._common import CLIError, json_safe, user_input


def _read_descriptors(path, delimiter):
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"--phototour scores one descriptor file (one row per patch); {path} "
                       "is not a file")
    with user_input(path):
        if path.suffix == ".npy":
            D = np.load(path, allow_pickle=False)
        else:
            if path.stat().st_size == 0:
                raise CLIError(f"{path} is empty")
            D = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2)
    if D.ndim != 2 or D.dtype.kind not in "biuf":
        raise CLIError(f"{path}: descriptors must be numbers, one row per patch; got "
                       f"{D.dtype} of shape {D.shape}")
    return D


def run_phototour(args):
    """Read, score and print; returns the exit status."""
    from ..datasets._phototour import read_phototour_pairs
    from ..metrics import phototour_fpr95

    folder = Path(args.phototour)
    try:
        with user_input(folder):
            n, pairs, is_match, pairs_file = read_phototour_pairs(folder)
    except FileNotFoundError as exc:
        raise CLIError(f"--phototour: {exc}") from None
    D = _read_descriptors(args.descr_dir, args.delimiter)
    if len(D) != n:
        raise CLIError(f"{args.descr_dir} holds {len(D)} descriptors, but {folder} has {n} "
                       "patches (info.txt): give one row per patch, in patch-id order")
    with user_input(Path(args.descr_dir)):
        fpr = phototour_fpr95(D, pairs, is_match, distance=args.distance)
    result = {"descriptors": str(args.descr_dir), "phototour": str(folder),
              "pairs_file": str(pairs_file), "n_patches": n, "n_pairs": int(len(pairs)),
              "n_matching": int(np.sum(is_match)), "distance": args.distance, "fpr95": fpr}
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
    else:
        print(f"descriptors: {args.descr_dir}  ({n} patches, {D.shape[1]}-d)\n"
              f"pairs: {pairs_file}  ({len(pairs)} pairs, {int(np.sum(is_match))} matching)\n"
              f"FPR at 95 % recall ({args.distance}): {100 * fpr:.2f} %")
    return 0
