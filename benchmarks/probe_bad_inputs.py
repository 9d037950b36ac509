"""Probe the defects of issues 16 and 32 with the bad inputs a careless user or an attacker would try.

Each probe feeds one bad input (or interrupt, reused checkpoint, crafted model
file ...) to the library and classifies what happened:

- ``clear``: a clear error -- of the documented type, whose message names the
  problem;
- ``correct``: the documented behaviour (Ctrl-C reaches the caller, the
  previous model survives, a collapsed descriptor scores low, scaled
  descriptors score the same, a moved weights file does not matter);
- ``silent``: the call returned normally with a wrong result;
- ``raw``: a crash or misleading message: another exception (e.g.
  ``KeyError``, ``MemoryError``) or one whose message does not name the
  problem, i.e. an error the user cannot act on;
- ``cost``: a measurement (ConvAutoencoderDenoiser's default optimiser),
  printed but not counted.

It prints one line per probe and a table of counts per item: tried, clear
error, correct, silent wrong, crash. Items 1-8 are those of issue 16, items
9-12 those of issue 32 (evaluation, input scale and scorers, model files,
writers):

    python benchmarks/probe_bad_inputs.py            # a few minutes on one core
    python benchmarks/probe_bad_inputs.py --item 7   # one item only

Probes use tiny networks and data; none needs the network or the shared data.

Item 32 (issue 32's command line and data readers: empty / odd CSVs, bad image
sequences, full disks, partial downloads, concurrent and killed writers, the
demo's test sequences, device, logs and summary) is one delimited group of
probes named ``cli/data: ...``; ``--item 32`` runs it alone (about two minutes
on one core).
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

from model_files import members, rewrite

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
        return "correct"
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
        return "correct" if states == ["FAIL"] else f"silent: trial states {states}"
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
        return "correct" if same else "silent: good weights replaced"
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
    return "correct" if score < 0.3 else f"silent: scored {score:.2f}"


@probe(5, "constant descriptors in the mean scorer")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_mean_scorer

    X, t = _descriptor_set()
    score = hpatches_mean_scorer(_Fixed(np.ones_like(X)), np.arange(len(X))[:, None], t)
    return "correct" if score < 0.1 else f"silent: scored {score:.2f}"


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
    return "correct" if abs(a - b) < 1e-6 else f"silent: {b:.1f} dB vs {a:.1f} dB"


@probe(6, "uint16 input keeps uint16 output without wrap-around")
def _(tmp):
    est, noisy, _ = _dncnn()
    out = est.transform(noisy.astype(np.uint16))
    ok = out.dtype == np.uint16 and np.array_equal(out, est.transform(noisy))
    return "correct" if ok else f"silent: dtype {out.dtype}, max {out.max()}"


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


# ===================================================================================
# Issue 32, command line and data readers (branch cli-robustness). One group, kept apart
# from the other issue-32 probes so both can grow without touching each other: every
# probe here is registered with item 32 and a name starting "cli/data:".
# ===================================================================================
def _cli(argv, *, forbid=None):
    """Run ``main(argv)`` in-process; return (status, stderr text), or a 'raw' outcome
    string when it raised (a traceback). ``forbid``: (module, attribute) that must not be
    called (it raises, so a command that does work before refusing is caught fast)."""
    from sklearn_patchdesc.__main__ import main

    err, out = io.StringIO(), io.StringIO()
    saved = sys.stderr, sys.stdout
    sys.stderr, sys.stdout = err, out
    undo = None
    if forbid is not None:
        mod, attr = forbid
        undo = (mod, attr, getattr(mod, attr))

        def refuse(*a, **k):
            raise AssertionError("the command did work before checking its arguments")
        setattr(mod, attr, refuse)
    try:
        status = main([str(a) for a in argv])
    except BaseException as exc:  # noqa: BLE001 - a traceback is what is probed for
        return None, f"raw: {type(exc).__name__}: {exc!s:.90}"
    finally:
        sys.stderr, sys.stdout = saved
        if undo is not None:
            setattr(*undo)
    return status, err.getvalue()


def _cli_error(argv, phrase, status=1, forbid=None):
    """'clear' if the command fails with ``status`` and one error line holding ``phrase``."""
    code, err = _cli(argv, forbid=forbid)
    if code is None:
        return err
    if code == 0:
        return "silent: exit 0"
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    if "Traceback" in err or code != status or len(lines) != 1 or phrase.lower() not in \
            lines[0].lower():
        return f"raw: exit {code}: {err.strip()[-110:]}"
    return "clear"


def _sift_csv(tmp):
    from sklearn_patchdesc.datasets import load_hpatches, save_descriptors_csv
    from sklearn_patchdesc.describe import SIFTPatchDescriptor

    data = load_hpatches(_hpatches(tmp), cache=False)
    D = SIFTPatchDescriptor().fit(data.data).transform(data.data)
    return save_descriptors_csv(D, data.target, tmp / "descr", "sift")


@probe(32, "cli/data: evaluate, an empty e2.csv")
def _(tmp):
    root = _sift_csv(tmp)
    (root / "i_a" / "e2.csv").write_text("")
    return _cli_error(["evaluate", root], "e2.csv is empty")


@probe(32, "cli/data: evaluate, a CSV of blank lines")
def _(tmp):
    root = _sift_csv(tmp)
    (root / "v_b" / "t5.csv").write_text("\n\n\n")
    return _cli_error(["evaluate", root], "t5.csv is empty")


@probe(32, "cli/data: evaluate, every CSV empty")
def _(tmp):
    root = _sift_csv(tmp)
    for p in root.rglob("*.csv"):
        p.write_text("")
    return _cli_error(["evaluate", root], "is empty")


@probe(32, "cli/data: evaluate --n-jobs 0")
def _(tmp):
    return _cli_error(["evaluate", _sift_csv(tmp), "--n-jobs", "0"], "--n-jobs", status=2)


@probe(32, "cli/data: make-data --n-jobs 0")
def _(tmp):
    return _cli_error(["make-data", tmp / "o", "--n-jobs", "0"], "--n-jobs", status=2)


@probe(32, "cli/data: evaluate --distance hamming on float CSVs")
def _(tmp):
    return _cli_error(["evaluate", _sift_csv(tmp), "--distance", "hamming"],
                      "--distance hamming")


@probe(32, "cli/data: evaluate --distance masked_l1 on 3-column CSVs")
def _(tmp):
    root = _sift_csv(tmp)
    for p in root.rglob("*.csv"):
        rows = p.read_text().splitlines()
        p.write_text("\n".join(",".join(r.split(",")[:3]) for r in rows) + "\n")
    return _cli_error(["evaluate", root, "--distance", "masked_l1"], "--distance masked_l1")


def _image_sequence(root, spoil=None, name="v_x", layout="hpatches"):
    from scipy.ndimage import gaussian_filter

    d = root / name
    d.mkdir(parents=True)
    img = gaussian_filter(np.random.default_rng(0).random((160, 160)) * 255, 2)
    img = (255 * (img - img.min()) / np.ptp(img)).astype(np.uint8)
    for k in range(1, 7):
        Image.fromarray(img).save(d / (f"{k}.ppm" if layout == "hpatches" else f"img{k}.png"))
    for k in range(2, 7):
        np.savetxt(d / (f"H_1_{k}" if layout == "hpatches" else f"H1to{k}p"), np.eye(3))
    if spoil is not None:
        spoil(d)
    return root


def _h(text, name="H_1_4"):
    return lambda d: (d / name).write_text(text)


for _case, _spoil, _phrase in [
        ("a sequence lacks H_1_4", lambda d: (d / "H_1_4").unlink(), "missing homography"),
        ("non-numeric homography", _h("1 0 x\n0 1 0\n0 0 1\n"), "cannot parse homography"),
        ("2x2 homography", _h("1 0\n0 1\n"), "must hold 3x3"),
        ("4x4 homography", _h("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"), "must hold 3x3"),
        ("singular homography", _h("1 0 0\n1 0 0\n0 0 1\n"), "not invertible"),
        ("all-zero homography", _h("0 0 0\n0 0 0\n0 0 0\n"), "H[2, 2] == 0"),
        ("NaN in a homography", _h("1 0 nan\n0 1 0\n0 0 1\n"), "NaN or infinity"),
        ("inf in a homography", _h("1 0 inf\n0 1 0\n0 0 1\n"), "NaN or infinity"),
        ("homography entry 1e300", _h("1e300 0 1\n0 1 0\n0 0 1\n"), "condition number"),
        ("homography entry 1e-300 on the diagonal", _h("1e-300 0 1\n0 1 0\n0 0 1\n"),
         "condition number"),
        ("H[2,2] = 0", _h("1 0 0\n0 1 0\n0 1 0\n"), "H[2, 2] == 0"),
        ("unreadable image", lambda d: (d / "3.ppm").write_text("garbage"), "cannot read image"),
        ("empty image file", lambda d: (d / "5.ppm").write_bytes(b""), "cannot read image"),
        ("missing image", lambda d: (d / "6.ppm").unlink(), "missing image")]:
    def _make(spoil, phrase):
        return lambda tmp: _from_error(tmp, spoil, phrase)
    probe(32, f"cli/data: make-data --from, {_case}")(_make(_spoil, _phrase))


def _from_error(tmp, spoil, phrase):
    code, err = _cli(["make-data", tmp / "o", "--from", _image_sequence(tmp / "src", spoil)])
    if code is None:
        return err
    line = " ".join(ln for ln in err.splitlines() if "error:" in ln)
    if code == 1 and "Traceback" not in err and "skipped 1 sub-folder" in line and \
            phrase.lower() in line.lower():
        return "clear"
    return "silent: exit 0" if code == 0 else f"raw: exit {code}: {err.strip()[-110:]}"


@probe(32, "cli/data: make-data --from, Oxford layout lacking H1to3p")
def _(tmp):
    src = _image_sequence(tmp / "src", lambda d: (d / "H1to3p").unlink(), name="graf",
                          layout="oxford")
    return _cli_error(["make-data", tmp / "o", "--from", src], "H1to3p")


@probe(32, "cli/data: make-data --from, a homography scaled by 1e-300 (valid: up to scale)")
def _(tmp):
    H = "1.1e-300 0 3e-300\n0 0.9e-300 0\n1e-305 0 1e-300\n"
    code, err = _cli(["make-data", tmp / "o", "--from", _image_sequence(tmp / "src", _h(H)),
                      "--n-patches", "10"])
    return "clear" if code == 0 else (err if code is None else f"raw: exit {code}: {err[-90:]}")


@probe(32, "cli/data: make-data --from, a homography sending every point off the image")
def _(tmp):
    src = _image_sequence(tmp / "src", _h("1 0 1e5\n0 1 1e5\n0 0 1\n"))
    return _cli_error(["make-data", tmp / "o", "--from", src, "--n-patches", "10"],
                      "no patch fits")


def _full_disk_on(target, attr, err_no=None):
    import errno as _errno

    code = _errno.ENOSPC if err_no is None else err_no
    real = getattr(target, attr)

    def full(*a, **k):
        raise OSError(code, os.strerror(code))
    setattr(target, attr, full)
    return lambda: setattr(target, attr, real)


def _nothing_left(folder):
    return not Path(folder).exists() or not any(Path(folder).rglob("*"))


@probe(32, "cli/data: make-data on a full disk")
def _(tmp):
    undo = _full_disk_on(Image.Image, "save")
    try:
        outcome = _cli_error(["make-data", tmp / "o", "--n-sequences", "2", "--n-patches", "8"],
                             "no space left on device")
    finally:
        undo()
    return outcome if outcome != "clear" or _nothing_left(tmp / "o") else \
        "silent: files left behind"


@probe(32, "cli/data: make-data over a disk quota")
def _(tmp):
    import errno as _errno

    undo = _full_disk_on(Image.Image, "save", _errno.EDQUOT)
    try:
        return _cli_error(["make-data", tmp / "o", "--n-sequences", "2", "--n-patches", "8"],
                          "quota")
    finally:
        undo()


@probe(32, "cli/data: export on a full disk")
def _(tmp):
    from sklearn_patchdesc.datasets import _descriptors_csv

    root = _hpatches(tmp)
    undo = _full_disk_on(_descriptors_csv.np, "savetxt")
    try:
        outcome = _cli_error(["export", "builtin:raw", "--data", root, tmp / "o"],
                             "no space left on device")
    finally:
        undo()
    return outcome if outcome != "clear" or _nothing_left(tmp / "o") else \
        "silent: files left behind"


@probe(32, "cli/data: load_hpatches with a cache on a full disk reads the PNGs")
def _(tmp):
    from sklearn_patchdesc.datasets import _hpatches_io, load_hpatches

    root = _hpatches(tmp)
    undo = _full_disk_on(_hpatches_io, "atomic_save_npy")
    try:
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load_hpatches(root, cache=tmp / "cache")
    except Exception as exc:  # noqa: BLE001
        return f"raw: {type(exc).__name__}: {exc!s:.90}"
    finally:
        undo()
    same = np.array_equal(data.data, load_hpatches(root, cache=False).data)
    said = any(str(tmp / "cache") in str(w.message) for w in caught)
    return "clear" if same and said else f"silent: same data {same}, warning naming it {said}"


@probe(32, "cli/data: load_hpatches(mmap_mode='r') with a cache on a full disk")
def _(tmp):
    from sklearn_patchdesc.datasets import _hpatches_io, load_hpatches

    root = _hpatches(tmp)
    undo = _full_disk_on(_hpatches_io, "atomic_save_npy")
    try:
        return expect_error(lambda: load_hpatches(root, cache=tmp / "c", mmap_mode="r"),
                            OSError, str(tmp / "c"))
    finally:
        undo()


@probe(32, "cli/data: export model --patch-size 64 (fitted on 32)")
def _(tmp):
    from sklearn_patchdesc.describe import load_pretrained
    from sklearn_patchdesc.persistence import save

    save(load_pretrained(), tmp / "m.skpd")
    return _cli_error(["export", tmp / "m.skpd", "--data", _hpatches(tmp), tmp / "o",
                       "--patch-size", "64"], "fitted on 32x32")


@probe(32, "cli/data: export builtin:hardnet --patch-size 16")
def _(tmp):
    return _cli_error(["export", "builtin:hardnet", "--data", _hpatches(tmp), tmp / "o",
                       "--patch-size", "16"], "--patch-size 16")


@probe(32, "cli/data: export builtin:hardnet writes the shipped descriptors")
def _(tmp):
    from sklearn_patchdesc.datasets import load_descriptors_csv, load_hpatches
    from sklearn_patchdesc.describe import load_pretrained

    root = _hpatches(tmp)
    code, err = _cli(["export", "builtin:hardnet", "--data", root, tmp / "o"])
    if code != 0:
        return err if code is None else f"raw: exit {code}: {err.strip()[-90:]}"
    D = load_descriptors_csv(tmp / "o").data
    ref = load_pretrained().transform(load_hpatches(root, cache=False).data)
    return "clear" if np.allclose(D, ref, atol=1e-6) else "silent: other descriptors"


@probe(32, "cli/data: export builtin:l2net says how to export a model")
def _(tmp):
    return _cli_error(["export", "builtin:l2net", "--data", _hpatches(tmp), tmp / "o"],
                      "builtin:hardnet")


def _only_ref(root, seqs):
    for s in seqs:
        for p in (root / s).iterdir():
            if p.name != "ref.png":
                p.unlink()
    return root


@probe(32, "cli/data: load_hpatches on a partial download (only ref.png)")
def _(tmp):
    from sklearn_patchdesc.datasets import load_hpatches

    root = _only_ref(_hpatches(tmp), ["v_b"])
    return expect_error(lambda: load_hpatches(root, cache=False), FileNotFoundError,
                        "v_b lacks 15 of the requested stacks")


@probe(32, "cli/data: load_hpatches(on_error='skip') on a partial download")
def _(tmp):
    import warnings

    from sklearn_patchdesc.datasets import load_hpatches

    root = _only_ref(_hpatches(tmp), ["v_b"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_hpatches(root, cache=False, on_error="skip", n_jobs=2)
    said = any("v_b" in str(w.message) for w in caught)
    return "clear" if data.sequence_names == ["i_a"] and said else \
        f"silent: {data.sequence_names}, warned {said}"


@probe(32, "cli/data: load_hpatches(n_jobs=2) on a partial download, two incomplete")
def _(tmp):
    from sklearn_patchdesc.datasets import load_hpatches

    root = _only_ref(_hpatches(tmp, seqs=(("i_a", 3), ("v_b", 3), ("v_c", 3))), ["i_a", "v_c"])
    return expect_error(lambda: load_hpatches(root, cache=False, n_jobs=2), FileNotFoundError,
                        "2 of 3 sequences")


@probe(32, "cli/data: export --data on a partial download")
def _(tmp):
    root = _only_ref(_hpatches(tmp), ["v_b"])
    return _cli_error(["export", "builtin:raw", "--data", root, tmp / "o"], "v_b lacks 15")


@probe(32, "cli/data: demo --data on a partial download leaves it out")
def _(tmp):
    from sklearn_patchdesc._cli._demo_data import _complete_hpatches_folders

    root = _only_ref(_hpatches(tmp, seqs=(("i_a", 3), ("v_b", 3), ("v_c", 3))), ["v_b"])
    return "clear" if _complete_hpatches_folders(root) == ["i_a", "v_c"] else "silent"


@probe(32, "cli/data: make-data into a folder another run filled meanwhile")
def _(tmp):
    from sklearn_patchdesc import datasets

    out, real = tmp / "o", datasets.make_hpatches_like

    def other_run(*a, **k):
        bunch = real(*a, **k)
        for name in bunch.sequence_names:
            (out / name).mkdir(parents=True)
            (out / name / "ref.png").write_bytes(b"theirs")
        return bunch

    datasets.make_hpatches_like = other_run
    try:
        outcome = _cli_error(["make-data", out, "--n-sequences", "2", "--n-patches", "8"],
                             "--force")
    finally:
        datasets.make_hpatches_like = real
    return outcome


@probe(32, "cli/data: two writers with overwrite=True racing for one sequence folder")
def _(tmp):
    from sklearn_patchdesc.datasets import _common

    (tmp / "new").mkdir()
    (tmp / "new" / "mine").write_text("new")
    dest, real, raced = tmp / "seq", os.replace, []

    def racing(src, dst):
        if str(dst) == str(dest) and not raced:
            raced.append(1)
            dest.mkdir()
            (dest / "theirs").write_text("x")
        return real(src, dst)

    _common.os.replace = racing
    try:
        _common.replace_dirs([(tmp / "new", dest)], True, "sequence folder")
    except Exception as exc:  # noqa: BLE001
        return f"raw: {type(exc).__name__}: {exc!s:.90}"
    finally:
        _common.os.replace = real
    return "clear" if sorted(p.name for p in dest.iterdir()) == ["mine"] else "silent"


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@probe(32, "cli/data: a save killed with SIGKILL, then the next save")
def _(tmp):
    from sklearn_patchdesc import _files

    code = ("import importlib.util as u, os, sys\n"
            "s = u.spec_from_file_location('f', sys.argv[2]); f = u.module_from_spec(s)\n"
            "s.loader.exec_module(f)\n"
            "with f.atomic_write(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half'); os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp / "m.skpd"), _files.__file__],
                   timeout=60)
    left = [p.name for p in tmp.iterdir()]
    with _files.atomic_write(tmp / "m.skpd") as t:
        t.write_bytes(b"whole")
    after = sorted(p.name for p in tmp.iterdir())
    if len(left) != 1:
        return f"raw: the kill left {left}"
    return "clear" if after == ["m.skpd"] else f"silent: orphans {after}"


@probe(32, "cli/data: write_hpatches after a killed write_hpatches (temp folder)")
def _(tmp):
    from sklearn_patchdesc.datasets import write_hpatches
    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target

    from sklearn_patchdesc import _files

    orphan = tmp / "hp" / f".write_hpatches-tmp-{_files._host()}-{_dead_pid()}-0123456789ab"
    (orphan / "i_a").mkdir(parents=True)
    target = make_target(["i_a"], [2], IMAGE_NAMES)
    write_hpatches({"data": np.zeros((len(target), 8, 8), np.uint8), "target": target},
                   tmp / "hp")
    return "clear" if not orphan.exists() else "silent: orphan temp folder kept"


@probe(32, "cli/data: a live writer's temporary survives another write")
def _(tmp):
    from sklearn_patchdesc import _files

    live = tmp / f".m.skpd.{_files._host()}-{os.getppid()}-abcdefgh.tmp"
    live.write_bytes(b"in progress")
    with _files.atomic_write(tmp / "m.skpd") as t:
        t.write_bytes(b"x")
    return "clear" if live.exists() else "silent: removed a live writer's file"


@probe(32, "cli/data: demo test sequences on real data, random states 0-7")
def _(tmp):
    from sklearn_patchdesc._cli import _demo
    from sklearn_patchdesc._cli._demo_data import shipped_training_sequences, split_by_sequence
    from sklearn_patchdesc.datasets._common import make_target

    names = ["i_ubc", "v_bikes", "v_boat", "v_graffiti", "v_trees"]  # Oxford affine, named
    trained = shipped_training_sequences(_demo.PRETRAINED, _demo.SHIPPED_PIPELINE)
    bad = {rs: t for rs in range(8)
           for t in [split_by_sequence(make_target(names, [2] * 5, ["ref"]), rs,
                                       trained_on=trained)[1]]
           if set(t) & trained}
    return "clear" if not bad else f"silent: tested on training sequences {bad}"


for _dev in ("mps", "xpu", "meta"):
    def _device_probe(dev):
        def run(tmp):
            from sklearn_patchdesc._cli import _demo_data

            return _cli_error(["demo", "--device", dev, "--out", tmp / "o"], "--device",
                              status=2, forbid=(_demo_data, "get_data"))
        return run
    probe(32, f"cli/data: demo --device {_dev} before any work")(_device_probe(_dev))


@probe(32, "cli/data: export of a file that is not a model")
def _(tmp):
    (tmp / "m.skpd").write_bytes(b"not a model")
    return _cli_error(["export", tmp / "m.skpd", "--data", _hpatches(tmp), tmp / "o"],
                      "m.skpd")


@probe(32, "cli/data: TPESearchCV where every trial scores NaN (one-sequence fold)")
def _(tmp):
    import warnings

    from scipy.stats import uniform
    from sklearn.model_selection import GroupKFold

    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target
    from sklearn_patchdesc.describe import SIFTPatchDescriptor
    from sklearn_patchdesc.model_selection import TPESearchCV

    y = make_target(["i_a", "v_b", "v_c"], [6, 6, 6], IMAGE_NAMES)
    X = np.random.default_rng(0).integers(0, 256, (len(y), 16, 16)).astype(np.uint8)
    search = TPESearchCV(SIFTPatchDescriptor(), {"clip": uniform(0.1, 0.3)}, n_trials=2,
                         cv=GroupKFold(2), scoring="hpatches_mean", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return expect_error(lambda: search.fit(X, y, groups=y["sequence"]), ValueError,
                            "single sequence")


@probe(32, "cli/data: demo progress in a log (stderr not a terminal)")
def _(tmp):
    from sklearn_patchdesc._cli._common import progress

    log, clock = io.StringIO(), iter(range(0, 10_000, 20))
    list(progress(range(30), "scoring", stream=log, interval=30, clock=lambda: next(clock)))
    n = len(log.getvalue().splitlines())
    return "clear" if 5 <= n <= 25 and "\r" not in log.getvalue() else f"silent: {n} lines"


@probe(32, "cli/data: demo summary when denoising lowered PSNR")
def _(tmp):
    from sklearn_patchdesc._cli._demo_table import INPUTS, TASKS, summary_line

    def per(v):
        return {t: {"easy": v, "hard": v, "tough": v, "mean": v} for t in TASKS}
    vals = {"clean": 0.8, "denoised": 0.8048, "noisy": 0.79}
    res = {n: {i: per(vals[i]) for i in INPUTS} for n in ("HardNet", "SIFT")}
    psnr = {"noisy": {"easy": 30.1, "hard": 24.0, "tough": 20.5},
            "denoised": {"easy": 27.1, "hard": 25.0, "tough": 22.0}}
    text = summary_line(res, "HardNet", psnr)
    return "clear" if "recover" not in text and "LOWERED PSNR on easy" in text else \
        f"silent: {text[-100:]}"


@probe(32, "cli/data: demo PR-curve legend against the table")
def _(tmp):
    from types import SimpleNamespace

    from sklearn_patchdesc._cli._demo_figures import pr_legend

    ver = {lv: {"inter": {"ap": 0.9}, "intra": {"ap": 0.7}} for lv in ("easy", "hard", "tough")}
    rep = SimpleNamespace(details={"verification": {"per_difficulty": ver},
                                   "matching": {"per_difficulty": {}},
                                   "retrieval": {"per_difficulty": {}}},
                          curves={lv: {"inter": {"pr": {}}} for lv in ver},
                          verification=0.8, matching=0.5, retrieval=0.6)
    text = pr_legend("HardNet", rep, "easy")
    return "clear" if "inter AP 0.900" in text and "table 0.800" in text else f"silent: {text}"
# =============================================== end of issue 32 cli/data probes


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
    return "correct" if np.array_equal(again, fresh) else "silent: stale cache entry trusted"


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

# ================================================================ issue 32
# ------------------------------------------------ 9. evaluation: silent scores
def _uninformative(fn, *args, **kw):
    from sklearn_patchdesc.metrics import UninformativeTaskError

    return expect_error(lambda: fn(*args, **kw), UninformativeTaskError, "score")


for _label, _make in [("ones", np.ones_like), ("zeros", np.zeros_like),
                      ("all 7.5", lambda X: np.full_like(X, 7.5)),
                      ("one row repeated", lambda X: np.repeat(X[:1], len(X), 0)),
                      ("identical float32", lambda X: np.ones_like(X, dtype=np.float32)),
                      ("identical int", lambda X: np.ones(X.shape, np.int64))]:
    for _fn in ("hpatches_evaluate", "hpatches_retrieval"):
        probe(9, f"{_fn}: identical descriptors ({_label})")(
            lambda tmp, m=_make, f=_fn: _uninformative(
                getattr(__import__("sklearn_patchdesc.metrics", fromlist=[f]), f),
                m(_descriptor_set()[0]), _descriptor_set()[1]))


@probe(9, "hpatches_evaluate: identical descriptors, ties='pessimistic' score at chance")
def _(tmp):
    from sklearn_patchdesc.metrics import hpatches_evaluate

    X, t = _descriptor_set()
    rep = hpatches_evaluate(np.ones_like(X), t, ties="pessimistic")
    return "correct" if rep.retrieval < 0.3 else f"silent: retrieval {rep.retrieval:.2f}"


for _fn in ("hpatches_evaluate", "hpatches_retrieval", "hpatches_mean_scorer"):
    probe(9, f"{_fn}: one sequence (no distractor), random descriptors")(
        lambda tmp, f=_fn: _one_sequence(f))


def _one_sequence(name):
    from sklearn_patchdesc import metrics

    X, t = _descriptor_set()
    one = t["sequence"] == t["sequence"][0]
    R = np.random.default_rng(0).normal(size=X.shape)[one]
    if name.endswith("_scorer"):
        return _uninformative(getattr(metrics, name), _Fixed(R), np.arange(one.sum())[:, None],
                              t[one])
    return _uninformative(getattr(metrics, name), R, t[one])


for _label, _labels in [("all zeros", lambda n: np.zeros(n, int)),
                        ("all 5", lambda n: np.full(n, 5)),
                        ("all 0.0 floats", lambda n: np.zeros(n))]:
    for _fn in ("hpatches_evaluate", "hpatches_matching"):
        probe(9, f"{_fn}: labels {_label} (one point)")(
            lambda tmp, lab=_labels, f=_fn: _uninformative(
                getattr(__import__("sklearn_patchdesc.metrics", fromlist=[f]), f),
                _descriptor_set()[0], lab(len(_descriptor_set()[0]))))


def _same_scores(scale, dtype=np.float64, distance="l2"):
    from sklearn_patchdesc.metrics import hpatches_evaluate

    X, t = _descriptor_set()
    X = X.astype(dtype)
    want = hpatches_evaluate(X, t, distance=distance).scores
    with np.errstate(all="ignore"):
        got = hpatches_evaluate((X * scale).astype(dtype), t, distance=distance).scores
    if got == want:
        return "correct"
    return "silent: " + ", ".join(f"{k} {got[k]:.3f} vs {want[k]:.3f}" for k in want)


for _scale, _dtype in [(1e200, np.float64), (1e-200, np.float64), (1e300, np.float64),
                       (1e-300, np.float64), (1e100, np.float64), (1e-100, np.float64),
                       (1e30, np.float32), (1e-30, np.float32), (1e18, np.float32),
                       (1e-18, np.float32)]:
    for _dist in ("l2", "l1"):
        probe(9, f"descriptors x {_scale:g} ({np.dtype(_dtype).name}, {_dist}) score the same")(
            lambda tmp, s=_scale, d=_dtype, dist=_dist: _same_scores(s, d, dist))


def _cli_subprocess(*args):
    proc = subprocess.run([sys.executable, "-m", "sklearn_patchdesc", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def _evaluate_verdict(folder, phrase):
    """'clear' when ``evaluate FOLDER`` fails with an error naming ``phrase``, no traceback."""
    rc, out, err = _cli_subprocess("evaluate", folder)
    if rc == 0:
        return f"silent: exit 0: {out.strip()[-80:]}"
    if "Traceback" in err or phrase not in err:
        return f"raw: exit {rc}: {err.strip()[-90:]}"
    return "clear"


@probe(9, "evaluate command on one sequence (no distractor): one-line error, not 100.00")
def _(tmp):
    from sklearn_patchdesc.datasets import save_descriptors_csv

    X, t = _descriptor_set()
    one = t["sequence"] == t["sequence"][0]
    save_descriptors_csv(np.random.default_rng(0).normal(size=X.shape)[one].astype(np.float32),
                         t[one], tmp, "rand")
    return _evaluate_verdict(tmp / "rand", "distractor")


@probe(9, "evaluate command on identical descriptors: one-line error")
def _(tmp):
    from sklearn_patchdesc.datasets import save_descriptors_csv

    X, t = _descriptor_set()
    save_descriptors_csv(np.ones_like(X, dtype=np.float32), t, tmp, "ones")
    return _evaluate_verdict(tmp / "ones", "identical")


# --------------------------------------- 10. input scale, validator, scorers
def _raw_fitted(size=8):
    from sklearn_patchdesc.describe import RawPatchDescriptor

    X = np.random.default_rng(0).integers(0, 256, (12, size, size)).astype(np.uint8)
    return RawPatchDescriptor().fit(X), X


for _label, _make in [("+ 0.25", lambda X: X.astype(float) + 0.25),
                      ("+ 0.5 float32", lambda X: X.astype(np.float32) + 0.5),
                      ("* 1.001", lambda X: X.astype(float) * 1.001),
                      ("- 0.3 (some negative)", lambda X: X.astype(float) - 0.3),
                      ("+ noise sigma 20, unclipped", lambda X: X + np.random.default_rng(
                          0).normal(0, 20, X.shape)),
                      ("16-bit scale + 0.5", lambda X: X.astype(float) * 257 + 0.5),
                      ("whole numbers (astype float)", lambda X: X.astype(float))]:
    probe(10, f"float patches on 0..255 {_label} to transform")(
        lambda tmp, m=_make: (lambda est, X: expect_error(
            lambda: est.transform(m(X)), ValueError, "[0, 1] scale"))(*_raw_fitted()))


@probe(10, "denoiser fit on 0..255 float targets + 0.25")
def _(tmp):
    from sklearn_patchdesc.denoise import DnCNNDenoiser

    noisy, clean = data(32)
    est = DnCNNDenoiser(depth=3, module__channels=8, max_epochs=1, batch_size=16,
                        random_state=0)
    return expect_error(lambda: est.fit(noisy / 255.0, clean.astype(float) + 0.25),
                        ValueError, "[0, 1] scale")


@probe(10, "float patches in [0, 1] with unclipped noise are taken as given")
def _(tmp):
    est, X = _raw_fitted()
    Xf = X / 255.0 + np.random.default_rng(0).normal(0, 0.2, X.shape)
    out = est.transform(Xf)
    return "correct" if out.shape == (len(X), 64) else f"silent: shape {out.shape}"


for _label, _make in [("object array of ints", lambda X: X.astype(object)),
                      ("object array of numpy uint8", lambda X: np.array(
                          [np.uint8(v) for v in X.ravel()], dtype=object).reshape(X.shape)),
                      ("object array of ints, flat", lambda X: X.reshape(len(X), -1).astype(
                          object))]:
    probe(10, f"transform on an {_label} reads like uint8")(
        lambda tmp, m=_make: (lambda est, X: "correct" if np.array_equal(
            est.transform(m(X)), est.transform(X)) else "silent: other descriptors")(
            *_raw_fitted()))


@probe(10, "transform on an object array of ints above 255")
def _(tmp):
    est, X = _raw_fitted()
    return expect_error(lambda: est.transform(X.astype(object) * 2), ValueError, "0..255")


@probe(10, "transform on an object array with a string")
def _(tmp):
    est, X = _raw_fitted()
    bad = X.astype(object)
    bad[0, 0, 0] = "a"
    return expect_error(lambda: est.transform(bad), TypeError, "must hold numbers")


def _denoise_scorer_on(metric, make):
    from sklearn.metrics import get_scorer

    est, X, Xin = make()
    return expect_error(lambda: get_scorer(metric)(est, Xin, X), ValueError, "denois")


def _desc_case(kind):
    def make():
        from sklearn.pipeline import make_pipeline

        from sklearn_patchdesc.describe import SIFTPatchDescriptor

        est, X = _raw_fitted(16)
        if kind == "sift":
            est = SIFTPatchDescriptor().fit(X)
        elif kind == "pipeline":
            est = make_pipeline(est)
        return est, X, (X.reshape(len(X), -1) if kind == "flat" else X)
    return make


for _metric in ("denoise_psnr", "denoise_ssim"):
    for _kind in ("raw", "flat", "sift", "pipeline"):
        probe(10, f"{_metric} scorer on a descriptor ({_kind})")(
            lambda tmp, m=_metric, k=_kind: _denoise_scorer_on(m, _desc_case(k)))


# --------------------------------------------------------- 11. model files
def _saved_unet(tmp):
    from sklearn_patchdesc.denoise import ShallowUNetDenoiser
    from sklearn_patchdesc.persistence import save

    noisy, clean = data(16, 16)
    est = ShallowUNetDenoiser(max_epochs=1, batch_size=16, random_state=0,
                              module__channels=(4, 4, 4)).fit(noisy, clean)
    return save(est, tmp / "unet.skpd"), est, noisy


def _altered_weight(tmp, change):
    from safetensors.torch import load as st_load

    path, est, noisy = _saved_unet(tmp)
    manifest, blob = members(path)
    tensors = st_load(blob)
    module = manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["module"]["__dict__"]
    key = next(v["__tensor__"] for v in module.values() if tensors[v["__tensor__"]].ndim == 4)
    tensors[key] = change(tensors[key])
    return _load_refused(rewrite(path, manifest, tensors), "network")


for _label, _change in [("F32 -> I32", lambda t: t.view(torch.int32)),
                        ("F32 -> U8 x4", lambda t: t.view(torch.uint8)),
                        ("F32 -> F16 x2", lambda t: t.view(torch.float16)),
                        ("F32 -> F64 pairs", lambda t: t.flatten()[:t.numel() // 2 * 2].view(
                            torch.float64)),
                        ("shape transposed", lambda t: t.transpose(0, 1).contiguous())]:
    probe(11, f"network weight altered: {_label}")(
        lambda tmp, c=_change: _altered_weight(tmp, c))


def _altered_optimizer(tmp, change):
    from safetensors.torch import load as st_load

    path, est, _ = _saved_unet(tmp)
    manifest, blob = members(path)
    state = manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["optimizer"]
    slot = state["__dict__"]["state"]["__items__"][0][1]["__dict__"]
    tensors = st_load(blob)
    key = slot["exp_avg"]["__tensor__"]
    tensors[key] = change(tensors[key])
    return _load_refused(rewrite(path, manifest, tensors), "optimizer state")


for _label, _change in [("F32 -> I32", lambda t: t.view(torch.int32)),
                        ("F32 -> F16 x2", lambda t: t.view(torch.float16)),
                        ("shape transposed", lambda t: t.transpose(0, 1).contiguous())]:
    probe(11, f"optimizer moment altered: {_label}")(
        lambda tmp, c=_change: _altered_optimizer(tmp, c))


def _raw_node(fitted):
    return _estimator("sklearn_patchdesc.describe.RawPatchDescriptor", fitted=fitted)


for _label, _fitted, _phrase in [
        ("ndarray stored I32, manifest float32", {"w_": {"__ndarray__": "t0", "dtype": "<f4"}},
         "manifest says float32"),
        ("n_features_in_=7", {"patch_size_": 32, "n_features_in_": 7}, "n_features_in_ is 7"),
        ("patch_size_=-5", {"patch_size_": -5, "n_features_in_": 25}, "positive integer"),
        ("patch_size_=0", {"patch_size_": 0, "n_features_in_": 0}, "positive integer"),
        ("patch_size_='32'", {"patch_size_": "32", "n_features_in_": 1024}, "positive integer"),
        ("patch_size_=1.5", {"patch_size_": 1.5, "n_features_in_": 2.25}, "positive integer"),
        ("patch_size_=true", {"patch_size_": True, "n_features_in_": 1}, "positive integer"),
        ("n_features_in_ without patch_size_", {"n_features_in_": 1024}, "patch_size_"),
        ("patch_size_ without n_features_in_", {"patch_size_": 32}, "n_features_in_")]:
    probe(11, f"manifest {_label}")(
        lambda tmp, f=_fitted, ph=_phrase: _load_refused(_model_file(
            tmp, "m.skpd", _raw_node(f), tensors={"t0": torch.arange(3, dtype=torch.int32)}),
            ph))


@probe(11, "manifest TernausNet patch_size_=40 (not a multiple of 32)")
def _(tmp):
    return _load_refused(_model_file(tmp, "t.skpd", _estimator(
        "sklearn_patchdesc.denoise.TernausNetDenoiser",
        fitted={"patch_size_": 40, "n_features_in_": 1600})), "multiple_of")


for _label, _history in [("[1,2,3]", "[1, 2, 3]"), ("a dict", '{"epoch": 1}'),
                         ("null", "null"), ("epoch '1' as text", '[{"epoch": "1"}]'),
                         ("epochs 2, 1", '[{"epoch": 2}, {"epoch": 1}]'),
                         ("batches not dicts", '[{"epoch": 1, "batches": [1]}]'),
                         ("not JSON", "[{")]:
    probe(11, f"training history {_label}")(
        lambda tmp, h=_history: _altered_history(tmp, h))


def _altered_history(tmp, history):
    path, _, _ = _saved_unet(tmp)
    manifest, blob = members(path)
    manifest["root"]["fitted"]["__dict__"]["net_"]["__net__"]["history"] = history
    return _load_refused(rewrite(path, manifest, blob), "history")


def _ternausnet(tmp):
    from sklearn_patchdesc.denoise import TernausNetDenoiser, _modules
    from sklearn_patchdesc.persistence import save

    feats = _modules._vgg_features(_modules.VGG_CONFIGS["vgg11"], 4)
    weights = tmp / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, weights)
    noisy, clean = data(16, 32)
    est = TernausNetDenoiser(encoder_weights=weights, max_epochs=1, batch_size=16,
                             random_state=0, module__base_channels=4).fit(noisy, clean)
    return save(est, tmp / "tern.skpd"), est, noisy, weights


@probe(11, "TernausNet file loads after its encoder_weights file moved")
def _(tmp):
    from sklearn_patchdesc.persistence import load

    path, est, noisy, weights = _ternausnet(tmp)
    weights.rename(tmp / "moved.pth")
    same = np.array_equal(load(path).transform(noisy), est.transform(noisy))
    return "correct" if same else "silent: other outputs"


for _label, _target in [("/etc/hostname", "/etc/hostname"), ("a missing path", "MISSING"),
                        ("a folder", "/"), ("/dev/zero", "/dev/zero")]:
    probe(11, f"crafted TernausNet encoder_weights={_label}: never opened")(
        lambda tmp, t=_target: _crafted_encoder_path(tmp, t))


def _crafted_encoder_path(tmp, target):
    from sklearn_patchdesc import _state_dict, _vgg_layout
    from sklearn_patchdesc.persistence import load

    path, est, noisy, _ = _ternausnet(tmp)
    manifest, blob = members(path)
    manifest["root"]["params"]["__dict__"]["encoder_weights"] = (
        str(tmp / "missing.pth") if target == "MISSING" else target)
    # every reader of a weights file (TernausNet's encoder goes through _vgg_layout)
    modules = (_vgg_layout, _state_dict)
    opened, real = [], _state_dict.read_state_dict
    for m in modules:
        m.read_state_dict = lambda *a, **k: opened.append(a) or real(*a, **k)
    try:
        loaded = load(rewrite(path, manifest, blob))
    except Exception as exc:  # noqa: BLE001 - the message may reveal the path's existence
        return f"raw: {type(exc).__name__}: {exc!s:.80}"
    finally:
        for m in modules:
            m.read_state_dict = real
    if opened:
        return f"silent: load opened {opened[0][0]!r}"
    same = np.array_equal(loaded.transform(noisy), est.transform(noisy))
    return "correct" if same else "silent: other outputs"


_MEMORY_CHILD = """
import resource, sys
from sklearn_patchdesc.persistence import PersistenceError, load
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load(sys.argv[1])
    outcome = "loaded"
except PersistenceError as exc:
    outcome = "refused: " + str(exc)[-120:]
rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(f"{rise:.0f}|{outcome}")
"""


def _memory_of_load(path, phrase):
    """Load in a fresh interpreter; 'clear' when refused naming ``phrase`` within 3x the file."""
    proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path)], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode:
        return f"raw: {proc.stderr.strip()[-90:]}"
    rise, outcome = proc.stdout.strip().splitlines()[-1].split("|", 1)
    size = path.stat().st_size / 2**20
    if float(rise) > 3 * size + 16:
        return f"silent: {outcome[:40]}, but memory rose {rise} MiB for a {size:.0f} MiB file"
    if not outcome.startswith("refused") or phrase not in outcome:
        return f"silent: {outcome[:90]}"
    return "clear"


@probe(11, "22 MB file: one 16 MiB tensor referenced 200 times (memory <= 3x file)")
def _(tmp):
    refs = {f"a{i}_": {"__tensor__": "t0"} for i in range(200)}
    path = _model_file(tmp, "refs.skpd", _raw_node(refs), tensors={"t0": torch.zeros(2**22)})
    return _memory_of_load(path, "more than once")


@probe(11, "ndarray tensor referenced 200 times")
def _(tmp):
    refs = {f"a{i}_": {"__ndarray__": "t0", "dtype": "<f4"} for i in range(200)}
    path = _model_file(tmp, "refs.skpd", _raw_node(refs), tensors={"t0": torch.zeros(2**20)})
    return _memory_of_load(path, "more than once")


@probe(11, "5 MB file: 40 string arrays each under the per-array cap (memory <= 3x file)")
def _(tmp):
    arrays = {f"s{i}_": {"__strarray__": "<U65536", "shape": [256], "values": ["a"] * 256}
              for i in range(40)}
    path = _model_file(tmp, "str.skpd", _raw_node(arrays))
    return _memory_of_load(path, "times its size")


@probe(11, "record array of two 64 MiB string columns from a 50 KB file")
def _(tmp):
    col = {"__strarray__": "<U4096", "shape": [4096], "values": [""] * 4096}
    arr = {"r_": {"__recarray__": [["a", col], ["b", {"__strarray__": "<U4096", "shape": [4096],
                                                       "values": [""] * 4096}]]}}
    return _memory_of_load(_model_file(tmp, "rec.skpd", _raw_node(arr)), "times its size")


# --------------------------------------------------------------- 12. writers
def _write_with_sequence(tmp, writer, seq):
    from sklearn_patchdesc.datasets import save_descriptors_csv, write_hpatches
    from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target

    if seq == "ABS":
        seq = str(tmp / "elsewhere" / "x")
    target = make_target([seq], [2], IMAGE_NAMES)
    out = tmp / "out" / "deeper"
    if writer == "save_descriptors_csv":
        call = lambda: save_descriptors_csv(np.ones((len(target), 4), np.float32),  # noqa: E731
                                            target, out, "d")
    else:
        X = np.zeros((len(target), 65, 65), np.uint8)
        call = lambda: write_hpatches({"data": X, "target": target}, out / "hp")  # noqa: E731
    outcome = expect_error(call, ValueError, "folder name")
    stray = [p for p in tmp.rglob("*") if p.is_file()]
    return outcome if not stray else f"silent: wrote {stray[0]}"


for _writer in ("save_descriptors_csv", "write_hpatches"):
    for _seq in ("../../x", "ABS", "..", ".hidden", "a/b", "a\\b"):
        probe(12, f"{_writer}: sequence name {_seq!r}")(
            lambda tmp, w=_writer, q=_seq: _write_with_sequence(tmp, w, q))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--item", type=int, action="append",
                        help="only these items (1-12; 32: issue 32's command line and data "
                             "readers)")
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
        print(f"[{item}] {kind:7s} {name}" + (
            f"  ({outcome})" if kind not in ("clear", "correct") else ""), flush=True)
    head = ("tried", "error", "correct", "silent", "crash")
    print("\n item " + " ".join(f"{h:>7s}" for h in head))
    total = Counter()
    for item in sorted(counts):
        c = counts[item]
        total.update(c)
        print(f"{item:5d} " + " ".join(f"{v:7d}" for v in (
            sum(c.values()), c["clear"], c["correct"], c["silent"], c["raw"])))
    print(f"{'all':>5s} " + " ".join(f"{v:7d}" for v in (
        sum(total.values()), total["clear"], total["correct"], total["silent"], total["raw"])))
    return 1 if total["silent"] or total["raw"] else 0


if __name__ == "__main__":
    sys.exit(main())
