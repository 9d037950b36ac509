"""Descriptor files in the layout of the official hpatches-benchmark tools.

``<root>/<name>/<sequence>/<image>.csv``: one file per image of every
sequence (``ref.csv, e1.csv .. e5.csv, h1.csv .. h5.csv, t1.csv .. t5.csv``),
one row per patch in patch-index order, one column per descriptor dimension,
no header.
"""
import shutil
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._common import (IMAGE_NAMES, check_sequence_names, check_target, group_rows,
                      exists_error, make_target, new_temp_dir, replace_dirs)


def save_descriptors_csv(descriptors, target, root, name, delimiter=",", fmt="%.9g",
                         overwrite=False):
    """Write descriptors as ``<root>/<name>/<sequence>/<image>.csv``.

    Parameters
    ----------
    descriptors : array-like of shape (n, d)
        One descriptor per patch (row ``i`` belongs to ``target[i]``).
    target : record array
        The loaders' target (``label``, ``sequence``, ``image``); within a
        sequence every image must hold patch indices 0..n-1 exactly once.
    root : path-like
        Parent folder (created if needed).
    name : str
        Descriptor name: the folder written below ``root``.
    delimiter : str, default=","
    fmt : str, default="%.9g"
        Number format (``%.9g`` round-trips float32 exactly).
    overwrite : bool, default=False
        Replace an existing ``<root>/<name>``; otherwise FileExistsError.

    Returns
    -------
    path : pathlib.Path
        ``<root>/<name>``. It is written under a temporary name and renamed
        when complete, so a failure leaves nothing half-written.
    """
    D = np.asarray(descriptors)
    if D.ndim != 2 or D.shape[0] == 0 or D.shape[1] == 0:
        raise ValueError(f"descriptors must be a non-empty 2-D array (n, d), got shape {D.shape}")
    if not np.issubdtype(D.dtype, np.number) or not np.all(np.isfinite(D)):
        raise ValueError("descriptors must be finite numbers (no NaN or infinity)")
    target = check_target(target, n_rows=len(D))
    name = str(name)
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name must be a plain folder name, got {name!r}")
    groups = group_rows(target)
    root = Path(root)
    dest = root / name
    if dest.exists() and not overwrite:
        raise exists_error("descriptor folder", dest)
    root.mkdir(parents=True, exist_ok=True)
    tmp = new_temp_dir(root, f"descriptors-{name}")
    try:
        out = tmp / name
        for seq, per_image in groups.items():
            (out / seq).mkdir(parents=True)
            for code, rows in per_image.items():
                np.savetxt(out / seq / f"{IMAGE_NAMES[code]}.csv", D[rows], fmt=fmt,
                           delimiter=delimiter)
        replace_dirs([(out, dest)], overwrite, "descriptor folder")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def load_descriptors_csv(root, name=None, delimiter=",", dtype=np.float32, sequences=None,
                         return_X_y=False):
    """Read descriptors from the hpatches-benchmark layout.

    Parameters
    ----------
    root : path-like
        Parent folder; with ``name=None`` the descriptor folder itself.
    name : str, default=None
        Descriptor name (sub-folder of ``root``).
    delimiter : str, default=","
    dtype : numpy dtype, default=float32
    sequences : list of str, default=None
        Sequences to read; None reads every sub-folder.
    return_X_y : bool, default=False
        Return ``(descriptors, target)``.

    Returns
    -------
    data : Bunch
        ``descriptors`` (also as ``data``) ``(n, d)``, ``target`` record array
        (``label``, ``sequence``, ``image``) with rows ordered by sequence name,
        image code, patch index; ``sequence_names``, ``image_names``,
        ``n_patches``, ``DESCR``.

    Raises
    ------
    FileNotFoundError
        Missing folder or no CSV files.
    ValueError
        Unparseable or empty file, or files of one sequence with different row counts,
        or different dimensions / image sets across files, or a name in
        ``sequences`` that is not a plain folder name (e.g. ``"../x"``).
    """
    folder = Path(root) if name is None else Path(root) / name
    if not folder.is_dir():
        raise FileNotFoundError(f"descriptor folder not found: {folder}")
    if sequences is None:
        sequences = sorted(p.name for p in folder.iterdir()
                           if p.is_dir() and not p.name.startswith("."))
    else:
        sequences = check_sequence_names(sequences, folder)
    if not sequences:
        raise FileNotFoundError(f"no sequence folders in {folder}")
    images, blocks, counts, dim = None, [], [], None
    for seq in sequences:
        d = folder / seq
        present = tuple(n for n in IMAGE_NAMES if (d / f"{n}.csv").is_file())
        if not present:
            raise FileNotFoundError(f"no descriptor CSV files (ref.csv, e1.csv, ...) in {d}")
        if images is None:
            images = present
        elif present != images:
            raise ValueError(f"{d} has images {list(present)} but {sequences[0]} has {list(images)}")
        arrays = []
        for n in images:
            path = d / f"{n}.csv"
            try:
                with warnings.catch_warnings():
                    # numpy warns "input contained no data"; the error below says more
                    warnings.simplefilter("ignore", UserWarning)
                    a = np.loadtxt(path, delimiter=delimiter, dtype=dtype, ndmin=2)
            except ValueError as exc:
                raise ValueError(f"cannot parse descriptor file {path}: {exc}") from exc
            if a.size == 0:
                raise ValueError(f"descriptor file {path} is empty: it holds no descriptor "
                                 "rows (one row per patch expected)")
            if dim is None:
                dim = a.shape[1]
            if a.shape[1] != dim:
                raise ValueError(f"{path} has {a.shape[1]} columns, expected {dim}")
            if arrays and len(a) != len(arrays[0]):
                raise ValueError(f"{path} has {len(a)} rows but {d / (images[0] + '.csv')} "
                                 f"has {len(arrays[0])}")
            arrays.append(a)
        counts.append(len(arrays[0]))
        blocks.extend(arrays)
    D = np.concatenate(blocks)
    target = make_target(sequences, counts, images)
    if return_X_y:
        return D, target
    return Bunch(descriptors=D, data=D, target=target, sequence_names=list(sequences),
                 image_names=list(images), n_patches=np.asarray(counts, np.int64),
                 DESCR=f"Descriptors from {folder}: {len(D)} x {dim}.")
