"""Kill a network fit with SIGKILL mid-way, resume it, lose at most one epoch.

Each fit runs in a real child process (forked, so torch is not imported
again) with ``checkpoint_dir``; once the first epoch's checkpoint exists and
the next epoch has begun, the child is killed with SIGKILL. A fresh estimator
with the same ``checkpoint_dir`` then resumes in this process.
"""
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

from sklearn_patchdesc.denoise import (
    ConvAutoencoderDenoiser,
    DnCNNDenoiser,
    ShallowUNetDenoiser,
    TernausNetDenoiser,
    UNetDenoiser,
)
from sklearn_patchdesc.describe import L2NetDescriptor, MultiScaleDescriptor
from sklearn_patchdesc.inversion import FeatureInverter

MAX_EPOCHS = 3
COMMON = {"max_epochs": MAX_EPOCHS, "batch_size": 16, "random_state": 0}


def _inverter(**kw):
    # the same network weights in the killed child and the resuming parent: a
    # checkpoint of modules inverting another network's features is not resumed
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
    return FeatureInverter(net, layer=-1, module__hidden_channels=4, **kw)


def _joint(**kw):
    from sklearn_patchdesc.pipeline import JointDenoiseDescribe

    return JointDenoiseDescribe(ShallowUNetDenoiser(module__channels=(4, 4, 4)),
                                L2NetDescriptor(), **kw)


FACTORIES = {
    "ShallowUNetDenoiser": lambda **kw: ShallowUNetDenoiser(module__channels=(4, 4, 4), **kw),
    "UNetDenoiser": lambda **kw: UNetDenoiser(depth=1, module__base_channels=4, **kw),
    "TernausNetDenoiser": lambda **kw: TernausNetDenoiser(module__base_channels=4, **kw),
    "DnCNNDenoiser": lambda **kw: DnCNNDenoiser(depth=2, module__channels=4, **kw),
    "ConvAutoencoderDenoiser": lambda **kw: ConvAutoencoderDenoiser(
        module__channels=(4, 4, 4, 4, 4), optimizer="adam", lr=1e-3, **kw),
    "L2NetDescriptor": lambda **kw: L2NetDescriptor(**kw),
    "MultiScaleDescriptor": lambda **kw: MultiScaleDescriptor(
        out_features=16, depth=1, deep_features=16, shallow_channels=4, **kw),
    "FeatureInverter": _inverter,
    "JointDenoiseDescribe": _joint,
}


class _Progress(Callback):
    """Child side: note each epoch start in a file, then dawdle so the kill lands mid-epoch."""

    def __init__(self, path, pause):
        self.path = path
        self.pause = pause

    def on_epoch_begin(self, net, **kwargs):
        with open(self.path, "a") as fh:
            fh.write(f"{len(net.history)}\n")
        time.sleep(self.pause)


class _CountEpochs(Callback):
    def __init__(self):
        self.n = 0

    def on_epoch_end(self, net, **kwargs):
        self.n += 1


def _data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (48, 32, 32), dtype=np.uint8), np.repeat(np.arange(16), 3)


def _child(name, ckpt, progress):
    torch.set_num_threads(1)
    X, y = _data()
    est = FACTORIES[name](checkpoint_dir=str(ckpt), callbacks=[("progress",
                                                                _Progress(progress, 1.0))],
                          **COMMON)
    est.fit(X, y)
    os._exit(0)  # not reached when killed


def _checkpoint_epochs(path):
    import json

    state = torch.load(path, weights_only=True)
    return len(json.loads(state["history"]))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sigkill_mid_fit_then_resume_loses_at_most_one_epoch(name, tmp_path):
    if name == "JointDenoiseDescribe":
        pytest.importorskip("sklearn_patchdesc.pipeline")
    ckpt, progress = tmp_path / "ckpt", tmp_path / "progress.txt"
    # FeatureInverter keeps one checkpoint folder per trained module
    ckpt_file = (ckpt / "module_0" if name == "FeatureInverter" else ckpt) / "checkpoint.pt"
    proc = multiprocessing.get_context("fork").Process(target=_child,
                                                       args=(name, ckpt, progress))
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            begun = progress.read_text().split() if progress.exists() else []
            if ckpt_file.exists() and len(begun) >= 2:
                break
            assert proc.is_alive(), f"child fit ended early (exit code {proc.exitcode})"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 120 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    begun = len(progress.read_text().split())
    saved = _checkpoint_epochs(ckpt_file)
    assert 1 <= saved < MAX_EPOCHS
    assert begun - saved <= 1  # only the epoch in progress was lost

    counter = _CountEpochs()
    X, y = _data()
    est = FACTORIES[name](checkpoint_dir=str(ckpt), callbacks=[("count", counter)], **COMMON)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the child: FeatureInverter's features bit for bit
    try:
        est.fit(X, y)
    finally:
        torch.set_num_threads(threads)
    history = est.history_[0] if name == "FeatureInverter" else est.history_
    assert len(history) == MAX_EPOCHS
    assert counter.n == MAX_EPOCHS - saved  # resumed, did not start over
    assert Path(ckpt_file).exists()
