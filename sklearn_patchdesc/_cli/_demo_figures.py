"""Figures of the demo (matplotlib, Agg backend): denoising grid, training
curves, verification PR curves and a t-SNE of descriptors.

Each function writes one PNG and returns its path. Training curves come from
:func:`sklearn_patchdesc.plotting.plot_training_history`. The t-SNE is drawn
here rather than with :func:`~sklearn_patchdesc.plotting.plot_embedding`
because that one runs Barnes-Hut t-SNE, which costs >10 CPU seconds even for
a few hundred points on a 2-core machine; exact t-SNE takes about one.
"""
from __future__ import annotations

import numpy as np


def have_matplotlib():
    """True when matplotlib can be imported (installed with ``.[plot]``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        return True
    except ImportError:
        return False


def _save(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def denoising_grid(noisy, denoised, clean, difficulty, path, n_per_level=4):
    """Rows of test patches (easy, hard, tough), columns noisy / denoised / clean."""
    import matplotlib.pyplot as plt

    from ..metrics import patch_psnr

    rows = [r for level in ("easy", "hard", "tough")
            for r in np.flatnonzero(difficulty == level)[:n_per_level]]
    fig, axes = plt.subplots(len(rows), 3, figsize=(4.2, 1.45 * len(rows)), squeeze=False,
                             layout="constrained")
    for i, r in enumerate(rows):
        for j, (name, X) in enumerate((("noisy", noisy), ("denoised", denoised),
                                       ("clean", clean))):
            ax = axes[i, j]
            ax.imshow(X[r], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if j < 2:
                psnr = patch_psnr(clean[r:r + 1], X[r:r + 1])
                ax.set_xlabel(f"{psnr:.1f} dB", fontsize=7, labelpad=1)
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(difficulty[r], fontsize=8)
    fig.suptitle("Denoising (test patches, PSNR to clean)", fontsize=9)
    return _save(fig, path)


def training_curves(estimator, title, path):
    """:func:`~sklearn_patchdesc.plotting.plot_training_history` of a fitted
    network, with the per-batch training losses drawn over the epoch curve."""
    from ..plotting import plot_training_history

    fig = plot_training_history(estimator)
    ax = fig.axes[0]
    history = estimator.history_
    xs, losses = [], []
    for epoch, batches in zip(history[:, "epoch"], history[:, "batches"]):
        vals = [b["train_loss"] for b in batches if "train_loss" in b]
        xs += list(epoch - 1 + np.arange(1, len(vals) + 1) / max(len(vals), 1))
        losses += vals
    ax.plot(xs, losses, lw=0.7, alpha=0.6, label="train_loss per batch")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def pr_kind(report, level):
    """Negatives of the curve drawn for ``level``: ``"inter"`` (other sequences), or
    ``"intra"`` (same sequence) when there is a single test sequence."""
    return "inter" if "pr" in report.curves.get(level, {}).get("inter", {}) else "intra"


def pr_legend(label, report, level):
    """Legend text of one PR curve: its own AP, named by its negatives, and the table's value.

    The curve is the verification PR of one kind of negatives, while the
    demo's table gives, per difficulty, the mean AP over the kinds scored
    (inter- and intra-sequence negatives, :func:`._demo_table.per_difficulty`):
    both are printed so that no number on the figure looks like a table entry
    it is not.
    """
    from ._demo_table import per_difficulty

    kind = pr_kind(report, level)
    ap = report.details["verification"]["per_difficulty"][level][kind]["ap"]
    table = per_difficulty(report)["verification"][level]
    return f"{label} ({kind} AP {ap:.3f}; table {table:.3f})"


def pr_curves(reports, path):
    """Verification precision-recall per difficulty (inter-sequence negatives, or
    intra-sequence ones when there is a single test sequence); the legend gives
    each curve's AP and the table's mean over both kinds (:func:`pr_legend`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, level in zip(axes, ("easy", "hard", "tough")):
        kind = "inter"
        for label, report in reports.items():
            kind = pr_kind(report, level)
            pr = report.curves.get(level, {}).get(kind, {}).get("pr")
            if pr is None:
                continue
            ax.plot(pr["recall"], pr["precision"], label=pr_legend(label, report, level))
        ax.set_title(f"verification, {level} ({kind} negatives)", fontsize=10)
        ax.set_xlabel("recall")
        if ax.lines:
            ax.legend(fontsize=6, loc="lower left")
    axes[0].set_ylabel("precision")
    fig.suptitle("curve AP: these negatives only; table: mean AP over inter- and "
                 "intra-sequence negatives", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def tsne(embeddings, labels, path, random_state=0, n_points=20):
    """t-SNE of the descriptors of ``n_points`` test points (all their images)."""
    import matplotlib.pyplot as plt

    from ..plotting import plot_embedding

    rng = np.random.default_rng(random_state)
    uniq = np.unique(labels)
    chosen = rng.choice(uniq, size=min(n_points, len(uniq)), replace=False)
    rows = np.flatnonzero(np.isin(labels, chosen))
    fig, axes = plt.subplots(1, len(embeddings), figsize=(4 * len(embeddings), 4),
                             squeeze=False)
    for ax, (name, D) in zip(axes[0], embeddings.items()):
        plot_embedding(D[rows], labels[rows], ax=ax, title=name, legend=False,
                       random_state=random_state)
    fig.suptitle(f"t-SNE of test descriptors: {len(chosen)} points x their images "
                 "(one colour per 3-D point)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
