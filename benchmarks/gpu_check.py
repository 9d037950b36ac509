"""GPU throughput of the shipped recipes: HardNet and the shallow U-Net, fp32 / bf16 / compiled.

Run on a CUDA machine by ``benchmarks/gpu_check.sh`` (which installs what the
machine lacks first). Prints, for ``HardNetDescriptor`` (batches of
``--batch`` pairs) and ``ShallowUNetDenoiser`` (``--batch`` patches):

- training patches/s through the estimator, one epoch, in fp32 and bf16;
- the same step in a plain loop with ``torch.compile`` (the estimators do
  not compile; this shows what compiling would add);
- inference patches/s through ``transform`` in fp32 and bf16;
- one HardNet training epoch over ``--full`` patches (2.4 M: an
  N-HPatches-size training set) with its time and peak GPU memory.

Targets from issue 29: HardNet >= 50,000 training patches/s in bf16 at
batch 1024 on one H100; the 2.4 M-patch epoch in <= 2 minutes.

Usage::

    python benchmarks/gpu_check.py [--patches 200000] [--batch 1024] [--full 2400000]
"""
import argparse
import time

import numpy as np
import torch

from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import HardNetDescriptor, HardNetLoss, L2Net


def pair_data(n_patches, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n_patches, 32, 32), dtype=np.uint8)
    return X, np.repeat(np.arange(n_patches // 2), 2)


def sync():
    torch.cuda.synchronize()


def hardnet_fit(X, y, batch, precision, epochs=1):
    est = HardNetDescriptor(max_epochs=epochs, batch_size=2 * batch, device="cuda",
                            precision=precision, random_state=0)
    torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    est.fit(X, y)
    sync()
    return est, len(X) * epochs / (time.perf_counter() - t0)


def denoiser_fit(X, batch, precision):
    est = ShallowUNetDenoiser(max_epochs=1, batch_size=batch, device="cuda",
                              precision=precision, random_state=0)
    sync()
    t0 = time.perf_counter()
    est.fit(X, X)
    sync()
    return est, len(X) / (time.perf_counter() - t0)


def infer_rate(est, X):
    est.transform(X[:4096])  # warm-up
    sync()
    t0 = time.perf_counter()
    est.transform(X)
    sync()
    return len(X) / (time.perf_counter() - t0)


def compiled_hardnet_rate(X, y, batch, precision, steps=50):
    """A plain HardNet loop with ``torch.compile``d trunk (same loss and optimizer)."""
    dev = torch.device("cuda")
    module = L2Net(dropout=0.3, init="orthogonal").to(dev, memory_format=torch.channels_last)
    step_module = torch.compile(module)
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    crit = HardNetLoss()
    Xt = torch.from_numpy(X[:, None]).pin_memory()
    yt = torch.from_numpy(y)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]

    def step(i):
        idx = torch.arange(i * 2 * batch, (i + 1) * 2 * batch) % len(X)
        xb = Xt[idx].to(dev, non_blocking=True).float().div_(255)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = step_module(xb)
        loss = crit(out.float(), yt[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(5):  # compile and warm up
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    return steps * 2 * batch / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--full", type=int, default=2_400_000)
    args = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__}, {props.name}, {props.total_memory / 2**30:.0f} GiB, "
          f"bf16 {torch.cuda.is_bf16_supported()}")
    X, y = pair_data(args.patches)
    print(f"\n{'network':<22} {'precision':<9} {'train p/s':>10} {'infer p/s':>10}")
    for precision in ("fp32", "bf16"):
        hardnet_fit(X[:8192], y[:8192], args.batch, precision)  # warm-up (cuDNN autotune)
        est, rate = hardnet_fit(X, y, args.batch, precision)
        print(f"{'HardNetDescriptor':<22} {precision:<9} {rate:>10.0f} {infer_rate(est, X):>10.0f}",
              flush=True)
    for precision in ("fp32", "bf16"):
        try:
            rate = compiled_hardnet_rate(X, y, args.batch, precision)
            print(f"{'HardNet plain+compile':<22} {precision:<9} {rate:>10.0f} {'-':>10}",
                  flush=True)
        except Exception as exc:  # noqa: BLE001 - report, go on with the rest
            print(f"{'HardNet plain+compile':<22} {precision:<9} failed: {type(exc).__name__}: "
                  f"{str(exc)[:120]}")
    Xd = X[: args.patches // 4]
    for precision in ("fp32", "bf16"):
        denoiser_fit(Xd[:4096], args.batch, precision)
        est, rate = denoiser_fit(Xd, args.batch, precision)
        print(f"{'ShallowUNetDenoiser':<22} {precision:<9} {rate:>10.0f} "
              f"{infer_rate(est, Xd):>10.0f}", flush=True)
    del X, y
    Xf, yf = pair_data(args.full, seed=1)
    t0 = time.perf_counter()
    _, rate = hardnet_fit(Xf, yf, args.batch, "bf16")
    print(f"\none HardNet epoch over {args.full:,} patches, bf16, batch {args.batch}: "
          f"{time.perf_counter() - t0:.1f} s ({rate:.0f} patches/s), peak GPU memory "
          f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
