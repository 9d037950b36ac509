"""Synthetic image sequences from the photos bundled with scikit-image.

Viewpoint sequences (``v_*``) warp the reference photo with random plausible
homographies whose size grows from image 2 to image 6; illumination
sequences (``i_*``) keep the geometry (identity homography) and change gain,
gamma, smooth shading and blur. Only files shipped inside the scikit-image
wheel are read (no download).
"""
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.transform import ProjectiveTransform, warp
from sklearn.utils import Bunch

from ._common import read_grey

#: Photos read from ``skimage.data`` (bundled files only), in the order used.
BUILTIN_PHOTOS = (
    ("camera", "camera.png"), ("astronaut", "astronaut.png"), ("coffee", "coffee.png"),
    ("chelsea", "chelsea.png"), ("rocket", "rocket.jpg"),
    ("motorcycle", "motorcycle_left.png"), ("coins", "coins.png"), ("brick", "brick.png"),
    ("gravel", "gravel.png"), ("moon", "moon.png"), ("grass", "grass.png"),
    ("ihc", "ihc.png"),
)
MAX_SIDE = 640


def builtin_photos():
    """List of ``(name, grey uint8 array)`` of the bundled scikit-image photos."""
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    photos = []
    for name, fname in BUILTIN_PHOTOS:
        path = data_dir / fname
        if path.is_file():
            img = read_grey(path)
            if max(img.shape) > MAX_SIDE:  # keep generation fast
                img = _shrink(img, MAX_SIDE / max(img.shape))
            photos.append((name, img))
    if not photos:
        raise FileNotFoundError(f"no bundled scikit-image photo found in {data_dir}")
    return photos


def _shrink(img, factor):
    from PIL import Image

    h, w = img.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BOX), dtype=np.uint8)


def random_homography(shape, strength, rng):
    """A plausible viewpoint change about the image centre.

    ``strength`` in (0, 1]: rotation up to 25 deg, zoom in exp(+-0.3), tilt
    (anisotropic scale) up to exp(0.35), perspective up to 0.35 / max side,
    translation up to 5 % of the size, each scaled by ``strength``.
    """
    h, w = shape
    s = strength
    cx, cy = (w - 1) / 2, (h - 1) / 2
    theta = np.deg2rad(rng.uniform(-25, 25) * s)
    zoom = np.exp(rng.uniform(-0.3, 0.3) * s)
    tilt = np.exp(rng.uniform(0, 0.35) * s)
    phi = rng.uniform(0, np.pi)
    rot = lambda a: np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # noqa: E731
    A = zoom * rot(theta) @ rot(phi) @ np.diag([tilt, 1 / tilt]) @ rot(-phi)
    M = np.eye(3)
    M[:2, :2] = A
    M[:2, 2] = rng.uniform(-0.05, 0.05, 2) * s * np.array([w, h])
    M[2, :2] = rng.uniform(-0.35, 0.35, 2) * s / max(h, w)
    T = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    Ti = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    H = T @ M @ Ti
    return H / H[2, 2]


def _local_scale(H, x, y):
    """sqrt |det| of the Jacobian of H at (x, y): local area zoom factor."""
    p = H @ np.array([x, y, 1.0])
    J = (H[:2, :2] * p[2] - np.outer(p[:2], H[2, :2])) / p[2] ** 2
    return np.sqrt(abs(np.linalg.det(J)))


def viewpoint_target(ref, H, rng):
    """Render ``ref`` seen through ``H`` (``x_k ~ H x_1``) with a mild camera change."""
    h, w = ref.shape
    img = ref.astype(np.float32)
    zoom = _local_scale(H, (w - 1) / 2, (h - 1) / 2)
    if zoom < 0.95:  # shrinking: low-pass first against aliasing
        img = ndimage.gaussian_filter(img, 0.5 * np.sqrt(1 / zoom ** 2 - 1))
    out = warp(img, ProjectiveTransform(matrix=np.linalg.inv(H)), output_shape=(h, w),
               order=1, mode="constant", cval=0.0, preserve_range=True)
    out = out * rng.uniform(0.9, 1.1) + rng.uniform(-8, 8)
    out = ndimage.gaussian_filter(out, rng.uniform(0.0, 0.6))
    out += rng.normal(0, 1.0, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def illumination_target(ref, rng):
    """Photometric change: gain, gamma, smooth shading (ramp + blob), blur."""
    h, w = ref.shape
    s = rng.uniform(0.4, 1.0)
    img = ref.astype(np.float64) / 255.0
    yy, xx = np.mgrid[0:h, 0:w]
    xx, yy = xx / max(h, w), yy / max(h, w)
    a = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(a) * (xx - xx.mean()) + np.sin(a) * (yy - yy.mean())
    bx, by = rng.uniform(0, w / max(h, w)), rng.uniform(0, h / max(h, w))
    blob = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * rng.uniform(0.15, 0.4) ** 2))
    shading = 1 + rng.uniform(-1.2, 1.2) * s * ramp + rng.uniform(-0.5, 0.5) * s * blob
    gain = np.exp(rng.uniform(-0.6, 0.4) * s)
    gamma = np.exp(rng.uniform(-0.5, 0.5) * s)
    out = np.clip(img * gain * np.clip(shading, 0.2, None), 0, 1) ** gamma * 255
    out = ndimage.gaussian_filter(out, rng.uniform(0, 1.0) * s)
    out += rng.normal(0, 1.0, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def synthetic_sequence(name, photo, kind, rng):
    """Bunch like :func:`load_image_sequences` gives, built from one photo."""
    if kind == "v":
        Hs = np.stack([random_homography(photo.shape, k / 5, rng) for k in range(1, 6)])
        images = [photo] + [viewpoint_target(photo, H, rng) for H in Hs]
    else:
        Hs = np.tile(np.eye(3), (5, 1, 1))
        images = [photo] + [illumination_target(photo, rng) for _ in range(5)]
    return Bunch(name=f"{kind}_{name}", kind=kind, layout="synthetic", images=images,
                 homographies=Hs, path=None)
