"""``make-data OUT``: write a generated HPatches / N-HPatches folder."""
from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from pathlib import Path

from ._common import (check_output_dir, disk_usage, exists_conflict, existing_dir, human_size,
                      n_jobs, non_negative_int, note, positive_int, read_image_sequences,
                      user_input)

HELP = "write a generated HPatches / N-HPatches patch folder"

DESCRIPTION = """\
Generate an HPatches-format patch set offline (make_hpatches_like: keypoints,
5x-scale regions, easy/hard/tough affine jitter, reprojection through the
homographies, 65x65 crops resized to --patch-size) and write it with
write_hpatches: one folder per sequence holding ref.png, e1..e5.png, h1..h5.png,
t1..t5.png (vertical patch stacks). With --noise the N-HPatches layout is
written instead: the clean stacks plus <image>_noise.png twins, noise rising
easy < hard < tough. Load the result with
sklearn_patchdesc.datasets.load_hpatches(OUT)."""

EPILOG = """\
examples:
  python -m sklearn_patchdesc make-data hpatches-like
  python -m sklearn_patchdesc make-data n-hpatches --noise --n-sequences 12
  python -m sklearn_patchdesc make-data real --from path/to/hpatches-sequences-release"""


def add_parser(sub):
    """Register the ``make-data`` subcommand."""
    p = sub.add_parser("make-data", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       allow_abbrev=False)
    p.add_argument("out", metavar="OUT", help="output folder (created; must be empty "
                   "unless --force)")
    p.add_argument("--from", dest="sequences", metavar="SEQUENCES",
                   help="folder of image sequences with homographies (hpatches-sequences "
                        "layout 1.ppm..6.ppm + H_1_2..H_1_6, or Oxford img1..img6 + "
                        "H1to2p..H1to6p) to cut patches from; default: synthetic "
                        "sequences from the photos bundled with scikit-image")
    p.add_argument("--noise", action="store_true",
                   help="write the N-HPatches layout: clean stacks + <image>_noise.png twins")
    p.add_argument("--noise-kind", type=noise_kind, default="gaussian", metavar="KIND",
                   help="noise model with --noise: gaussian, poisson, speckle, "
                        "salt-and-pepper, mixed (default: %(default)s)")
    p.add_argument("--n-sequences", type=positive_int, default=None, metavar="N",
                   help="number of sequences (default: 8 synthetic ones, or every "
                        "sequence of --from)")
    p.add_argument("--n-patches", type=positive_int, default=300, metavar="N",
                   help="maximum patches per sequence (default: %(default)s)")
    p.add_argument("--patch-size", type=positive_int, default=32, metavar="PX",
                   help="side of the written patches; 65 keeps the HPatches release "
                        "size (default: %(default)s)")
    p.add_argument("--random-state", type=non_negative_int, default=0, metavar="N",
                   help="seed; the same seed writes the same files (default: %(default)s)")
    p.add_argument("--n-jobs", type=n_jobs, default=None, metavar="N",
                   help="parallel workers, one sequence each (default: 1; -1 = all cores)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty OUT, replacing sequence folders of the "
                        "same name")
    p.set_defaults(run=run)
    return p


def noise_kind(text):
    """argparse type: a noise model :func:`~sklearn_patchdesc.datasets.add_patch_noise` knows."""
    from ..datasets._noise import KINDS

    if text not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown noise kind {text!r}; choose from "
                                         f"{', '.join(KINDS)}")
    return text


def run(args):
    """Generate, write and summarise; returns the exit status."""
    out = check_output_dir(args.out, args.force)
    source = None
    if args.sequences is not None:
        source = existing_dir(args.sequences, "--from folder")
    from ..datasets import make_hpatches_like, write_hpatches

    t0 = time.perf_counter()
    what = f"sequences from {source}" if source else "synthetic sequences (built-in photos)"
    note(f"generating patches from {what} ...")
    sequences = None if source is None else read_image_sequences(source)
    # with --from, what the generator refuses (no patch fits in an image ...) is a
    # verdict on the user's sequences; on the built-in photos it would be a bug
    with user_input(f"--from {source}") if source is not None else nullcontext():
        bunch = make_hpatches_like(
            sequences=sequences, n_sequences=args.n_sequences,
            n_patches_per_sequence=args.n_patches, patch_size=args.patch_size,
            noise=args.noise_kind if args.noise else False,
            random_state=args.random_state, n_jobs=args.n_jobs)
    if out.is_dir():
        stale = sorted(p.name for p in out.iterdir() if p.is_dir()
                       and p.name not in bunch.sequence_names and (p / "ref.png").is_file())
        if stale:
            note(f"warning: {out} keeps {len(stale)} other sequence folder(s) that "
                 f"load_hpatches will read too: {', '.join(stale[:5])}"
                 + (" ..." if len(stale) > 5 else ""))
    note(f"writing {out} ...")
    try:
        written = write_hpatches(bunch, out, overwrite=args.force)
    except FileExistsError as exc:
        raise exists_conflict(exc, out) from exc
    size, n_files = 0, 0
    for folder in written:
        s, n = disk_usage(folder)
        size, n_files = size + s, n_files + n
    print(summary(bunch, out, n_files, size, time.perf_counter() - t0))
    return 0


def summary(bunch, out, n_files, size, seconds):
    """Human summary of a written patch set."""
    noisy = "data_clean" in bunch
    n_seq = len(bunch.sequence_names)
    n_img = len(bunch.image_names)
    ps = bunch.data.shape[1]
    counts = bunch.n_patches
    lines = [
        f"wrote {Path(out)}  ({'N-HPatches layout: clean + _noise twins' if noisy else 'HPatches release layout'})",
        f"  sequences : {n_seq} ({sum(n.startswith('v_') for n in bunch.sequence_names)} "
        f"viewpoint, {sum(n.startswith('i_') for n in bunch.sequence_names)} illumination)",
        f"  patches   : {int(counts.sum())} 3-D points (min {int(counts.min())}, max "
        f"{int(counts.max())} per sequence) x {n_img} images = {len(bunch.data)} "
        f"{ps}x{ps} patches{' (each with a clean twin)' if noisy else ''}",
        f"  images    : {n_files} PNG stacks",
        f"  on disk   : {human_size(size)}",
        f"  time      : {seconds:.1f} s",
        f"  names     : {', '.join(bunch.sequence_names[:8])}"
        + (" ..." if n_seq > 8 else ""),
    ]
    return "\n".join(lines)
