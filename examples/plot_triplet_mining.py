"""
Triplet mining strategies: random, hard positives, batch-hard, stepped batch-hard
=================================================================================

Seeds 000 and 001 got their gains from *which* triplets the L2-Net sees:

* random triplets (the baseline generator of seed 000);
* hard positives (seed 000 section 3.2.3): after a warm-up, the training set
  is embedded and every anchor gets its farthest same-label patch as positive
  (:class:`~sklearn_patchdesc.describe.HardPositiveMiner`);
* batch-hard on PK batches (seed 001): the hardest positive and negative of
  each anchor inside a batch of S labels x K patches;
* stepped batch-hard (seed 001): batches grow stage by stage, and only while
  the loss stays below the collapse point (the margin; ln 2 for the soft
  margin at margin 0), via :class:`~sklearn_patchdesc.describe.SteppedBatchHard`.

All runs get the same budget (epochs of one pass over the training patches),
start from a one-epoch random-triplet warm-up where they mine, and are scored
on held-out sequences with the three HPatches mAPs. The learning curves mark
the batch-size steps. ``benchmarks/bench_mining.py`` runs the full table,
with and without label-consistent augmentation.

Data come from :func:`~sklearn_patchdesc.datasets.make_hpatches_like`; a CPU
run of a few minutes on a small synthetic set gives noisy numbers, not the
seeds' tables. ``SKPD_EXAMPLE_QUICK=1`` runs a tiny version,
``SKPD_EXAMPLE_OUT=<folder>`` saves the figures.
"""
# %%
# Data, split by sequence
# -----------------------
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sklearn_patchdesc.datasets import make_hpatches_like  # noqa: E402
from sklearn_patchdesc.describe import (HardPositiveMiner, L2NetDescriptor,  # noqa: E402
                                        RandomTripletSampler, SteppedBatchHard)
from sklearn_patchdesc.metrics import hpatches_evaluate  # noqa: E402
from sklearn_patchdesc.plotting import plot_training_history  # noqa: E402

QUICK = os.environ.get("SKPD_EXAMPLE_QUICK") == "1"
OUT = os.environ.get("SKPD_EXAMPLE_OUT")
N_SEQ, N_PTS, EPOCHS = (4, 6, 2) if QUICK else (5, 24, 6)
# seed 001 stepped 32 -> 1024; the small set here has too few labels for 1024
STAGES = ((16, 2), (32, 2)) if QUICK else ((16, 2), (32, 2), (64, 4), (128, 4))

data = make_hpatches_like(n_sequences=N_SEQ, n_patches_per_sequence=N_PTS, random_state=0)
X, y = data.data, data.target
sequences = np.unique(y["sequence"])
test = np.isin(y["sequence"], sequences[-2:])  # two: retrieval takes other sequences
Xtr, ytr, Xte, yte = X[~test], y[~test], X[test], y[test]
per_epoch = len(Xtr) // 3  # random triplets per epoch: one pass over the patches
print(f"{len(Xtr)} training patches, {len(Xte)} held-out ({sequences[-1]})")

# %%
# One estimator per strategy, same optimiser and budget
# -----------------------------------------------------
common = dict(max_epochs=EPOCHS, batch_size=192, optimizer="adam", lr=1e-3, random_state=0)
hard = dict(criterion__miner="batch_hard", **common)
models = {
    "random triplets": L2NetDescriptor(sampler=RandomTripletSampler(per_epoch), **common),
    "hard positives": L2NetDescriptor(
        sampler=HardPositiveMiner(warmup_epochs=1, n_triplets=per_epoch), **common),
    "batch-hard 32": L2NetDescriptor(
        sampler=SteppedBatchHard(stages=((32, 2),), warmup_epochs=1), **hard),
    "stepped batch-hard": L2NetDescriptor(
        sampler=SteppedBatchHard(stages=STAGES, warmup_epochs=1), **hard),
    "soft stepped": L2NetDescriptor(
        sampler=SteppedBatchHard(stages=STAGES, warmup_epochs=1),
        criterion__margin=0.0, criterion__soft=True, **hard),
}
rows = []
for name, est in models.items():
    est.fit(Xtr, ytr)
    rep = hpatches_evaluate(est.transform(Xte), yte)
    rows.append((name, rep.verification, rep.matching, rep.retrieval, rep.mean))

# %%
# The table (seed 001's results table has the same rows on the real data)
# -----------------------------------------------------------------------
print(f"{'method':20s} {'PV':>6s} {'IM':>6s} {'PR':>6s} {'mean':>6s}")
for name, pv, im, pr, mean in rows:
    print(f"{name:20s} {pv:6.3f} {im:6.3f} {pr:6.3f} {mean:6.3f}")

fig, ax = plt.subplots(figsize=(6.4, 2.2))
ax.axis("off")
table = ax.table(cellText=[[f"{v:.3f}" for v in r[1:]] for r in rows],
                 rowLabels=[r[0] for r in rows], colLabels=["PV", "IM", "PR", "mean"],
                 loc="center")
table.scale(1.0, 1.3)
ax.set_title("HPatches mAP on a held-out sequence", fontsize=9)
fig.tight_layout()

# %%
# Learning curves: the stepped runs with their batch-size steps
# -------------------------------------------------------------
# The dotted line is the collapse point of the loss; a step (red line) only
# happens after an epoch whose loss stayed below it.
fig2 = plot_training_history(models["stepped batch-hard"])
fig2.axes[0].set_title("stepped batch-hard (hinge, margin 1)", fontsize=9)
fig3 = plot_training_history(models["soft stepped"])
fig3.axes[0].set_title("stepped batch-hard, soft margin (collapse at ln 2)", fontsize=9)

if OUT:
    Path(OUT).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(OUT) / "triplet_mining_table.png", dpi=100)
    fig2.savefig(Path(OUT) / "triplet_mining_stepped.png", dpi=100)
    fig3.savefig(Path(OUT) / "triplet_mining_soft_stepped.png", dpi=100)
