"""Reading and writing the HPatches release and N-HPatches patch-stack layouts.

Layouts (one folder per sequence, ``i_*`` / ``v_*``):

- HPatches release: ``ref.png, e1..e5.png, h1..h5.png, t1..t5.png``, each a
  vertical stack of 65x65 grey patches (row ``i`` of every stack is the same
  3-D point).
- N-HPatches: the same with 32x32 patches, plus a ``<image>_noise.png`` twin
  of every stack: ``data`` is read from the noisy twin, ``data_clean`` from
  the clean stack.
"""
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from PIL import Image
from sklearn.utils import Bunch

from .._env import getenv
from .._files import atomic_write
from ._common import (
    IMAGE_NAMES,
    check_image_names,
    check_sequence_names,
    check_target,
    bunch_field,
    check_uint8_patches,
    read_grey,
    group_rows,
    make_target,
    new_temp_dir,
    replace_dirs,
    atomic_save_npy,
    exists_error,
)
from ._splits import load_hpatches_splits, split_sequences

NOISE_SUFFIX = "_noise"
_CACHE_VERSION = 1


# --------------------------------------------------------------------- reading
def _read_stack(path):
    """Decode one PNG stack to a 2-D uint8 array; clear errors for bad files."""
    arr = read_grey(path, "patch stack")
    h, w = arr.shape
    if w == 0 or h == 0 or h % w:
        raise ValueError(
            f"patch stack {path} is {w} wide and {h} high: the height must be a "
            "non-zero multiple of the width (square patches stacked vertically)"
        )
    return arr


def area_weights(src, dst):
    """(dst, src) matrix of area interpolation: each output pixel averages the
    input pixels it covers, weighted by the covered fraction (the rule of
    OpenCV's ``INTER_AREA`` when shrinking)."""
    edges = np.arange(dst + 1) * (src / dst)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize_patches(patches, patch_size):
    """Resize square uint8 patches ``(n, s, s)`` to ``patch_size`` with area
    interpolation (two matrix products, rounded to the nearest integer)."""
    n, s = patches.shape[0], patches.shape[1]
    if patch_size is None or patch_size == s:
        return patches
    d = int(patch_size)
    w = area_weights(s, d).astype(np.float32)
    tmp = patches.reshape(n * s, s).astype(np.float32) @ w.T          # (n*s, d)
    tmp = tmp.reshape(n, s, d).transpose(0, 2, 1).reshape(n * d, s) @ w.T  # (n*d, d)
    out = tmp.reshape(n, d, d).transpose(0, 2, 1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resize_stack(stack, patch_size):
    """Resize every square patch of a vertical stack ``(n * s, s)``; returns
    ``(n, patch_size, patch_size)``."""
    s = stack.shape[1]
    return resize_patches(stack.reshape(-1, s, s), patch_size)


def _sequence_files(seq_dir, images, noisy):
    files = [seq_dir / f"{name}{NOISE_SUFFIX if noisy else ''}.png" for name in images]
    if noisy:
        files += [seq_dir / f"{name}.png" for name in images]
    return files


def _decode_sequence(seq_dir, images, noisy, patch_size):
    """Decode one sequence: array (len(images) * n, ps, ps) (+ clean twin)."""
    files = _sequence_files(seq_dir, images, noisy)
    for f in files:  # report the first missing file before decoding anything
        if not f.is_file():
            raise FileNotFoundError(
                f"missing patch stack: {f}"
                + ("" if f.name.startswith("ref") else
                   " (pass images=[...] to load a partial sequence)")
            )
    stacks = [_read_stack(f) for f in files]
    counts = [s.shape[0] // s.shape[1] for s in stacks]
    widths = [s.shape[1] for s in stacks]
    if len(set(counts)) > 1 or len(set(widths)) > 1:
        desc = ", ".join(f"{f.name}: {c} patches of {w}x{w}"
                         for f, c, w in zip(files, counts, widths))
        raise ValueError(
            f"sequence {seq_dir}: the image stacks hold different patch counts or "
            f"sizes ({desc})"
        )
    ps = widths[0] if patch_size is None else patch_size
    out = [resize_stack(s, ps) for s in stacks]
    m = len(images)
    data = np.concatenate(out[:m])
    clean = np.concatenate(out[m:]) if noisy else None
    return data, clean, counts[0]


def _stat_key(files):
    key = []
    for f in files:
        st = f.stat()
        key.append([f.name, st.st_size, st.st_mtime_ns])
    return key


def _cache_dir(root, cache):
    if cache is True:
        base = getenv("CACHE")
        if base is None:
            base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
                "sklearn_patchdesc"
        digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]
        return Path(base) / "hpatches" / digest
    return Path(cache)


def _cache_paths(cache_dir, seq_name, images, noisy, patch_size):
    images = tuple(images)
    tag = "all" if images == IMAGE_NAMES else hashlib.sha1(
        ",".join(images).encode()).hexdigest()[:10]
    stem = f"{seq_name}__{tag}__ps{patch_size or 'native'}{'__noisy' if noisy else ''}"
    return (cache_dir / f"{stem}.json", cache_dir / f"{stem}.npy",
            cache_dir / f"{stem}_clean.npy")


def _cache_lookup(seq_dir, images, noisy, patch_size, cache_dir):
    """(data_path, clean_path, n) of a valid cache entry, else None."""
    meta_path, data_path, clean_path = _cache_paths(
        cache_dir, seq_dir.name, images, noisy, patch_size)
    if not meta_path.is_file():
        return None
    try:
        stats = _stat_key(_sequence_files(seq_dir, images, noisy))
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a missing source file is reported by the decoder
    if (meta.get("version") == _CACHE_VERSION and meta.get("files") == stats
            and data_path.is_file() and data_path.stat().st_size == meta.get("data_bytes")
            and (not noisy or clean_path.is_file())):
        return data_path, clean_path if noisy else None, meta["n_patches"]
    return None


def _load_sequence(seq_dir, images, noisy, patch_size, cache_dir, need_cache=False):
    """Worker: decode one sequence (and store it in the cache).

    Returns ``(data, clean, n, cache_error)``. With a cache the arrays are
    written to .npy files and only the paths travel back to the parent
    process. When the cache cannot be written (full disk, no permission) the
    decoded arrays travel back instead and ``cache_error`` says why (the
    parent warns: a warning raised in a joblib worker process is lost), unless
    ``need_cache`` (``mmap_mode='r'`` maps the cache), which raises.
    """
    if cache_dir is None:
        return _decode_sequence(seq_dir, images, noisy, patch_size) + (None,)
    # stat before decoding: a file changed while it is decoded then no longer
    # matches the entry, so the next load decodes it again instead of trusting it
    stats = _stat_key(_sequence_files(seq_dir, images, noisy))
    data, clean, n = _decode_sequence(seq_dir, images, noisy, patch_size)
    try:
        return store_cache_entry(cache_dir, seq_dir, images, noisy, patch_size, data, clean,
                                 n, stats=stats) + (None,)
    except OSError as exc:
        why = _cache_write_error(cache_dir, exc)
        if need_cache:
            raise OSError(exc.errno, f"{why}; mmap_mode='r' maps the cache, so free space "
                          "there, pass cache=<another folder>, or load with mmap_mode=None",
                          str(cache_dir)) from exc
        return data, clean, n, why


def _cache_write_error(cache_dir, exc):
    """One phrase naming the cache folder and the operating system's reason."""
    reason = exc.strerror or str(exc)
    where = exc.filename or cache_dir
    return f"cannot write the load_hpatches cache in {cache_dir} ({reason}: {where})"


def store_cache_entry(cache_dir, seq_dir, images, noisy, patch_size, data, clean, n, *,
                      stats=None):
    """Write one sequence's decoded arrays as the cache entry of its PNG stacks.

    The entry is tied to the size and mtime of the stacks in ``stats``
    (taken before decoding; by default now); returns ``(data_path,
    clean_path or None, n)`` as a cache lookup does.
    """
    meta_path, data_path, clean_path = _cache_paths(
        cache_dir, seq_dir.name, images, noisy, patch_size)
    if stats is None:
        stats = _stat_key(_sequence_files(seq_dir, images, noisy))
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(data_path, data)
    if noisy:
        atomic_save_npy(clean_path, clean)
    meta = {"version": _CACHE_VERSION, "files": stats, "n_patches": n,
            "data_bytes": data_path.stat().st_size}
    with atomic_write(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))
    return data_path, clean_path if noisy else None, n


def _combined_memmap(cache_dir, results, suffix, shape, total):
    """Read-only memmap of the per-sequence cache files concatenated in order.

    The concatenation is itself a cache file, named after the entries it
    joins (their paths and sizes, which change with every rewrite), written
    through a temporary name block by block with plain file writes (a
    writable memmap would keep every page it wrote resident), so resident
    memory stays at one sequence and a crash leaves no file that is trusted.
    """
    parts = [r[0] if suffix == "" else r[1] for r in results]
    key = hashlib.sha256(json.dumps(
        [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in parts]).encode()).hexdigest()[:16]
    path = cache_dir / f"joined__{key}{suffix}.npy"
    if not path.is_file():
        with atomic_write(path) as tmp, open(tmp, "wb") as fh:
            np.lib.format.write_array_header_2_0(fh, {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                "fortran_order": False, "shape": (total,) + shape})
            for p in parts:
                block = np.load(p)
                if block.shape[1:] != shape or block.dtype != np.uint8:
                    raise ValueError(f"cache file {p} holds {block.dtype} {block.shape}; "
                                     f"expected uint8 (n,) + {shape}; delete it and load again")
                fh.write(np.ascontiguousarray(block).data)
                del block
    arr = np.load(path, mmap_mode="r")
    if arr.shape != (total,) + shape or arr.dtype != np.uint8:
        raise ValueError(f"cache file {path} has shape {arr.shape}; expected {(total,) + shape}; "
                         "delete it and load again")
    return arr


def missing_files(seq_dir, images, noisy):
    """Names of the PNG stacks of ``images`` that ``seq_dir`` lacks (a partial download)."""
    return [f.name for f in _sequence_files(seq_dir, images, noisy) if not f.is_file()]


def _incomplete_message(root, incomplete, n_names):
    parts = []
    for name, miss in list(incomplete.items())[:5]:
        shown = ", ".join(f"{name}/{f}" for f in miss[:4]) + (
            f" and {len(miss) - 4} more" if len(miss) > 4 else "")
        parts.append(f"{name} lacks {len(miss)} of the requested stacks: {shown}")
    more = f"; and {len(incomplete) - 5} more" if len(incomplete) > 5 else ""
    return (f"{len(incomplete)} of {n_names} sequences in {root} are incomplete (a partial "
            f"download?): {'; '.join(parts)}{more}")


def _find_sequences(root):
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".")
        and any((p / f"{n}{s}.png").is_file() for n in IMAGE_NAMES for s in ("", NOISE_SUFFIX))
    )


def load_hpatches(root, split=None, subset="test", patch_size=32, splits_file=None,
                  n_jobs=None, cache=True, return_X_y=False, images=None,
                  sequences=None, mmap_mode=None, on_error="raise"):
    """Load HPatches (release layout) or N-HPatches patch stacks.

    Parameters
    ----------
    root : path-like
        Folder holding one sub-folder per sequence (``i_*``, ``v_*``).
    split : {'a', 'b', 'c', 'full', 'illum', 'view'} or None, default=None
        Official split from ``splits.json`` (see :func:`load_hpatches_splits`).
        None loads every sequence found under ``root`` (``subset`` is ignored).
    subset : {'train', 'test', 'all'}, default='test'
        Part of ``split`` to load. ``full``, ``illum`` and ``view`` are test-only.
    patch_size : int or None, default=32
        Side of the returned patches; stacks of another size are resized with
        area interpolation (box filter). None keeps the stored size.
    splits_file : path-like, default=None
        Path of ``splits.json``; when None it is looked for next to ``root``.
    n_jobs : int, default=None
        Number of joblib workers decoding PNG stacks (one sequence per task).
    cache : bool or path-like, default=True
        Cache decoded arrays as ``.npy`` files (one per sequence, written
        atomically, memory-mapped on reload). True uses
        ``$SKPD_CACHE`` or ``~/.cache/sklearn_patchdesc``; a path
        uses that folder; False disables it. An entry is reused only while the
        size and mtime of every source PNG are unchanged.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    images : list of str, default=None
        Image names to load (subset of :data:`IMAGE_NAMES`); None loads all 16.
        ``images=["ref"]`` reads sequences that have only ``ref.png``.
    sequences : list of str, default=None
        Explicit sequence names (instead of ``split``/``subset``).
    mmap_mode : {None, 'r'}, default=None
        ``'r'`` returns ``data`` (and ``data_clean``) as read-only
        ``numpy.memmap`` arrays over the cache instead of arrays in memory, so
        full-size N-HPatches with clean twins (~5.7 GB) does not have to fit
        in RAM. Needs the cache; the joined selection is stored once more in
        the cache folder (``joined__*.npy``, reused while its entries last).
    on_error : {'raise', 'skip'}, default='raise'
        What to do with a sequence folder that lacks some of the requested
        PNG stacks (e.g. only ``ref.png``, a partial download): raise a
        FileNotFoundError naming every incomplete sequence and its missing
        files, or leave those sequences out with a warning that names them.

    Returns
    -------
    data : Bunch
        ``data`` uint8 ``(n, patch_size, patch_size)`` (the noisy patches in the
        N-HPatches layout); ``data_clean`` (N-HPatches layout only);
        ``target`` record array with fields ``label`` (int64), ``sequence``
        (str), ``image`` (int8, 0 = ref, 1..5 = e1..e5, 6..10 = h1..h5,
        11..15 = t1..t5); ``sequence_names``; ``image_names``;
        ``n_patches`` (patches per sequence); ``DESCR``.
        Rows are ordered by sequence name, then image code, then patch index;
        patch index = ``label`` - first label of its sequence.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        Missing root, sequence folder, PNG stack (``on_error='raise'``; with
        ``'skip'`` only when no complete sequence is left) or splits file.
    OSError
        With ``mmap_mode='r'``, a cache that cannot be written (e.g. a full
        disk). Without it such a cache is not an error: the sequences are
        decoded from the PNGs, with a warning naming the cache folder.
    ValueError
        Unreadable PNG, a 16-bit PNG with values above 255, stack height not a
        multiple of its width, different patch counts within a sequence,
        unknown split or subset, mixed layouts, a sequence name (given or from
        the splits file) that is not a plain folder name inside ``root``.
    """
    root = Path(root)
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if mmap_mode not in (None, "r"):
        raise ValueError(f"mmap_mode must be None or 'r'; got {mmap_mode!r}")
    if mmap_mode is not None and (cache is False or cache is None):
        raise ValueError("mmap_mode='r' maps the .npy cache: it needs cache=True or a cache path")
    if not root.is_dir():
        raise FileNotFoundError(f"HPatches root folder not found: {root}")
    images = check_image_names(images)
    if patch_size is not None and (int(patch_size) != patch_size or patch_size < 1):
        raise ValueError(f"patch_size must be a positive int or None, got {patch_size!r}")
    if sequences is not None:
        names = check_sequence_names(sequences, root)
    elif split is not None:
        splits = load_hpatches_splits(splits_file, root)
        names = check_sequence_names(split_sequences(splits, split, subset), root,
                                     source=f"split {split!r} of the splits file")
    else:
        names = _find_sequences(root)
        if not names:
            raise FileNotFoundError(
                f"no HPatches sequence folders (with ref.png etc.) found in {root}")
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(names)} requested sequences are missing in {root}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    first = images[0]
    noisy_flags = [(root / n / f"{first}{NOISE_SUFFIX}.png").is_file() for n in names]
    if any(noisy_flags) and not all(noisy_flags):
        odd = names[noisy_flags.index(not noisy_flags[0])]
        raise ValueError(
            f"mixed layouts in {root}: {names[0]!r} and {odd!r} differ in having "
            f"'{first}{NOISE_SUFFIX}.png' (N-HPatches) twins")
    noisy = all(noisy_flags)
    # every missing stack is found before any decoding, so the error (or warning)
    # names all incomplete sequences at once instead of the first one a worker meets
    incomplete = {n: m for n in names if (m := missing_files(root / n, images, noisy))}
    if incomplete:
        msg = _incomplete_message(root, incomplete, len(names))
        if on_error == "raise" or len(incomplete) == len(names):
            hint = ("pass on_error='skip' to load the complete ones, or images=[...] to load "
                    "only the images every sequence has" if on_error == "raise" else
                    "no complete sequence is left to load")
            raise FileNotFoundError(f"{msg}; {hint}")
        warnings.warn(f"{msg}; leaving them out (on_error='skip')", stacklevel=2)
        names = [n for n in names if n not in incomplete]

    cache_dir = None if cache is False or cache is None else _cache_dir(root, cache)
    results = [None] * len(names)
    if cache_dir is not None:  # valid cache entries are read without workers
        results = [_cache_lookup(root / n, images, noisy, patch_size, cache_dir)
                   for n in names]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        decoded = Parallel(n_jobs=n_jobs)(
            delayed(_load_sequence)(root / names[i], images, noisy, patch_size, cache_dir,
                                    need_cache=mmap_mode is not None)
            for i in todo)
        cache_errors = []
        for i, r in zip(todo, decoded):
            results[i] = r[:3]
            if r[3] is not None:
                cache_errors.append(r[3])
        if cache_errors:
            warnings.warn(f"{cache_errors[0]}; read {len(cache_errors)} sequence(s) from the "
                          "PNG stacks without caching them", stacklevel=2)
    counts = [r[2] for r in results]
    sizes = set()
    for r in results:
        # a path to a cache entry, or the decoded array when the cache could not be written
        arr = r[0] if isinstance(r[0], np.ndarray) else np.load(r[0], mmap_mode="r")
        sizes.add(arr.shape[1:])
    if len(sizes) > 1:
        raise ValueError(
            f"sequences in {root} have different patch sizes {sorted(sizes)}; "
            "pass patch_size=<int> to resize them to one size")
    shape = sizes.pop()
    m = len(images)
    total = sum(counts) * m
    if mmap_mode is not None:
        try:
            data = _combined_memmap(cache_dir, results, "", shape, total)
            clean = _combined_memmap(cache_dir, results, "_clean", shape, total) if noisy \
                else None
        except OSError as exc:
            raise OSError(exc.errno, f"{_cache_write_error(cache_dir, exc)}; mmap_mode='r' "
                          "maps the cache, so free space there, pass cache=<another folder>, "
                          "or load with mmap_mode=None", str(cache_dir)) from exc
    else:
        data = np.empty((total,) + shape, dtype=np.uint8)
        clean = np.empty_like(data) if noisy else None
    pos = 0
    for r, n in zip(results if mmap_mode is None else [], counts):
        block = slice(pos, pos + n * m)
        if not isinstance(r[0], np.ndarray):
            data[block] = np.load(r[0], mmap_mode="r")
            if noisy:
                clean[block] = np.load(r[1], mmap_mode="r")
        else:
            data[block] = r[0]
            if noisy:
                clean[block] = r[1]
        pos += n * m
    del results
    target = make_target(names, counts, images)
    if return_X_y:
        return data, target
    bunch = Bunch(
        data=data, target=target, sequence_names=list(names), image_names=list(images),
        n_patches=np.asarray(counts, dtype=np.int64),
        DESCR=(f"HPatches patches from {root} ({'N-HPatches layout, data = noisy' if noisy else 'release layout'}): "
               f"{len(names)} sequences, {total} patches of {shape[0]}x{shape[1]}."),
    )
    if noisy:
        bunch.data_clean = clean
    return bunch


# --------------------------------------------------------------------- writing
def write_hpatches(bunch, root, *, overwrite=False, compress_level=6):
    """Write patches in the HPatches release / N-HPatches folder layout.

    Parameters
    ----------
    bunch : Bunch or dict
        With ``data`` (uint8 ``(n, H, H)``) and the record-array ``target``
        (as returned by :func:`load_hpatches` / :func:`make_hpatches_like`).
        If ``data_clean`` is present the N-HPatches layout is written:
        ``<image>.png`` from ``data_clean`` and ``<image>_noise.png`` from
        ``data``. Within a sequence, every image must hold the patch indices
        (``label`` - first label of the sequence) 0..n-1 exactly once.
    root : path-like
        Output folder (created if needed); one sub-folder per sequence.
    overwrite : bool, default=False
        Replace existing sequence folders. Without it, an existing folder
        raises FileExistsError before anything is written.
    compress_level : int, default=6
        zlib level of the PNG files (0..9); lossless at every level.

    Returns
    -------
    paths : list of pathlib.Path
        The sequence folders written.

    Notes
    -----
    Every sequence is written into a temporary folder inside ``root`` and
    renamed into place only when all of them are complete, so a failure leaves
    no half-written sequence. ``load_hpatches(root, patch_size=None)`` gives
    back the same ``data``, ``data_clean`` and ``target`` for a bunch whose
    labels are consecutive per sequence in sorted sequence order (as every
    loader and generator of this package produces).
    """
    data = check_uint8_patches(bunch_field(bunch, "data"), "data")
    clean = bunch_field(bunch, "data_clean")
    if clean is not None:
        clean = check_uint8_patches(clean, "data_clean")
        if clean.shape != data.shape:
            raise ValueError(f"data_clean shape {clean.shape} != data shape {data.shape}")
    target = check_target(bunch_field(bunch, "target"), n_rows=len(data))
    if len(data) == 0:
        raise ValueError("bunch holds no patches")
    groups = group_rows(target)
    root = Path(root)
    check_sequence_names(groups, root, source="target")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output root is not a folder: {root}")
    conflicts = [root / s for s in groups if os.path.lexists(root / s)]
    if conflicts and not overwrite:
        raise exists_error("sequence folder", conflicts[0], len(conflicts) - 1)
    root.mkdir(parents=True, exist_ok=True)
    tmp_root = new_temp_dir(root, "write_hpatches")
    try:
        moves = []
        for seq, per_image in groups.items():
            out = tmp_root / seq
            out.mkdir()
            for code, rows in per_image.items():
                name = IMAGE_NAMES[code]
                h = data.shape[1]
                sources = [(data, f"{name}{NOISE_SUFFIX if clean is not None else ''}.png")]
                if clean is not None:
                    sources.append((clean, f"{name}.png"))
                for arr, fname in sources:
                    stack = np.ascontiguousarray(arr[rows]).reshape(len(rows) * h, h)
                    Image.fromarray(stack).save(
                        out / fname, format="PNG", compress_level=compress_level)
            moves.append((out, root / seq))
        replace_dirs(moves, overwrite, "sequence folder")
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return [root / s for s in groups]
