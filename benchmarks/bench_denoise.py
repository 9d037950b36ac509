"""Denoiser comparison on a generated N-HPatches-style set.

Trains every denoiser of :mod:`sklearn_patchdesc.denoise` briefly on the noisy
patches of some sequences (clean targets; plus two self-supervised runs that
never see a clean patch) and prints PSNR / SSIM / MAE on held-out sequences,
fit time and parameter count.

    python benchmarks/bench_denoise.py            # ~default widths, a few minutes on 2 cores
    python benchmarks/bench_denoise.py --quick    # narrow networks, tiny budget

Numbers are a smoke-level comparison (a few epochs on ~1000 patches), not the
seeds' 30-50 epoch results.
"""
import argparse
import time

import numpy as np
import torch

from sklearn_patchdesc._split import held_out_groups  # the library's held-out split
from sklearn_patchdesc.datasets import add_patch_noise, make_hpatches_like
from sklearn_patchdesc.datasets._common import image_noise_level
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


def denoisers(quick, epochs):
    common = dict(max_epochs=epochs, batch_size=32, random_state=0)
    narrow = quick
    return [
        ("Gaussian(sigma=1)", GaussianDenoiser(sigma=1.0), "clean"),
        ("NL-means", NLMeansDenoiser(), "clean"),
        ("ShallowUNet", ShallowUNetDenoiser(**common), "clean"),
        ("ShallowUNet self-sup.", ShallowUNetDenoiser(**common), "none"),
        ("UNet(depth=3)", UNetDenoiser(depth=3, **common,
                                       **({"module__base_channels": 8} if narrow else {})),
         "clean"),
        ("TernausNet-VGG11", TernausNetDenoiser(encoder="vgg11", freeze_encoder=False, **common,
                                                **({"module__base_channels": 8} if narrow else
                                                   {"module__base_channels": 16})), "clean"),
        ("TernausNet-VGG16", TernausNetDenoiser(encoder="vgg16", freeze_encoder=False, **common,
                                                **({"module__base_channels": 8} if narrow else
                                                   {"module__base_channels": 16})), "clean"),
        ("DnCNN", DnCNNDenoiser(**common, **({"depth": 8, "module__channels": 16} if narrow
                                            else {"depth": 10, "module__channels": 32})),
         "clean"),
        ("DnCNN self-sup.", DnCNNDenoiser(**common, **({"depth": 8, "module__channels": 16}
                                                      if narrow else
                                                      {"depth": 10, "module__channels": 32})),
         "none"),
        ("ConvAE hybrid (N2N)", ConvAutoencoderDenoiser(
            **common, optimizer__lbfgs_max_iter=5,
            module__channels=(8, 8, 16, 16, 32) if narrow else (16, 16, 32, 64, 128)),
         "noisy2"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CI smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n_seq, per_seq, n_train, n_test, epochs = ((4, 40, 400, 200, 3) if args.quick
                                               else (6, 80, 1000, 400, 5))
    data = make_hpatches_like(n_sequences=n_seq, n_patches_per_sequence=per_seq, noise=True,
                              random_state=0)
    seq = data.target["sequence"]
    held_out = set(held_out_groups(seq, max(1, n_seq // 3), random_state=0))
    test = np.isin(seq, list(held_out))
    rng = np.random.default_rng(0)
    tr_idx = rng.permutation(np.flatnonzero(~test))[:n_train]
    te_idx = rng.permutation(np.flatnonzero(test))[:n_test]
    Xn, Xc = data.data[tr_idx], data.data_clean[tr_idx]
    # a second, independent noisy copy for Noise2Noise, same levels as ``data``
    # (easy for ref/e1..e5, hard for h1..h5, tough for t1..t5)
    image = data.target["image"][tr_idx]
    levels = image_noise_level(image)
    Xn2 = add_patch_noise(Xc, levels, random_state=1)
    Tn, Tc = data.data[te_idx], data.data_clean[te_idx]
    print(f"train: {len(Xn)} patches from {n_seq - len(held_out)} sequences; "
          f"test: {len(Tn)} patches from held-out {sorted(held_out)}; "
          f"{Xn.shape[-1]}x{Xn.shape[-1]}, {epochs} epochs\n")
    rows = [("noisy input", Tn, 0.0, 0)]
    for name, est, target in denoisers(args.quick, epochs):
        y = {"clean": Xc, "noisy2": Xn2, "none": None}[target]
        t0 = time.perf_counter()
        est.fit(Xn, y)
        fit_time = time.perf_counter() - t0
        n_params = (sum(p.numel() for p in est.net_.module_.parameters())
                    if hasattr(est, "net_") else 0)
        rows.append((f"{name} [{target}]", est.transform(Tn), fit_time, n_params))
    rows.append(("clean (upper bound)", Tc, 0.0, 0))
    header = f"{'denoiser [training target]':34s} {'PSNR dB':>8s} {'SSIM':>6s} {'MAE':>6s} " \
             f"{'fit s':>7s} {'params':>10s}"
    print(header)
    print("-" * len(header))
    for name, out, fit_time, n_params in rows:
        psnr = patch_psnr(Tc, out) if out is not Tc else float("inf")
        ssim = patch_ssim(Tc, out)
        mae = float(np.abs(Tc.astype(np.float64) - out).mean())
        print(f"{name:34s} {psnr:8.2f} {ssim:6.3f} {mae:6.2f} {fit_time:7.1f} {n_params:10,d}")


if __name__ == "__main__":
    main()
