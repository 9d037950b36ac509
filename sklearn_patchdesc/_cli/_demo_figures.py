"""Figures of the demo (matplotlib, Agg backend): denoising grid, training
curves, verification PR curves and a t-SNE of descriptors.

Each function writes one PNG and returns its path. The plotting module has no
functions for these figures yet; when ``plot_training_history`` /
``plot_embedding`` land there, these should call them.
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
    fig, axes = plt.subplots(len(rows), 3, figsize=(4.2, 1.45 * len(rows)), squeeze=False)
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


def _batch_losses(history):
    per_epoch = history[:, "batches", :, "train_loss"]
    losses = [loss for epoch in per_epoch for loss in epoch]
    ends = np.cumsum([len(epoch) for epoch in per_epoch])
    return np.asarray(losses, dtype=float), ends


def training_curves(histories, path):
    """Per-batch training loss of each network, epoch ends marked."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3),
                             squeeze=False)
    for ax, (name, (history, ylabel)) in zip(axes[0], histories.items()):
        losses, ends = _batch_losses(history)
        ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, label="batch")
        ax.plot(ends, history[:, "train_loss"], "o-", label="epoch mean")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("batch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def pr_curves(reports, path):
    """Verification precision-recall (inter-sequence negatives) per difficulty."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    for ax, level in zip(axes, ("easy", "hard", "tough")):
        for label, report in reports.items():
            pr = report.curves.get(level, {}).get("inter", {}).get("pr")
            if pr is None:
                continue
            ap = report.details["verification"]["per_difficulty"][level]["inter"]["ap"]
            ax.plot(pr["recall"], pr["precision"], label=f"{label} (AP {ap:.3f})")
        ax.set_title(f"verification, {level}", fontsize=10)
        ax.set_xlabel("recall")
        if ax.lines:
            ax.legend(fontsize=7, loc="lower left")
        else:
            ax.text(0.5, 0.5, "no inter-sequence pairs\n(one test sequence)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8)
    axes[0].set_ylabel("precision")
    fig.tight_layout()
    return _save(fig, path)


def tsne(embeddings, labels, path, random_state=0, n_points=20):
    """t-SNE of the descriptors of ``n_points`` test points (all their images)."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(random_state)
    uniq = np.unique(labels)
    chosen = rng.choice(uniq, size=min(n_points, len(uniq)), replace=False)
    rows = np.flatnonzero(np.isin(labels, chosen))
    colour = np.searchsorted(np.sort(chosen), labels[rows])
    fig, axes = plt.subplots(1, len(embeddings), figsize=(4 * len(embeddings), 4),
                             squeeze=False)
    for ax, (name, D) in zip(axes[0], embeddings.items()):
        perplexity = float(min(30, max(2, (len(rows) - 1) // 3)))
        Y = TSNE(perplexity=perplexity, init="pca", max_iter=500, n_jobs=1,
                 method="exact" if len(rows) <= 1000 else "barnes_hut",
                 random_state=random_state).fit_transform(
            np.asarray(D[rows], dtype=np.float64))
        ax.scatter(Y[:, 0], Y[:, 1], c=colour, cmap="tab20", s=9)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"t-SNE of test descriptors: {len(chosen)} points x their images "
                 "(one colour per 3-D point)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
