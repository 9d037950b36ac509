"""Reading and writing the Brown / UBC PhotoTour patch sets (Liberty, Notre Dame, Yosemite).

Official layout of one set, a folder ``<root>/<name>/`` (Winder & Brown 2007;
Brown, Hua & Winder, PAMI 2011):

- ``patch0000.bmp``, ``patch0001.bmp``, ...: 1024x1024 grey bitmap sheets,
  each holding 16x16 patches of 64x64, row by row (patch ``k`` is in sheet
  ``k // 256``, at row ``(k % 256) // 16`` and column ``k % 16``); the last
  sheet is filled up with blank patches;
- ``info.txt``: one line per patch, in patch order; its first column is the
  id of the 3-D point the patch shows (the second column is not used);
- ``interest.txt`` (optional here): one line per patch, ``reference image id,
  x, y, orientation, scale``; only the image id is read, the groups of
  :func:`~sklearn_patchdesc.metrics.phototour_revisited_map`;
- ``m50_<N>_<N>_0.txt``: evaluation pairs, one per line, six columns
  ``patch_id1 point_id1 unused patch_id2 point_id2 unused``; a pair matches
  when the two point ids are equal. ``m50_100000_100000_0.txt`` holds the
  100,000 pairs (half of them matches) of the standard FPR95 protocol.

torchvision's ``PhotoTour`` caches the same set as ``<root>/<name>.pt``: a
``torch.save`` of the tuple ``(patches uint8 (n, 64, 64), point ids int64
(n,), matches int64 (m, 3))``, the last columns ``patch_id1, patch_id2,
is_match``. It is read with ``torch.load(weights_only=True)``, torch's
restricted unpickler, which builds tensors and plain containers only and
refuses any other object, so reading a ``.pt`` never runs code from it.

The facts of the layout are those of torchvision's ``datasets/phototour.py``
and of the sets' README; the code is this package's own (no download: the
links of the official sets are dead in several places).
"""
from __future__ import annotations

import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.utils import Bunch, check_random_state

from .._validation import check_labels
from ._common import bunch_field, check_uint8_patches, new_temp_dir, read_grey, replace_dirs
from ._hpatches_io import resize_patches

__all__ = ["load_phototour", "write_phototour", "PHOTOTOUR_SIZES"]

#: patches per set in the official release (torchvision's ``PhotoTour.lens``)
PHOTOTOUR_SIZES = {"liberty": 450092, "notredame": 468159, "yosemite": 633587}

_SIDE = 64            # patch side in the sheets
_PER_ROW = 16         # patches per sheet row and column
_PER_SHEET = _PER_ROW * _PER_ROW
_SHEET = re.compile(r"patch(\d+)\.bmp")
_MATCHES = re.compile(r"m50_(\d+)_(\d+)_0\.txt")
#: the pairs file of the standard protocol
STANDARD_PAIRS = "m50_100000_100000_0.txt"


# --------------------------------------------------------------------- reading
def _text_lines(path):
    """Lines of a text file without the trailing blank ones."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a text file ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _int_columns(path, lines, n_columns):
    """int64 array (len(lines), n_columns) of the first columns; errors name file and line."""
    rows = [line.split() for line in lines]
    try:
        if all(len(r) >= n_columns for r in rows):
            return np.array([r[:n_columns] for r in rows], dtype=np.int64).reshape(
                len(rows), n_columns)
    except (ValueError, OverflowError):
        pass
    for k, r in enumerate(rows, start=1):  # find the first bad line for the message
        if len(r) < n_columns:
            raise ValueError(f"{path}, line {k}: expected at least {n_columns} integer "
                             f"column(s), got {len(r)}: {lines[k - 1]!r}")
        for v in r[:n_columns]:
            try:
                x = int(v)
            except ValueError:
                raise ValueError(f"{path}, line {k}: {v!r} is not an integer "
                                 f"(line {lines[k - 1]!r})") from None
            if not -2 ** 63 <= x < 2 ** 63:
                raise ValueError(f"{path}, line {k}: {v} is out of the int64 range")
    raise AssertionError("unreachable")  # pragma: no cover


def _read_info(path):
    if not path.is_file():
        raise FileNotFoundError(f"missing PhotoTour point-id file: {path}")
    lines = _text_lines(path)
    if not lines:
        raise ValueError(f"{path} is empty: it must hold one line (3-D point id first) "
                         "per patch")
    return _int_columns(path, lines, 1)[:, 0]


def _read_interest(path, n):
    """Image id (first column) of every patch, from ``interest.txt``; None when absent."""
    if not path.is_file():
        return None
    lines = _text_lines(path)
    if len(lines) != n:
        where = (f"line {len(lines) + 1} and on are missing" if len(lines) < n
                 else f"line {n + 1} and on name no patch")
        raise ValueError(f"{path} has {len(lines)} lines for the {n} patches of info.txt "
                         f"({where}); it needs one line per patch, the image id first")
    return _int_columns(path, lines, 1)[:, 0]


def _pairs_file(folder, pairs):
    if pairs is None or pairs is False:
        return None
    if pairs != "auto":
        path = folder / str(pairs)
        if Path(str(pairs)).name != str(pairs):
            raise ValueError(f"pairs must be a file name inside {folder}, got {pairs!r}")
        if not path.is_file():
            raise FileNotFoundError(f"missing PhotoTour pairs file: {path}")
        return path
    if (folder / STANDARD_PAIRS).is_file():
        return folder / STANDARD_PAIRS
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _MATCHES.fullmatch(p.name)) and p.is_file()]
    return max(found)[1] if found else None


def _read_pairs(path, labels):
    """``(pairs (m, 2), is_match (m,))`` of an ``m50_*_0.txt`` file."""
    lines = _text_lines(path)
    cols = _int_columns(path, lines, 6) if lines else np.empty((0, 6), np.int64)
    n = len(labels)
    for c in (0, 3):
        bad = np.flatnonzero((cols[:, c] < 0) | (cols[:, c] >= n))
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"{path}, line {k + 1}: patch id {cols[k, c]} does not exist (the set holds "
                f"{n} patches, ids 0..{n - 1}; {bad.size} line(s) name missing patches)")
    pairs = cols[:, [0, 3]]
    for c, side in ((1, 0), (4, 1)):
        off = np.flatnonzero(cols[:, c] != labels[pairs[:, side]])
        if off.size:
            k = int(off[0])
            warnings.warn(
                f"{path}, line {k + 1}: point id {cols[k, c]} differs from the point id "
                f"{labels[pairs[k, side]]} of patch {pairs[k, side]} in info.txt ({off.size} "
                "line(s) like this); the pairs file decides which pairs match, as in the "
                "official protocol", stacklevel=3)
            break
    return pairs, cols[:, 1] == cols[:, 4]


def _sheet_paths(folder, n_patches, info_path):
    numbered = {}
    for p in folder.iterdir():
        m = _SHEET.fullmatch(p.name)
        if m:
            numbered[int(m.group(1))] = p
    needed = math.ceil(n_patches / _PER_SHEET)
    for i in range(needed):
        if i not in numbered:
            raise FileNotFoundError(
                f"missing PhotoTour sheet: {folder / f'patch{i:04d}.bmp'} ({info_path.name} "
                f"lists {n_patches} patches, which fill {needed} sheets of {_PER_SHEET})")
    extra = sorted(i for i in numbered if i >= needed)
    if extra:
        raise ValueError(
            f"{info_path} is shorter than the patches: it has {n_patches} lines (line "
            f"{n_patches + 1} and on are missing), but the folder holds sheets up to "
            f"{numbered[extra[-1]].name} ({(extra[-1]) * _PER_SHEET + 1} patches at least); "
            "every patch needs its line")
    return [numbered[i] for i in range(needed)]


def _read_sheet(path, count, patch_size):
    arr = read_grey(path, "PhotoTour sheet")
    side = _SIDE * _PER_ROW
    if arr.shape != (side, side):
        raise ValueError(f"PhotoTour sheet {path} is {arr.shape[1]}x{arr.shape[0]}; sheets "
                         f"are {side}x{side} (16x16 patches of 64x64)")
    patches = arr.reshape(_PER_ROW, _SIDE, _PER_ROW, _SIDE).transpose(0, 2, 1, 3)
    return resize_patches(patches.reshape(_PER_SHEET, _SIDE, _SIDE)[:count], patch_size)


def _load_folder(folder, patch_size, pairs):
    info = folder / "info.txt"
    labels = _read_info(info)
    n = len(labels)
    sheets = _sheet_paths(folder, n, info)
    data = np.empty((n, patch_size, patch_size), dtype=np.uint8)
    for i, path in enumerate(sheets):
        lo = i * _PER_SHEET
        data[lo:lo + _PER_SHEET] = _read_sheet(path, min(_PER_SHEET, n - lo), patch_size)
    image_ids = _read_interest(folder / "interest.txt", n)
    path = _pairs_file(folder, pairs)
    pair_rows, is_match = _read_pairs(path, labels) if path is not None else (None, None)
    return data, labels, image_ids, pair_rows, is_match, path


def _load_pt(path, patch_size, pairs):
    import pickle

    import torch

    try:
        # torch's restricted unpickler: tensors and plain containers only, never code
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path} holds objects other than tensors and plain containers; it is not "
            "torchvision's PhotoTour cache and is refused without running it "
            f"(torch.load(weights_only=True): {str(exc).splitlines()[0]})") from None
    except Exception as exc:  # zip or pickle structure broken
        raise ValueError(f"cannot read {path} as torchvision's PhotoTour cache: {exc}") from exc
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3
            and all(isinstance(t, torch.Tensor) for t in obj)):
        raise ValueError(f"{path} must hold torchvision's PhotoTour tuple (patches, point ids, "
                         f"matches) of three tensors; got {type(obj).__name__}")
    X, labels, matches = (t.numpy() for t in obj)
    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[1] != X.shape[2]:
        raise ValueError(f"{path}: the patches must be uint8 (n, 64, 64); got {X.dtype} "
                         f"{tuple(X.shape)}")
    if labels.shape != (X.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: the point ids must be integers, one per patch "
                         f"({X.shape[0]}); got {labels.dtype} {tuple(labels.shape)}")
    if matches.ndim != 2 or matches.shape[1] != 3 or matches.dtype.kind not in "iu":
        raise ValueError(f"{path}: the matches must be integers (m, 3) (patch_id1, "
                         f"patch_id2, is_match); got {matches.dtype} {tuple(matches.shape)}")
    bad = np.flatnonzero((matches[:, :2] < 0).any(axis=1)
                         | (matches[:, :2] >= len(X)).any(axis=1))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{path}: match {k} names patch ids {matches[k, :2].tolist()}, but "
                         f"the set holds {len(X)} patches")
    data = np.empty((len(X), patch_size, patch_size), dtype=np.uint8)
    for lo in range(0, len(X), 4096):  # bounded temporary memory
        data[lo:lo + 4096] = resize_patches(X[lo:lo + 4096], patch_size)
    if pairs is None or pairs is False:
        return data, labels.astype(np.int64), None, None
    return data, labels.astype(np.int64), matches[:, :2].astype(np.int64), matches[:, 2] != 0


def load_phototour(root, name, *, patch_size=32, pairs="auto", source="auto",
                   return_X_y=False):
    """Load one Brown / UBC PhotoTour set (Liberty, Notre Dame, Yosemite).

    Reads the official folder layout ``<root>/<name>/`` (bitmap sheets
    ``patchNNNN.bmp`` of 16x16 patches of 64x64, ``info.txt``,
    ``m50_*_0.txt`` pairs) or torchvision's cache ``<root>/<name>.pt``. No
    download: the sets come from the user's own copy.

    Parameters
    ----------
    root : path-like
        Folder holding ``<name>/`` or ``<name>.pt``.
    name : str
        Set name, e.g. ``"liberty"``, ``"notredame"``, ``"yosemite"``.
    patch_size : int or None, default=32
        Side of the returned patches: the 64x64 patches are resized with
        area interpolation (as :func:`load_hpatches` resizes HPatches' 65x65
        patches to 32). None keeps 64.
    pairs : "auto", str or None, default="auto"
        Evaluation pairs of the folder layout: ``"auto"`` reads
        ``m50_100000_100000_0.txt`` (the standard 100k pairs), else the
        largest ``m50_<N>_<N>_0.txt`` present, else none; a file name reads
        that file; None reads none. For a ``.pt`` any value but None reads
        its matches.
    source : {"auto", "folder", "pt"}, default="auto"
        Which copy to read; ``"auto"`` takes the folder when it exists, else
        the ``.pt``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` uint8 ``(n, patch_size, patch_size)`` in patch-id order;
        ``target`` int64 ``(n,)``: the 3-D point id of each patch (the
        label every descriptor estimator trains on; same id = same point);
        ``pairs`` int64 ``(m, 2)`` patch ids (rows of ``data``) and
        ``is_match`` bool ``(m,)`` (None when no pairs were read: pass them
        to :func:`~sklearn_patchdesc.metrics.phototour_fpr95`); ``image_ids``
        int64 ``(n,)``: the reference image id of each patch, from
        ``interest.txt``, the groups of
        :func:`~sklearn_patchdesc.metrics.phototour_revisited_map` (None for a
        folder without ``interest.txt`` and for a ``.pt``); ``name``;
        ``source`` (the folder or file read); ``pairs_file``; ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        No folder or ``.pt`` for ``name``; a sheet missing among those
        ``info.txt`` needs; a missing ``info.txt`` or named pairs file.
    ValueError
        An ``info.txt`` shorter than the patches of the sheets, or with a
        line that is not an integer; an ``interest.txt`` whose line count
        differs from ``info.txt``'s or with a first column that is not an
        integer; a pairs file with a short or
        non-integer line or naming a patch that does not exist (messages name
        the file and line); a sheet that is not 1024x1024; a ``.pt`` that is
        not torchvision's tuple of three tensors, or holds other objects
        (refused without running them).

    Notes
    -----
    A pairs line whose point ids differ from those of ``info.txt`` warns;
    the pairs file decides which pairs match, as in the official protocol.
    """
    root = Path(root)
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain set name such as 'liberty', got {name!r}")
    if patch_size is None:
        patch_size = _SIDE
    if isinstance(patch_size, bool) or int(patch_size) != patch_size or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int or None, got {patch_size!r}")
    patch_size = int(patch_size)
    if source not in ("auto", "folder", "pt"):
        raise ValueError(f"source must be 'auto', 'folder' or 'pt', got {source!r}")
    folder, pt = root / name, root / f"{name}.pt"
    if source == "folder" or (source == "auto" and folder.is_dir()):
        if not folder.is_dir():
            raise FileNotFoundError(f"PhotoTour folder not found: {folder}")
        data, labels, image_ids, pair_rows, is_match, pairs_path = _load_folder(
            folder, patch_size, pairs)
        read = folder
    else:
        if not pt.is_file():
            raise FileNotFoundError(
                f"no PhotoTour set {name!r} in {root}: neither the folder {folder} nor "
                f"torchvision's cache {pt} exists")
        data, labels, pair_rows, is_match = _load_pt(pt, patch_size, pairs)
        pairs_path, read, image_ids = (pt if pair_rows is not None else None), pt, None
    if return_X_y:
        return data, labels
    n_pairs = 0 if pair_rows is None else len(pair_rows)
    return Bunch(
        data=data, target=labels, pairs=pair_rows, is_match=is_match, image_ids=image_ids,
        name=name,
        source=read, pairs_file=pairs_path,
        DESCR=(f"PhotoTour set {name!r} from {read}: {len(data)} patches of "
               f"{patch_size}x{patch_size}, {len(np.unique(labels))} 3-D points, "
               f"{n_pairs} evaluation pairs"
               + (f" ({int(is_match.sum())} matching)" if n_pairs else "") + "."),
    )


def read_phototour_pairs(folder, pairs="auto"):
    """``(n_patches, pairs (m, 2), is_match (m,), pairs_file)`` of a PhotoTour folder.

    What scoring descriptors on the set needs, without decoding the bitmap
    sheets: the patch count from ``info.txt`` and the pairs of ``pairs``
    (see :func:`load_phototour`). The errors name the file and line, as
    :func:`load_phototour`'s do.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"PhotoTour folder not found: {folder}")
    labels = _read_info(folder / "info.txt")
    path = _pairs_file(folder, pairs)
    if path is None:
        raise FileNotFoundError(f"no m50_<N>_<N>_0.txt pairs file in {folder}")
    pair_rows, is_match = _read_pairs(path, labels)
    return len(labels), pair_rows, is_match, path


# --------------------------------------------------------------------- writing
def _balanced_pairs(labels, n_pairs, random_state):
    """``n_pairs`` pairs, half matching (two patches of one point), half not."""
    from ..metrics._verification import label_verification_pairs

    rng = check_random_state(random_state)
    n_pos = n_pairs // 2
    kinds = label_verification_pairs(labels, n_pos, n_pairs - n_pos,
                                     np.random.default_rng(rng.randint(2 ** 31 - 1)))["all"]
    pos, neg = kinds["pos"], kinds["different_label"]
    if len(pos[0]) == 0 or len(neg[0]) == 0:
        raise ValueError("cannot draw evaluation pairs: the labels need a point with two "
                         "patches and at least two points")
    pairs = np.concatenate([np.stack(pos, 1), np.stack(neg, 1)]).astype(np.int64)
    is_match = np.concatenate([np.ones(len(pos[0]), bool), np.zeros(len(neg[0]), bool)])
    order = rng.permutation(len(pairs))
    return pairs[order], is_match[order]


def write_phototour(bunch, root, name, *, n_pairs=None, random_state=0, overwrite=False):
    """Write a patch set in the PhotoTour folder layout ``<root>/<name>/``.

    Parameters
    ----------
    bunch : Bunch or dict
        ``data``: uint8 square patches ``(n, H, H)`` (64x64 as in the
        official sets; other sides are resized to 64 with area
        interpolation, which repeats pixels for a side dividing 64, so
        32x32 patches read back exactly at ``patch_size=32``); ``target``:
        1-D point labels or the loaders' record array (its ``label``).
        ``pairs`` ``(m, 2)`` and ``is_match`` ``(m,)``, when present, are
        written as they are; otherwise pairs are drawn (below).
        ``image_ids`` ``(n,)`` integers, when present, are written to
        ``interest.txt``.
    root : path-like
        Output folder (created if needed).
    name : str
        Set name: the folder ``<root>/<name>`` that is written.
    n_pairs : int, optional
        Pairs to draw when ``bunch`` has none: half matching, half not, as in
        the official files (default: 100,000, or fewer for small sets: at
        most ``n`` pairs).
    random_state : int, RandomState or None, default=0
        Seeds the drawn pairs.
    overwrite : bool, default=False
        Replace an existing ``<root>/<name>``; without it that raises
        FileExistsError before anything is written.

    Returns
    -------
    path : pathlib.Path
        The folder written: ``patchNNNN.bmp`` sheets (the last one filled up
        with black patches), ``info.txt`` (``<point id> 0`` per patch) and
        ``m50_<m>_<m>_0.txt`` (``id1 point1 0 id2 point2 0`` per pair);
        ``interest.txt`` (``<image id> 0 0 0 0`` per patch: the keypoint
        columns are unknown here) when the bunch has ``image_ids``.

    Notes
    -----
    The folder is written under a temporary name inside ``root`` and renamed
    into place when complete, so a failure leaves nothing half-written.
    """
    data = check_uint8_patches(bunch_field(bunch, "data"), "data")
    if data.shape[0] == 0:
        raise ValueError(f"data must be square patches (n, H, H), got shape {data.shape}")
    labels = check_labels(bunch_field(bunch, "target"), len(data), name="target")
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name {name!r} is not a valid folder name")
    root = Path(root)
    dest = root / name
    if dest.exists() and not overwrite:
        raise FileExistsError(f"PhotoTour folder already exists: {dest}; pass overwrite=True "
                              "to replace it")
    pairs, is_match = bunch_field(bunch, "pairs"), bunch_field(bunch, "is_match")
    if pairs is not None:
        pairs = np.asarray(pairs, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or is_match is None \
                or np.shape(is_match) != (len(pairs),):
            raise ValueError("bunch pairs must be (m, 2) patch ids with is_match (m,)")
        if pairs.size and (pairs.min() < 0 or pairs.max() >= len(data)):
            raise ValueError(f"bunch pairs name patch ids outside 0..{len(data) - 1}")
        is_match = np.asarray(is_match, dtype=bool)
        if np.any(is_match != (labels[pairs[:, 0]] == labels[pairs[:, 1]])):
            raise ValueError("bunch is_match disagrees with the labels of its pairs; the "
                             "layout stores point ids, from which matches are read back")
    else:
        n = min(100000, len(data)) if n_pairs is None else int(n_pairs)
        if n < 2:
            raise ValueError(f"n_pairs must be at least 2, got {n}")
        pairs, is_match = _balanced_pairs(labels, n, random_state)
    image_ids = bunch_field(bunch, "image_ids")
    if image_ids is not None:
        image_ids = np.asarray(image_ids)
        if image_ids.shape != (len(data),) or image_ids.dtype.kind not in "iu":
            raise ValueError(f"bunch image_ids must be integers, one per patch ({len(data)}); "
                             f"got {image_ids.dtype} {image_ids.shape}")
    patches = resize_patches(data, _SIDE)
    root.mkdir(parents=True, exist_ok=True)
    tmp_root = new_temp_dir(root, "write_phototour")
    try:
        out = tmp_root / name
        out.mkdir()
        n_sheets = math.ceil(len(patches) / _PER_SHEET)
        side = _SIDE * _PER_ROW
        for s in range(n_sheets):
            block = np.zeros((_PER_SHEET, _SIDE, _SIDE), dtype=np.uint8)
            part = patches[s * _PER_SHEET:(s + 1) * _PER_SHEET]
            block[:len(part)] = part
            sheet = block.reshape(_PER_ROW, _PER_ROW, _SIDE, _SIDE).transpose(0, 2, 1, 3)
            Image.fromarray(np.ascontiguousarray(sheet.reshape(side, side))).save(
                out / f"patch{s:04d}.bmp", format="BMP")
        (out / "info.txt").write_text("".join(f"{v} 0\n" for v in labels.tolist()))
        if image_ids is not None:
            (out / "interest.txt").write_text(
                "".join(f"{v} 0 0 0 0\n" for v in image_ids.tolist()))
        m, lab = len(pairs), labels.tolist()
        (out / f"m50_{m}_{m}_0.txt").write_text("".join(
            f"{a} {lab[a]} 0 {b} {lab[b]} 0\n" for a, b in pairs.tolist()))
        replace_dirs([(out, dest)], overwrite, "PhotoTour folder")
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return dest
