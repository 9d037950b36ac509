"""Offline HPatches-like patch sets (``make_hpatches_like``)."""
import os

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import Bunch, check_random_state

from ._common import IMAGE_NAMES, IMAGE_NOISE_LEVEL, make_target
from ._extract import CROP, extract_sequence
from ._hpatches_io import resize_patches
from ._noise import add_patch_noise
from ._sequences import load_image_sequences
from ._synth import builtin_photos, synthetic_sequence



def _as_sequences(sequences):
    if isinstance(sequences, (str, os.PathLike)):
        sequences = load_image_sequences(sequences)
    if isinstance(sequences, dict) or hasattr(sequences, "images"):
        sequences = [sequences]
    out = []
    for i, seq in enumerate(sequences):
        if isinstance(seq, (tuple, list)) and len(seq) == 2:
            seq = {"name": f"seq{i}", "images": seq[0], "homographies": seq[1]}
        images = [np.asarray(im) for im in seq["images"]]
        Hs = np.asarray(seq["homographies"], dtype=np.float64)
        name = str(seq.get("name", f"seq{i}"))
        if len(images) != 6 or Hs.shape != (5, 3, 3):
            raise ValueError(
                f"sequence {name!r} needs 6 images and 5 homographies (5, 3, 3); got "
                f"{len(images)} images and homographies of shape {Hs.shape}")
        for k, im in enumerate(images):
            if im.ndim == 3:
                im = np.asarray(im, float) @ np.array([0.299, 0.587, 0.114])[: im.shape[2]]
            if im.ndim != 2:
                raise ValueError(f"sequence {name!r} image {k + 1} is not a 2-D grey image")
            images[k] = im
        kind = seq.get("kind") or ("i" if all(np.allclose(H / H[2, 2], np.eye(3)) for H in Hs)
                                   else "v")
        if not name.startswith(("i_", "v_")):
            name = f"{kind}_{name}"
        out.append(Bunch(name=name, images=images, homographies=Hs,
                         synthetic=seq.get("layout") == "synthetic"))
    return out


def _builtin_sequences(n_sequences, rng):
    photos = builtin_photos()
    seqs = []
    for j in range(n_sequences):
        name, photo = photos[j % len(photos)]
        rnd = j // len(photos)
        if rnd:  # reuse a photo: a different random crop of it
            h, w = photo.shape
            ch, cw = int(h * 0.75), int(w * 0.75)
            y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            photo = photo[y0:y0 + ch, x0:x0 + cw]
            name = f"{name}{rnd + 1}"
        kind = "v" if j % 2 == 0 else "i"
        seq = synthetic_sequence(name, photo, kind, rng)
        seqs.append(Bunch(name=seq.name, images=seq.images, homographies=seq.homographies,
                          synthetic=True))
    return seqs


def _one_sequence(seq, n_patches, patch_size, seed):
    rng = np.random.default_rng(seed)
    crops, overlap, frames = extract_sequence(seq.images, seq.homographies, n_patches, rng,
                                              synthetic_border=seq.synthetic)
    n = crops.shape[1]
    if n == 0:
        shape = "x".join(str(s) for s in np.shape(seq.images[0])[::-1])
        raise ValueError(
            f"no patch fits fully inside the images of sequence {seq.name!r} "
            f"(reference image {shape}); images are too small or have no keypoints")
    flat = np.clip(np.rint(crops.reshape(16 * n, CROP, CROP)), 0, 255).astype(np.uint8)
    return resize_patches(flat, patch_size), overlap.reshape(-1), frames


def make_hpatches_like(sequences=None, n_sequences=None, n_patches_per_sequence=300,
                       patch_size=32, noise=False, random_state=None, return_X_y=False,
                       n_jobs=None):
    """Generate an HPatches-format patch set offline.

    Reproduces the HPatches extraction procedure (see
    :mod:`sklearn_patchdesc.datasets._extract`): DoG + Hessian + Harris
    keypoints on the reference image, de-duplication of detections overlapping
    > 50 % (one kept at random), one dominant orientation, measurement region
    = 5x the detected scale, affine jitter for easy / hard / tough (median
    overlap ~0.85 / ~0.72 / ~0.60), reprojection into the 5 target images
    through the homographies, 65x65 crops resized to ``patch_size`` with area
    interpolation, patches fully inside every image only.

    Parameters
    ----------
    sequences : None, path-like, or list of sequences, default=None
        None: synthetic sequences built from the photos bundled with
        scikit-image (camera, astronaut, coffee, chelsea, rocket, motorcycle,
        coins, brick, gravel, moon, grass, ihc), alternately viewpoint
        (``v_<photo>``: random plausible homographies growing from image 2 to
        6, mild gain/blur/sensor noise) and illumination (``i_<photo>``:
        gain, gamma, smooth shading, blur). A path is read with
        :func:`load_image_sequences`; a list holds its Bunches, dicts with
        ``name``, ``images`` (6 grey images), ``homographies`` (5, 3, 3), or
        ``(images, homographies)`` tuples. Names not starting with ``i_``/``v_``
        get ``i_`` (all homographies identity) or ``v_`` prepended.
    n_sequences : int, default=None
        Number of sequences: 8 synthetic ones by default; with given
        ``sequences`` the first ``n_sequences`` (all by default).
    n_patches_per_sequence : int, default=300
        Maximum patches per sequence (a random subset of the valid detections,
        ordered by location). Fewer are returned when fewer fit.
    patch_size : int, default=32
        Side of the returned patches (65 keeps the crops unresized).
    noise : bool or str, default=False
        False: clean patches only. True or a kind name of
        :func:`add_patch_noise` ('gaussian' for True): ``data`` gets
        N-HPatches-style noise, easy for ref and e1..e5, hard for h1..h5,
        tough for t1..t5, and ``data_clean`` keeps the clean twin.
    random_state : int, RandomState instance or None, default=None
        Same value, same output (independent of ``n_jobs``).
    return_X_y : bool, default=False
    n_jobs : int, default=None
        joblib workers, one sequence per task.

    Returns
    -------
    data : Bunch
        ``data`` uint8 ``(n, patch_size, patch_size)``; ``target`` record array
        (``label``, ``sequence``, ``image``) as :func:`load_hpatches`;
        ``data_clean`` when ``noise`` is set; ``overlap`` (float32, per row:
        overlap of the jittered region with the true one, 1 for ref);
        ``frames`` (dict: sequence -> (n, 4) x, y, sigma, angle in the ref);
        ``sequence_names``, ``image_names``, ``n_patches``, ``DESCR``.
    (data, target) : tuple if ``return_X_y``

    Raises
    ------
    ValueError
        If a sequence is malformed or no patch fits inside its images.
    """
    if int(n_patches_per_sequence) != n_patches_per_sequence or n_patches_per_sequence < 1:
        raise ValueError(f"n_patches_per_sequence must be a positive int, got "
                         f"{n_patches_per_sequence!r}")
    if int(patch_size) != patch_size or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    if n_sequences is not None and (int(n_sequences) != n_sequences or n_sequences < 1):
        raise ValueError(f"n_sequences must be a positive int, got {n_sequences!r}")
    kind = None
    if noise is True:
        kind = "gaussian"
    elif isinstance(noise, str):
        kind = noise
        add_patch_noise(np.zeros((1, 1), np.uint8), "easy", kind=kind)  # validates the kind
    elif noise not in (False, None):
        raise ValueError(f"noise must be a bool or a noise kind name, got {noise!r}")
    rs = check_random_state(random_state)
    rng = np.random.default_rng(rs.randint(2 ** 31 - 1))
    if sequences is None:
        seqs = _builtin_sequences(8 if n_sequences is None else int(n_sequences), rng)
    else:
        seqs = _as_sequences(sequences)
        if n_sequences is not None:
            seqs = seqs[: int(n_sequences)]
        if not seqs:
            raise ValueError("no sequence given")
    names = [s.name for s in seqs]
    if len(set(names)) != len(names):
        raise ValueError(f"sequence names must be unique, got {names}")
    seeds = rng.integers(0, 2 ** 31 - 1, len(seqs))
    order = np.argsort(names, kind="stable")  # sequences in sorted name order
    results = Parallel(n_jobs=n_jobs)(
        delayed(_one_sequence)(seqs[i], int(n_patches_per_sequence), int(patch_size),
                               seeds[i]) for i in order)
    names = [names[i] for i in order]
    counts = [r[2].shape[0] for r in results]
    data = np.concatenate([r[0] for r in results])
    overlap = np.concatenate([r[1] for r in results]).astype(np.float32)
    target = make_target(names, counts, IMAGE_NAMES)
    bunch = Bunch(
        target=target, sequence_names=names, image_names=list(IMAGE_NAMES),
        n_patches=np.asarray(counts, np.int64), overlap=overlap,
        frames={n: r[2] for n, r in zip(names, results)},
        DESCR=(f"HPatches-like patch set generated offline: {len(names)} sequences, "
               f"{len(data)} patches of {patch_size}x{patch_size}"
               + (f", {kind} noise (e < h < t) in data, clean twin in data_clean."
                  if kind else ".")),
    )
    if kind is not None:
        levels = IMAGE_NOISE_LEVEL
        bunch.data_clean = data
        bunch.data = add_patch_noise(data, levels[target["image"]], kind=kind,
                                     random_state=rng.integers(0, 2 ** 31 - 1))
    else:
        bunch.data = data
    if return_X_y:
        return bunch.data, target
    return bunch
