"""Shared helpers of the datasets subpackage: image names, targets, atomic writes."""
import errno
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._files import aside_name, atomic_write, temp_dir

#: The 16 image names of an HPatches sequence, in ``image`` code order
#: (0 = ref, 1..5 = e1..e5, 6..10 = h1..h5, 11..15 = t1..t5).
IMAGE_NAMES = tuple(
    ["ref"] + [f"{d}{i}" for d in "eht" for i in range(1, 6)]
)
_IMAGE_CODE = {name: code for code, name in enumerate(IMAGE_NAMES)}

#: Difficulty of each image code: 0 for ref, 1 easy, 2 hard, 3 tough.
IMAGE_DIFFICULTY = np.array([0] + [1] * 5 + [2] * 5 + [3] * 5, dtype=np.int8)

#: Noise level of each image code in N-HPatches-style data: the reference is
#: noised like e1..e5 ("easy"), h1..h5 "hard", t1..t5 "tough".
IMAGE_NOISE_LEVEL = np.array(["easy"] * 6 + ["hard"] * 5 + ["tough"] * 5, dtype=object)


def image_noise_level(image):
    """Noise level names (:data:`IMAGE_NOISE_LEVEL`) of image codes ``image`` (0..15)."""
    return IMAGE_NOISE_LEVEL[np.asarray(image, dtype=np.int64)]


def image_code(name):
    """Code (0..15) of an HPatches image name; ValueError for unknown names."""
    try:
        return _IMAGE_CODE[name]
    except KeyError:
        raise ValueError(
            f"unknown HPatches image name {name!r}; expected one of {list(IMAGE_NAMES)}"
        ) from None


def check_sequence_names(names, root, source="sequences"):
    """Validate sequence names (a caller's ``sequences=`` or a splits file's lists).

    Each name must be one plain folder name inside ``root``: a name such as
    ``"../x"`` or an absolute path would read (or, for the writers, write)
    files outside it, and a name starting with ``.`` is a hidden folder the
    readers skip. The one rule for every reader and writer of sequence folders.
    """
    names = sorted(set(names))
    for name in names:
        if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name
                or "\\" in name or os.sep in name or Path(name).is_absolute()
                or name.startswith(".") or "\0" in name):
            raise ValueError(
                f"{source} holds {name!r}, which is not a sequence folder name inside {root}: "
                "give plain folder names such as 'i_ajuntament' (no path separators, '.' or '..').")
    return names


def grey8(img, path):
    """A decoded Pillow image as a 2-D uint8 grey array, never clipped.

    Pillow's ``convert("L")`` clips 16- and 32-bit grey images (mode ``I;16``,
    ``I``, ``F``) at 255. Those are converted only when every value is a whole
    number in 0..255 (then exactly); otherwise refused, following the library's
    input-scale rule (uint8 means 0..255).
    """
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 255 or not np.array_equal(arr, np.floor(arr))):
            raise ValueError(
                f"{path} is a {img.mode} (more than 8 bits per pixel) image with values up to "
                f"{arr.max():g}; patches and images are read as 8-bit grey (0..255) and it would "
                "be clipped. Save it as 8-bit grey (for 16-bit data: value // 257).")
        return arr.astype(np.uint8)
    return np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.uint8)


def read_grey(path, what="image"):
    """Read an image file as a 2-D uint8 grey array (ITU-R 601-2 luma, see :func:`grey8`).

    ``what`` names the file in the errors: ``FileNotFoundError("missing <what>:
    <path>")``, ``ValueError("cannot read <what> <path>: <reason>")``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {what}: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            return grey8(img, path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from exc


def bunch_field(bunch, key):
    """``bunch[key]`` of a dict, else the attribute; None when absent (the writers' input)."""
    if isinstance(bunch, dict):
        return bunch.get(key)
    return getattr(bunch, key, None)


def check_uint8_patches(X, name):
    """``X`` as uint8 square patches ``(n, H, H)`` for writing; ``(n, 1, H, H)`` is squeezed."""
    X = np.asarray(X)
    if X.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 to be written losslessly, got {X.dtype}")
    if X.ndim == 4 and X.shape[1] == 1:
        X = X[:, 0]
    if X.ndim != 3 or X.shape[1] != X.shape[2] or X.shape[1] == 0:
        raise ValueError(f"{name} must be square patches (n, H, H), got shape {X.shape}")
    return X


def check_image_names(images):
    """Validate an ``images=`` argument; return a tuple of names in code order."""
    if images is None:
        return IMAGE_NAMES
    if isinstance(images, str):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("images must name at least one HPatches image")
    codes = sorted({image_code(name) for name in images})
    return tuple(IMAGE_NAMES[c] for c in codes)


def make_target(sequence_names, counts, image_names, first_label=0):
    """Record-array target for sequences stored sequence-major, image, patch order.

    Parameters
    ----------
    sequence_names : list of str
    counts : list of int
        Number of patches (rows of each image stack) per sequence.
    image_names : sequence of str
        Images present for every sequence, in code order.
    first_label : int
        Label of the first patch of the first sequence.

    Returns
    -------
    target : numpy.recarray
        Fields ``label`` (int64), ``sequence`` (str), ``image`` (int8).
    """
    codes = np.array([image_code(n) for n in image_names], dtype=np.int8)
    m = len(codes)
    total = int(sum(counts)) * m
    width = max([len(s) for s in sequence_names] + [1])
    target = np.recarray(
        total, dtype=[("label", np.int64), ("sequence", f"U{width}"), ("image", np.int8)]
    )
    pos, label = 0, int(first_label)
    for name, n in zip(sequence_names, counts):
        n = int(n)
        block = slice(pos, pos + n * m)
        target.label[block] = np.tile(np.arange(label, label + n, dtype=np.int64), m)
        target.sequence[block] = name
        target.image[block] = np.repeat(codes, n)
        pos += n * m
        label += n
    return target


def check_target(target, n_rows=None):
    """Check a record-array target; return it as a structured array view."""
    names = getattr(getattr(target, "dtype", None), "names", None) or ()
    missing = [f for f in ("label", "sequence", "image") if f not in names]
    if missing:
        raise ValueError(
            "target must be the record array returned by the loaders, with fields "
            f"'label', 'sequence' and 'image'; missing {missing}"
        )
    target = np.asarray(target)
    if target.ndim != 1:
        raise ValueError(f"target must be 1-D, got shape {target.shape}")
    if n_rows is not None and len(target) != n_rows:
        raise ValueError(f"target has {len(target)} rows but data has {n_rows}")
    bad = (target["image"] < 0) | (target["image"] >= len(IMAGE_NAMES))
    if np.any(bad):
        raise ValueError(
            f"target['image'] must be in 0..15, got {target['image'][bad][0]}"
        )
    return target


def group_rows(target):
    """Map sequence -> image code -> row indices ordered by patch index.

    Patch index = label - first (smallest) label of the sequence. Raises a
    ValueError if an image does not hold exactly the patches 0..n-1 of its
    sequence, or if images of one sequence hold different patch counts.
    """
    groups = {}
    seqs = target["sequence"]
    for seq in sorted(np.unique(seqs)):
        rows = np.flatnonzero(seqs == seq)
        labels = target["label"][rows]
        idx = labels - labels.min()
        images = target["image"][rows]
        per_image, n_ref = {}, None
        for code in np.unique(images):
            sel = rows[images == code]
            order = np.argsort(idx[images == code], kind="stable")
            sel_idx = idx[images == code][order]
            n = len(sel_idx)
            if not np.array_equal(sel_idx, np.arange(n)):
                raise ValueError(
                    f"sequence {seq!r}, image {IMAGE_NAMES[code]!r}: patch indices "
                    "(label - first label of the sequence) must be exactly 0..n-1"
                )
            if n_ref is None:
                n_ref = n
            elif n != n_ref:
                raise ValueError(
                    f"sequence {seq!r}: image {IMAGE_NAMES[code]!r} has {n} patches "
                    f"but other images have {n_ref}"
                )
            per_image[int(code)] = sel[order]
        groups[str(seq)] = per_image
    return groups


def new_temp_dir(parent, tag):
    """Create a hidden temporary directory inside ``parent`` (same filesystem).

    Temporaries of killed writers in ``parent`` are removed first (see
    :mod:`sklearn_patchdesc._files`).
    """
    return temp_dir(parent, tag)


def atomic_save_npy(path, array):
    """Write ``array`` to ``path`` as .npy through a temporary name and a rename."""
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def exists_error(what, dest, n_more=0, raced=False):
    more = f" (and {n_more} more)" if n_more else ""
    why = " (it appeared while this one was being written: another writer?)" if raced else ""
    # errno and filename let a caller (the command line) say the hint in its own words
    return FileExistsError(errno.EEXIST, f"{what} already exists: {dest}{more}{why}; pass "
                           "overwrite=True to replace", str(dest))


def replace_dirs(moves, overwrite, what, attempts=3):
    """Move finished temp directories into place: ``moves`` is [(tmp, dest)].

    Conflicts are checked for every destination before anything is moved.
    With ``overwrite`` an existing destination is moved aside first and
    removed only after every new one is in place; should a move fail, the
    destination moved aside is put back. A destination that another writer
    puts in place between the two renames is handled like an existing one
    (moved aside with ``overwrite``, FileExistsError without), up to
    ``attempts`` times.
    """
    existing = [dest for _, dest in moves if os.path.lexists(dest)]
    if existing and not overwrite:
        raise exists_error(what, existing[0], len(existing) - 1)
    trash = []
    for tmp, dest in moves:
        for _ in range(attempts):
            aside = None
            if os.path.lexists(dest):
                if not overwrite:
                    raise exists_error(what, dest, raced=True)
                aside = aside_name(Path(tmp).parent)
                try:
                    os.replace(dest, aside)
                except FileNotFoundError:  # another writer moved it first
                    continue
                trash.append(aside)
            try:
                os.replace(tmp, dest)
                break
            except OSError as exc:
                if aside is not None and not os.path.lexists(dest):
                    os.replace(aside, dest)  # nothing lost: the old one goes back
                    trash.remove(aside)
                # a folder renamed onto a non-empty one: EEXIST or ENOTEMPTY (POSIX allows both)
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        else:
            raise FileExistsError(
                errno.EEXIST, f"{what} {dest} was replaced by another writer {attempts} times "
                "while this one moved its own into place; let the other writer finish first",
                str(dest))
    for old in trash:
        shutil.rmtree(old, ignore_errors=True)
