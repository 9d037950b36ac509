"""What training prints: exact progress totals, the epoch table on stderr, no
colour off a terminal (the stream convention of sklearn_patchdesc._progress)."""
import io

import numpy as np
import pytest
import torch
from test_describe_data import make_texture_patches

from sklearn_patchdesc._data import PatchDataset, PatchLoader
from sklearn_patchdesc._progress import BatchProgressBar, EpochLog, use_color
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import (HardPositiveMiner, L2NetDescriptor, PKSampler,
                                        RandomTripletSampler, SteppedBatchHard)


def _labels(seed):
    """Skewed labels: singletons, pairs and large groups (the cases that miscount)."""
    rng = np.random.default_rng(seed)
    sizes = np.concatenate([[1] * 7, [2] * 5, rng.integers(3, 30, 20)])
    return np.repeat(np.arange(len(sizes)), sizes)[rng.permutation(sizes.sum())]


def _stepped(stage):
    s = SteppedBatchHard(stages=((8, 2), (24, 4)), warmup_epochs=1).initialize()
    s.stage_ = stage
    return s


SAMPLERS = {
    "random": lambda: RandomTripletSampler(),
    "random-n": lambda: RandomTripletSampler(n_triplets=50),
    "pk": lambda: PKSampler(n_per_label=4),
    "pk-wide": lambda: PKSampler(n_per_label=3),
    "stepped-warmup": lambda: _stepped(-1),
    "stepped-pk": lambda: _stepped(1),
    "hard-positive-warmup": lambda: HardPositiveMiner(n_triplets=37).initialize(),
}


def test_every_public_sampler_is_checked_here():
    import sklearn_patchdesc.describe as describe

    samplers = {name for name in describe.__all__
                if callable(getattr(getattr(describe, name), "batches", None))}
    checked = {type(make()).__name__ for make in SAMPLERS.values()}
    assert samplers <= checked, f"add {samplers - checked} to SAMPLERS"


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("batch_size", [8, 21, 96])  # patches: PK needs 2 x K
@pytest.mark.parametrize("subset", [False, True])
def test_loader_len_is_the_number_of_batches_each_sampler_yields(name, batch_size, subset):
    for seed in range(3):
        y = _labels(seed)
        ds = PatchDataset(np.zeros((len(y), 1, 2, 2), np.uint8), y)
        if subset:  # skorch's ValidSplit hands the loader a Subset
            ds = torch.utils.data.Subset(ds, np.flatnonzero(np.arange(len(y)) % 3))
        loader = PatchLoader(ds, batch_size=batch_size, sampler=SAMPLERS[name](), seed=seed)
        assert len(loader) == sum(1 for _ in loader) > 0, (name, seed)


@pytest.mark.parametrize("n,batch_size,shuffle,drop_last",
                         [(10, 4, True, False), (10, 4, True, True), (12, 4, False, True),
                          (3, 4, True, True), (1, 1, False, False)])
def test_loader_len_without_sampler(n, batch_size, shuffle, drop_last):
    ds = PatchDataset(np.zeros((n, 1, 2, 2), np.uint8))
    loader = PatchLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    assert len(loader) == sum(1 for _ in loader)


def test_loader_len_of_a_sampler_without_n_batches_is_a_clear_type_error():
    class Pairs:
        def batches(self, labels, batch_size, rng):
            yield np.array([0, 1])

    loader = PatchLoader(PatchDataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([1, 1])),
                         sampler=Pairs())
    with pytest.raises(TypeError, match="n_batches"):
        len(loader)


class _RecordTotals(BatchProgressBar):
    """The bar's total at each epoch begin, and the batches the epoch ran."""

    def on_train_begin(self, net, **kwargs):
        self.totals, self.ran = [], []

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self.totals.append(self.pbar_.total)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.ran.append(row["train_batch_count"] + row.get("valid_batch_count", 0))
        super().on_epoch_end(net, **kwargs)


@pytest.fixture(scope="module")
def patches():
    return make_texture_patches(n_sequences=3, n_points=3, random_state=3)  # 144 patches


@pytest.mark.parametrize("sampler,train_split,kw", [
    (RandomTripletSampler(20), 0.34, {}),  # fewer batches than len(dataset) / batch_size
    (RandomTripletSampler(), None, {}),  # every patch an anchor: 3x the patches per batch
    (PKSampler(n_per_label=4), 0.34, {"criterion__miner": "batch_hard"}),  # 24 labels x 4
], ids=["random-20", "random-all", "pk"])
def test_progress_total_equals_batches_run_in_a_descriptor_fit(patches, sampler, train_split,
                                                               kw):
    X, y = patches
    rec = _RecordTotals()
    L2NetDescriptor(max_epochs=1, batch_size=96, sampler=sampler, train_split=train_split,
                    callbacks=[("rec", rec)], random_state=0, **kw).fit(X, y)
    assert rec.totals == rec.ran and len(rec.ran) == 1


def test_progress_total_equals_batches_run_in_a_denoiser_fit(patches):
    X, _ = patches
    rec = _RecordTotals()
    ShallowUNetDenoiser(max_epochs=1, batch_size=32, callbacks=[("rec", rec)],
                        random_state=0).fit(X[:140], X[:140])
    assert rec.totals == rec.ran == [5]  # ceil(140 / 32)


def test_verbose_fit_logs_to_stderr_without_colour(patches, capsys):
    X, _ = patches
    den = ShallowUNetDenoiser(max_epochs=2, batch_size=64, verbose=1, random_state=0)
    den.fit(X[:64], X[:64])
    out, err = capsys.readouterr()
    assert out == ""  # results only on stdout; training reports on stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].split()[:2] == ["epoch", "train_loss"] and len(lines) == 4
    assert "\x1b[" not in err
    names = dict(den.net_.callbacks_)
    assert isinstance(names["print_log"], EpochLog)
    assert isinstance(names["progress"], BatchProgressBar)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_and_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Tty()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Tty())
    monkeypatch.delenv("NO_COLOR")
    row = {"epoch": 1, "train_loss": 0.5, "train_loss_best": True, "dur": 1.0}
    log = EpochLog().initialize()
    monkeypatch.setattr("sys.stderr", _Tty())
    assert "\x1b[" in log.table(row)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert "\x1b[" not in log.table(row) and "0.5000" in log.table(row)
    assert "\x1b[" in EpochLog(color=True).initialize().table(row)
    lines = []
    assert "\x1b[" not in EpochLog(sink=lines.append).initialize().table(row)


def test_on_a_terminal_the_bar_shows_its_true_total_and_ends_full(patches, monkeypatch):
    import re

    X, _ = patches
    err = _Tty()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.delenv("NO_COLOR", raising=False)
    ShallowUNetDenoiser(max_epochs=2, batch_size=32, verbose=1, random_state=0).fit(
        X[:140], X[:140])
    counts = re.findall(r"(\d+)/(\d+) \[", err.getvalue())
    assert counts and {total for _, total in counts} == {"5"}  # ceil(140 / 32)
    assert counts[-1] == ("5", "5")  # the last drawn state is the full bar
    assert "\x1b[" in err.getvalue()  # colour on a terminal
