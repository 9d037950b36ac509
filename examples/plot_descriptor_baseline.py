"""
Baseline descriptor pipeline: shallow U-Net denoiser + L2-Net
===============================================================

The baseline of seed 000, section 2 (the N-HPatches coursework report the
library starts from; its course handed the baseline out as a Keras notebook):
a shallow U-Net removes the noise of N-HPatches patches, then an L2-Net trained
with random triplets
and a hinge triplet loss (margin 1, SGD with learning rate 0.1) maps each
patch to a 128-d unit vector. As in seed 000's baseline table, the L2-Net is
trained and evaluated on noisy, denoised and clean versions of the same
patches: clean is the upper bound, noisy the lower one. Scores are the three
HPatches mean average precisions on held-out sequences.

Data are generated offline by :func:`~sklearn_patchdesc.datasets.make_hpatches_like`
(noisy N-HPatches-style patches with their clean twins), so the numbers are
those of a small synthetic set and a few minutes of CPU training, not of the
real benchmark. Set ``SKPD_EXAMPLE_QUICK=1`` for a tiny run and
``SKPD_EXAMPLE_OUT=<folder>`` to save the figures.
"""
# %%
# Data: noisy patches, their clean twins, split by sequence
# ----------------------------------------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor, RandomTripletSampler
from sklearn_patchdesc.metrics import hpatches_evaluate

QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS = (3, 8) if QUICK else (8, 40)
DEN_EPOCHS, DESC_EPOCHS, N_TRIPLETS = (1, 1, 64) if QUICK else (5, 3, 1500)

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, noise=True,
                          random_state=0)
X_noisy, X_clean, y = data.data, data.data_clean, data.target
sequences = np.unique(y["sequence"])
test = np.isin(y["sequence"], sequences[-max(2, N_SEQ // 4):])  # retrieval needs two
print(f"{len(y)} patches, {len(sequences)} sequences; held out: {np.unique(y['sequence'][test])}")

# %%
# Denoiser: the shallow U-Net, trained on noisy/clean pairs of the training sequences
# ------------------------------------------------------------------------------------
denoiser = ShallowUNetDenoiser(max_epochs=DEN_EPOCHS, random_state=0)
denoiser.fit(X_noisy[~test], X_clean[~test])
X_denoised = denoiser.transform(X_noisy)

fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
rows = {"noisy": X_noisy, "denoised": X_denoised, "clean": X_clean}
picks = np.flatnonzero(test)[:: max(1, test.sum() // 8)][:8]
for r, (name, X) in enumerate(rows.items()):
    for c, i in enumerate(picks):
        axes[r, c].imshow(X[i], cmap="gray", vmin=0, vmax=255)
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(name)
fig.suptitle("Held-out patches: noisy / denoised (shallow U-Net) / clean")
fig.tight_layout()

# %%
# L2-Net with random triplets on each version of the patches
# -----------------------------------------------------------
# The baseline settings are the defaults of :class:`L2NetDescriptor`
# (SGD, lr 0.1, dropout 0.1, margin-1 hinge on random triplets).
table = {}
for name, X in rows.items():
    desc = L2NetDescriptor(max_epochs=DESC_EPOCHS, sampler=RandomTripletSampler(N_TRIPLETS),
                           batch_size=150, random_state=0)
    desc.fit(X[~test], y[~test])
    table[name] = hpatches_evaluate(desc.transform(X[test]), y[test]).scores

tasks = ("verification", "matching", "retrieval")
print(f"{'mAP':<14}" + "".join(f"{c:>10}" for c in ("clean", "denoised", "noisy")))
for task in tasks:
    print(f"{task:<14}" + "".join(f"{table[c][task]:>10.3f}" for c in ("clean", "denoised", "noisy")))

# %%
# The table as bars (seed 000 reports 0.839 / 0.827 / 0.632 verification,
# 0.271 / 0.254 / 0.202 matching and 0.583 / 0.552 / 0.485 retrieval for
# clean / denoised / noisy on the real N-HPatches after 100 epochs)
fig2, ax = plt.subplots(figsize=(7, 3))
width = 0.27
for k, cond in enumerate(("clean", "denoised", "noisy")):
    ax.bar(np.arange(3) + (k - 1) * width, [table[cond][t] for t in tasks], width, label=cond)
ax.set_xticks(np.arange(3), tasks)
ax.set_ylabel("mAP (held-out sequences)")
ax.set_ylim(0, 1)
ax.legend(title="input", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
fig2.tight_layout()

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(OUT) / "descriptor_baseline_patches.png", dpi=100)
    fig2.savefig(Path(OUT) / "descriptor_baseline_table.png", dpi=100)
plt.show()
