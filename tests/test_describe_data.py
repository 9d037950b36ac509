"""Small, fast HPatches-shaped patch sets for the describe tests.

``make_texture_patches`` samples points on smooth random textures and crops
them in 16 "images" (ref, e1..e5, h1..h5, t1..t5) with growing geometric
jitter (shift, rotation, scale) and photometric change (gain, offset, noise),
all crops of an image in one ``map_coordinates`` call. It returns the
loaders' record target (label / sequence / image), so the full HPatches
protocol of :mod:`sklearn_patchdesc.metrics` applies. Takes well under a
second, unlike the full generator (real keypoint detection).
"""
import numpy as np
from scipy import ndimage

RECORD = np.dtype([("label", np.int64), ("sequence", "U16"), ("image", np.int8)])
# per difficulty (ref, easy, hard, tough): shift px, rotation deg, log-scale
JITTER = {0: (0.0, 0.0, 0.0), 1: (1.0, 6.0, 0.05), 2: (2.0, 12.0, 0.10), 3: (3.0, 18.0, 0.15)}


def _texture(rng, side=192):
    img = sum(ndimage.gaussian_filter(rng.normal(size=(side, side)), s) * s
              for s in (1.0, 2.0, 4.0))
    return (img - img.mean()) / img.std()


def make_texture_patches(n_sequences=6, n_points=40, size=32, noise=6.0, random_state=0,
                         first_label=0):
    """Return ``(X uint8 (n, size, size), y record array)``."""
    rng = np.random.default_rng(random_state)
    X, y = [], []
    label = first_label
    u = (np.arange(size) + 0.5 - size / 2) * (64.0 / size)  # 64-px region -> size
    gy, gx = np.meshgrid(u, u, indexing="ij")
    for s in range(n_sequences):
        img = _texture(rng)
        centres = rng.uniform(40, img.shape[0] - 40, (n_points, 2))
        labels = np.arange(label, label + n_points)
        label += n_points
        for i in range(16):
            shift, rot, lscale = JITTER[0 if i == 0 else 1 + (i - 1) // 5]
            t = rng.normal(0, shift, (n_points, 2)) if shift else np.zeros((n_points, 2))
            a = np.deg2rad(rng.normal(0, rot, n_points)) if rot else np.zeros(n_points)
            sc = np.exp(rng.normal(0, lscale, n_points)) if lscale else np.ones(n_points)
            ca, sa = np.cos(a)[:, None, None] * sc[:, None, None], np.sin(a)[:, None, None] * sc[:, None, None]
            rows = centres[:, 0, None, None] + t[:, 0, None, None] + ca * gy - sa * gx
            cols = centres[:, 1, None, None] + t[:, 1, None, None] + sa * gy + ca * gx
            P = ndimage.map_coordinates(img, [rows, cols], order=1, mode="reflect")
            gain = rng.uniform(0.7, 1.3) if i else 1.0
            P = 128 + 40 * gain * P + (rng.uniform(-20, 20) if i else 0.0)
            P = P + rng.normal(0, noise, P.shape)
            X.append(np.clip(np.rint(P), 0, 255).astype(np.uint8))
            rec = np.empty(n_points, RECORD)
            rec["label"], rec["sequence"], rec["image"] = labels, f"v_tex{s}", i
            y.append(rec)
    return np.concatenate(X), np.concatenate(y)


def test_texture_patches_shape_and_protocol():
    X, y = make_texture_patches(n_sequences=2, n_points=5, random_state=1)
    assert X.shape == (2 * 5 * 16, 32, 32) and X.dtype == np.uint8
    assert set(np.unique(y["image"])) == set(range(16))
    assert np.all(np.bincount(y["label"]) == 16)
    X2, _ = make_texture_patches(n_sequences=2, n_points=5, random_state=1)
    np.testing.assert_array_equal(X, X2)
