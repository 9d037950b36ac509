"""Training throughput of L2NetDescriptor vs a plain PyTorch loop.

Both train the same :class:`~sklearn_patchdesc.describe.L2Net` (channels-last
weights, as the estimator uses on CPU) with SGD (lr 0.1), the hinge triplet
loss and batches of the same random triplets (same sampler, same uint8
data, same batch size). The plain loop is the minimum any training needs:
index the uint8 array, convert to float, forward, loss, backward, step.
Runs are interleaved (plain, estimator, plain, estimator, ...) so that load
changes on a shared machine hit both alike; the table gives each run and the
ratio of the medians (target: estimator >= 95 % of the plain loop).

Usage::

    python benchmarks/bench_describe_throughput.py [--triplets 512] [--batch 64] [--repeats 3]
"""
import argparse
import statistics
import time

import numpy as np
import torch

from sklearn_patchdesc.describe import L2Net, L2NetDescriptor, RandomTripletSampler, TripletMarginLoss


def plain_loop(X, labels, n_triplets, batch_size, seed):
    t0 = time.perf_counter()  # both sides are timed from building the network on
    torch.manual_seed(seed)
    module = L2Net().to(memory_format=torch.channels_last)
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    crit = TripletMarginLoss()
    Xt, yt = torch.from_numpy(X[:, None]), torch.from_numpy(labels)
    rng = np.random.default_rng(seed)
    n = 0
    for idx in RandomTripletSampler(n_triplets).batches(labels, batch_size, rng):
        idx = torch.from_numpy(idx)
        xb = Xt[idx].float().div_(255.0)
        opt.zero_grad()
        loss = crit(module(xb), yt[idx])
        loss.backward()
        opt.step()
        loss.item()  # what any loop logging its loss does
        n += len(idx)
    return n / (time.perf_counter() - t0)


def estimator(X, labels, n_triplets, batch_size, seed):
    est = L2NetDescriptor(max_epochs=1, batch_size=batch_size, lr=0.1, optimizer="sgd",
                          sampler=RandomTripletSampler(n_triplets), random_state=seed)
    t0 = time.perf_counter()
    est.fit(X, labels)
    return 3 * n_triplets / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triplets", type=int, default=512, help="triplets per run")
    ap.add_argument("--batch", type=int, default=64, help="triplets per batch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (2000, 32, 32), dtype=np.uint8)
    labels = np.repeat(np.arange(500), 4)
    # warm-up both paths (allocator, kernels)
    plain_loop(X, labels, args.batch, args.batch, 0)
    estimator(X, labels, args.batch, args.batch, 0)
    rows = []
    for r in range(args.repeats):
        p = plain_loop(X, labels, args.triplets, args.batch, r)
        e = estimator(X, labels, args.triplets, args.batch, r)
        rows.append((p, e))
    print(f"L2-Net training, {args.triplets} triplets x 3 patches per run, "
          f"{args.batch} triplets per batch, {torch.get_num_threads()} threads")
    print(f"{'run':>4} {'plain loop p/s':>15} {'estimator p/s':>14} {'ratio':>6}")
    for i, (p, e) in enumerate(rows):
        print(f"{i:>4} {p:>15.1f} {e:>14.1f} {e / p:>6.3f}")
    mp, me = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"{'med':>4} {mp:>15.1f} {me:>14.1f} {me / mp:>6.3f}")


if __name__ == "__main__":
    main()
