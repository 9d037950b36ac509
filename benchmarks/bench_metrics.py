"""Speed of the HPatches evaluation at full size (not a test; prints a table).

Full-size synthetic descriptor set: 116 sequences x 16 images x ~1,300 patches,
128-d float32 unit vectors; verification with 1 M positive + 1 M intra + 1 M
inter pairs, matching on every sequence, retrieval with 10 k queries x 20 k
distractors at the 7 official pool sizes.  Prints seconds per task beside the
floor: the time of the float32 matrix products of the same sizes alone (one
ref x target product per sequence and image for matching, queries x
distractors for retrieval), which no vectorised L2 evaluation can avoid, and
their ratio, in wall seconds and in process CPU seconds (steadier when the
machine is shared; the floor is measured before and after the evaluation and
the smaller time counts); and the peak resident memory.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python benchmarks/bench_metrics.py [--scale 0.25]
"""
import argparse
import os
import resource
import time

import numpy as np

from sklearn_patchdesc.metrics import hpatches_evaluate
from sklearn_patchdesc.metrics._tasks import shrink_queries


def make_descriptors(n_seq, n_patches, dim, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(int(n_patches * 0.8), int(n_patches * 1.2) + 1, n_seq)
    names = np.array([("v_" if s % 2 else "i_") + f"seq{s:03d}" for s in range(n_seq)])
    seq = np.repeat(np.arange(n_seq), 16 * sizes)
    image = np.concatenate([np.repeat(np.arange(16), n) for n in sizes])
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    idx = np.concatenate([np.tile(np.arange(n), 16) for n in sizes])
    target = np.empty(len(seq), [("label", "i8"), ("sequence", "U10"), ("image", "i1")])
    target["label"], target["sequence"], target["image"] = first[seq] + idx, names[seq], image
    points = rng.standard_normal((sizes.sum(), dim), dtype=np.float32)
    X = points[target["label"]]
    level = np.array([0.0] + [0.7] * 5 + [1.0] * 5 + [1.3] * 5, np.float32)
    step = 1 << 18
    for s in range(0, len(X), step):  # in chunks: keep the builder's memory low
        blk = X[s:s + step]
        blk += rng.standard_normal(blk.shape, dtype=np.float32) * level[image[s:s + step], None]
        blk /= np.linalg.norm(blk, axis=1, keepdims=True)
    return X, target


def _best_of(fn, repeat=2):
    """Smallest wall and smallest process-CPU seconds of ``repeat`` runs."""
    wall = cpu = np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def matrix_product_floor(X, target, n_queries, n_distractors, block_elems=1 << 24):
    """Seconds of the float32 matrix products no L2 evaluation can avoid.

    Matching: one ``ref @ target.T`` per sequence and target image; retrieval:
    ``queries @ distractors.T`` (in blocks of the evaluation's size).
    Verification needs no product (its floor is 0).
    """
    order = np.lexsort((target["image"], target["sequence"]))
    seq, img = target["sequence"][order], target["image"][order]
    cuts = np.flatnonzero((seq[1:] != seq[:-1]) | (img[1:] != img[:-1])) + 1
    groups = np.split(order, cuts)
    by_seq = {}
    for g in groups:
        by_seq.setdefault(target["sequence"][g[0]], {})[int(target["image"][g[0]])] = g
    imgs = [(X[v[0]], [X[v[i]] for i in range(1, 16) if i in v]) for v in by_seq.values()]

    def matching():
        for ref, others in imgs:
            for T in others:
                ref @ T.T

    refs = np.flatnonzero(target["image"] == 0)
    rng = np.random.default_rng(0)
    Q = X[rng.choice(refs, n_queries, replace=False)]
    D = X[rng.choice(refs, n_distractors, replace=False)]
    step = max(1, block_elems // n_distractors)

    def retrieval():
        for s in range(0, len(Q), step):
            Q[s:s + step] @ D.T

    return {"verification": (0.0, 0.0), "matching": _best_of(matching),
            "retrieval": _best_of(retrieval)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequences", type=int, default=116)
    ap.add_argument("--patches", type=int, default=1300)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--distractors", type=int, default=20_000)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply patches per sequence, pairs, queries and distractors")
    a = ap.parse_args()
    sc = a.scale
    n_patches, n_pairs = max(10, int(a.patches * sc)), max(100, int(a.pairs * sc))
    n_q, n_d = max(10, int(a.queries * sc)), max(20, int(a.distractors * sc))
    t0 = time.perf_counter()
    X, target = make_descriptors(a.sequences, n_patches, a.dim)
    print(f"data: {X.shape[0]:,} descriptors x {X.shape[1]} ({X.nbytes / 2**30:.2f} GiB), "
          f"built in {time.perf_counter() - t0:.1f} s (scale {sc:g})")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    # the floor before and after the evaluation (the machine drifts): the smaller counts
    n_refs = int(np.sum(target["image"] == 0))
    floor_before = matrix_product_floor(X, target, shrink_queries(n_refs, n_q, n_d), n_d)
    t0 = time.perf_counter()
    rep = hpatches_evaluate(X, target, n_pairs=n_pairs, n_queries=n_q,
                            n_distractors=n_d, curve_points=1001)
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    d = rep.details
    floor_after = matrix_product_floor(X, target, d["retrieval"]["n_queries"],
                                       d["retrieval"]["n_distractors"])
    floor = {k: tuple(map(min, floor_before[k], floor_after[k])) for k in floor_after}
    print(f"\n{'task':14s}{'wall s':>8s}{'floor':>7s}{'ratio':>7s}{'cpu s':>8s}{'floor':>7s}"
          f"{'ratio':>7s}  size")
    sizes = {
        "verification": f"{d['verification']['per_difficulty']['easy']['inter']['n_pos']:,} pos + "
                        f"{d['verification']['per_difficulty']['easy']['intra']['n_neg']:,} intra + "
                        f"{d['verification']['per_difficulty']['easy']['inter']['n_neg']:,} inter pairs x 3 difficulties",
        "matching": f"{len(d['matching']['per_sequence'])} sequences x 15 images",
        "retrieval": f"{d['retrieval']['n_queries']:,} queries x {d['retrieval']['n_distractors']:,} distractors x 3 difficulties",
    }

    def cells(wall, cpu, fl_wall, fl_cpu):
        r_wall = f"{wall / fl_wall:7.2f}" if fl_wall else f"{'-':>7s}"
        r_cpu = f"{cpu / fl_cpu:7.2f}" if fl_cpu else f"{'-':>7s}"
        return f"{wall:8.2f}{fl_wall:7.2f}{r_wall}{cpu:8.2f}{fl_cpu:7.2f}{r_cpu}"

    for task, t in rep.timings.items():
        print(f"{task:14s}{cells(t['seconds'], t['cpu_seconds'], *floor[task])}  {sizes[task]}")
    tot = [sum(t[k] for t in rep.timings.values()) for k in ("seconds", "cpu_seconds")]
    fl = [sum(f[i] for f in floor.values()) for i in (0, 1)]
    print(f"{'three tasks':14s}{cells(tot[0], tot[1], fl[0], fl[1])}  "
          "(ratio to the matrix-product floor; target <= 2)")
    print(f"{'all (+setup)':14s}{total:8.2f}   BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', os.environ.get('OMP_NUM_THREADS', 'default'))}"
          f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"peak memory (max RSS): {peak:.2f} GiB; before evaluating: {rss0:.2f} GiB "
          f"(descriptor set {X.nbytes / 2**30:.2f} GiB; target <= 4 GiB)\n")
    print(rep)


if __name__ == "__main__":
    main()
