"""``export MODEL --data ROOT OUT``: write a fitted model's descriptors as CSVs.

The output is the official hpatches-benchmark descriptor layout,
``OUT[/NAME]/<sequence>/<image>.csv`` (one row per patch, row = patch index),
which :mod:`._evaluate` and the official ``hpatches_eval.py`` read.

MODEL is either a file written by :func:`sklearn_patchdesc.persistence.save`
(read back with :func:`~sklearn_patchdesc.persistence.load`, which never
unpickles) holding a fitted descriptor or pipeline whose ``transform`` gives
``(n, d)`` descriptors, the descriptor shipped with the package
(``builtin:hardnet``, :func:`~sklearn_patchdesc.describe.load_pretrained`), or
one of the training-free baselines ``builtin:sift`` / ``builtin:raw``.
"""
from __future__ import annotations

from pathlib import Path


from ._common import (CLIError, check_output_dir, disk_usage, exists_conflict, existing_dir,
                      human_size, note, positive_int, transform_batches, user_input)

HELP = "write a fitted model's descriptors as CSVs in the official layout"

DESCRIPTION = """\
Describe every patch of an HPatches / N-HPatches folder (--data ROOT, read with
load_hpatches) with a fitted model and write the descriptors in the official
hpatches-benchmark layout OUT[/NAME]/<sequence>/<image>.csv, one row per patch
(row = patch index). Score the result with 'evaluate OUT/NAME' or the official
hpatches_eval.py (--descr-dir OUT --descr-name NAME).

MODEL is a file saved with the library's save() (safetensors weights + JSON
parameters; loading runs no code), builtin:hardnet for the pretrained HardNet
descriptor shipped with the package (load_pretrained()), or builtin:sift /
builtin:raw for the training-free SIFT-like and raw-pixel baselines."""

EPILOG = """\
examples:
  python -m sklearn_patchdesc export model.skpd --data hpatches-release descriptors --name l2net
  python -m sklearn_patchdesc export builtin:hardnet --data n-hpatches descriptors --name hardnet
  python -m sklearn_patchdesc export builtin:sift --data n-hpatches descriptors --name sift"""

#: training-free baselines: fit only records the input size
TRAINING_FREE = ("builtin:sift", "builtin:raw")
#: builtin:<name> -> the shipped pretrained descriptor it loads (load_pretrained(name))
PRETRAINED = {"builtin:hardnet": "hardnet-hpatches-like"}
BUILTINS = ("builtin:hardnet",) + TRAINING_FREE


def add_parser(sub):
    """Register the ``export`` subcommand."""
    import argparse

    p = sub.add_parser("export", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       allow_abbrev=False)
    p.add_argument("model", metavar="MODEL",
                   help="fitted model file (save()/load() format), builtin:hardnet (the "
                        "shipped pretrained descriptor), or builtin:sift / builtin:raw")
    p.add_argument("--data", required=True, metavar="ROOT",
                   help="HPatches release or N-HPatches folder (one sub-folder per sequence)")
    p.add_argument("out", metavar="OUT", help="output folder of the descriptor CSVs")
    p.add_argument("--name", default=None, metavar="NAME",
                   help="descriptor name: write to OUT/NAME (the official --descr-name)")
    p.add_argument("--clean", action="store_true",
                   help="N-HPatches data: describe the clean patches instead of the noisy ones")
    p.add_argument("--split", default=None, metavar="NAME",
                   help="only the test sequences of this official split (needs splits.json "
                        "next to ROOT)")
    p.add_argument("--patch-size", type=positive_int, default=None, metavar="PX",
                   help="patch side the patches are resized to; must be the one the model "
                        "was fitted on (default: the model's, 32 for builtin:sift / "
                        "builtin:raw)")
    p.add_argument("--delimiter", default=",", metavar="CHAR",
                   help="CSV field delimiter (default: ',')")
    p.add_argument("--batch-size", type=positive_int, default=2048, metavar="N",
                   help="patches per transform call (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="replace a non-empty output folder (its old content is removed)")
    p.set_defaults(run=run)
    return p


def load_model(spec):
    """Return a fitted transformer for MODEL (builtin name or saved file)."""
    if spec in TRAINING_FREE:
        from ..describe import RawPatchDescriptor, SIFTPatchDescriptor

        return (SIFTPatchDescriptor() if spec == "builtin:sift" else RawPatchDescriptor())
    if spec in PRETRAINED:
        from ..describe import load_pretrained

        return load_pretrained(PRETRAINED[spec])
    if spec.startswith("builtin:"):
        raise CLIError(f"unknown built-in model {spec!r}; choose from {', '.join(BUILTINS)} "
                       "(builtin:hardnet is the shipped pretrained descriptor; for another "
                       "model, save() it to a file and pass that file)")
    path = Path(spec)
    if not path.exists():
        raise CLIError(f"model file not found: {path}")
    if not path.is_file():
        raise CLIError(f"model is not a file: {path}")
    from ..persistence import load

    with user_input(path):
        return load(path)


def fitted_patch_size(model):
    """Side of the patches ``model`` (or its first step) was fitted on, or None."""
    first = model.steps[0][1] if hasattr(model, "steps") else model
    size = getattr(first, "patch_size_", None)
    if size is None and getattr(first, "n_features_in_", None):
        side = int(round(first.n_features_in_ ** 0.5))
        size = side if side * side == first.n_features_in_ else None
    return None if size is None else int(size)


def choose_patch_size(model, requested, spec):
    """``--patch-size`` checked against the model before any data is read."""
    fitted = None if spec in TRAINING_FREE else fitted_patch_size(model)
    if requested is None:
        return fitted or 32
    if fitted is not None and requested != fitted:
        raise CLIError(f"--patch-size {requested}: {spec} was fitted on {fitted}x{fitted} "
                       f"patches and describes only those; pass --patch-size {fitted} (or "
                       "leave it out: the model's size is the default)")
    return requested


def describe(model, X, batch_size):
    """Descriptors ``(n, d)`` of ``X`` (progress bar on stderr)."""
    D = transform_batches(model, X, batch_size, desc="describing")
    if D.ndim != 2:
        raise CLIError(f"model.transform returned shape {D.shape}; expected (n, d) "
                       "descriptors")
    return D


def run(args):
    """Load model and data, describe, write; returns the exit status."""
    root = existing_dir(args.data, "--data folder")
    out = Path(args.out) / args.name if args.name else Path(args.out)
    if args.name is not None and (not args.name or Path(args.name).name != args.name):
        raise CLIError(f"--name must be a plain folder name, got {args.name!r}")
    if not args.delimiter:
        raise CLIError("--delimiter must not be empty")
    check_output_dir(out, args.force)
    model = load_model(args.model)
    patch_size = choose_patch_size(model, args.patch_size, args.model)
    from ..datasets import load_hpatches

    note(f"loading patches from {root} ...")
    with user_input(root):
        data = load_hpatches(root, split=args.split, patch_size=patch_size)
    if args.clean and "data_clean" not in data:
        raise CLIError(f"--clean: {root} has no clean twins (not the N-HPatches layout)")
    X = data.data_clean if args.clean else data.data
    if args.model in TRAINING_FREE:
        model.fit(X[:1])  # training-free: fit only records the input size
    D = describe(model, X, args.batch_size)
    from ..datasets import save_descriptors_csv

    try:
        save_descriptors_csv(D, data.target, out.parent, out.name, delimiter=args.delimiter,
                             overwrite=args.force or out.exists())
    except FileExistsError as exc:
        raise exists_conflict(exc, out) from exc
    size = disk_usage(out)[0]
    print(f"wrote {out}: {len(data.sequence_names)} sequences, {len(D)} descriptors of "
          f"{D.shape[1]} dims "
          f"({human_size(size)}); score with: python -m sklearn_patchdesc evaluate {out}")
    return 0
