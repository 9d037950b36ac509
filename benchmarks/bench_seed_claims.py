"""Check each claim of the seeds with this library, with several seeds and an interval.

Data. Training: generated N-HPatches-style sequences
(:func:`~sklearn_patchdesc.datasets.make_hpatches_like`, 16 patches per label)
without the photos ``chelsea`` and ``coins``. Held out (never trained on):
those two photos' generated sequences plus the real Oxford sequences
``boat``, ``graffiti`` and ``ubc`` from ``../shared/data/real`` (cut by the
generator with their real homographies; see ``descriptor_data.py``). Noisy
copies get the seeds' easy/hard/tough noise by image. Descriptors are scored
on the held-out patches with :func:`~sklearn_patchdesc.metrics.hpatches_evaluate`
(generated tasks, ``random_state=0``), denoisers and inverters by PSNR.

Statistics. Every claim is run with ``--seeds`` training seeds (weights,
batch order; the data stay fixed). Both sides of a claim share the seed, so
each seed gives one paired difference A - B. The verdict comes from the 95 %
t-interval of the mean difference: above the claim's threshold = **holds**,
below = **does not hold**, straddling it = **cannot tell**. A descriptor claim
with any task it is decided on (all three for the mean mAP) above 0.9 mAP,
for any compared method or seed, is **cannot tell (saturated)** whatever the
interval says.

Regimes (scaled to a CPU):

- 001 stepped batch-hard: one large batch-hard set-up from random weights
  (``PKSampler`` 128 labels x K=8 = 1024, Adam) against
  :class:`SteppedBatchHard` from the baseline weights (the same seed's
  random-triplet model), both watched by :class:`CollapseMonitor`.
- 000 hard positives: both sides start from the same warm start (the
  seed's random-triplet baseline model), then train the same epochs with
  hard positives or with more random triplets.
- 003 inversion: stacked inversion per layer (decay with depth); stacked
  against end-to-end with the same budget per layer (end-to-end trains
  ``epochs x modules`` epochs).
- 000 denoised > noisy, twice: an L2-Net trained and scored on the output of
  a pixel-trained shallow U-Net against one on noisy patches
  (``denoised_vs_noisy``), and the shipped pipeline
  (``load_pretrained_pipeline()``: task-aware denoiser, then the shipped
  HardNet) against the same HardNet on noisy input, on matching mAP
  (``shipped_pipeline_vs_noisy``; nothing is trained, so its seeds are
  noise draws of the held-out patches).

Usage::

    python benchmarks/bench_seed_claims.py                 # default run (<= 60 min, 2 idle cores)
    python benchmarks/bench_seed_claims.py --quick         # smoke run, numbers meaningless
    python benchmarks/bench_seed_claims.py --only n2n_vs_clean --seeds 0 1 2
    python benchmarks/bench_seed_claims.py --only denoised_vs_noisy --redo  # measure again
    python benchmarks/bench_seed_claims.py --replot        # table + figures from the JSON

Results are appended to ``--results`` (default ``docs/_static/seed_claims/
results.json``) as each (claim, seed) finishes; a killed run started again
with the same settings continues where it stopped. The default run rewrites
``docs/seed_claims_table.rst`` and one figure per claim in
``docs/_static/seed_claims/``; a run with claims still missing says so in
the table ("partial run").
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import sys
import textwrap
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from descriptor_data import REAL_HELDOUT, cached, real_sequences  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "seed_claims_table.rst"
STATIC = ROOT / "docs" / "_static" / "seed_claims"
TASKS = ("verification", "matching", "retrieval")
SATURATED = 0.9


# --------------------------------------------------------------------------- set-up
@dataclass(frozen=True)
class Config:
    n_sequences: int = 20        # generated (photos chelsea/coins are held out)
    n_patches: int = 16          # labels per generated training sequence (x 16 patches)
    n_real_points: int = 150     # labels per held-out real sequence (x 16 patches)
    seeds: tuple = (0, 1, 2)
    desc_epochs: int = 2         # baseline / every descriptor side
    desc_batch: int = 64  # random triplets per step (3x as many patches)
    hp_epochs: int = 1           # after the warm start: hard positives or random triplets
    bh_epochs: int = 4           # big batch-hard from scratch and stepped
    big_batch: tuple = (1024, 8)
    big_lr: float = 1e-3
    stages: tuple = ((128, 4), (256, 6), (512, 8), (1024, 8))
    den_epochs: int = 3
    den_patches: int = 3000      # denoiser training patches (random subset)
    unet_channels: int = 16
    inv_epochs: int = 2          # per inversion module
    inv_patches: int = 1500
    inv_layers: tuple = ("relu1", "relu3", "relu5")
    data_seed: int = 0


QUICK = Config(n_sequences=8, n_patches=4, n_real_points=4, seeds=(0, 1), desc_epochs=1,
               desc_batch=32, hp_epochs=1, bh_epochs=1, big_batch=(32, 8),
               stages=((16, 2), (32, 8)), den_epochs=1, den_patches=128, unet_channels=8,
               inv_epochs=1, inv_patches=128, inv_layers=("relu1", "relu3"))


def _noisy(X, y, random_state):
    """An N-HPatches-style noisy copy: easy / hard / tough by image, as the generator."""
    from sklearn_patchdesc.datasets import add_patch_noise
    from sklearn_patchdesc.datasets._common import image_noise_level

    return add_patch_noise(X, image_noise_level(y["image"]), random_state=random_state)


def _concat(parts):
    X = np.concatenate([p[0] for p in parts])
    offset, ys = 0, []
    for _, y in parts:  # labels unique over the whole set
        y = y.copy()
        y["label"] += offset
        offset = int(y["label"].max()) + 1
        ys.append(y)
    return X, np.concatenate(ys)


class Lab:
    """Data, split and the models shared by the claims of one run (per seed)."""

    def __init__(self, cfg, real=True):
        from sklearn_patchdesc.datasets import make_hpatches_like
        from sklearn_patchdesc.describe._pretrained import BUILTIN_HELDOUT

        self.cfg = cfg
        gen = cached(f"claims-gen-{cfg.n_sequences}-{cfg.n_patches}-{cfg.data_seed}",
                     lambda: make_hpatches_like(n_sequences=cfg.n_sequences,
                                                n_patches_per_sequence=cfg.n_patches,
                                                random_state=cfg.data_seed, return_X_y=True,
                                                n_jobs=2))
        photo = np.array([s.split("_", 1)[-1].rstrip("0123456789")
                          for s in gen[1]["sequence"].astype(str)])
        held_gen = np.isin(photo, BUILTIN_HELDOUT)
        parts = [(gen[0][~held_gen], gen[1][~held_gen]), (gen[0][held_gen], gen[1][held_gen])]
        if real:
            parts.append(cached(
                f"claims-real-{cfg.n_real_points}-{cfg.data_seed}",
                lambda: make_hpatches_like(
                    sequences=[s for s in real_sequences() if s.name in REAL_HELDOUT],
                    n_patches_per_sequence=cfg.n_real_points, random_state=cfg.data_seed + 100,
                    return_X_y=True, n_jobs=2)))
        X, y = _concat(parts)
        self.tr = np.arange(len(X)) < len(parts[0][0])
        self.te = ~self.tr
        self.held_out = sorted(set(y["sequence"][self.te].astype(str)))
        self.X_clean, self.y = X, y
        self.X_noisy = _noisy(X, y, cfg.data_seed + 1)
        self.X_noisy2 = _noisy(X, y, cfg.data_seed + 2)  # second copy (Noise2Noise)
        self.triplets_per_epoch = int(self.tr.sum()) // 3
        rng = np.random.default_rng(cfg.data_seed)
        self.den_rows = np.sort(rng.choice(np.flatnonzero(self.tr),
                                           min(cfg.den_patches, int(self.tr.sum())),
                                           replace=False))
        self.cache = {}

    # ------------------------------------------------------------- fitting
    def _once(self, key, seed, fit):
        if (key, seed) not in self.cache:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.cache[key, seed] = fit()
            print(f"    [{key}, seed {seed}] {self.cache[key, seed][1]} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        return self.cache[key, seed][0]

    def describe(self, key, seed, make, X=None, X_test=None):
        """Fit ``make()`` once per seed on the training rows; score the held-out rows.

        Returns ``(estimator, scores)``; scores has the three task mAPs, their
        mean and the held-out mean pairwise descriptor distance.
        """
        X = self.X_noisy if X is None else X
        X_test = X if X_test is None else X_test

        def fit():
            est = make().fit(X[self.tr], self.y[self.tr])
            scores = self.score(est.transform(X_test[self.te]))
            return (est, scores), " ".join(f"{k} {v:.3f}" for k, v in scores.items())

        return self._once(key, seed, fit)

    def score(self, D):
        """Task mAPs, their mean and the mean pairwise distance of held-out descriptors ``D``."""
        from sklearn_patchdesc.describe._collapse import mean_pairwise_distance
        from sklearn_patchdesc.metrics import hpatches_evaluate

        rep = hpatches_evaluate(D, self.y[self.te], curve_points=0)
        scores = {t: float(getattr(rep, t)) for t in TASKS}
        scores["mean"] = float(rep.mean)
        scores["distance"] = mean_pairwise_distance(D[:: max(1, len(D) // 2000)])
        return scores

    def denoise(self, key, seed, make, target):
        """Fit ``make()`` once per seed on noisy training rows; PSNR on held-out rows."""
        from sklearn_patchdesc.metrics import patch_psnr

        def fit():
            rows = self.den_rows
            den = make().fit(self.X_noisy[rows], None if target is None else target[rows])
            psnr = float(patch_psnr(self.X_clean[self.te], den.transform(self.X_noisy[self.te])))
            return (den, psnr), f"PSNR {psnr:.2f} dB"

        return self._once(key, seed, fit)

    def shipped(self):
        """The shipped pipeline (package weights, fitted) and its HardNet's clean-input scores."""
        if "shipped" not in self.cache:
            from sklearn_patchdesc.pipeline import load_pretrained_pipeline

            pipe = load_pretrained_pipeline()
            clean = self.score(pipe.named_steps["describe"].transform(self.X_clean[self.te]))
            self.cache["shipped"] = pipe, clean
        return self.cache["shipped"]

    def noisy_psnr(self):
        """PSNR of the noisy held-out patches themselves (what a denoiser must beat)."""
        from sklearn_patchdesc.metrics import patch_psnr

        return float(patch_psnr(self.X_clean[self.te], self.X_noisy[self.te]))

    # --------------------------------------------------- shared descriptors
    def common(self, seed, **kw):
        out = dict(max_epochs=self.cfg.desc_epochs, batch_size=3 * self.cfg.desc_batch,
                   optimizer="adam", lr=1e-3, random_state=seed)
        out.update(kw)
        return out

    def random_triplets(self, seed):
        """The baseline: L2-Net, random triplets (also the warm start of 000 / 001)."""
        from sklearn_patchdesc.describe import L2NetDescriptor, RandomTripletSampler

        return self.describe("random triplets", seed, lambda: L2NetDescriptor(
            sampler=RandomTripletSampler(self.triplets_per_epoch), **self.common(seed)))

    def batch_hard(self, seed, soft):
        from sklearn_patchdesc.describe import L2NetDescriptor, SteppedBatchHard

        size, k = self.cfg.stages[0]
        kw = dict(criterion__miner="batch_hard")
        if soft:
            kw.update(criterion__soft=True, criterion__margin=0.0)
        # one warm-up epoch of random triplets, then PK batches of the first stage only
        return self.describe(f"batch-hard {size}{' soft' if soft else ''}", seed,
                             lambda: L2NetDescriptor(
                                 sampler=SteppedBatchHard(stages=((size, k),), warmup_epochs=1),
                                 **self.common(seed, **kw)))

    def shallow_unet(self, seed):
        from sklearn_patchdesc.denoise import ShallowUNetDenoiser

        return self.denoise("shallow U-Net, clean targets", seed, lambda: ShallowUNetDenoiser(
            max_epochs=self.cfg.den_epochs, random_state=seed), self.X_clean)

    def deep_unet(self, seed, target="clean"):
        from sklearn_patchdesc.denoise import UNetDenoiser

        Y = {"clean": self.X_clean, "Noise2Noise": self.X_noisy2}[target]
        return self.denoise(f"U-Net depth 3, {target}", seed, lambda: UNetDenoiser(
            module__base_channels=self.cfg.unet_channels, max_epochs=self.cfg.den_epochs,
            random_state=seed), Y)

    def inversion(self, seed, layer, mode):
        """PSNR of a FeatureInverter of the baseline descriptor at ``layer``."""
        from sklearn.frozen import FrozenEstimator

        from sklearn_patchdesc.inversion import FeatureInverter

        c = self.cfg
        desc, _ = self.random_triplets(seed)

        def fit():
            rng = np.random.default_rng(c.data_seed)
            tr = rng.choice(np.flatnonzero(self.tr), min(c.inv_patches, int(self.tr.sum())),
                            replace=False)
            te = rng.choice(np.flatnonzero(self.te), min(c.inv_patches // 2, int(self.te.sum())),
                            replace=False)
            epochs = c.inv_epochs
            if mode == "end_to_end":  # the same epochs per layer as the stacked fit
                epochs *= self.inversion(seed, layer, "stacked")[0]
            inv = FeatureInverter(FrozenEstimator(desc), layer=layer, mode=mode,
                                  max_epochs=epochs, random_state=seed).fit(self.X_clean[tr])
            psnr = float(inv.score(self.X_clean[te]))
            return (len(inv.inverse_), psnr), (f"PSNR {psnr:.2f} dB, {len(inv.inverse_)} "
                                               f"module(s), {epochs} epoch(s)")

        return self._once(f"inversion {layer} {mode}", seed, fit)


# --------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Claim:
    """One claim: ``run(lab, seed)`` measures A (the side the seed favours) and B.

    The claim holds when A - B is above ``-tolerance`` (0 for "A beats B").
    ``premise(records)`` may return ``(verdict, reason)`` to override the
    interval (e.g. the regime of the seed was not reached). ``value`` is the
    score A and B are compared on (the mean of the tasks, or one task); only
    the tasks it is made of count for the saturation rule.
    """

    key: str
    seed: str
    text: str
    metric: str
    a: str
    b: str
    run: object
    tolerance: float = 0.0
    uses_map: bool = True       # decided on HPatches mAP: subject to the saturation rule
    premise: object = None
    seed_numbers: str = ""
    value: str = "mean"

    @property
    def tasks(self):
        """The HPatches tasks the compared value is made of."""
        return TASKS if self.value == "mean" else (self.value,)


def _map_record(a_scores, b_scores, value="mean", **extra):
    return {"a": a_scores[value], "b": b_scores[value],
            "scores": {"A": a_scores, "B": b_scores}, **extra}


def run_batch_hard(lab, seed):
    _, a = lab.batch_hard(seed, soft=False)
    _, b = lab.random_triplets(seed)
    return _map_record(a, b)


def run_soft_margin(lab, seed):
    _, a = lab.batch_hard(seed, soft=True)
    _, b = lab.batch_hard(seed, soft=False)
    return _map_record(a, b)


def run_stepped(lab, seed):
    from sklearn_patchdesc.describe import (CollapseMonitor, L2NetDescriptor, PKSampler,
                                            SteppedBatchHard)

    c = lab.cfg
    size, k = c.big_batch
    hard = dict(criterion__miner="batch_hard", max_epochs=c.bh_epochs, lr=c.big_lr)

    def monitor():
        return [("collapse", CollapseMonitor(action="stop"))]

    big, b = lab.describe(f"batch-hard {size} K={k} from scratch", seed, lambda: L2NetDescriptor(
        sampler=PKSampler(n_per_label=k), callbacks=monitor(),
        **lab.common(seed, batch_size=size, **hard)))
    baseline, _ = lab.random_triplets(seed)
    st, a = lab.describe("stepped batch-hard from the baseline", seed, lambda: L2NetDescriptor(
        sampler=SteppedBatchHard(stages=c.stages, init_weights=baseline),
        callbacks=monitor(), **lab.common(seed, **hard)))

    def probe(est):
        mon = dict(est.net_.callbacks_)["collapse"]
        return {"probe": [float(v) for v in mon.distances_],
                "collapsed_epoch": mon.collapsed_epoch_,
                "loss": [float(v) for v in est.history_[:, "train_loss"]]}

    sched = dict(st.net_.callbacks_)["sampler"] if "sampler" in dict(st.net_.callbacks_) else None
    last_stage = list(c.stages[sched.stage_]) if sched is not None and sched.stage_ >= 0 else None
    rec = _map_record(a, b, value="distance", big=probe(big), stepped=probe(st),
                      stepped_last_stage=last_stage)
    return rec


def premise_collapse(records):
    big = sum(r["big"]["collapsed_epoch"] is not None for r in records)
    st = sum(r["stepped"]["collapsed_epoch"] is not None for r in records)
    n = len(records)
    if st:
        return "does not hold", f"the stepped run collapsed in {st}/{n} seeds"
    if not big:
        return "cannot tell", (f"the from-scratch run did not collapse in any of {n} seeds: "
                               "the seed's regime was not reached")
    return None, f"from scratch collapsed in {big}/{n} seeds, stepped in 0/{n}"


def run_deep_unet(lab, seed):
    _, a = lab.deep_unet(seed)
    _, b = lab.shallow_unet(seed)
    return {"a": a, "b": b, "noisy_psnr": lab.noisy_psnr()}


def run_denoised(lab, seed):
    from sklearn_patchdesc.describe import L2NetDescriptor, RandomTripletSampler

    den, _ = lab.shallow_unet(seed)
    if ("denoised input", seed) not in lab.cache:
        lab.cache["denoised input", seed] = den.transform(lab.X_noisy)
    X_den = lab.cache["denoised input", seed]

    def make():
        return L2NetDescriptor(sampler=RandomTripletSampler(lab.triplets_per_epoch),
                               **lab.common(seed))

    _, a = lab.describe("random triplets, denoised", seed, make, X=X_den)
    _, b = lab.random_triplets(seed)  # the baseline is trained and scored on noisy patches
    return _map_record(a, b)


#: the shipped-pipeline claim's noise: seed s draws with random_state data_seed + 100 + s
SHIPPED_NOISE_OFFSET = 100


def run_shipped_pipeline(lab, seed):
    """The shipped pipeline against its own HardNet, both on the seed's noisy copy.

    Nothing is trained (the shipped weights are fixed), so a seed is a fresh
    noise draw of the held-out patches. Recorded alongside: HardNet on clean
    input and on the output of the seed's pixel-trained shallow U-Net (the
    denoiser of ``denoised_vs_noisy``).
    """
    claim = CLAIMS["shipped_pipeline_vs_noisy"]
    pipe, clean = lab.shipped()
    hardnet = pipe.named_steps["describe"]
    X = _noisy(lab.X_clean[lab.te], lab.y[lab.te],
               lab.cfg.data_seed + SHIPPED_NOISE_OFFSET + seed)
    pixel, _ = lab.shallow_unet(seed)
    a = lab.score(pipe.transform(X))
    b = lab.score(hardnet.transform(X))
    return _map_record(a, b, value=claim.value, clean=clean,
                       pixel=lab.score(hardnet.transform(pixel.transform(X))))


def warm_start(estimator):
    """A skorch callback that starts a fit from ``estimator``'s weights (a shared warm start)."""
    from skorch.callbacks import Callback

    from sklearn_patchdesc.describe._stepped import load_weights

    class WarmStart(Callback):
        def on_train_begin(self, net, **kwargs):
            load_weights(net.module_, estimator)

    return [("warm_start", WarmStart())]


def run_hard_positives(lab, seed):
    from sklearn_patchdesc.describe import (HardPositiveMiner, L2NetDescriptor,
                                            RandomTripletSampler)

    c = lab.cfg
    baseline, _ = lab.random_triplets(seed)
    more = dict(max_epochs=c.hp_epochs, callbacks=warm_start(baseline))
    _, a = lab.describe("hard positives after the warm start", seed, lambda: L2NetDescriptor(
        sampler=HardPositiveMiner(warmup_epochs=0, n_triplets=lab.triplets_per_epoch),
        **lab.common(seed, **more)))
    _, b = lab.describe("random triplets after the warm start", seed, lambda: L2NetDescriptor(
        sampler=RandomTripletSampler(lab.triplets_per_epoch), **lab.common(seed, **more)))
    return _map_record(a, b)


def run_n2n(lab, seed):
    _, a = lab.deep_unet(seed, "Noise2Noise")
    _, b = lab.deep_unet(seed, "clean")
    return {"a": a, "b": b, "noisy_psnr": lab.noisy_psnr()}


def run_inversion_depth(lab, seed):
    psnr = {layer: lab.inversion(seed, layer, "stacked")[1] for layer in lab.cfg.inv_layers}
    layers = list(psnr)
    return {"a": psnr[layers[0]], "b": psnr[layers[-1]], "by_layer": psnr}


def run_stacked(lab, seed):
    layers = [layer for layer in lab.cfg.inv_layers if lab.inversion(seed, layer, "stacked")[0] > 1]
    by_layer = {layer: {"stacked": lab.inversion(seed, layer, "stacked")[1],
                        "end_to_end": lab.inversion(seed, layer, "end_to_end")[1]}
                for layer in layers}
    first = by_layer[layers[0]]
    return {"a": first["stacked"], "b": first["end_to_end"], "by_layer": by_layer,
            "layer": layers[0]}


def run_opms(lab, seed):
    from sklearn_patchdesc.describe import (ContrastiveLoss, L2NetDescriptor, OnlinePairMiner,
                                            RandomTripletSampler)

    def make(random):
        return L2NetDescriptor(
            criterion=ContrastiveLoss, criterion__miner=OnlinePairMiner(random=random),
            sampler=RandomTripletSampler(lab.triplets_per_epoch), **lab.common(seed))

    _, a = lab.describe("contrastive + OPMS", seed, lambda: make(False))
    _, b = lab.describe("contrastive + random pairs", seed, lambda: make(True))
    return _map_record(a, b)


MAP = "HPatches mean mAP"
PSNR = "held-out PSNR, dB"
SOFT_TOLERANCE = 0.01
N2N_TOLERANCE_DB = 1.0
STACKED_TOLERANCE_DB = 0.1
#: in run order: the claims about a regime of their seed first, then the others
CLAIMS = {c.key: c for c in (
    Claim("batch_hard_vs_random", "001", "batch-hard triplets beat random triplets", MAP,
          "batch-hard (1 warm-up epoch, then PK {stages[0][0]}, K={stages[0][1]})",
          "random triplets", run_batch_hard,
          seed_numbers="seed 001: retrieval 0.544 -> 0.618 (batch hard 128)"),
    Claim("stepped_avoids_collapse", "001",
          "stepped batch-hard avoids the collapse of large batch-hard batches",
          "held-out mean pairwise distance (collapse ~0)",
          "stepped {stepped} from the baseline weights",
          "batch-hard {big_batch[0]} (K={big_batch[1]}) from scratch, Adam {big_lr:g}",
          run_stepped, uses_map=False, premise=premise_collapse,
          seed_numbers="seed 001: batches of 1024 with K > 3 from random weights collapse, "
                       "Adam fastest; stepped 32 -> 1024 from baseline weights does not"),
    Claim("hard_positives_vs_random", "000", "hard positives beat random triplets", MAP,
          "warm start, then hard positives", "warm start, then random triplets",
          run_hard_positives,
          seed_numbers="seed 000 table 5: PV/IM/PR 0.701/0.117/0.387 -> 0.823/0.359/0.392"),
    Claim("inversion_decays_with_depth", "003", "inversion quality decays with depth", PSNR,
          "shallowest ({shallowest})", "deepest ({deepest})", run_inversion_depth,
          uses_map=False,
          seed_numbers="seed 003: quality decays gradually with depth (VGG16, figures)"),
    Claim("stacked_vs_end_to_end", "003", "stacked inversion >= end-to-end", PSNR,
          "stacked modules", "end-to-end, same epochs per layer", run_stacked,
          tolerance=STACKED_TOLERANCE_DB, uses_map=False,
          seed_numbers="seed 003: 3 stacked modules beat end-to-end on VGG16 pool1"),
    Claim("soft_vs_hard_margin", "001", "soft margin >= hard (hinge) margin", MAP,
          "batch-hard, soft margin (m=0)", "batch-hard, hinge (m=1)", run_soft_margin,
          tolerance=SOFT_TOLERANCE,
          seed_numbers="seed 001: verification 0.863 -> 0.873 (batch hard 1024, soft)"),
    Claim("opms_vs_random_pairs", "004", "OPMS beats random pairs", MAP,
          "contrastive, OPMS (lambda 0 -> 1)", "contrastive, random negative pairs", run_opms,
          seed_numbers="seed 004 (SimNet on CIFAR-10): accuracy 92.6 % vs 78.1 %"),
    Claim("deep_vs_shallow_unet", "001", "deep U-Net beats the shallow U-Net", PSNR,
          "U-Net, 3 levels ({unet_channels} channels first)", "shallow U-Net (16-64 channels)",
          run_deep_unet, uses_map=False,
          seed_numbers="seed 001: L1 loss 4.5 vs 5.3 (grey levels)"),
    Claim("n2n_vs_clean", "002",
          f"Noise2Noise within {N2N_TOLERANCE_DB:g} dB of clean-target training", PSNR,
          "U-Net, Noise2Noise (second noisy copy)", "U-Net, clean targets", run_n2n,
          tolerance=N2N_TOLERANCE_DB, uses_map=False,
          seed_numbers="seed 002: 25.08 dB for N2N (its own data, no clean-target number)"),
    Claim("denoised_vs_noisy", "000", "denoised input beats noisy input", MAP,
          "L2-Net on denoised (shallow U-Net)", "L2-Net on noisy", run_denoised,
          seed_numbers="seed 000: verification 0.827 vs 0.632 (clean 0.839)"),
    Claim("shipped_pipeline_vs_noisy", "000",
          "denoised input beats noisy input: the shipped pipeline", "HPatches matching mAP",
          "load_pretrained_pipeline(): task-aware denoiser, then the shipped HardNet",
          "the shipped HardNet on noisy input", run_shipped_pipeline, value="matching",
          seed_numbers="seed 000: verification 0.827 vs 0.632 (clean 0.839)"),
)}


# --------------------------------------------------------------------------- statistics
def paired_interval(a, b, level=0.95):
    """Mean of the paired differences ``a - b`` and its t-interval ``(mean, lo, hi)``."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return mean, mean - half, mean + half


def max_task_map(records, tasks=TASKS):
    """Highest mAP of ``tasks`` of any compared method and seed (0 when the claim has none)."""
    return max((s[t] for r in records for s in r.get("scores", {}).values() for t in tasks),
               default=0.0)


def judge(claim, records):
    """``(verdict, reason, (mean, lo, hi))`` of a claim from its per-seed records."""
    stats = paired_interval([r["a"] for r in records], [r["b"] for r in records])
    mean, lo, hi = stats
    threshold = -claim.tolerance
    if claim.premise is not None:
        override, why = claim.premise(records)
        if override:
            return override, why, stats
    else:
        why = ""
    top = max_task_map(records, claim.tasks)
    if claim.uses_map and top > SATURATED:
        return "cannot tell", f"saturated: a task reached {top:.3f} mAP (> {SATURATED})", stats
    if len(records) < 2:
        return "cannot tell", "one seed: no interval", stats
    rule = f"95 % interval of A - B vs {threshold + 0.0:g}"
    if lo > threshold:
        return "holds", "; ".join(filter(None, [why, f"{rule}: above"])), stats
    if hi < threshold:
        return "does not hold", "; ".join(filter(None, [why, f"{rule}: below"])), stats
    return "cannot tell", "; ".join(filter(None, [why, f"{rule}: contains it"])), stats


# --------------------------------------------------------------------------- results file
class Results:
    """Per-(claim, seed) records in a JSON file, rewritten atomically after each one.

    Saving merges with what is on disk under a lock, so several processes
    (e.g. ``--only`` with disjoint claims) can fill one file side by side.
    """

    def __init__(self, path, cfg, fresh=False):
        self.path = Path(path)
        self.cfg = _cfg_dict(cfg)
        self.data = {"config": self.cfg, "claims": {}, "sessions": []}
        if fresh and self.path.is_file():  # (os.devnull, the no-file case, is not a file)
            # set the earlier results aside: every save merges what is on disk, which
            # would otherwise bring the old records back after the first one
            os.replace(self.path, self.previous)
        elif self.path.is_file():
            old = json.loads(self.path.read_text())
            if old.get("config") != self.cfg:
                raise SystemExit(f"{self.path} holds results of other settings; pass --fresh to "
                                 "start over or --results to use another file.")
            self.data = old
        self.foreign = {s["id"] for s in self.data["sessions"]}  # sessions of other processes

    @property
    def previous(self):
        """Where ``fresh=True`` moves an earlier results file."""
        return self.path.with_name(self.path.stem + ".previous.json")

    def get(self, key, seed):
        return self.data["claims"].get(key, {}).get(str(seed))

    def put(self, key, seed, record):
        self.data["claims"].setdefault(key, {})[str(seed)] = record
        self.save()

    def records(self, key):
        got = self.data["claims"].get(key, {})
        return [got[str(s)] for s in self.cfg["seeds"] if str(s) in got]

    def save(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.is_file():
                disk = json.loads(self.path.read_text())
                if disk.get("config") == self.cfg:
                    for key, recs in disk["claims"].items():
                        for seed, rec in recs.items():
                            self.data["claims"].setdefault(key, {}).setdefault(seed, rec)
                    # this process's sessions from memory, every other one as on disk
                    mine = {s["id"] for s in self.data["sessions"]} - self.foreign
                    self.data["sessions"] = [s for s in self.data["sessions"] if s["id"] in mine]
                    self.data["sessions"] += [s for s in disk["sessions"] if s["id"] not in mine]
                    self.foreign |= {s["id"] for s in disk["sessions"] if s["id"] not in mine}
                    self.data["sessions"].sort(key=lambda s: s["date"])
                    self.data.setdefault("data", disk.get("data"))
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, indent=1, default=_jsonable))
            os.replace(tmp, self.path)


def _load_average_text(sessions):
    loads = [s["load"] for s in sessions if "load" in s]
    if not loads:
        return ""
    return "; 1-minute load average at the start: " + ", ".join(f"{v:.2f}" for v in loads)


def _cfg_dict(cfg):
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in the results file")


def labels(claim, cfg):
    fmt = dict(dataclasses.asdict(cfg),
               stepped=" -> ".join(str(s) for s, _ in cfg.stages),
               shallowest=cfg.inv_layers[0], deepest=cfg.inv_layers[-1])
    return claim.a.format(**fmt), claim.b.format(**fmt)


# --------------------------------------------------------------------------- output
def _fmt(v, metric):
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.2f}" if "dB" in metric else f"{v:.3f}"


def _mean_sd(values, metric):
    v = np.asarray(values, float)
    sd = v.std(ddof=1) if len(v) > 1 else float("nan")
    return f"{_fmt(v.mean(), metric)} ± {_fmt(sd, metric)}"


def details(claim, records):
    """The per-claim facts a reader needs besides the two means."""
    parts = []
    if claim.uses_map:
        for side in ("A", "B"):
            pv, im, pr = (np.mean([r["scores"][side][t] for r in records]) for t in TASKS)
            parts.append(f"{side} PV/IM/PR {pv:.3f}/{im:.3f}/{pr:.3f}")
    if claim.key == "stepped_avoids_collapse":
        for side, name in (("big", "from scratch"), ("stepped", "stepped")):
            ends = ", ".join(f"{r[side]['probe'][-1]:.2f}" for r in records)
            parts.append(f"{name}: final probe distance {ends}")
        maps = [(r["scores"]["A"]["mean"], r["scores"]["B"]["mean"]) for r in records]
        parts.append("mean mAP stepped {:.3f} vs from scratch {:.3f}".format(*np.mean(maps, 0)))
        stages = [r.get("stepped_last_stage") for r in records]
        parts.append("stepped run ended at stage(s) " + ", ".join(
            "warm-up" if s is None else f"{s[0]}/K={s[1]}" for s in stages))
    if "noisy_psnr" in records[0]:
        parts.append(f"noisy input {records[0]['noisy_psnr']:.2f} dB")
    if claim.key == "inversion_decays_with_depth":
        parts.append("stacked PSNR by layer: " + ", ".join(
            f"{k} {np.mean([r['by_layer'][k] for r in records]):.2f}"
            for k in records[0]["by_layer"]))
    if claim.key == "stacked_vs_end_to_end":
        for layer in records[0]["by_layer"]:
            s, e = (np.mean([r["by_layer"][layer][m] for r in records])
                    for m in ("stacked", "end_to_end"))
            parts.append(f"{layer}: stacked {s:.2f} vs end-to-end {e:.2f}")
        parts.append(f"verdict at {records[0]['layer']}")
    if claim.key == "shipped_pipeline_vs_noisy":
        for side, name in (("clean", "HardNet on clean"),
                           ("pixel", "HardNet on the shallow U-Net's output")):
            pv, im, pr = (np.mean([r[side][t] for r in records]) for t in TASKS)
            parts.append(f"{name} PV/IM/PR {pv:.3f}/{im:.3f}/{pr:.3f}")
        a, b = (np.mean([r[k] for r in records]) for k in ("a", "b"))
        clean = np.mean([r["clean"]["matching"] for r in records])
        parts.append(f"the pipeline closes {100 * (a - b) / (clean - b):.0f} % of the matching "
                     "gap between noisy and clean input; the seeds are noise draws of the "
                     "held-out patches (the shipped weights are fixed)")
    if claim.seed_numbers:
        parts.append(claim.seed_numbers)
    return "; ".join(parts)


def summarize(results, cfg):
    """One row per claim: labels, means, interval, verdict, reason, details."""
    rows = []
    for claim in CLAIMS.values():
        recs = results.records(claim.key)
        a, b = labels(claim, cfg)
        row = {"claim": claim, "a": a, "b": b, "n": len(recs), "records": recs}
        if recs:
            row["verdict"], row["why"], row["stats"] = judge(claim, recs)
            row["details"] = details(claim, recs)
        rows.append(row)
    return rows


def text_table(rows):
    head = (f"{'claim':52s} {'seed':4s} {'A mean±sd':>15s} {'B mean±sd':>15s} "
            f"{'A-B [95% CI]':>24s} n  verdict")
    lines = [head, "-" * len(head)]
    for r in rows:
        c = r["claim"]
        if not r["n"]:
            lines.append(f"{c.text[:52]:52s} {c.seed:4s} {'not measured':>15s}")
            continue
        m, lo, hi = r["stats"]
        lines.append(
            f"{c.text[:52]:52s} {c.seed:4s} "
            f"{_mean_sd([x['a'] for x in r['records']], c.metric):>15s} "
            f"{_mean_sd([x['b'] for x in r['records']], c.metric):>15s} "
            f"{_fmt(m, c.metric):>7s} [{_fmt(lo, c.metric)}, {_fmt(hi, c.metric)}]".ljust(0)
            + f" {r['n']}  {r['verdict']}")
    lines.append("")
    for r in rows:
        if r["n"]:
            lines.append(f"* {r['claim'].key}: A = {r['a']}; B = {r['b']}. {r['why']}. "
                         f"{r['details']}")
    return "\n".join(lines)


def _cell(s):
    return str(s).replace("|", "/").replace("\n", " ")


def rst_table(rows, cfg, meta):
    missing = [r["claim"].key for r in rows if r["n"] < len(cfg.seeds)]
    status = ("**Partial run**: not (fully) measured: " + ", ".join(f"``{k}``" for k in missing)
              + "." if missing else "Complete run: every claim with every seed.")
    out = [".. This file is written by benchmarks/bench_seed_claims.py; do not edit by hand.", "",
           f"Measured {meta['date']} with ``{meta['command']}`` ({meta['sessions']} "
           f"process(es); wall minutes per process: {meta['walls']}; {meta['cpu'] / 60:.1f} "
           f"CPU minutes in all; Python {platform.python_version()}, {platform.machine()}, "
           f"CPU only, {os.cpu_count()} cores{meta['load']}). {status}", "",
           f"Data: {meta['data']}. Seeds {', '.join(map(str, cfg.seeds))} (weights and batch "
           f"order; the data stay fixed); descriptors {cfg.desc_epochs} epochs (Adam 1e-3, "
           f"batch {cfg.desc_batch} triplets), denoisers {cfg.den_epochs} epochs on {cfg.den_patches} "
           "noisy patches. A is the side the seed claims is better; A - B is the mean paired "
           "difference over the seeds with its 95 % t-interval.", "",
           ".. list-table::", "   :header-rows: 1", "   :widths: 18 10 14 14 9 9 12 9 25", "",
           "   * - Claim (seed)", "     - Metric", "     - A", "     - B",
           "     - A (mean ± sd)", "     - B (mean ± sd)", "     - A - B [95 % CI]",
           "     - Verdict", "     - Why, and details"]
    for r in rows:
        c = r["claim"]
        if r["n"]:
            m, lo, hi = r["stats"]
            cells = [c.metric, r["a"], r["b"], _mean_sd([x["a"] for x in r["records"]], c.metric),
                     _mean_sd([x["b"] for x in r["records"]], c.metric),
                     f"{_fmt(m, c.metric)} [{_fmt(lo, c.metric)}, {_fmt(hi, c.metric)}]",
                     f"**{r['verdict']}** ({r['n']} seeds)", f"{r['why']}. {r['details']}"]
        else:
            cells = [c.metric, r["a"], r["b"], "-", "-", "-", "**not measured**",
                     "the run stopped before this claim"]
        out.append(f"   * - {_cell(c.text)} ({c.seed})")
        out.extend("     - " + _cell(x) for x in cells)
    counts = {v: sum(r.get("verdict") == v for r in rows)
              for v in ("holds", "does not hold", "cannot tell")}
    out += ["", f"In this run: {counts['holds']} claim(s) hold, {counts['does not hold']} do not "
            f"hold, {counts['cannot tell']} cannot tell, {sum(not r['n'] for r in rows)} not "
            "measured.", ""]
    figures = [r for r in rows if r["n"] and meta.get("figures", {}).get(r["claim"].key)]
    if figures:
        out += ["Figures", "-------", ""]
        for r in figures:
            out += [f".. figure:: /_static/seed_claims/{r['claim'].key}.png",
                    f"   :alt: {r['claim'].text}: per-seed values of A and B", "   :width: 70%",
                    "", f"   {_cell(r['claim'].text)} (seed {r['claim'].seed}): "
                    f"{r['verdict']}.", ""]
    return "\n".join(out)


def plot_claim(row, path):
    """Bars of A and B (mean, sd error bar) with each seed as a dot; curves for inversion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c, recs = row["claim"], row["records"]
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    if c.key == "stepped_avoids_collapse":
        for side, name, color in (("big", "from scratch", "tab:red"),
                                  ("stepped", "stepped", "tab:blue")):
            for i, r in enumerate(recs):
                ax.plot(r[side]["probe"], color=color, marker=".", alpha=0.8,
                        label=name if i == 0 else None)
        ax.axhline(0.1, color="k", lw=0.8, ls=":", label="collapse threshold")
        ax.set_xlabel("epoch (0 = start)")
        ax.set_ylabel("CollapseMonitor probe distance", fontsize=8)
        ax.legend(frameon=False, fontsize=7)
    elif c.key in ("inversion_decays_with_depth", "stacked_vs_end_to_end"):
        layers = list(recs[0]["by_layer"])
        series = ({"stacked": [[r["by_layer"][k] for r in recs] for k in layers]}
                  if c.key == "inversion_decays_with_depth" else
                  {m: [[r["by_layer"][k][m] for r in recs] for k in layers]
                   for m in ("stacked", "end_to_end")})
        for name, vals in series.items():
            v = np.asarray(vals)
            ax.errorbar(range(len(layers)), v.mean(1), yerr=v.std(1, ddof=1) if v.shape[1] > 1
                        else None, marker="o", capsize=4, label=name.replace("_", "-"))
        ax.set_xticks(range(len(layers)), layers)
        ax.set_xlabel("inverted layer")
        ax.legend(frameon=False)
    else:
        vals = [np.array([r["a"] for r in recs]), np.array([r["b"] for r in recs])]
        ax.bar([0, 1], [v.mean() for v in vals],
               yerr=[v.std(ddof=1) if len(v) > 1 else 0 for v in vals], capsize=6,
               color=["tab:blue", "tab:gray"], alpha=0.7)
        for i, v in enumerate(vals):
            ax.plot(np.full(len(v), i) + np.linspace(-0.08, 0.08, len(v)), v, "k.", ms=7)
        ax.set_xticks([0, 1], [textwrap.fill(f"A: {row['a']}", 34),
                               textwrap.fill(f"B: {row['b']}", 34)], fontsize=7)
        lo = min(v.min() for v in vals)
        hi = max(v.max() for v in vals)
        pad = 0.5 * (hi - lo) + 1e-3
        if "dB" in c.metric:
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(c.metric, fontsize=8)
    ax.set_title(f"{c.text} ({c.seed}): {row['verdict']}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def data_text(cfg, lab_sizes):
    return (f"``make_hpatches_like(n_sequences={cfg.n_sequences}, n_patches_per_sequence="
            f"{cfg.n_patches}, random_state={cfg.data_seed})`` for training without the photos "
            f"chelsea/coins ({lab_sizes[0]} patches); held out: those photos' sequences plus "
            f"the real ``boat``, ``graffiti``, ``ubc`` cut with {cfg.n_real_points} labels each "
            f"({lab_sizes[1]} patches, 16 per label); noisy copies with easy/hard/tough noise")


def write_outputs(results, cfg, args, meta):
    rows = summarize(results, cfg)
    meta["figures"] = {}
    for r in rows:
        if r["n"]:
            plot_claim(r, args.figures / f"{r['claim'].key}.png")
            meta["figures"][r["claim"].key] = True
    args.out.write_text(rst_table(rows, cfg, meta))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes for a smoke run (writes no docs unless --out is given)")
    parser.add_argument("--only", nargs="+", choices=sorted(CLAIMS), metavar="CLAIM",
                        help=f"run only these claims: {', '.join(CLAIMS)}")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default 0 1 2)")
    parser.add_argument("--results", type=Path, help="JSON of per-(claim, seed) results "
                        f"(default {STATIC.relative_to(ROOT)}/results.json; quick: none)")
    parser.add_argument("--fresh", action="store_true",
                        help="start over: an existing results file is moved to "
                             "<name>.previous.json")
    parser.add_argument("--redo", action="store_true",
                        help="measure the selected claims again even where the results file "
                             "has them; the new records replace the stored ones")
    parser.add_argument("--replot", action="store_true",
                        help="only rebuild the table and figures from the results file")
    parser.add_argument("--no-write", action="store_true", help="write no table or figures")
    parser.add_argument("--no-real", action="store_true",
                        help="leave the real held-out sequences out (no shared data needed)")
    parser.add_argument("--out", type=Path, help="reStructuredText table to write "
                        f"(default {TABLE.relative_to(ROOT)})")
    parser.add_argument("--figures", type=Path, help=f"figure folder (default {STATIC})")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    cfg = QUICK if args.quick else Config()
    if args.seeds:
        cfg = dataclasses.replace(cfg, seeds=tuple(args.seeds))
    if args.results is None and not args.quick:
        args.results = STATIC / "results.json"
    write = not args.no_write and (not args.quick or args.out is not None)
    args.out = args.out or TABLE
    args.figures = args.figures or (args.out.parent / "_static" / "seed_claims"
                                    if args.out != TABLE else STATIC)
    results = (Results(args.results, cfg, fresh=args.fresh) if args.results else
               Results(os.devnull, cfg, fresh=True))
    if not args.results:
        results.save = lambda: None
    t_start = time.perf_counter()
    command = "python benchmarks/bench_seed_claims.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    print(f"seed claims: {'quick' if args.quick else 'default'} settings, seeds {cfg.seeds}",
          flush=True)

    lab = None
    keys = list(args.only or CLAIMS)
    if not args.replot:
        session = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
                   "command": command, "wall": 0.0, "cpu": 0.0,
                   "id": f"{os.getpid()}-{time.time():.0f}",
                   "load": round(os.getloadavg()[0], 2)}  # other work on the machine at start
        results.data["sessions"].append(session)

        def stamp():  # the session's time so far, saved with every record
            ru = resource.getrusage(resource.RUSAGE_SELF)
            session.update(wall=time.perf_counter() - t_start, cpu=ru.ru_utime + ru.ru_stime)

        for key in keys:
            claim = CLAIMS[key]
            for seed in cfg.seeds:
                if results.get(key, seed) is not None and not args.redo:
                    print(f"- {key}, seed {seed}: already in {args.results}", flush=True)
                    continue
                if lab is None:  # built only when something is left to measure
                    lab = Lab(cfg, real=not args.no_real)
                    print(f"data: {int(lab.tr.sum())} training patches, {int(lab.te.sum())} held "
                          f"out ({', '.join(lab.held_out)}); {time.perf_counter() - t_start:.0f} s",
                          flush=True)
                    results.data["data"] = data_text(cfg, (int(lab.tr.sum()), int(lab.te.sum())))
                print(f"- {key}, seed {seed}", flush=True)
                t0 = time.perf_counter()
                try:
                    record = claim.run(lab, seed)
                except Exception:  # report, keep going with the other claims
                    traceback.print_exc()
                    print(f"  {key}, seed {seed} failed; not recorded", flush=True)
                    continue
                record["seconds"] = time.perf_counter() - t0
                stamp()
                results.put(key, seed, record)
        stamp()
        results.save()

    sessions = results.data["sessions"]
    meta = {"date": sessions[-1]["date"][:10] if sessions else "-",
            "command": "``; ``".join(dict.fromkeys(s["command"] for s in sessions)) or command,
            "wall": sum(s["wall"] for s in sessions), "cpu": sum(s["cpu"] for s in sessions),
            "walls": ", ".join(f"{s['wall'] / 60:.1f}" for s in sessions) or "-",
            "sessions": len(sessions), "data": results.data.get("data", "-"),
            "load": _load_average_text(sessions)}
    rows = summarize(results, cfg)
    print()
    print(text_table(rows))
    if write:
        write_outputs(results, cfg, args, meta)
        print(f"wrote {args.out} and figures in {args.figures}")
    print(f"\nthis invocation: {(time.perf_counter() - t_start) / 60:.1f} min wall; all sessions: "
          f"{meta['walls']} min wall each, {meta['cpu'] / 60:.1f} min CPU in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
