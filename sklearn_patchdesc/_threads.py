"""How many CPU threads a fit or an inference uses: no more than the cores free now.

torch starts one thread per core. On a machine whose cores other jobs keep
busy, that oversubscribes them, and on these 2-core machines it costs more
than anything else: with other jobs running, an L2-Net training step at 2
threads ran at 0.5x the speed of 1 thread (fp32; 20 vs 40 patches/s, load
average 8, ``benchmarks/bench_describe_throughput.py --threads 1,2,auto``),
and the issue that asked for this measured 3x (fp32) to 16x (bf16) slower.

So while the library trains or infers it uses ``min(torch's default, cores
not busy with other work)`` threads, and restores the caller's setting after.
"Busy" is the number of runnable tasks the kernel reports right now
(``/proc/loadavg``, sampled a few times over ~20 ms), minus this process's
own. The policy only ever lowers torch's count, never raises it. The caller stays
in charge: ``SKPD_THREADS=<n>`` fixes the count (at most torch's); after
``torch.set_num_threads`` changed torch's count, or with ``OMP_NUM_THREADS``
set, torch's count is used as it is.

Fits at different thread counts differ in the last bits (a HardNet epoch:
descriptors up to 0.014 apart), so a seeded fit repeats bit for bit only at
a fixed count: set ``SKPD_THREADS`` (or ``torch.set_num_threads``) where that
matters, as the test suite does.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import time

import torch

from ._env import getenv

__all__ = ["library_threads", "thread_policy", "busy_cores"]

#: torch's thread count when the library was imported (its default, or the caller's)
_IMPORT_THREADS = torch.get_num_threads()


def _n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cores(samples=3, interval=0.01):
    """Runnable tasks on the machine now, other than this process's reader; None if unknown."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as fh:
                running = fh.read().split()[3].split("/")[0]
            counts.append(int(running) - 1)  # the thread reading the file is running too
        except (OSError, IndexError, ValueError):
            return None
        if i + 1 < samples:
            time.sleep(interval)
    return max(0, int(statistics.median(counts)))


def library_threads():
    """The thread count the library's training and inference use now (see the module doc).

    Never more than torch's current count (a forked child that set 1 thread
    must not start an OpenMP pool of 2: GNU OpenMP hangs there). Within that:
    ``SKPD_THREADS`` when set; torch's count when the caller chose it
    (``torch.set_num_threads`` after importing the library, or
    ``OMP_NUM_THREADS``); otherwise the cores not busy with other work.
    """
    current = torch.get_num_threads()
    env = getenv("THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"SKPD_THREADS={env!r} is not a whole number of threads.") from None
        if n < 1:
            raise ValueError(f"SKPD_THREADS={env!r}: give at least 1 thread.")
        return min(n, current)
    if os.environ.get("OMP_NUM_THREADS") or current != _IMPORT_THREADS:
        return current  # the caller chose
    busy = _recent_busy_cores()
    if busy is None:
        return current
    return max(1, min(current, _n_cpus() - busy))


_LAST_BUSY = [None, -1.0]  # (count, time.monotonic() of the reading)


def _recent_busy_cores(max_age=1.0):
    """:func:`busy_cores`, reused for ``max_age`` seconds: many small transforms in a row
    (a search, a scorer loop) pay the ~20 ms reading once."""
    now = time.monotonic()
    if now - _LAST_BUSY[1] > max_age:
        _LAST_BUSY[:] = [busy_cores(), now]
    return _LAST_BUSY[0]


@contextlib.contextmanager
def thread_policy():
    """Run the block with :func:`library_threads` torch threads; restore the count after."""
    before = torch.get_num_threads()
    n = library_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
