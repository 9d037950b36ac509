"""Resident memory with full-size N-HPatches (clean twins) memory-mapped (not a test; prints a table).

Builds, in a temporary folder under /tmp that is deleted at the end, a set
shaped like full N-HPatches: 116 sequences x 16 images x ~1,300 32x32
patches, noisy and clean (about 2 x 2.3 GiB).  The patches are random uint8
(a clean patch per 3-D point, varied a little per image; its noisy twin with
more noise at the harder images) and are written directly as the
per-sequence cache entries that ``load_hpatches`` reads; each sequence folder
holds 1-patch placeholder PNG stacks, which the entries are keyed on and which
are never decoded (decoding 4.6 GiB of random PNGs tests nothing about memory).

Then, in one process: ``load_hpatches(..., mmap_mode="r")`` (joins the entries
into one mapped file per array), a short fit of ``L2NetDescriptor`` over the
whole mapped set (a fixed number of random triplets), and a full-size
evaluation: ``RawPatchDescriptor(size=11)`` (HPatches' MStd baseline at 11x11,
cheap enough to describe all 2.4 M patches) of every noisy and then every
clean patch, each scored by ``hpatches_evaluate`` at the official task sizes.
A sampling thread records the resident memory (VmRSS) and its anonymous and
file-backed parts; the table gives, per phase, its seconds and the peaks.

    OMP_NUM_THREADS=2 python benchmarks/bench_memory.py [--patches 1300] [--sequences 116]
"""
import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sklearn_patchdesc.datasets import load_hpatches
from sklearn_patchdesc.datasets._common import IMAGE_NAMES
from sklearn_patchdesc.datasets._hpatches_io import NOISE_SUFFIX, store_cache_entry
from sklearn_patchdesc.describe import L2NetDescriptor, RandomTripletSampler, RawPatchDescriptor
from sklearn_patchdesc.metrics import hpatches_evaluate

GiB = 2**30


class MemorySampler(threading.Thread):
    """Peak VmRSS / RssAnon / RssFile of this process since the last ``reset``."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self, interval=0.02):
        super().__init__(daemon=True)
        self.interval, self.stop = interval, threading.Event()
        self.reset()

    @classmethod
    def read(cls):
        out = {}
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in cls.FIELDS:
                    out[key] = int(value.split()[0]) * 1024
        return out

    def reset(self):
        self.peak = self.read()

    def run(self):
        while not self.stop.wait(self.interval):
            now = self.read()
            self.peak = {k: max(self.peak[k], now[k]) for k in self.FIELDS}


def write_synthetic_nhpatches(root, cache, n_sequences, n_patches, size=32, seed=0):
    """Full-size-shaped N-HPatches as cache entries (see the module notes); returns patch count."""
    rng = np.random.default_rng(seed)
    placeholder = Image.fromarray(np.zeros((size, size), np.uint8))
    level = np.array([8] + [40] * 5 + [80] * 5 + [120] * 5, np.int16)  # noise per image
    total = 0
    for s in range(n_sequences):
        name = ("i_" if s % 2 else "v_") + f"synth{s:03d}"
        seq_dir = root / name
        seq_dir.mkdir(parents=True)
        for img in IMAGE_NAMES:
            for suffix in ("", NOISE_SUFFIX):
                placeholder.save(seq_dir / f"{img}{suffix}.png", compress_level=1)
        n = int(rng.integers(int(n_patches * 0.8), int(n_patches * 1.2) + 1))
        base = rng.integers(0, 256, (n, size, size), dtype=np.uint8).astype(np.int16)
        clean = np.empty((16, n, size, size), np.uint8)
        noisy = np.empty_like(clean)
        for i in range(16):
            c = base + rng.integers(-24, 25, base.shape, dtype=np.int16)
            np.clip(c, 0, 255, out=c)
            clean[i] = c
            c += rng.integers(-level[i], level[i] + 1, base.shape, dtype=np.int16)
            noisy[i] = np.clip(c, 0, 255)
        store_cache_entry(cache, seq_dir, IMAGE_NAMES, True, size,
                          noisy.reshape(-1, size, size), clean.reshape(-1, size, size), n)
        total += 16 * n
    return total


def check_cache_used(bunch, n):
    """The loader must have read the entries, not decoded the 1-patch placeholders."""
    if len(bunch.data) != n:
        raise RuntimeError(f"load_hpatches returned {len(bunch.data)} patches, not the {n} "
                           "of the cache entries: the entries were not recognised")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequences", type=int, default=116)
    ap.add_argument("--patches", type=int, default=1300, help="mean patches per image")
    ap.add_argument("--triplets", type=int, default=2048, help="triplets of the short fit")
    ap.add_argument("--tmp", default="/tmp")
    a = ap.parse_args()
    sampler = MemorySampler()
    sampler.start()
    rows = []

    def phase(name, fn):
        sampler.reset()
        t0 = time.perf_counter()
        out = fn()
        peak, now = sampler.peak, MemorySampler.read()
        rows.append((name, time.perf_counter() - t0, now["VmRSS"], peak["VmRSS"],
                     peak["RssAnon"], peak["RssFile"]))
        print(f"  {name}: {rows[-1][1]:.1f} s", flush=True)
        return out

    work = Path(tempfile.mkdtemp(prefix="bench_memory_", dir=a.tmp))
    try:
        root, cache = work / "nhpatches", work / "cache"
        n = phase("generate cache entries", lambda: write_synthetic_nhpatches(
            root, cache, a.sequences, a.patches))
        size_gib = 2 * n * 32 * 32 / GiB
        print(f"data: {n:,} patches of 32x32, noisy + clean = {size_gib:.2f} GiB on disk "
              f"in {work}", flush=True)
        bunch = phase("load_hpatches(mmap_mode='r')", lambda: load_hpatches(
            root, cache=cache, mmap_mode="r", n_jobs=1))
        assert isinstance(bunch.data, np.memmap) and isinstance(bunch.data_clean, np.memmap)
        check_cache_used(bunch, n)
        est = L2NetDescriptor(sampler=RandomTripletSampler(n_triplets=a.triplets),
                              max_epochs=1, batch_size=384, random_state=0)
        phase(f"fit L2NetDescriptor ({a.triplets} triplets)",
              lambda: est.fit(bunch.data, bunch.target))
        scores = {}
        for key in ("data", "data_clean"):
            raw = RawPatchDescriptor(size=11).fit(bunch[key][:1])
            D = phase(f"describe {key} (MStd 11x11)", lambda: raw.transform(bunch[key]))
            rep = phase(f"hpatches_evaluate({key})", lambda: hpatches_evaluate(
                D, bunch.target, n_pairs=1_000_000, n_queries=10_000, n_distractors=20_000))
            scores[key] = rep.scores
            del D
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sampler.stop.set()
    hwm = [int(line.split()[1]) * 1024 for line in open("/proc/self/status")
           if line.startswith("VmHWM")][0]
    print(f"\n{'phase':36s}{'seconds':>8s}{'RSS end':>9s}{'peak RSS':>10s}{'anon':>7s}"
          f"{'file':>7s}  (GiB)")
    for name, sec, now, peak, anon, file_ in rows:
        print(f"{name:36s}{sec:8.1f}{now / GiB:9.2f}{peak / GiB:10.2f}{anon / GiB:7.2f}"
              f"{file_ / GiB:7.2f}")
    print(f"peak RSS of the process (VmHWM): {hwm / GiB:.2f} GiB (target <= 4 GiB; "
          f"mapped set {size_gib:.2f} GiB)")
    for key, sc in scores.items():
        print(f"mAP on {key}: " + ", ".join(f"{t} {v * 100:.2f}" for t, v in sc.items()))


if __name__ == "__main__":
    main()
