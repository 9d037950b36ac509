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


def _pyplot(name):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{name} needs matplotlib: pip install sklearn-patchdesc[plot]") from exc
    return plt


def plot_embedding(descriptors, labels, *, ax=None, max_points=2000, perplexity=30.0,
                   random_state=0, title=None, legend=None, keep_scale=False):
    """2-D t-SNE map of descriptors coloured by label (seed 001 figure "tsne").

    Seed 001 draws one batch of 128 sequences x 16 patches this way: a
    collapsed network puts every descriptor at one spot, a healthy one
    separates the labels. Uses :class:`sklearn.manifold.TSNE`.

    Parameters
    ----------
    descriptors : array-like of shape (n, d)
    labels : array-like of shape (n,) or record array
        Point labels (``y["label"]`` of a record array); colours cycle over
        the label ids.
    ax : matplotlib Axes, optional
        Draw into it; by default a new figure is made.
    max_points : int, default=2000
        A random subset of at most this many rows is embedded (t-SNE is
        quadratic).
    perplexity : float, default=30.0
        Lowered automatically for very few points.
    random_state : int, default=0
    title : str, optional
        Default: the number of points and labels, and the mean pairwise
        descriptor distance (near 0 means collapse).
    legend : bool, optional
        Show a legend; default when there are at most 12 labels.
    keep_scale : bool, default=False
        t-SNE forgets the scale of its input, so a collapsed set still looks
        spread out. With True the 2-D map is rescaled to the descriptors'
        mean pairwise distance; drawn on shared axes, a collapsed set then
        shrinks to one spot.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot("plot_embedding")
    import numpy as np
    from sklearn.manifold import TSNE

    from ._validation import check_labels
    from .describe._collapse import mean_pairwise_distance

    D = np.asarray(descriptors, dtype=np.float64)
    if D.ndim != 2 or len(D) < 2:
        raise ValueError(f"descriptors must be a 2-D array with at least 2 rows; got shape "
                         f"{D.shape}.")
    if not np.isfinite(D).all():
        raise ValueError("descriptors contain NaN or infinite values.")
    lab = check_labels(labels, len(D))
    rng = np.random.default_rng(random_state)
    if len(D) > max_points:
        keep = np.sort(rng.choice(len(D), size=int(max_points), replace=False))
        D, lab = D[keep], lab[keep]
    perp = float(min(perplexity, max(1.0, (len(D) - 1) / 3.0)))
    # Barnes-Hut's tree set-up dominates below ~1,000 points on 2 cores; the
    # exact gradient is both faster and exact there.
    method = "exact" if len(D) <= 1000 else "barnes_hut"
    xy = TSNE(n_components=2, perplexity=perp, init="pca", method=method, n_jobs=1,
              random_state=random_state).fit_transform(D)
    if keep_scale:
        spread = mean_pairwise_distance(xy)
        xy = (xy - xy.mean(0)) * (mean_pairwise_distance(D) / spread if spread > 0 else 0.0)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 4.5))
    else:
        fig = ax.figure
    uniq, inv = np.unique(lab, return_inverse=True)
    cmap = plt.get_cmap("tab20" if len(uniq) > 10 else "tab10")
    for i, u in enumerate(uniq):
        m = inv == i
        ax.scatter(xy[m, 0], xy[m, 1], s=8, color=cmap(i % cmap.N), label=str(u))
    if legend or (legend is None and len(uniq) <= 12):
        ax.legend(fontsize=7, markerscale=1.5, loc="best", title="label", title_fontsize=7)
    if title is None:
        title = (f"t-SNE of {len(D)} descriptors, {len(uniq)} labels\n"
                 f"mean pairwise distance {mean_pairwise_distance(D):.3f}")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_training_history(net, *, keys=None, figsize=None):
    """Loss and score curves of a fit, with the batch-size steps marked.

    Left: ``train_loss`` (and ``valid_loss``) per epoch, the collapse
    threshold of :class:`~sklearn_patchdesc.describe.SteppedBatchHard` as a
    dashed line, and a vertical line with the new batch size at every stage
    change (seed 001 figure "stepped"). Right (when present): the per-epoch
    scores, e.g. ``valid_hpatches_mean`` recorded by ``valid_scoring``, and
    ``probe_distance`` of :class:`~sklearn_patchdesc.describe.CollapseMonitor`.

    Parameters
    ----------
    net : fitted estimator, skorch net or skorch History
        Anything with ``history_``, ``history`` or the history itself (a
        list of per-epoch dicts works too).
    keys : sequence of str, optional
        Score keys for the right panel; default every key starting with
        ``valid_`` other than ``valid_loss`` (and not ``*_best``), plus
        ``probe_distance``.
    figsize : tuple of 2 float, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
        One or two axes.
    """
    plt = _pyplot("plot_training_history")
    import numpy as np

    hist = net
    for attr in ("history_", "history"):
        if hasattr(hist, attr) and not isinstance(hist, list):
            hist = getattr(hist, attr)
            break
    rows = list(hist)
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError("plot_training_history needs a fitted estimator, a skorch net or a "
                         "non-empty history of per-epoch dicts.")
    epochs = np.array([r.get("epoch", i + 1) for i, r in enumerate(rows)])

    def series(key):
        vals = [r.get(key) for r in rows]
        return np.array([np.nan if v is None else float(v) for v in vals])

    if keys is None:
        keys = sorted({k for r in rows for k in r
                       if k.startswith("valid_") and k != "valid_loss" and not k.endswith("_best")
                       and k not in ("valid_batch_count",)})
        if any("probe_distance" in r for r in rows):
            keys.append("probe_distance")
    keys = [k for k in keys if any(k in r for r in rows)]
    n_ax = 2 if keys else 1
    fig, axes = plt.subplots(1, n_ax, figsize=figsize or (5.0 * n_ax, 3.6), squeeze=False)
    ax = axes[0, 0]
    for key, style in (("train_loss", "-"), ("valid_loss", "--")):
        if any(key in r for r in rows):
            ax.plot(epochs, series(key), style, marker="o", ms=3, label=key)
    if any("collapse_threshold" in r for r in rows):
        thr = series("collapse_threshold")
        ax.plot(epochs, thr, ":", color="grey", label="collapse point")
    steps = series("stage_batch_size") if any("stage_batch_size" in r for r in rows) else None
    if steps is not None:
        for i in range(1, len(rows)):
            if steps[i] != steps[i - 1] and np.isfinite(steps[i]):
                x = (epochs[i] + epochs[i - 1]) / 2.0
                for a in axes[0]:
                    a.axvline(x, color="tab:red", alpha=0.4, lw=1)
                ax.annotate(f"batch {int(steps[i])}", (x, 1.0), xycoords=("data", "axes fraction"),
                            rotation=90, va="top", ha="right", fontsize=7, color="tab:red")
    collapsed = [e for e, r in zip(epochs, rows) if r.get("collapsed")]
    for e in collapsed:
        ax.axvline(e, color="black", lw=1.5, ls="-.", label="collapse detected")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title("training loss", fontsize=9)
    if keys:
        ax2 = axes[0, 1]
        for key in keys:
            ax2.plot(epochs, series(key), marker="o", ms=3, label=key)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("score / distance")
        ax2.legend(fontsize=7)
        ax2.set_title("per-epoch scores", fontsize=9)
    fig.tight_layout()
    return fig
