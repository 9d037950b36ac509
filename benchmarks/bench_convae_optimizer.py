"""ConvAutoencoderDenoiser: cost and quality of its optimiser choices, side by side.

Seed 002 runs "the first 5 iterations with LBFGS", then momentum SGD. With
torch's L-BFGS every optimiser step may evaluate the network up to
``lbfgs_max_iter`` times (plus line-search evaluations), so on a small set,
where an epoch is one or two batches, the L-BFGS phase dominates the fit.
This script trains the same Noise2Noise autoencoder with each setting and
prints the training forward passes (load-independent), the fit time and the
held-out PSNR:

    python benchmarks/bench_convae_optimizer.py                 # 64 patches, 1 epoch, full width
    python benchmarks/bench_convae_optimizer.py --n-train 512 --epochs 6 --narrow

``--narrow`` uses ``module__channels=(16, 16, 32, 64, 128)`` (about 16x
cheaper) so that a several-epoch quality comparison fits in minutes.
"""
import argparse
import time

import numpy as np
import torch

from sklearn_patchdesc.datasets import add_patch_noise, make_hpatches_like
from sklearn_patchdesc.denoise import ConvAutoencoderDenoiser
from sklearn_patchdesc.denoise._modules import ConvAutoencoder
from sklearn_patchdesc.metrics import patch_psnr

SETTINGS = {
    "hybrid, lbfgs_max_iter=20 (default)": dict(),
    "hybrid, lbfgs_max_iter=1": dict(optimizer="hybrid", optimizer__lbfgs_max_iter=1),
    "hybrid, lbfgs_max_iter=5": dict(optimizer="hybrid", optimizer__lbfgs_max_iter=5),
    "hybrid, lbfgs_max_iter=10": dict(optimizer="hybrid", optimizer__lbfgs_max_iter=10),
    "sgd, momentum 0.9": dict(optimizer="sgd"),
    "adam, lr 1e-3": dict(optimizer="adam", lr=1e-3),
}


def _count_forwards():
    """Patch ConvAutoencoder.forward to count calls; returns the counter list."""
    calls = [0]
    forward = ConvAutoencoder.forward

    def counted(self, x):
        calls[0] += 1
        return forward(self, x)

    ConvAutoencoder.forward = counted
    return calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--narrow", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="substrings of the settings to run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = make_hpatches_like(n_sequences=6, n_patches_per_sequence=max(60, args.n_train // 3),
                              noise=True, random_state=0)
    test = np.isin(data.target["sequence"], data.sequence_names[-2:])
    rng = np.random.default_rng(0)
    tr = rng.permutation(np.flatnonzero(~test))[:args.n_train]
    te = rng.permutation(np.flatnonzero(test))[:args.n_test]
    image = data.target["image"][tr]
    levels = np.where(image <= 5, "easy", np.where(image <= 10, "hard", "tough"))
    X, X2 = data.data[tr], add_patch_noise(data.data_clean[tr], levels, random_state=1)
    T, Tc = data.data[te], data.data_clean[te]
    width = {"module__channels": (16, 16, 32, 64, 128)} if args.narrow else {}
    print(f"{len(X)} training patches (Noise2Noise), {len(T)} held-out, {args.epochs} epoch(s), "
          f"batch 64, {'narrow' if args.narrow else 'default'} width, "
          f"{torch.get_num_threads()} threads; noisy input PSNR {patch_psnr(Tc, T):.2f} dB\n")
    calls = _count_forwards()
    header = f"{'optimiser':42s} {'fwd passes':>10s} {'fit s':>8s} {'PSNR dB':>8s}"
    print(header)
    print("-" * len(header))
    for name, params in SETTINGS.items():
        if args.only and not any(s in name for s in args.only):
            continue
        est = ConvAutoencoderDenoiser(max_epochs=args.epochs, batch_size=64, random_state=0,
                                      **width, **params)
        calls[0] = 0
        t0 = time.perf_counter()
        est.fit(X, X2)
        seconds, passes = time.perf_counter() - t0, calls[0]
        print(f"{name:42s} {passes:10d} {seconds:8.1f} {patch_psnr(Tc, est.transform(T)):8.2f}",
              flush=True)


if __name__ == "__main__":
    main()
