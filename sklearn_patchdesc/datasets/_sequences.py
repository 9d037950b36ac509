"""Reader of full-image sequences with ground-truth homographies.

Two layouts are recognised in a sequence folder:

- hpatches-sequences-release: ``1.ppm .. 6.ppm`` and ``H_1_2 .. H_1_6``;
- Oxford affine (Mikolajczyk & Schmid): ``img1 .. img6`` with extension
  ``.ppm``, ``.pgm`` or ``.png`` and ``H1to2p .. H1to6p``.

A homography ``H_1_k`` maps reference pixel coordinates to image ``k``:
``x_k ~ H @ x_1`` (homogeneous ``(x, y, 1)``, x = column, y = row).
"""
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._common import read_grey

N_IMAGES = 6
#: largest condition number accepted for a homography normalised to H[2, 2] == 1; the
#: real ones of the shared data (Oxford affine, hpatches-sequences) reach 6.1e5, pixel
#: coordinates up to ~1000 make 1e6..1e7 plausible, 1e12 is far beyond any camera motion
MAX_CONDITION = 1e12
_EXTS = (".ppm", ".pgm", ".png")


def _layout(folder):
    if (folder / "1.ppm").is_file():
        return "hpatches"
    if any((folder / f"img1{ext}").is_file() for ext in _EXTS):
        return "oxford"
    return None


def _image_path(folder, layout, k):
    if layout == "hpatches":
        return folder / f"{k}.ppm"
    for ext in _EXTS:
        path = folder / f"img{k}{ext}"
        if path.is_file():
            return path
    return folder / f"img{k}{_EXTS[0]}"


def _h_path(folder, layout, k):
    return folder / (f"H_1_{k}" if layout == "hpatches" else f"H1to{k}p")


def read_homography(path):
    """Read a 3x3 homography text file with :func:`numpy.loadtxt`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing homography file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            H = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"cannot parse homography file {path}: {exc}") from exc
    if H.shape != (3, 3):
        raise ValueError(f"homography file {path} must hold 3x3 numbers, got shape {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError(f"homography in {path} holds NaN or infinity")
    if H[2, 2] == 0:
        raise ValueError(f"homography in {path} has H[2, 2] == 0, so it cannot be "
                         "normalised to H[2, 2] == 1")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        H = H / H[2, 2]
        # a homography is defined up to scale: judge the normalised matrix, so that a
        # uniformly scaled file (1e-300 * H) is accepted and a singular or wildly
        # ill-conditioned one (an entry 1e300 times the others) is not
        cond = np.linalg.cond(H) if np.all(np.isfinite(H)) else np.inf
    if not np.isfinite(cond) or cond > MAX_CONDITION:
        raise ValueError(
            f"homography in {path} is not invertible: condition number {cond:.3g} of the "
            f"matrix normalised to H[2, 2] == 1 (at most {MAX_CONDITION:.0e} accepted; "
            "real ones stay below 1e7)")
    return H


def is_identity(H, tol=1e-6):
    return np.allclose(H / H[2, 2], np.eye(3), atol=tol)


def _read_sequence(folder):
    layout = _layout(folder)
    if layout is None:
        raise FileNotFoundError(
            f"{folder} is not an image sequence: expected 1.ppm..6.ppm with H_1_2..H_1_6 "
            "(hpatches-sequences) or img1..img6.{ppm,pgm,png} with H1to2p..H1to6p (Oxford)")
    images = [read_grey(_image_path(folder, layout, k)) for k in range(1, N_IMAGES + 1)]
    Hs = np.stack([read_homography(_h_path(folder, layout, k))
                   for k in range(2, N_IMAGES + 1)])
    kind = "i" if all(is_identity(H) for H in Hs) else "v"
    return Bunch(name=folder.name, kind=kind, layout=layout, images=images,
                 homographies=Hs, path=folder)


def load_image_sequences(root, on_error="raise"):
    """Read image sequences with ground-truth homographies.

    Parameters
    ----------
    root : path-like
        A sequence folder, or a folder whose sub-folders are sequences
        (hpatches-sequences layout ``1.ppm..6.ppm`` + ``H_1_2..H_1_6``, or Oxford
        layout ``img1..img6.{ppm,pgm,png}`` + ``H1to2p..H1to6p``).
    on_error : {'raise', 'skip'}, default='raise'
        What to do with an incomplete or unreadable sub-folder: raise, or skip
        it with a warning. A ``root`` that is itself one sequence always raises.

    Returns
    -------
    sequences : list of Bunch
        Sorted by name. Each has ``name`` (folder name), ``kind`` (``'i'`` if
        every homography is the identity, else ``'v'``), ``layout``,
        ``images`` (list of 6 grey uint8 arrays, image 1 = reference),
        ``homographies`` (``(5, 3, 3)`` float64, ``x_k ~ H[k-2] @ x_1``,
        normalised so ``H[2, 2] == 1``) and ``path``.

    Raises
    ------
    FileNotFoundError
        Missing folder, image or homography file, or no sequence found.
    ValueError
        Unreadable image, homography that is not 3x3 finite numbers, or one whose
        normalised matrix is singular or ill-conditioned (condition number above
        :data:`MAX_CONDITION`).

    Notes
    -----
    With ``on_error='skip'`` and no readable sequence, the FileNotFoundError
    lists every skipped sub-folder with the reason.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image sequence folder not found: {root}")
    if _layout(root) is not None:
        return [_read_sequence(root)]
    sequences, skipped = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            sequences.append(_read_sequence(folder))
        except (FileNotFoundError, ValueError) as exc:
            if on_error == "raise":
                raise
            skipped.append(f"{folder.name}: {exc}")
            warnings.warn(f"skipping {folder}: {exc}", stacklevel=2)
    if not sequences:
        # the reasons are the error: a caller that only sees this exception (not the
        # warnings) must still learn why each sub-folder was not a sequence
        why = (f"; skipped {len(skipped)} sub-folder(s): " + "; ".join(skipped)) if skipped \
            else " (it has no sub-folders)"
        raise FileNotFoundError(f"no image sequence found in {root}{why}")
    return sequences
