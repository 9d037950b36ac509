"""Training throughput of ShallowUNetDenoiser vs a plain PyTorch loop, per threads x precision.

The denoisers' twin of ``bench_describe_throughput.py``: both sides train the
same :class:`~sklearn_patchdesc.denoise._modules.ShallowUNet` (channels-last
weights, as the estimator uses) with Adam (lr 1e-3) and the L1 loss on the
same noisy/clean uint8 pairs in batches of the same size, shuffled. The plain
loop is the minimum: index the arrays, convert to float, forward, loss,
backward, step. See ``_throughput.py`` for how a cell is measured.

Usage::

    python benchmarks/bench_denoise_throughput.py [--patches 1024] [--batch 64] [--size 32]
        [--repeats 3] [--threads 1,2,auto] [--precision fp32,bf16]
"""
import argparse
import time

import numpy as np
import torch

from _throughput import print_grid, run_cell, timed_steps
from sklearn_patchdesc._precision import autocast
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.denoise._modules import ShallowUNet


def plain_loop(noisy, clean, batch, seed, precision):
    t0 = time.perf_counter()  # both sides are timed from building the network on
    torch.manual_seed(seed)
    module = ShallowUNet().to(memory_format=torch.channels_last)
    module.train()
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    crit = torch.nn.L1Loss()
    Xn, Xc = torch.from_numpy(noisy[:, None]), torch.from_numpy(clean[:, None])
    order = np.random.default_rng(seed).permutation(len(noisy))

    def made(idx):
        idx = torch.from_numpy(idx)
        return idx, lambda: Xn[idx].float().div_(255.0)

    def step(xb, idx):
        opt.zero_grad()
        with autocast("cpu", precision):
            out = module(xb)
        loss = crit(out.float(), Xc[idx].float().div_(255.0))
        loss.backward()
        opt.step()
        loss.item()

    n = timed_steps((made(order[i:i + batch]) for i in range(0, len(order), batch)), step)
    return n / (time.perf_counter() - t0)


def estimator(noisy, clean, batch, seed, precision):
    est = ShallowUNetDenoiser(max_epochs=1, batch_size=batch, random_state=seed,
                              precision=precision)
    t0 = time.perf_counter()
    est.fit(noisy, clean)
    return len(noisy) / (time.perf_counter() - t0), est


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=1024, help="training patches per run")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=32, help="patch side")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="auto")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (args.patches, args.size, args.size), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)

    def run(precision):
        def sized(seed):  # seed -1 is the warm-up: one batch
            return (noisy[:args.batch], clean[:args.batch]) if seed < 0 else (noisy, clean)

        return run_cell(precision,
                        lambda s: plain_loop(*sized(s), args.batch, max(s, 0), precision),
                        lambda s: estimator(*sized(s), args.batch, max(s, 0), precision),
                        noisy, args.repeats)

    print_grid(f"ShallowUNetDenoiser training, {args.patches} patches of {args.size}x{args.size} "
               f"per run, batch {args.batch}, medians of {args.repeats} interleaved runs",
               args.threads.split(","), args.precision.split(","), run)


if __name__ == "__main__":
    main()
