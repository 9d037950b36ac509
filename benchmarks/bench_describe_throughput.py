"""Training throughput of the descriptor estimators vs a plain PyTorch loop.

``--recipe l2net``: both train the same :class:`~sklearn_patchdesc.describe.L2Net`
(channels-last weights, as the estimator uses on CPU) with SGD (lr 0.1), the
hinge triplet loss and batches of the same random triplets (same sampler,
same uint8 data, same batch size). ``--recipe hardnet``: the HardNet recipe
of :class:`~sklearn_patchdesc.describe.HardNetDescriptor` (L2-Net trunk with
dropout 0.3, PKSampler batches of anchor/positive pairs, HardNetLoss, SGD with
momentum/dampening 0.9 and weight decay 1e-4, linear learning-rate decay); the
plain loop does the same with the same modules. The plain loop is the minimum any training needs:
index the uint8 array, convert to float, forward, loss, backward, step.
Runs are interleaved (plain, estimator, plain, estimator, ...) so that load
changes on a shared machine hit both alike; the table gives the medians and their
ratio (target: estimator >= 95 % of the plain loop).

Every (thread count, precision) cell of ``--threads`` x ``--precision`` is
measured so (see ``_throughput.py``), beside the matrix-product rate in that
precision, the share of a plain step spent making the batch, and inference
patches/s; ``benchmarks/bench_denoise_throughput.py`` is the denoisers' twin.

Usage::

    python benchmarks/bench_describe_throughput.py [--recipe l2net|hardnet] [--triplets 512]
        [--batch 64] [--repeats 3] [--threads 1,2,auto] [--precision fp32,bf16]

``--triplets`` is the number of training tuples per run (triplets for
l2net, anchor/positive pairs for hardnet) and ``--batch`` the tuples per
batch.
"""
import argparse
import time

import numpy as np
import torch

from _throughput import print_grid, run_cell, timed_steps
from sklearn_patchdesc._precision import autocast
from sklearn_patchdesc.describe import (HardNetDescriptor, HardNetLoss, L2Net, L2NetDescriptor,
                                        PKSampler, RandomTripletSampler, TripletMarginLoss)

#: precision of the cell being measured (the plain loops and estimators read it)
PRECISION = "fp32"


def plain_loop(X, labels, n_triplets, batch_size, seed):
    t0 = time.perf_counter()  # both sides are timed from building the network on
    torch.manual_seed(seed)
    module = L2Net().to(memory_format=torch.channels_last)
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    crit = TripletMarginLoss()
    batches = RandomTripletSampler(n_triplets).batches(labels, 3 * batch_size,
                                                       np.random.default_rng(seed))
    n = run_steps(module, opt, None, crit, X, labels, batches)
    return n / (time.perf_counter() - t0)


def run_steps(module, opt, sched, crit, X, labels, batches):
    """The minimal training loop over index ``batches``; returns the patches seen."""
    Xt, yt = torch.from_numpy(X[:, None]), torch.from_numpy(labels)

    def step(xb, idx):
        opt.zero_grad()
        with autocast("cpu", PRECISION):
            out = module(xb)
        loss = crit(out.float(), yt[idx])
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        loss.item()  # what any loop logging its loss does

    def made(idx):
        idx = torch.from_numpy(idx)
        return idx, lambda: Xt[idx].float().div_(255.0)

    return timed_steps((made(idx) for idx in batches), step)


def estimator(X, labels, n_triplets, batch_size, seed):
    est = L2NetDescriptor(max_epochs=1, batch_size=3 * batch_size, lr=0.1, optimizer="sgd",
                          sampler=RandomTripletSampler(n_triplets), random_state=seed,
                          precision=PRECISION)
    t0 = time.perf_counter()
    est.fit(X, labels)
    return 3 * n_triplets / (time.perf_counter() - t0), est


def hardnet_batches(labels, n_pairs, batch_size, rng):
    """PK batches of ``batch_size`` pairs until ``n_pairs`` pairs were drawn."""
    sampler, n = PKSampler(n_per_label=2), 0
    while n < n_pairs:
        for idx in sampler.batches(labels, 2 * batch_size, rng):
            yield idx
            n += len(idx) // 2
            if n >= n_pairs:
                return


def plain_loop_hardnet(X, labels, n_pairs, batch_size, seed):
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    module = L2Net(activations="relu", dropout=0.3, init="orthogonal")
    module = module.to(memory_format=torch.channels_last)
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=1.0, momentum=0.9, dampening=0.9,
                          weight_decay=1e-4)
    n_steps = -(-n_pairs // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / n_steps)
    crit = HardNetLoss()
    batches = hardnet_batches(labels, n_pairs, batch_size, np.random.default_rng(seed))
    n = run_steps(module, opt, sched, crit, X, labels, batches)
    return n / (time.perf_counter() - t0)


def estimator_hardnet(X, labels, n_pairs, batch_size, seed):
    # one epoch of PK batches over ``labels`` is ``n_labels // batch_size`` batches: the
    # labels are cut so that it matches ``n_pairs``
    keep = np.isin(labels, np.unique(labels)[:n_pairs])
    est = HardNetDescriptor(max_epochs=1, batch_size=2 * batch_size, random_state=seed,
                            precision=PRECISION)
    t0 = time.perf_counter()
    est.fit(X[keep], labels[keep])
    elapsed = time.perf_counter() - t0
    return sum(b["train_batch_size"] for b in est.history_[-1, "batches"]) / elapsed, est


RECIPES = {"l2net": (plain_loop, estimator), "hardnet": (plain_loop_hardnet, estimator_hardnet)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triplets", type=int, default=512, help="triplets per run")
    ap.add_argument("--batch", type=int, default=64, help="triplets (L2-Net) or pairs (HardNet) per step: "
                    "the estimators get 3x / 2x as many patches")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="auto",
                    help="comma-separated thread counts; 'auto' is the library's policy")
    ap.add_argument("--precision", default="fp32", help="comma-separated, e.g. fp32,bf16")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="l2net")
    args = ap.parse_args()
    plain, est = RECIPES[args.recipe]
    rng = np.random.default_rng(0)
    n_labels = 500 if args.recipe == "l2net" else max(2 * args.triplets, 1000)
    per_label = 4 if args.recipe == "l2net" else 2
    X = rng.integers(0, 256, (n_labels * per_label, 32, 32), dtype=np.uint8)
    labels = np.repeat(np.arange(n_labels), per_label)

    def run(precision):
        global PRECISION
        PRECISION = precision
        # seed -1 is the warm-up: one batch
        return run_cell(precision,
                        lambda seed: plain(X, labels, args.batch if seed < 0 else args.triplets, args.batch, max(seed, 0)),
                        lambda seed: est(X, labels, args.batch if seed < 0 else args.triplets, args.batch, max(seed, 0)),
                        X[:2048], args.repeats)

    per = 3 if args.recipe == "l2net" else 2
    print_grid(f"{args.recipe} recipe training, {args.triplets} tuples x {per} patches per run, "
               f"{args.batch} tuples per batch, medians of {args.repeats} interleaved runs",
               args.threads.split(","), args.precision.split(","), run)


if __name__ == "__main__":
    main()
