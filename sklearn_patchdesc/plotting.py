"""Figures people look at: patch grids, reconstructions, curves, embeddings.

matplotlib is an optional dependency (``pip install sklearn-patchdesc[plot]``);
it is imported inside each function, so importing this module never needs it.
Every function returns the matplotlib ``Figure`` it drew.
"""
from __future__ import annotations


def plot_inversion(X, reconstructions, *, n_rows=None, titles=None, figsize=None):
    """Patches, their reconstructions and two error maps, one patch per row.

    Columns, as in the figures of seed 003: image | reconstruction | signed
    difference renormalised to [0, 1] (grey = no error) | absolute difference
    renormalised to [0, 1] (black = no error). Renormalisation is per patch,
    so the maps show where the error lies within a patch, not its size
    (see :func:`sklearn_patchdesc.inversion.error_maps`).

    Parameters
    ----------
    X : array-like of patches
        Originals, ``(n, H, W)``, ``(n, 1, H, W)`` or ``(n, H*W)``; uint8
        (0..255) or float in [0, 1].
    reconstructions : array-like of patches
        Same patches reconstructed, e.g. ``FeatureInverter.transform(X)``.
    n_rows : int, optional
        Number of patches shown (the first ones); default all, at most 8.
    titles : sequence of 4 str, optional
        Column titles.
    figsize : tuple of 2 float, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``4 * n_rows`` axes.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_inversion needs matplotlib: pip install sklearn-patchdesc[plot]"
        ) from exc
    import numpy as np

    from ._validation import check_patches
    from .inversion import error_maps

    signed, absolute = error_maps(X, reconstructions)
    X4, _ = check_patches(X, name="X")
    R4, _ = check_patches(reconstructions, name="reconstructions")
    n = len(X4) if n_rows is None else int(n_rows)
    if n_rows is None:
        n = min(n, 8)
    if not 1 <= n <= len(X4):
        raise ValueError(f"n_rows must be between 1 and {len(X4)}; got {n_rows!r}.")
    titles = list(titles) if titles is not None else [
        "image", "reconstruction", "signed error\n(grey = none)", "absolute error\n(black = none)"]
    if len(titles) != 4:
        raise ValueError(f"titles must hold 4 column titles; got {len(titles)}.")
    fig, axes = plt.subplots(n, 4, figsize=figsize or (6.4, 1.6 * n + 0.4), squeeze=False)
    columns = (X4[:, 0], np.clip(R4[:, 0], 0.0, 1.0), signed, absolute)
    for row in range(n):
        for col, images in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(images[row], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
    fig.tight_layout()
    return fig
