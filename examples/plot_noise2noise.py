"""
Denoising without clean references: Noise2Noise and self-supervised training
============================================================================

Seed 002 trains a denoiser on *pairs of noisy images*: two copies of the same
picture with independent noise. With zero-mean noise the network cannot
predict the noise of the target, so the best it can do is predict the clean
image, and no clean reference is ever needed (Noise2Noise, Lehtinen et al.
2018). Here the same U-Net is trained three ways on N-HPatches-style patches
and compared with the clean patches of held-out sequences:

* **clean targets**: ``fit(X_noisy, X_clean)``, the supervised reference;
* **Noise2Noise**: ``fit(X_noisy, X_noisy_2)`` with a second, independently
  noisy copy of the same patches;
* **self-supervised**: ``fit(X_noisy)`` (or with the labels / record target,
  as inside a pipeline): Neighbor2Neighbor sub-samples every noisy patch into
  two half-size images with independent noise and uses one as the target of
  the other, so even the second copy is unnecessary.

Seed 002's own model, a convolutional autoencoder trained with a few L-BFGS
steps and then momentum SGD (the "hybrid" optimiser), is trained Noise2Noise
too (:class:`~sklearn_patchdesc.denoise.ConvAutoencoderDenoiser`).

Data come from :func:`~sklearn_patchdesc.datasets.make_hpatches_like`, noise
from :func:`~sklearn_patchdesc.datasets.add_patch_noise`; numbers are those of
a small synthetic set and a short CPU run. ``SKPD_EXAMPLE_QUICK=1`` runs a
tiny version, ``SKPD_EXAMPLE_OUT=<folder>`` saves the figures.
"""
# %%
# Data: clean patches, two independent noisy copies, split by sequence
# ---------------------------------------------------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_patchdesc.datasets import add_patch_noise, make_hpatches_like
from sklearn_patchdesc.denoise import ConvAutoencoderDenoiser, UNetDenoiser
from sklearn_patchdesc.metrics import patch_psnr, patch_ssim

QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS, EPOCHS = (3, 6, 1) if QUICK else (6, 24, 5)

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, noise=True,
                          random_state=0)
X_clean, y = data.data_clean, data.target
# N-HPatches levels: easy noise for ref and e1..e5, hard for h1..h5, tough for t1..t5
level = np.select([y["image"] <= 5, y["image"] <= 10], ["easy", "hard"], "tough")
X_noisy = data.data                                              # first noisy copy
X_noisy_2 = add_patch_noise(X_clean, level=level, random_state=1)  # second, independent copy

sequences = np.unique(y["sequence"])
test = np.isin(y["sequence"], sequences[-1:])
print(f"{(~test).sum()} training patches, {test.sum()} held out ({sequences[-1]})")
print(f"noisy input: PSNR {patch_psnr(X_clean[test], X_noisy[test]):.2f} dB")

# %%
# Three ways to train the same U-Net
# ----------------------------------
# The call is the same each time; only ``y`` changes. ``training_mode_`` says
# which mode was used.
common = dict(max_epochs=EPOCHS, random_state=0)
# a U-Net with 3 pooling levels (2 and narrower in quick mode)
unet = dict(depth=2, module__base_channels=8) if QUICK else dict(depth=3, module__base_channels=16)
# the autoencoder's hybrid optimiser: a few L-BFGS steps, then SGD with momentum
cae = dict(module__channels=(8, 8, 16, 16, 32), optimizer__lbfgs_steps=1,
           optimizer__lbfgs_max_iter=3) if QUICK else \
    dict(module__channels=(32, 32, 64, 64, 128), optimizer__lbfgs_steps=5,
         optimizer__lbfgs_max_iter=10)
models = {
    "clean targets": (UNetDenoiser(**unet, **common), X_clean[~test]),
    "Noise2Noise": (UNetDenoiser(**unet, **common), X_noisy_2[~test]),
    "self-supervised": (UNetDenoiser(**unet, **common), None),
    "seed 002 autoencoder, N2N": (ConvAutoencoderDenoiser(**cae, **common), X_noisy_2[~test]),
}
results, outputs = {}, {}
for name, (den, target) in models.items():
    den.fit(X_noisy[~test], target)
    out = den.transform(X_noisy[test])
    outputs[name] = out
    results[name] = (patch_psnr(X_clean[test], out), patch_ssim(X_clean[test], out))
    print(f"{name:28s} mode={den.training_mode_:18s} PSNR {results[name][0]:6.2f} dB  "
          f"SSIM {results[name][1]:.3f}")

# %%
# Held-out patches
# ----------------
rows = {"noisy": X_noisy[test], **outputs, "clean": X_clean[test]}
picks = np.flatnonzero(y["image"][test] >= 6)  # hard and tough noise
picks = picks[:: max(1, len(picks) // 6)][:6]
fig, axes = plt.subplots(len(rows), len(picks), figsize=(1.2 * len(picks), 1.25 * len(rows)),
                         squeeze=False)
for r, (name, X) in enumerate(rows.items()):
    for c, i in enumerate(picks):
        axes[r, c].imshow(X[i], cmap="gray", vmin=0, vmax=255)
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(name.replace(", ", "\n"), fontsize=7, rotation=0, ha="right",
                          va="center")
fig.suptitle("Denoising without clean references (held-out sequence)", fontsize=9)
fig.tight_layout()

# %%
# PSNR and training curves
# ------------------------
# Noise2Noise ends close to clean-target training; the self-supervised
# U-Net, which saw neither clean patches nor a second copy, is a little
# behind. The training losses are not comparable across modes (the targets
# differ), only their shapes are.
fig2, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
names = list(results)
noisy_psnr = patch_psnr(X_clean[test], X_noisy[test])
ax1.barh(names, [results[n][0] for n in names], color="tab:blue")
ax1.axvline(noisy_psnr, color="k", ls="--", lw=1, label="noisy input")
ax1.set_xlim(min(noisy_psnr, *[results[n][0] for n in names]) - 2, None)
ax1.set_xlabel("held-out PSNR (dB)")
ax1.legend(fontsize=7, loc="lower right")
for name, (den, _) in models.items():
    ax2.plot(range(1, len(den.history_) + 1), den.history_[:, "train_loss"], marker="o",
             label=name)
ax2.set_xlabel("epoch")
ax2.set_ylabel("training loss")
ax2.set_yscale("log")
ax2.legend(fontsize=7)
fig2.tight_layout()

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(OUT) / "noise2noise_patches.png", dpi=100)
    fig2.savefig(Path(OUT) / "noise2noise_psnr.png", dpi=100)
plt.show()
