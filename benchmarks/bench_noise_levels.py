"""Per noise level: does the shipped denoiser remove the noise it sees, and leave clean input alone?

On the noisy real held-out sequences (``boat``, ``graffiti``, ``ubc``, never
trained on) and on the same patches at any fixed gaussian sigma, prints per
level the blind noise estimate (:func:`~sklearn_patchdesc.denoise.estimate_noise_sigma`,
grey levels) of the input, of the denoised output and of the clean twin, and
the PSNR before and after. Under-smoothing leaves the output's estimate above
the clean twin's; over-smoothing pushes it below (texture removed) and, on
clean input, lowers the PSNR of the output against its own input.

    python benchmarks/bench_noise_levels.py [--pipeline taskaware-hardnet-hpatches-like]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import noisy_heldout_set  # noqa: E402

from sklearn_patchdesc.datasets import add_patch_noise  # noqa: E402
from sklearn_patchdesc.datasets._common import image_noise_level  # noqa: E402
from sklearn_patchdesc.denoise import NoiseLevelWarning, estimate_noise_sigma  # noqa: E402
from sklearn_patchdesc.metrics import patch_psnr  # noqa: E402
from sklearn_patchdesc.pipeline import load_pretrained_pipeline  # noqa: E402


def row(name, den, X, C):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoiseLevelWarning)
        Z = den.transform(X)
    s_in, s_out, s_clean = (float(np.median(estimate_noise_sigma(a))) for a in (X, Z, C))
    same = np.array_equal(X, C)
    before = float("inf") if same else patch_psnr(C, X)
    print(f"{name:<22}{s_in:>9.1f}{s_out:>9.1f}{s_clean:>9.1f}{before:>10.1f}"
          f"{patch_psnr(C, Z):>10.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", default="taskaware-hardnet-hpatches-like")
    ap.add_argument("--heldout-points", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    den = load_pretrained_pipeline(args.pipeline)[0]
    Xn, Xc, y = noisy_heldout_set(args.heldout_points)
    level = image_noise_level(y["image"])
    print(f"{args.pipeline} denoiser; trained on estimated sigma "
          f"{den.noise_sigma_range_[0]:.1f}..{den.noise_sigma_range_[1]:.1f} (1st-99th pct)")
    print(f"{'input':<22}{'sigma in':>9}{'out':>9}{'clean':>9}{'PSNR in':>10}{'PSNR out':>10}")
    for lv in ("easy", "hard", "tough"):
        m = level == lv
        row(f"N-HPatches {lv}", den, Xn[m], Xc[m])
    row("clean input", den, Xc, Xc)
    for sigma in (4, 8, 16, 24, 32, 48):
        row(f"gaussian sigma {sigma}", den, add_patch_noise(Xc, float(sigma) / 8,
                                                            random_state=sigma), Xc)


if __name__ == "__main__":
    main()
