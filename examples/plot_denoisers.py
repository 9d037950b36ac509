"""
Comparing patch denoisers on N-HPatches-style data
==================================================

Every denoiser of :mod:`sklearn_patchdesc.denoise` on the same noisy patches:
two classical filters without training (Gaussian smoothing, non-local means),
the shallow U-Net baseline (seed 000), the deeper U-Net (seed 001), a
TernausNet with a VGG11 encoder (seed 000, section 3), DnCNN (seed 000,
table 1) and the Noise2Noise autoencoder of seed 002 trained on a second
noisy copy -- plus a shallow U-Net trained *self-supervised* on the noisy
patches alone (Neighbor2Neighbor), which never sees a clean patch.

The data are generated offline by
:func:`~sklearn_patchdesc.datasets.make_hpatches_like`; denoisers are trained
on some sequences and judged on held-out ones by PSNR / SSIM against the
clean twins. Budgets are a few CPU minutes (narrow networks, few epochs), so
this is a comparison of how far each gets quickly, not of converged models.
Set ``SKPD_EXAMPLE_QUICK=1`` for a tiny run and ``SKPD_EXAMPLE_OUT=<folder>``
to save the figures.
"""
# %%
# Data: noisy patches and their clean twins, split by sequence
# ------------------------------------------------------------
import os
import time
from pathlib import Path

import matplotlib

if os.environ.get("SKPD_EXAMPLE_OUT"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sklearn_patchdesc.datasets import add_patch_noise, make_hpatches_like
from sklearn_patchdesc.denoise import (
    ConvAutoencoderDenoiser,
    DnCNNDenoiser,
    GaussianDenoiser,
    NLMeansDenoiser,
    ShallowUNetDenoiser,
    TernausNetDenoiser,
    UNetDenoiser,
)
from sklearn_patchdesc.metrics import patch_psnr, patch_ssim

QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS, EPOCHS, N_TRAIN, N_TEST = (3, 10, 1, 64, 32) if QUICK else (6, 60, 4, 800, 300)

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, noise=True,
                          random_state=0)
test = data.target["sequence"] == data.sequence_names[-1]
rng = np.random.default_rng(0)
train_idx = rng.permutation(np.flatnonzero(~test))[:N_TRAIN]
test_idx = rng.permutation(np.flatnonzero(test))[:N_TEST]
X, X_clean = data.data[train_idx], data.data_clean[train_idx]
T, T_clean = data.data[test_idx], data.data_clean[test_idx]
# a second noisy copy with the same per-image levels, for Noise2Noise training
image = data.target["image"][train_idx]
X_noisy2 = add_patch_noise(X_clean, np.where(image <= 5, "easy",
                                             np.where(image <= 10, "hard", "tough")),
                           random_state=1)
print(f"{len(X)} training and {len(T)} held-out {X.shape[1]}x{X.shape[2]} patches")

# %%
# The denoisers
# -------------
# Narrow widths (``module__*``) keep the networks CPU-friendly; the
# architectures are those of the seeds. ``y`` decides how each one trains:
# clean targets, a second noisy copy (Noise2Noise) or nothing (self-supervised).
common = dict(max_epochs=EPOCHS, batch_size=32, random_state=0)
denoisers = {
    "Gaussian": (GaussianDenoiser(sigma=1.0), None),
    "NL-means": (NLMeansDenoiser(), None),
    "Shallow U-Net": (ShallowUNetDenoiser(**common), X_clean),
    "Shallow U-Net\nself-supervised": (ShallowUNetDenoiser(**common), None),
    "U-Net": (UNetDenoiser(depth=3, module__base_channels=8, **common), X_clean),
    "TernausNet\nVGG11": (TernausNetDenoiser(encoder="vgg11", freeze_encoder=False,
                                             module__base_channels=8, **common), X_clean),
    "DnCNN": (DnCNNDenoiser(depth=8, module__channels=16, **common), X_clean),
    "Conv AE\nNoise2Noise": (ConvAutoencoderDenoiser(module__channels=(8, 8, 16, 16, 32),
                                                     optimizer__lbfgs_max_iter=5, **common),
                             X_noisy2),
}

results, outputs = [], {}
for name, (den, y) in denoisers.items():
    t0 = time.perf_counter()
    den.fit(X, y)
    fit_s = time.perf_counter() - t0
    out = den.transform(T)
    outputs[name] = out
    results.append((name.replace("\n", " "), patch_psnr(T_clean, out),
                    patch_ssim(T_clean, out), fit_s))

# %%
# Table: PSNR / SSIM on held-out sequences
# ----------------------------------------
print(f"{'denoiser':32s} {'PSNR':>7s} {'SSIM':>6s} {'fit s':>6s}")
print(f"{'noisy input':32s} {patch_psnr(T_clean, T):7.2f} {patch_ssim(T_clean, T):6.3f}")
for name, psnr, ssim, fit_s in results:
    print(f"{name:32s} {psnr:7.2f} {ssim:6.3f} {fit_s:6.1f}")

# %%
# Figure: noisy / each denoiser / clean
# -------------------------------------
n_show = min(5, len(T))
columns = [("noisy", T)] + list(outputs.items()) + [("clean", T_clean)]
fig, axes = plt.subplots(n_show, len(columns), figsize=(1.3 * len(columns), 1.4 * n_show + 0.6))
axes = np.atleast_2d(axes)
for j, (name, patches) in enumerate(columns):
    axes[0, j].set_title(name, fontsize=7)
    for i in range(n_show):
        axes[i, j].imshow(patches[i], cmap="gray", vmin=0, vmax=255)
        axes[i, j].axis("off")
fig.tight_layout()

fig2, ax = plt.subplots(figsize=(7, 3))
names = ["noisy"] + [r[0] for r in results]
ax.barh(names, [patch_psnr(T_clean, T)] + [r[1] for r in results], color="tab:blue")
ax.invert_yaxis()
ax.set_xlabel("PSNR on held-out sequences (dB)")
fig2.tight_layout()

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(OUT) / "denoisers_grid.png", dpi=100)
    fig2.savefig(Path(OUT) / "denoisers_psnr.png", dpi=100)
else:
    plt.show()
