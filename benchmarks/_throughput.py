"""The measuring grid shared by the throughput benchmarks (thread counts x precisions).

A *cell* is one thread count ("auto": the library's own policy) and one
precision. In a cell a plain PyTorch loop and the estimator run interleaved
(plain, estimator, plain, ...), so that load changes on a shared machine hit
both alike; the medians are reported beside the matrix-product rate measured
in the same cell and precision, the share of a plain step spent making the
batch, and the fitted estimator's inference rate. A precision the machine
cannot run fast is refused by the estimator: the cell then times the plain
loop only (emulated), to show why.
"""
import contextlib
import os
import statistics
import time

import torch

from sklearn_patchdesc._precision import autocast, resolve_precision
from sklearn_patchdesc._threads import library_threads

#: seconds spent making batches in the last plain loop, and in its whole steps
BATCH_TIME = [0.0, 0.0]


def matmul_gflops(precision, n=1024, repeats=3):
    """Matrix-product rate in ``precision`` on this machine now (float32 inputs, autocast)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    with autocast("cpu", precision):
        a @ b
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
    return repeats * 2 * n ** 3 / (time.perf_counter() - t0) / 1e9


@contextlib.contextmanager
def threads(setting):
    """Run with ``setting`` torch threads ("auto": the library's policy); yield the count."""
    before, env = torch.get_num_threads(), os.environ.pop("SKPD_THREADS", None)
    n = library_threads() if setting == "auto" else int(setting)
    torch.set_num_threads(n)
    os.environ["SKPD_THREADS"] = str(n)  # the estimator uses the same count
    try:
        yield n
    finally:
        torch.set_num_threads(before)
        os.environ.pop("SKPD_THREADS")
        if env is not None:
            os.environ["SKPD_THREADS"] = env


def timed_steps(batches, step):
    """Run ``step(xb, idx)`` over ``(idx, make_batch)`` pairs; return the rows seen.

    Times the batch making and the whole step into :data:`BATCH_TIME`.
    """
    BATCH_TIME[:] = [0.0, 0.0]
    n = 0
    for idx, make in batches:
        t0 = time.perf_counter()
        xb = make()
        t1 = time.perf_counter()
        step(xb, idx)
        BATCH_TIME[0] += t1 - t0
        BATCH_TIME[1] += time.perf_counter() - t0
        n += len(idx)
    return n


def run_cell(precision, plain, est, infer_X, repeats):
    """Medians of one cell: ``plain(seed)`` -> patches/s, ``est(seed)`` -> (patches/s, fitted)."""
    try:
        resolve_precision(precision, "cpu")
        refused = None
    except ValueError as exc:
        refused = str(exc).split(";")[0]
    plain(-1)  # warm-up
    if refused is None:
        est(-1)
    p_runs, e_runs, share, infer = [], [], [], []
    for r in range(repeats):
        p_runs.append(plain(r))
        share.append(BATCH_TIME[0] / BATCH_TIME[1])
        if refused is None:
            rate, fitted = est(r)
            e_runs.append(rate)
            t0 = time.perf_counter()
            fitted.transform(infer_X)
            infer.append(len(infer_X) / (time.perf_counter() - t0))
    med = statistics.median
    return {"plain": med(p_runs), "est": med(e_runs) if e_runs else None,
            "share": med(share), "infer": med(infer) if infer else None,
            "gflops": matmul_gflops(precision), "refused": refused}


def print_grid(title, thread_settings, precisions, run):
    """Print the table of ``run(precision) -> cell dict`` over the grid."""
    print(f"{title}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'threads':>9} {'prec':>5} {'matmul GF/s':>11} {'plain p/s':>10} {'est p/s':>9} "
          f"{'est/plain':>9} {'batch %':>8} {'infer p/s':>10}")
    for setting in thread_settings:
        for precision in precisions:
            with threads(setting) as n:
                c = run(precision)
            label = f"{setting}={n}" if setting == "auto" else setting
            est_txt = (f"{c['est']:>9.1f} {c['est'] / c['plain']:>9.3f}" if c["est"]
                       else f"{'refused':>9} {'-':>9}")
            inf_txt = f"{c['infer']:>10.0f}" if c["infer"] else f"{'-':>10}"
            print(f"{label:>9} {precision:>5} {c['gflops']:>11.1f} {c['plain']:>10.1f} "
                  f"{est_txt} {100 * c['share']:>7.2f}% {inf_txt}", flush=True)
            if c["refused"]:
                print(f"          ({c['refused']})")
