"""HPatches-style patch extraction from an image sequence.

The procedure follows the description of the HPatches dataset
(hpatches/hpatches-dataset README; Balntas et al., CVPR 2017):

1. keypoints on the reference image from three detectors (here scikit-image's
   DoG ``blob_dog``, Hessian ``blob_doh`` and multi-scale Harris
   ``corner_harris``/``corner_peaks``);
2. detections whose regions overlap by more than 50 % are clustered and one
   of them, at random, is kept;
3. a single dominant orientation per keypoint (Lowe's gradient histogram,
   36 bins, Gaussian window of 1.5x the scale);
4. the measurement region is the detected scale magnified 5x (patch
   half-width = 5 sigma), no affine adaptation (square regions in the ref);
5. for every target image and difficulty (easy / hard / tough) the region is
   perturbed by a random affine jitter, then reprojected into the target
   through the ground-truth homography; the easy and hard jitter sizes give
   a median ellipse overlap of about 0.85 and 0.72 (the values HPatches
   reports), tough about 0.6;
6. 65x65 crops (bilinear sampling from the octave of an image pyramid that
   matches the sampling step) are resized to ``patch_size`` with area interpolation;
   only patches whose region lies fully inside every image are kept.
"""
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.feature import corner_harris, corner_peaks, hessian_matrix_det, peak_local_max
from skimage.filters import gaussian

CROP = 65
MAGNIFICATION = 5.0
#: Jitter of each difficulty as (max rotation deg, max |log scale|,
#: max |log anisotropy|, max shift as a fraction of the region half-width).
#: Calibrated so that the median overlap of the jittered region with the true
#: one is ~0.85 (easy), ~0.72 (hard), ~0.60 (tough).
JITTER = {
    1: (7.5, 0.125, 0.125, 0.094),
    2: (15.0, 0.25, 0.25, 0.1875),
    3: (24.0, 0.40, 0.40, 0.30),
}


def detect_keypoints(img, n_max=1500):
    """DoG + Hessian + Harris keypoints of a float image in [0, 1].

    Each detector keeps its ``n_max`` strongest scale-space maxima. Returns an
    array ``(n, 3)`` of ``(x, y, sigma)``.
    """
    sigmas = 2.0 * np.sqrt(2.0) ** np.arange(7)  # 2 .. 16
    blurred, prev = [], 0.0
    for s_ in np.r_[sigmas, sigmas[-1] * np.sqrt(2)]:  # incremental blurs
        src = img if not blurred else blurred[-1]
        blurred.append(gaussian(src, sigma=np.sqrt(s_ ** 2 - prev ** 2), mode="reflect"))
        prev = s_
    dog = np.abs(np.stack([blurred[i] - blurred[i + 1] for i in range(len(sigmas))]))
    doh = np.stack([np.clip(hessian_matrix_det(img, sigma=s), 0, None) for s in sigmas])
    pts = []
    for cube in (dog, doh):
        peaks = peak_local_max(cube, footprint=np.ones((3, 3, 3), bool), threshold_rel=0.02,
                               exclude_border=False, num_peaks=n_max)
        pts.append(np.c_[peaks[:, 2], peaks[:, 1], sigmas[peaks[:, 0]]])
    for sigma in (2.0, 4.0, 8.0):
        resp = corner_harris(img, sigma=sigma)
        peaks = corner_peaks(resp, min_distance=max(2, int(sigma)), threshold_rel=0.01,
                             num_peaks=n_max // 3)
        pts.append(np.c_[peaks[:, 1], peaks[:, 0], np.full(len(peaks), sigma)])
    return np.concatenate([p.astype(np.float64).reshape(-1, 3) for p in pts])


def _circle_iou(d, r1, r2):
    """Intersection over union of two discs with centre distance d."""
    d = np.asarray(d, float)
    inter = np.zeros(np.broadcast(d, r1, r2).shape)
    small, big = np.minimum(r1, r2), np.maximum(r1, r2)
    inside = d <= big - small
    inter = np.where(inside, np.pi * small ** 2, inter)
    part = (~inside) & (d < r1 + r2)
    with np.errstate(invalid="ignore", divide="ignore"):
        c1 = np.clip((d ** 2 + r1 ** 2 - r2 ** 2) / (2 * d * r1), -1, 1)
        c2 = np.clip((d ** 2 + r2 ** 2 - r1 ** 2) / (2 * d * r2), -1, 1)
        lens = (r1 ** 2 * np.arccos(c1) + r2 ** 2 * np.arccos(c2)
                - 0.5 * np.sqrt(np.clip((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2)
                                        * (d + r1 + r2), 0, None)))
    inter = np.where(part, lens, inter)
    union = np.pi * (r1 ** 2 + r2 ** 2) - inter
    return inter / union


def deduplicate(kps, rng, max_overlap=0.5):
    """Keep one detection at random from every group overlapping > max_overlap.

    Regions are the detected discs (radius sqrt(2) sigma).
    """
    if len(kps) == 0:
        return kps
    order = rng.permutation(len(kps))
    kps = kps[order]
    radius = np.sqrt(2) * kps[:, 2]
    tree = cKDTree(kps[:, :2])
    alive = np.ones(len(kps), bool)
    rmax = radius.max()
    for i in range(len(kps)):
        if not alive[i]:
            continue
        nb = np.array(tree.query_ball_point(kps[i, :2], radius[i] + rmax), dtype=int)
        nb = nb[(nb > i) & alive[nb]]
        if len(nb):
            d = np.hypot(*(kps[nb, :2] - kps[i, :2]).T)
            alive[nb[_circle_iou(d, radius[i], radius[nb]) > max_overlap]] = False
    return kps[alive]


class Pyramid:
    """Octave pyramid (2x2 box averaging) of an image for alias-limited sampling."""

    def __init__(self, img):
        levels = [np.asarray(img, dtype=np.float32)]
        while min(levels[-1].shape) >= 32 and len(levels) < 6:
            a = levels[-1]
            h2, w2 = a.shape[0] // 2, a.shape[1] // 2
            levels.append(a[:2 * h2, :2 * w2].reshape(h2, 2, w2, 2).mean((1, 3)))
        self.levels = levels
        self.shape = levels[0].shape

    def sample(self, x, y, step):
        """Bilinear samples at float coords ``x, y`` (n, k); ``step`` (n,) is
        the sampling step in pixels: octave ``floor(log2(step))`` is used."""
        step = np.maximum(np.asarray(step, float), 1.0)
        level = np.minimum(np.floor(np.log2(step)).astype(int), len(self.levels) - 1)
        out = np.empty(x.shape, np.float32)
        for lv in np.unique(level):
            sel = level == lv
            f = 2.0 ** lv
            out[sel] = ndimage.map_coordinates(
                self.levels[lv], [(y[sel] + 0.5) / f - 0.5, (x[sel] + 0.5) / f - 0.5],
                order=1, mode="nearest")
        return out


def dominant_orientation(pyr, kps):
    """Lowe's single major orientation (radians) of every keypoint."""
    n = len(kps)
    g = 16
    u = (np.arange(g) - (g - 1) / 2) / ((g - 1) / 2) * 3.0  # +-3 window sigmas
    uu, vv = np.meshgrid(u, u)
    sw = 1.5 * kps[:, 2]  # window sigma
    x = kps[:, 0, None, None] + sw[:, None, None] * uu
    y = kps[:, 1, None, None] + sw[:, None, None] * vv
    step = 6 * sw / (g - 1)
    h = np.maximum(step, 1.0)[:, None, None]
    x, y = x.reshape(n, -1), y.reshape(n, -1)
    hh = h.reshape(n, 1)
    gx = ((pyr.sample(x + hh, y, step) - pyr.sample(x - hh, y, step)) / (2 * hh)).reshape(n, g, g)
    gy = ((pyr.sample(x, y + hh, step) - pyr.sample(x, y - hh, step)) / (2 * hh)).reshape(n, g, g)
    mag = np.hypot(gx, gy) * np.exp(-(uu ** 2 + vv ** 2) / 2)
    mag[:, (uu ** 2 + vv ** 2) > 9] = 0
    ang = np.arctan2(gy, gx)
    bins = ((ang + np.pi) / (2 * np.pi) * 36).astype(int) % 36
    hist = np.zeros((n, 36))
    np.add.at(hist, (np.repeat(np.arange(n), g * g), bins.reshape(n, -1).ravel()),
              mag.reshape(n, -1).ravel())
    # smooth the circular histogram, then interpolate the peak
    hist = (np.roll(hist, 1, 1) + 2 * hist + np.roll(hist, -1, 1)) / 4
    k = hist.argmax(1)
    l, c, r = hist[np.arange(n), (k - 1) % 36], hist[np.arange(n), k], hist[np.arange(n), (k + 1) % 36]
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(l - 2 * c + r != 0, 0.5 * (l - r) / (l - 2 * c + r), 0.0)
    return ((k + 0.5 + off) / 36) * 2 * np.pi - np.pi, hist.sum(1)


def random_jitter(n, level, rng):
    """Affine jitter in unit patch coordinates: (n, 2, 2) matrices and (n, 2) shifts."""
    rot_deg, s_max, a_max, t_max = JITTER[level]
    th = np.deg2rad(rng.uniform(-rot_deg, rot_deg, n))
    s = np.exp(rng.uniform(-s_max, s_max, n))
    a = np.exp(rng.uniform(-a_max, a_max, n))
    phi = rng.uniform(0, np.pi, n)

    def rot(t):
        c, s_ = np.cos(t), np.sin(t)
        return np.stack([np.stack([c, -s_], -1), np.stack([s_, c], -1)], -2)

    diag = np.zeros((n, 2, 2))
    diag[:, 0, 0], diag[:, 1, 1] = s * a, s / a
    A = rot(th) @ rot(phi) @ diag @ rot(-phi)
    r = t_max * np.sqrt(rng.uniform(0, 1, n))
    ang = rng.uniform(0, 2 * np.pi, n)
    return A, np.c_[r * np.cos(ang), r * np.sin(ang)]


_OV_N = 48
_c = (np.arange(_OV_N) + 0.5) / _OV_N * 2 - 1
_OV_GRID = np.stack(np.meshgrid(_c, _c), -1).reshape(-1, 2)
_OV_GRID = _OV_GRID[(_OV_GRID ** 2).sum(-1) <= 1]  # cell centres inside the unit disc
_OV_CELL = (2 / _OV_N) ** 2


def ellipse_overlap(A, t):
    """Overlap (intersection over union) of the unit disc with its image under
    ``u -> A u + t``: areas pi and pi |det A|, intersection counted on a grid."""
    inv = np.linalg.inv(A)
    gx = _OV_GRID[None, :, 0] - t[:, 0, None]
    gy = _OV_GRID[None, :, 1] - t[:, 1, None]
    qx = inv[:, 0, 0, None] * gx + inv[:, 0, 1, None] * gy
    qy = inv[:, 1, 0, None] * gx + inv[:, 1, 1, None] * gy
    inter = (qx ** 2 + qy ** 2 <= 1).sum(1) * _OV_CELL
    union = np.pi * (1 + np.abs(np.linalg.det(A))) - inter
    return np.clip(inter / union, 0, 1)


def _apply_h(H, x, y):
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    return (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w, (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w, w


def _inside(x, y, shape, margin=1.0):
    h, w = shape
    return ((x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin)).all(-1)


_U = np.linspace(-1, 1, CROP)


def _map_frames(kps, F, pts, A=None, t=None):
    """Image coords of unit-patch points ``pts`` (k, 2) through jitter (A, t)
    and frames F (n, 2, 2) centred at kps[:, :2]: arrays (n, k)."""
    u, v = pts[None, :, 0], pts[None, :, 1]
    if A is not None:
        u, v = (A[:, 0, 0, None] * u + A[:, 0, 1, None] * v + t[:, 0, None],
                A[:, 1, 0, None] * u + A[:, 1, 1, None] * v + t[:, 1, None])
    x = kps[:, 0, None] + F[:, 0, 0, None] * u + F[:, 0, 1, None] * v
    y = kps[:, 1, None] + F[:, 1, 0, None] * u + F[:, 1, 1, None] * v
    return x, y
_CORNERS = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [0, -1], [1, 0], [0, 1], [-1, 0]],
                    float)


def extract_sequence(images, homographies, n_patches, rng, synthetic_border=False):
    """Extract 65x65 HPatches-style crops from one sequence.

    Parameters
    ----------
    images : list of 6 2-D arrays (image 1 = reference)
    homographies : (5, 3, 3) array, ``x_k ~ H[k-2] @ x_1``
    n_patches : int, maximum number of patches kept
    rng : numpy Generator
    synthetic_border : bool
        Also require the jittered region to lie inside the reference image
        (targets rendered from the reference have no content outside it).

    Returns
    -------
    crops : float32 array (16, n, 65, 65) in IMAGE_NAMES order
    overlap : float32 array (16, n), overlap of each region with the true one
    frames : float64 array (n, 4): x, y, sigma, angle of the reference frames
    """
    ref = np.asarray(images[0], np.float32)
    pyrs = [Pyramid(im) for im in images]
    kps = detect_keypoints(ref / 255.0)
    kps = deduplicate(kps, rng)
    # quick pre-filter: the axis-aligned bounding disc of the region in the ref
    rad = MAGNIFICATION * kps[:, 2] * np.sqrt(2)
    h, w = ref.shape
    ok = (kps[:, 0] - rad >= 1) & (kps[:, 0] + rad <= w - 2) & \
         (kps[:, 1] - rad >= 1) & (kps[:, 1] + rad <= h - 2)
    kps = kps[ok]
    if len(kps) == 0:
        return (np.zeros((16, 0, CROP, CROP), np.float32), np.zeros((16, 0), np.float32),
                np.zeros((0, 4)))
    angle, contrast = dominant_orientation(pyrs[0], kps)
    kps = kps[contrast > 0]
    angle = angle[contrast > 0]
    n = len(kps)
    half = MAGNIFICATION * kps[:, 2]
    c, s = np.cos(angle), np.sin(angle)
    # frame: unit patch coords (u, v) -> ref pixel coords
    F = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2) * half[:, None, None]
    jit = {}  # (target k, level) -> (A, t)
    for level in (1, 2, 3):
        for k in range(5):
            jit[k, level] = random_jitter(n, level, rng)
    keep = np.ones(n, bool)
    for (k, level), (A, t) in jit.items():
        xr, yr = _map_frames(kps, F, _CORNERS, A, t)
        if synthetic_border:
            keep &= _inside(xr, yr, ref.shape)
        xk, yk, wk = _apply_h(homographies[k], xr, yr)
        keep &= _inside(xk, yk, np.shape(images[k + 1])) & (wk > 0).all(-1)
    idx = np.flatnonzero(keep)
    if len(idx) > n_patches:
        idx = np.sort(rng.choice(idx, n_patches, replace=False))
    # HPatches orders patches by location
    idx = idx[np.lexsort((kps[idx, 0], kps[idx, 1]))]
    kps, F, half, angle = kps[idx], F[idx], half[idx], angle[idx]
    m = len(idx)
    crops = np.empty((16, m, CROP, CROP), np.float32)
    overlap = np.ones((16, m), np.float32)
    uu, vv = np.meshgrid(_U, _U)
    grid = np.stack([uu, vv], -1).reshape(-1, 2)  # (65*65, 2) as (u, v)
    step_ref = 2 * half / (CROP - 1)

    def frame_points(A=None, t=None):
        return _map_frames(kps, F, grid, A, t)

    x0, y0 = frame_points()
    crops[0] = pyrs[0].sample(x0, y0, step_ref).reshape(m, CROP, CROP)
    for level in (1, 2, 3):
        for k in range(5):
            A, t = jit[k, level]
            A, t = A[idx], t[idx]
            xr, yr = frame_points(A, t)
            xk, yk, _ = _apply_h(homographies[k], xr, yr)
            # sampling step: distance between neighbouring samples in image k
            dx = np.hypot(np.diff(xk.reshape(m, CROP, CROP), axis=2),
                          np.diff(yk.reshape(m, CROP, CROP), axis=2)).mean((1, 2))
            step = dx
            code = 1 + 5 * (level - 1) + k
            crops[code] = pyrs[k + 1].sample(xk, yk, step).reshape(m, CROP, CROP)
            overlap[code] = ellipse_overlap(A, t)
    frames = np.c_[kps, angle]
    return crops, overlap, frames
