"""Probe the defects of issue 16 with the bad inputs a careful user would try.

Each probe feeds one bad input (or interrupt, reused checkpoint, crafted model
file ...) to the library and classifies what happened:

- ``clear``: the documented outcome -- an error of the documented type whose
  message names the problem, or the documented behaviour (Ctrl-C reaches the
  caller, the previous model survives, a collapsed descriptor scores low);
- ``silent``: the call returned normally with a wrong result;
- ``raw``: another exception (e.g. ``KeyError``, ``MemoryError``), i.e. an
  error the user cannot act on;
- ``cost``: a measurement (ConvAutoencoderDenoiser's default optimiser),
  printed but not counted.

It prints one line per probe and a table of counts per item of the issue:

    python benchmarks/probe_bad_inputs.py            # about a minute on one core
    python benchmarks/probe_bad_inputs.py --item 7   # one item only

Probes use tiny networks and data; none needs the network or the shared data.
"""
import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skorch.callbacks import Callback

PROBES = []


def probe(item, name):
    """Register ``fn(tmp) -> outcome`` as a probe of issue item ``item``."""
    def register(fn):
        PROBES.append((item, name, fn))
        return fn
    return register


def expect_error(fn, types, phrase):
    """'clear' if ``fn()`` raises one of ``types`` whose message holds ``phrase``."""
    try:
        fn()
    except types as exc:
        return "clear" if phrase.lower() in str(exc).lower() else f"raw: unclear message {exc!s:.90}"
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        return f"raw: {type(exc).__name__}: {exc!s:.90}"
    return "silent"


def data(n=48, size=8, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 30, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


def small(**kw):
    from sklearn_patchdesc.denoise import ShallowUNetDenoiser

    kw = {"max_epochs": 3, "batch_size": 16, "random_state": 0, "lr": 1e-3, **kw}
    return ShallowUNetDenoiser(module__channels=(4, 4, 4), **kw)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (what a Ctrl-C does) in the first batch of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, net, training=None, **kwargs):
        if training and len(net.history) == self.epoch:
            raise KeyboardInterrupt


def weights(est):
    return [v.clone() for v in est.net_.module_.state_dict().values()]


# ------------------------------------------------------------ 1. Ctrl-C
@probe(1, "Ctrl-C in a network fit reaches the caller")
def _(tmp):
    noisy, clean = data()
    try:
        small(max_epochs=5, callbacks=[("stop", InterruptAt(2))]).fit(noisy, clean)
    except KeyboardInterrupt:
        return "clear"
    return "silent"


@probe(1, "Ctrl-C in a TPE trial stops the search, trial FAIL")
def _(tmp):
    import optuna
    from scipy.stats import loguniform

    from sklearn_patchdesc.model_selection import TPESearchCV

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    noisy, clean = data()
    storage = optuna.storages.InMemoryStorage()
    search = TPESearchCV(small(max_epochs=2, callbacks=[("stop", InterruptAt(1))]),
                         {"lr": loguniform(1e-4, 1e-2)}, n_trials=3, cv=2,
                         scoring=lambda est, X, y: est.score(X, y),
                         storage=storage, study_name="probe")
    try:
        search.fit(noisy, clean)
    except KeyboardInterrupt:
        states = [t.state.name for t in optuna.load_study(study_name="probe",
                                                          storage=storage).get_trials()]
        return "clear" if states == ["FAIL"] else f"silent: trial states {states}"
    return "silent"


# ---------------------------------------------------------- 2. checkpoints
def _reuse(tmp, **changed):
    from sklearn_patchdesc._training import TrainingError

    noisy, clean = data()
    small(max_epochs=2, checkpoint_dir=tmp).fit(noisy, clean)
    X = noisy[::-1].copy() if changed.pop("reverse", False) else noisy
    return expect_error(lambda: small(max_epochs=4, checkpoint_dir=tmp, **changed).fit(X, clean),
                        TrainingError, "belongs to another fit")


for _label, _change in [("other data", {"reverse": True}), ("other lr", {"optimizer__lr": 0.5}),
                        ("other seed", {"random_state": 1}),
                        ("Adam checkpoint resumed with SGD", {"optimizer": "sgd"})]:
    probe(2 if "SGD" not in _label else 8, f"reused checkpoint_dir, {_label}")(
        lambda tmp, c=_change: _reuse(tmp, **dict(c)))


@probe(2, "cross_validate with one checkpoint_dir")
def _(tmp):
    from sklearn.model_selection import KFold, cross_validate

    from sklearn_patchdesc._training import TrainingError

    noisy, clean = data()
    return expect_error(lambda: cross_validate(
        small(max_epochs=1, checkpoint_dir=tmp), noisy, clean, cv=KFold(2), error_score="raise",
        scoring=lambda est, X, y: est.score(X, y)), TrainingError, "per fold")


# ------------------------------------------------------ 3. failed fits
@probe(3, "failed first fit leaves the estimator unfitted")
def _(tmp):
    from sklearn.exceptions import NotFittedError

    from sklearn_patchdesc._training import TrainingError

    noisy, clean = data()
    est = small(lr=1e30, optimizer="sgd")
    try:
        est.fit(np.full_like(noisy, 255), clean)
    except TrainingError:
        pass
    else:
        return "silent: diverged fit returned"
    return expect_error(lambda: est.transform(noisy), NotFittedError, "not fitted")


@probe(3, "diverging refit keeps the previous weights")
def _(tmp):
    from sklearn_patchdesc._training import TrainingError

    noisy, clean = data()
    est = small(max_epochs=1).fit(noisy, clean)
    before = weights(est)
    est.set_params(lr=1e30, optimizer="sgd")
    try:
        est.fit(np.full_like(noisy, 255), clean)
    except TrainingError:
        same = all(torch.equal(a, b) for a, b in zip(before, weights(est)))
        return "clear" if same else "silent: good weights replaced"
    return "silent: diverged refit returned"


@probe(3, "checkpoint_dir that cannot be created")
def _(tmp):
    noisy, clean = data()
    (tmp / "a-file").write_text("x")
    return expect_error(lambda: small(checkpoint_dir=tmp / "a-file" / "sub").fit(noisy, clean),
                        ValueError, "checkpoint_dir")


# ------------------------------------------------------- 4. divergence
def _diverge(make):
    from sklearn_patchdesc._training import TrainingError

    noisy, clean = data(64, 16, seed=1)
    return expect_error(lambda: make(lr=1e3, max_epochs=5, batch_size=16,
                                     random_state=0).fit(noisy, clean),
                        TrainingError, "diverged")


@probe(4, "lr=1e3 ShallowUNet")
def _(tmp):
    from sklearn_patchdesc.denoise import ShallowUNetDenoiser

    return _diverge(lambda **kw: ShallowUNetDenoiser(module__channels=(8, 16, 16), **kw))


@probe(4, "lr=1e3 DnCNN")
def _(tmp):
    from sklearn_patchdesc.denoise import DnCNNDenoiser

    return _diverge(lambda **kw: DnCNNDenoiser(depth=5, module__channels=16, **kw))


# ----------------------------------------------- 5. degenerate descriptors
def _descriptor_set(n_seq=4, n_p=20, d=8):
    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target

    rng = np.random.default_rng(0)
    target = make_target([f"{'iv'[s % 2]}_s{s}" for s in range(n_seq)], [n_p] * n_seq,
                         IMAGE_NAMES)
    points = rng.normal(size=(target["label"].max() + 1, d))
    return points[target["label"]] + 0.3 * rng.normal(size=(len(target), d)), target


class _Fixed:
    """A fitted 'descriptor' returning given rows (X = row numbers)."""

    def __init__(self, D):
        self.D = D

    def transform(self, X):
        return self.D[np.asarray(X).ravel().astype(int)]


@probe(5, "constant descriptors in the retrieval scorer")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_retrieval_scorer

    X, t = _descriptor_set()
    score = hpatches_retrieval_scorer(_Fixed(np.ones_like(X)), np.arange(len(X))[:, None], t)
    return "clear" if score < 0.3 else f"silent: scored {score:.2f}"


@probe(5, "constant descriptors in the mean scorer")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_mean_scorer

    X, t = _descriptor_set()
    score = hpatches_mean_scorer(_Fixed(np.ones_like(X)), np.arange(len(X))[:, None], t)
    return "clear" if score < 0.1 else f"silent: scored {score:.2f}"


@probe(5, "retrieval scorer on one sequence (no distractor)")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_retrieval_scorer

    X, t = _descriptor_set()
    one = t["sequence"] == t["sequence"][0]
    R = np.random.default_rng(0).normal(size=X.shape)[one]
    return expect_error(lambda: hpatches_retrieval_scorer(_Fixed(R), np.arange(one.sum())[:, None],
                                                          t[one]), ValueError, "no distractor")


# ----------------------------------------------------------- 6. input scale
def _dncnn():
    from sklearn_patchdesc.denoise import DnCNNDenoiser

    noisy, clean = data(32)
    return DnCNNDenoiser(depth=3, module__channels=8, max_epochs=1, batch_size=16,
                         random_state=0).fit(noisy, clean), noisy, clean


@probe(6, "int64 input to a denoiser read on the 0..255 scale")
def _(tmp):
    est, noisy, clean = _dncnn()
    a, b = est.score(noisy, clean), est.score(noisy.astype(np.int64), clean.tolist())
    return "clear" if abs(a - b) < 1e-6 else f"silent: {b:.1f} dB vs {a:.1f} dB"


@probe(6, "uint16 input keeps uint16 output without wrap-around")
def _(tmp):
    est, noisy, _ = _dncnn()
    out = est.transform(noisy.astype(np.uint16))
    ok = out.dtype == np.uint16 and np.array_equal(out, est.transform(noisy))
    return "clear" if ok else f"silent: dtype {out.dtype}, max {out.max()}"


@probe(6, "uint16 values above 255 to a denoiser")
def _(tmp):
    est, noisy, _ = _dncnn()
    return expect_error(lambda: est.transform(noisy.astype(np.uint16) * 257), ValueError, "0..255")


@probe(6, "float 0..255 patches to FeatureInverter")
def _(tmp):
    from torch import nn

    from sklearn_patchdesc.inversion import FeatureInverter

    noisy, _ = data(32)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    inv = FeatureInverter(net, layer=-1, max_epochs=1, batch_size=16, random_state=0,
                          module__hidden_channels=2).fit(noisy)
    return expect_error(lambda: inv.transform(noisy.astype(np.float64)), ValueError,
                        "whole numbers")


# ------------------------------------------------------------ 7. model files
def _model_file(tmp, name, manifest, *, compression=zipfile.ZIP_STORED, tensors=None):
    from safetensors.torch import save as st_save

    path = tmp / name
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("manifest.json", manifest if isinstance(manifest, str) else json.dumps(
            {"format": "sklearn_patchdesc.model", "format_version": 1, "root": manifest}))
        zf.writestr("tensors.safetensors", st_save(tensors or {}))
    return path


def _load_refused(path, phrase):
    from sklearn_patchdesc.persistence import PersistenceError, load

    return expect_error(lambda: load(path), PersistenceError, phrase)


def _estimator(cls="sklearn_patchdesc.denoise.DnCNNDenoiser", params=None, fitted=None):
    node = {"__estimator__": cls, "params": {"__dict__": params or {}}}
    if fitted is not None:
        node["fitted"] = {"__dict__": fitted}
    return node


@probe(7, "1.4 MiB file whose tensors inflate to 1.5 GiB (peak memory < +64 MiB)")
def _(tmp):
    from safetensors.torch import save as st_save

    path = tmp / "bomb.skpd"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", '{"format": "sklearn_patchdesc.model"}')
        with zf.open("tensors.safetensors", "w", force_zip64=True) as fh:
            fh.write(st_save({"t0": torch.zeros(1)}))
            for _ in range(96):
                fh.write(bytes(2**24))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = _load_refused(path, "more than the cap")
    rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return outcome if rise < 64 else f"silent: refused, but peak memory rose {rise:.0f} MiB"


@probe(7, "bzip2-compressed members")
def _(tmp):
    return _load_refused(_model_file(tmp, "bz.skpd", _estimator(), compression=zipfile.ZIP_BZIP2),
                         "compression method")


@probe(7, "manifest nested 100k levels (JSON)")
def _(tmp):
    text = '{"format": "sklearn_patchdesc.model", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return _load_refused(_model_file(tmp, "deep.skpd", text), "nests too deeply")


@probe(7, "manifest nested 300 levels (tuples in a fitted attribute)")
def _(tmp):
    value = {"__tuple__": []}
    for _ in range(300):
        value = {"__tuple__": [value]}
    return _load_refused(_model_file(tmp, "deep2.skpd", _estimator(
        "sklearn_patchdesc.describe.RawPatchDescriptor", fitted={"deep_": value})), "nests deeper")


@probe(7, "string array declared <U999999 x 100k (400 GB)")
def _(tmp):
    arr = {"__strarray__": "<U999999", "shape": [100_000], "values": ["a"] * 100_000}
    return _load_refused(_model_file(tmp, "str.skpd", _estimator(
        "sklearn_patchdesc.describe.RawPatchDescriptor", fitted={"names_": arr})), "string array")


@probe(7, "integer of 5000 digits in the manifest")
def _(tmp):
    return _load_refused(_model_file(tmp, "int.skpd", '{"x": ' + "9" * 5000 + "}"),
                         "oversized number")


for _where, _key in [("fitted", "transform"), ("fitted", "checkpoint_dir"),
                     ("fitted", "__class__"), ("params", "transform"), ("params", "fit")]:
    probe(8, f"manifest sets {_where} {_key!r}")(
        lambda tmp, w=_where, k=_key: _load_refused(_model_file(
            tmp, "names.skpd", _estimator(**{w: {k: "/tmp/elsewhere"}})), repr(k)))


@probe(8, "manifest sets checkpoint_dir as a parameter")
def _(tmp):
    return _load_refused(_model_file(tmp, "ck.skpd", _estimator(
        params={"checkpoint_dir": "/tmp/elsewhere"})), "checkpoint_dir")


@probe(8, "manifest sets Pipeline.memory (a folder of cached pickles)")
def _(tmp):
    step = {"__tuple__": ["raw", _estimator("sklearn_patchdesc.describe.RawPatchDescriptor")]}
    return _load_refused(_model_file(tmp, "mem.skpd", _estimator(
        "sklearn.pipeline.Pipeline", params={"steps": [step], "memory": "/tmp/x"})), "memory")


@probe(7, "pickle disguised as a model file")
def _(tmp):
    import pickle

    (tmp / "p.skpd").write_bytes(pickle.dumps({"a": 1}))
    return _load_refused(tmp / "p.skpd", "never unpickles")


# ---------------------------------------------------------------- 8. smaller
def _hpatches(tmp, seqs=(("i_a", 3), ("v_b", 3))):
    from sklearn_patchdesc.datasets import write_hpatches
    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target

    target = make_target([s for s, _ in seqs], [n for _, n in seqs], IMAGE_NAMES)
    X = np.random.default_rng(0).integers(0, 256, (len(target), 65, 65)).astype(np.uint8)
    write_hpatches({"data": X, "target": target}, tmp / "hp")
    return tmp / "hp"


@probe(8, "file rewritten while the cache decodes it")
def _(tmp):
    from sklearn_patchdesc.datasets import _hpatches_io, load_hpatches

    root = _hpatches(tmp, seqs=(("i_a", 3),))
    target, real = root / "i_a" / "e2.png", _hpatches_io._read_stack

    def read_then_change(path):
        arr = real(path)
        if path == target and not target.with_suffix(".done").exists():
            target.with_suffix(".done").touch()
            Image.fromarray(255 - arr).save(target)
            st = target.stat()
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return arr

    _hpatches_io._read_stack = read_then_change
    try:
        load_hpatches(root, cache=tmp / "cache")
    finally:
        _hpatches_io._read_stack = real
    again = load_hpatches(root, cache=tmp / "cache").data
    fresh = load_hpatches(root, cache=False).data
    return "clear" if np.array_equal(again, fresh) else "silent: stale cache entry trusted"


@probe(8, "16-bit PNG stack with values above 255")
def _(tmp):
    from sklearn_patchdesc.datasets import load_hpatches

    root = _hpatches(tmp)
    path = root / "v_b" / "e1.png"
    Image.fromarray(np.asarray(Image.open(path)).astype(np.uint16) * 257).save(path)
    return expect_error(lambda: load_hpatches(root, cache=False), ValueError, "8-bit")


@probe(8, "splits.json without 'test'")
def _(tmp):
    from sklearn_patchdesc.datasets import load_hpatches_splits

    (tmp / "splits.json").write_text('{"a": {"train": ["i_a"]}}')
    return expect_error(lambda: load_hpatches_splits(tmp / "splits.json"), ValueError,
                        "splits.json")


@probe(8, "sequences=['../x'] outside the root")
def _(tmp):
    from sklearn_patchdesc.datasets import load_hpatches

    root = _hpatches(tmp)
    return expect_error(lambda: load_hpatches(root, sequences=["../hp/i_a"], cache=False),
                        ValueError, "not a sequence folder name")


@probe(8, "load_descriptors_csv(sequences=['../x'])")
def _(tmp):
    from sklearn_patchdesc.datasets import load_descriptors_csv

    (tmp / "d" / "i_a").mkdir(parents=True)
    return expect_error(lambda: load_descriptors_csv(tmp, "d", sequences=["../d/i_a"]),
                        ValueError, "not a sequence folder name")


@probe(8, "demo --device garbage (one-line error, exit 2)")
def _(tmp):
    proc = subprocess.run([sys.executable, "-m", "sklearn_patchdesc", "demo", "--device",
                           "garbage", "--out", str(tmp / "out")], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode == 0:
        return "silent: exit 0"
    if "Traceback" in proc.stderr or "device" not in proc.stderr:
        return f"raw: exit {proc.returncode}: {proc.stderr.strip()[-90:]}"
    return "clear"


@probe(8, "task CSV with a bad row names the file and line")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_verification

    X, t = _descriptor_set(n_seq=2, n_p=10)
    seq = t["sequence"][0]
    for stem in ("verif_pos", "verif_neg_inter", "verif_neg_intra"):
        (tmp / f"{stem}_split-x.csv").write_text("s1,t1,idx1,s2,t2,idx2\n"
                                                 f"{seq},1,3,{seq},2,x\n")
    return expect_error(lambda: hpatches_verification(X, t, tasks_dir=tmp, split="x"),
                        ValueError, "verif_pos_split-x.csv, line 2")


@probe(8, "ConvAutoencoderDenoiser default: forward passes for 1 epoch of 64 patches")
def _(tmp):
    from sklearn_patchdesc.denoise import ConvAutoencoderDenoiser
    from sklearn_patchdesc.denoise._modules import ConvAutoencoder

    calls, forward = [0], ConvAutoencoder.forward

    def counted(self, x):
        calls[0] += 1
        return forward(self, x)

    ConvAutoencoder.forward = counted
    try:
        noisy, clean = data(64, 16)
        ConvAutoencoderDenoiser(max_epochs=1, random_state=0,
                                module__channels=(4, 4, 4, 4, 4)).fit(noisy, clean)
    finally:
        ConvAutoencoder.forward = forward
    # a cost, not a bad input: reported, not counted
    return f"cost: {calls[0]} forward passes for one batch (documented; optimizer='adam': 2)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--item", type=int, action="append", help="only these items (1-8)")
    parser.add_argument("--skip", action="append", default=[],
                        help="skip probes whose name holds this text (e.g. 'inflate' on old "
                             "code, where the zip bomb takes 3.4 GiB)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    counts = {}
    for item, name, fn in PROBES:
        if (args.item and item not in args.item) or any(k in name for k in args.skip):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            stderr, sys.stderr = sys.stderr, io.StringIO()  # progress tables and warnings
            try:
                outcome = fn(Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a probe that breaks is 'raw'
                outcome = f"raw: probe raised {type(exc).__name__}: {exc!s:.80}"
            finally:
                sys.stderr = stderr
        kind = outcome.split(":")[0]
        if kind != "cost":
            counts.setdefault(item, Counter())[kind] += 1
        print(f"[{item}] {kind:6s} {name}" + (f"  ({outcome})" if kind != "clear" else ""),
              flush=True)
    print(f"\n{'item':>4s} {'tried':>6s} {'clear':>6s} {'silent':>7s} {'raw':>5s}")
    total = Counter()
    for item in sorted(counts):
        c = counts[item]
        total.update(c)
        print(f"{item:4d} {sum(c.values()):6d} {c['clear']:6d} {c['silent']:7d} {c['raw']:5d}")
    print(f"{'all':>4s} {sum(total.values()):6d} {total['clear']:6d} {total['silent']:7d} "
          f"{total['raw']:5d}")
    return 1 if total["silent"] or total["raw"] else 0


if __name__ == "__main__":
    sys.exit(main())
