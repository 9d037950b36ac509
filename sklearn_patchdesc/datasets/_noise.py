"""N-HPatches-style patch noise whose strength rises easy < hard < tough."""
import numbers

import numpy as np
from sklearn.utils import check_random_state

#: Severity of the named levels; a number is used as a severity directly.
LEVELS = {"none": 0.0, "easy": 1.0, "hard": 2.0, "tough": 3.0}
KINDS = ("gaussian", "poisson", "shot", "speckle", "salt-and-pepper", "salt_and_pepper",
         "s&p", "mixed")


def _severity(level, n):
    arr = np.asarray(level, dtype=object)
    if arr.ndim == 0:
        arr = np.full(n, arr.item(), dtype=object)
    elif arr.shape != (n,):
        raise ValueError(f"level must be a scalar or have one entry per patch ({n}), "
                         f"got shape {arr.shape}")
    out = np.empty(n, float)
    for i, v in enumerate(arr):
        if isinstance(v, str):
            if v not in LEVELS:
                raise ValueError(f"unknown noise level {v!r}; use {list(LEVELS)} or a number")
            out[i] = LEVELS[v]
        elif isinstance(v, numbers.Real) and np.isfinite(v) and v >= 0:
            out[i] = float(v)
        else:
            raise ValueError(f"noise level must be a name or a finite number >= 0, got {v!r}")
    return out


def add_patch_noise(X, level, kind="gaussian", random_state=None, data_range=None):
    """Add N-HPatches-style noise to patches.

    Parameters
    ----------
    X : array-like of shape (n, ...)
        Patches, uint8 in 0..255 or float.
    level : {'easy', 'hard', 'tough', 'none'}, float, or array of these of shape (n,)
        Severity ``t``: easy = 1, hard = 2, tough = 3 (none = 0); a number is
        used as ``t`` directly, an array gives one level per patch.
    kind : {'gaussian', 'poisson', 'shot', 'speckle', 'salt-and-pepper', 'mixed'}
        With intensities ``x`` in grey levels 0..255 and severity ``t``:

        =============== ====================================== ===== ===== =====
        kind            model                                  easy  hard  tough
        =============== ====================================== ===== ===== =====
        gaussian        x + N(0, s^2), s = 8 t                 8     16    24
        poisson, shot   255 / P * Poisson(P x / 255),          400   100   44.4
                        photons at white P = 400 / t^2
        speckle         x (1 + N(0, s^2)), s = 0.08 t          0.08  0.16  0.24
        salt-and-pepper a fraction p = 0.02 t of pixels set    2 %   4 %   6 %
                        to 0 or 255 (half each)
        mixed           poisson with P = 800 / t^2, then
                        gaussian s = 5.66 t, then salt-and-
                        pepper p = 0.005 t
        =============== ====================================== ===== ===== =====

        (Poisson noise at mid-grey has a standard deviation of about 9, 18 and
        27 grey levels for easy, hard and tough: comparable to gaussian.)
    random_state : int, RandomState instance or None, default=None
    data_range : float, default=None
        Intensity of white. None: 255 for integer input and for float input
        whose maximum exceeds 1, else 1.0. Levels above are scaled by it.

    Returns
    -------
    X_noisy : ndarray, same shape and dtype as ``X``
        Clipped to ``[0, data_range]`` (and rounded for integer dtypes).
    """
    X = np.asarray(X)
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"X must hold at least one patch, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if kind not in KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; use one of {KINDS}")
    n = X.shape[0]
    sev = _severity(level, n).reshape((n,) + (1,) * (X.ndim - 1))
    if data_range is None:
        data_range = 255.0 if (np.issubdtype(X.dtype, np.integer) or X.max() > 1) else 1.0
    rng = check_random_state(random_state)
    x = X.astype(np.float64) * (255.0 / data_range)
    if np.issubdtype(X.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("X contains NaN or infinity")

    def gaussian(x, s):
        return x + rng.normal(size=x.shape) * s

    def poisson(x, peak):
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.clip(x, 0, 255) / 255.0 * peak
            out = rng.poisson(lam).astype(np.float64) * 255.0 / peak
        return np.where(np.broadcast_to(peak, x.shape) > 0, out, x)

    def salt_pepper(x, p):
        u = rng.uniform(size=x.shape)
        x = np.where(u < p / 2, 0.0, x)
        return np.where((u >= p / 2) & (u < p), 255.0, x)

    with np.errstate(divide="ignore"):
        inv2 = np.where(sev > 0, 1.0 / np.maximum(sev, 1e-12) ** 2, np.inf)
    if kind == "gaussian":
        y = gaussian(x, 8.0 * sev)
    elif kind in ("poisson", "shot"):
        y = np.where(sev > 0, poisson(x, np.where(sev > 0, 400.0 * inv2, 1.0)), x)
    elif kind == "speckle":
        y = x * (1 + rng.normal(size=x.shape) * 0.08 * sev)
    elif kind in ("salt-and-pepper", "salt_and_pepper", "s&p"):
        y = salt_pepper(x, 0.02 * sev)
    else:  # mixed
        y = np.where(sev > 0, poisson(x, np.where(sev > 0, 800.0 * inv2, 1.0)), x)
        y = salt_pepper(gaussian(y, 8.0 / np.sqrt(2) * sev), 0.005 * sev)
    y = np.clip(y, 0, 255) * (data_range / 255.0)
    if np.issubdtype(X.dtype, np.integer):
        return np.rint(y).astype(X.dtype)
    return y.astype(X.dtype)
