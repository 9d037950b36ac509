"""
What does each layer of an L2-Net keep? Reconstructing patches from its features
================================================================================

Seed 003 reconstructs images from the layers of VGG16 and AlexNet with
"inversion modules": one small conv-deconv network per operation block, mapping
the block's output back to its input. Trained separately and stacked, they
invert deeper and deeper layers; the seed found that quality decays gradually
with depth and that stacked modules beat the same stack trained end to end.

Here the network is a fitted :class:`~sklearn_patchdesc.describe.L2NetDescriptor`
and :class:`~sklearn_patchdesc.inversion.FeatureInverter` inverts it after each
of its six 3x3 convolution blocks and after the final descriptor. L2-Net
standardises every patch first, so no layer can give back a patch's mean
brightness or contrast: even the first block's reconstruction is the patch's
*shape* at an average brightness and contrast.

Data are generated offline by
:func:`~sklearn_patchdesc.datasets.make_hpatches_like`; inverters are trained on
one set of sequences and scored (PSNR) on a held-out sequence. Set
``SKPD_EXAMPLE_QUICK=1`` for a tiny run and ``SKPD_EXAMPLE_OUT=<folder>`` to
save the figures.
"""
# %%
# A briefly trained L2-Net descriptor
# -----------------------------------
import os
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.describe import L2NetDescriptor
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.plotting import plot_inversion

if os.environ.get("SKPD_EXAMPLE_OUT") or not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")
QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS = (2, 6) if QUICK else (3, 30)
DESC_EPOCHS, INV_EPOCHS, N_TRAIN = (1, 2, 128) if QUICK else (3, 8, 600)
HIDDEN = 8 if QUICK else 16

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, random_state=0)
X, y = data.data, data.target
held_out = y["sequence"] == np.unique(y["sequence"])[-1]
descriptor = L2NetDescriptor(max_epochs=DESC_EPOCHS, random_state=0).fit(X[~held_out], y[~held_out])
rng = np.random.default_rng(0)
X_train = X[~held_out][rng.permutation((~held_out).sum())[:N_TRAIN]]
X_test = X[held_out][:: max(1, held_out.sum() // 64)]
print(f"descriptor trained on {(~held_out).sum()} patches; inverters on {len(X_train)}, "
      f"scored on {len(X_test)} held-out patches")

# %%
# Inverting successive layers
# ---------------------------
# One inverter per depth, every inversion module with the same budget. In
# ``stacked`` mode the first ``k`` modules of the depth-``k+1`` inverter are
# those of the depth-``k`` one (same data, same seeds), so a shared
# ``checkpoint_dir`` lets each depth resume them and train only its new module.
# ``end_to_end`` trains the whole stack on the input reconstruction.
LAYERS = ["relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "l2normalize1"]
E2E_LAYERS = ["relu1", "relu3"] if QUICK else ["relu1", "relu3", "relu6"]
common = dict(max_epochs=INV_EPOCHS, batch_size=32, lr=3e-3, random_state=0,
              module__hidden_channels=HIDDEN)

X4 = X_test.astype(np.float32) / 255
constant = float(np.mean(10 * np.log10(1 / np.mean((X4 - X_train.mean() / 255) ** 2, axis=(1, 2)))))
stacked, end_to_end = {}, {}
with tempfile.TemporaryDirectory() as ckpt:
    for layer in LAYERS:
        stacked[layer] = FeatureInverter(descriptor, layer, mode="stacked", checkpoint_dir=ckpt,
                                         **common).fit(X_train)
for layer in E2E_LAYERS:
    end_to_end[layer] = FeatureInverter(descriptor, layer, mode="end_to_end",
                                        **common).fit(X_train)

psnr_stacked = {k: v.score(X_test) for k, v in stacked.items()}
psnr_e2e = {k: v.score(X_test) for k, v in end_to_end.items()}
print(f"PSNR of a constant image (training mean): {constant:.2f} dB")
print("layer          modules  stacked  end-to-end")
for layer, inv in stacked.items():
    e2e = f"{psnr_e2e[layer]:8.2f}" if layer in psnr_e2e else "       -"
    print(f"{layer:<14} {len(inv.blocks_):7d} {psnr_stacked[layer]:8.2f} {e2e}")

# %%
# Reconstructions from successive layers
# --------------------------------------
picks = np.arange(6) * max(1, len(X_test) // 6)
fig_depth, axes = plt.subplots(len(picks), len(LAYERS) + 1,
                               figsize=(1.2 * (len(LAYERS) + 1), 1.25 * len(picks)))
recs = {layer: inv.transform(X_test[picks]) for layer, inv in stacked.items()}
for r, i in enumerate(picks):
    axes[r, 0].imshow(X_test[i], cmap="gray", vmin=0, vmax=255)
    for c, layer in enumerate(LAYERS, start=1):
        axes[r, c].imshow(recs[layer][r], cmap="gray", vmin=0, vmax=255)
for c, title in enumerate(["patch"] + LAYERS):
    axes[0, c].set_title(title.replace("l2normalize1", "descriptor"), fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([]), ax.set_yticks([])
fig_depth.suptitle("Stacked inversion of a fitted L2-Net, deeper to the right")
fig_depth.tight_layout()

# %%
# Stacked versus end to end, with the error maps
# ----------------------------------------------
# Columns as in seed 003: image | reconstruction | signed error renormalised to
# [0, 1] (grey = no error) | absolute error renormalised (black = no error).
layer = "relu3"
fig_stacked = plot_inversion(X_test[picks[:4]], stacked[layer].transform(X_test[picks[:4]]))
fig_stacked.suptitle(f"stacked, from {layer}: {psnr_stacked[layer]:.2f} dB", y=1.0)
fig_e2e = plot_inversion(X_test[picks[:4]], end_to_end[layer].transform(X_test[picks[:4]]))
fig_e2e.suptitle(f"end to end, from {layer}: {psnr_e2e[layer]:.2f} dB", y=1.0)

# %%
# PSNR versus depth
# -----------------
fig_psnr, ax = plt.subplots(figsize=(5.5, 3.5))
depth = [len(stacked[k].blocks_) for k in LAYERS]
ax.plot(depth, [psnr_stacked[k] for k in LAYERS], "o-", label="stacked")
ax.plot([len(stacked[k].blocks_) for k in E2E_LAYERS], [psnr_e2e[k] for k in E2E_LAYERS],
        "s--", label="end to end")
ax.axhline(constant, color="grey", lw=1, ls=":", label="constant image")
ax.set_xticks(depth, [k.replace("l2normalize1", "descr.") for k in LAYERS], fontsize=8)
ax.set_xlabel("inverted layer (one module per block)")
ax.set_ylabel("held-out PSNR (dB)")
ax.legend()
fig_psnr.tight_layout()

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    for name, fig in [("depth", fig_depth), ("stacked", fig_stacked), ("end_to_end", fig_e2e),
                      ("psnr", fig_psnr)]:
        fig.savefig(Path(OUT) / f"feature_inversion_{name}.png", dpi=100, bbox_inches="tight")
plt.show()
