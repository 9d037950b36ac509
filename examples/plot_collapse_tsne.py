"""
Descriptor collapse, seen with t-SNE: healthy vs collapsed training
===================================================================

Seed 001 could not train batch-hard triplet loss with large batches from
random weights: the network learned to give every patch the same descriptor,
and the loss sat at the margin. It also notes that the collapse "is not
immediately evident when directly observing the loss" and shows it with a
t-SNE map of one batch: collapsed descriptors pile up at one spot, healthy
ones separate by label.

Here the same network is trained twice on PK batches with the batch-hard
loss: once with a high learning rate and large K (a deliberately collapsing
set-up: the multi-scale net without BatchNorm), once with a moderate one and
BatchNorm. A :class:`~sklearn_patchdesc.describe.CollapseMonitor` watches the
mean pairwise distance of a fixed probe batch; with ``action="stop"`` it ends
the collapsing run (``"rollback"``, the default, would also restore the last
good weights). :func:`~sklearn_patchdesc.plotting.plot_embedding` draws both.

``SKPD_EXAMPLE_QUICK=1`` runs a tiny version, ``SKPD_EXAMPLE_OUT=<folder>``
saves the figures.
"""
# %%
# Data
# ----
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sklearn_patchdesc.datasets import make_hpatches_like  # noqa: E402
from sklearn_patchdesc.describe import (CollapseMonitor, MultiScaleDescriptor,  # noqa: E402
                                        PKSampler, TripletMarginLoss)
from sklearn_patchdesc.plotting import plot_embedding, plot_training_history  # noqa: E402

QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS, EPOCHS = (2, 8, 2) if QUICK else (3, 32, 5)

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, random_state=0)
X, y = data.data, data.target
labels = y["label"]
print(f"{len(X)} patches, {len(np.unique(labels))} labels of 16 patches")


# %%
# Two runs of batch-hard on PK batches of K = 16 patches per label
# ----------------------------------------------------------------
def run(lr, batchnorm):
    monitor = CollapseMonitor(action="stop")
    est = MultiScaleDescriptor(
        depth=2, channels=(16, 32), deep_features=64, shallow_channels=16, input_size=16,
        batchnorm=batchnorm, criterion=TripletMarginLoss, criterion__miner="batch_hard",
        sampler=PKSampler(n_per_label=16), batch_size=256, lr=lr, max_epochs=EPOCHS, random_state=0,
        callbacks=[("collapse", monitor)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, labels)
    for w in caught:
        print("warning:", w.message)
    return est, monitor


collapsed, mon_c = run(lr=0.5, batchnorm=False)
healthy, mon_h = run(lr=0.01, batchnorm=True)
print("probe distance per epoch, collapsing:", np.round(mon_c.distances_, 3))
print("probe distance per epoch, healthy:   ", np.round(mon_h.distances_, 3))

# %%
# t-SNE of one batch of descriptors (16 labels x 16 patches, as in seed 001)
# --------------------------------------------------------------------------
rng = np.random.default_rng(0)
pick = np.isin(labels, rng.choice(np.unique(labels), size=min(16, len(np.unique(labels))),
                                  replace=False))
# t-SNE forgets scale; keep_scale=True draws each map at its descriptors' mean
# pairwise distance, on shared axes, so a collapsed set shrinks to a spot.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
plot_embedding(healthy.transform(X[pick]), labels[pick], ax=axes[0], legend=False,
               keep_scale=True)
axes[0].set_title("healthy\n" + axes[0].get_title(), fontsize=9)
plot_embedding(collapsed.transform(X[pick]), labels[pick], ax=axes[1], legend=False,
               keep_scale=True)
axes[1].set_title("collapsing\n" + axes[1].get_title(), fontsize=9)
fig.tight_layout()

# %%
# The loss alone hides it: compare the curves with the probe distance
# -------------------------------------------------------------------
fig2 = plot_training_history(collapsed)
fig2.axes[0].set_title("collapsing run: loss near the margin", fontsize=9)

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(OUT) / "collapse_tsne.png", dpi=100)
    fig2.savefig(Path(OUT) / "collapse_history.png", dpi=100)
