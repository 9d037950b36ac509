"""The thread policy: never more torch threads than free cores, unless the caller says so."""
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_patchdesc import _threads
from sklearn_patchdesc._threads import library_threads, thread_policy
from sklearn_patchdesc.denoise import ShallowUNetDenoiser


@pytest.fixture
def four_cores(monkeypatch):
    """A 4-core machine where torch defaults to 4 threads and the caller set nothing."""
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SKPD_THREADS", raising=False)
    monkeypatch.setattr(_threads, "_n_cpus", lambda: 4)
    torch.set_num_threads(4)
    monkeypatch.setattr(_threads, "_IMPORT_THREADS", 4)
    monkeypatch.setattr(_threads, "_LAST_BUSY", [None, -1.0])  # no reading from another test
    yield monkeypatch
    torch.set_num_threads(before)


@pytest.mark.parametrize("busy, expected", [(0, 4), (1, 3), (3, 1), (9, 1), (None, 4)])
def test_threads_are_the_free_cores(four_cores, busy, expected):
    four_cores.setattr(_threads, "busy_cores", lambda: busy)
    assert library_threads() == expected


def test_the_callers_choice_wins(four_cores):
    four_cores.setattr(_threads, "busy_cores", lambda: 3)
    torch.set_num_threads(2)  # after import: the caller's setting
    assert library_threads() == 2
    torch.set_num_threads(4)
    four_cores.setenv("OMP_NUM_THREADS", "4")
    assert library_threads() == 4
    four_cores.setenv("SKPD_THREADS", "3")
    assert library_threads() == 3


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_skpd_threads_is_named(four_cores, value):
    four_cores.setenv("SKPD_THREADS", value)
    with pytest.raises(ValueError, match=f"SKPD_THREADS='{value}'"):
        library_threads()


def test_busy_cores_reads_the_runnable_count(monkeypatch, tmp_path):
    fake = tmp_path / "loadavg"
    fake.write_text("7.91 8.02 5.40 5/133 24112\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        fake if path == "/proc/loadavg" else path, *a, **k))
    assert _threads.busy_cores(samples=2, interval=0) == 4  # 5 running, one of them the reader


class _ThreadSpy(Callback):
    def initialize(self):
        self.seen_ = set()
        return self

    def on_batch_end(self, net, **kwargs):
        self.seen_.add(torch.get_num_threads())


def test_a_fit_trains_with_the_policy_and_restores_the_count(four_cores):
    four_cores.setattr(_threads, "busy_cores", lambda: 2)
    spy = _ThreadSpy()
    X = np.random.default_rng(0).integers(0, 256, (16, 8, 8)).astype(np.uint8)
    ShallowUNetDenoiser(module__channels=(4, 8, 8), max_epochs=1, batch_size=8,
                        callbacks=[("spy", spy)], random_state=0).fit(X, X)
    assert spy.seen_ == {2}
    assert torch.get_num_threads() == 4


def test_the_policy_restores_the_count_after_an_error(four_cores):
    four_cores.setattr(_threads, "busy_cores", lambda: 3)
    with pytest.raises(RuntimeError, match="boom"), thread_policy() as n:
        assert n == 1 and torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 4


def test_the_reading_is_reused_for_a_second(four_cores):
    readings = []
    four_cores.setattr(_threads, "busy_cores", lambda: readings.append(1) or 1)
    assert [library_threads() for _ in range(5)] == [3] * 5
    assert len(readings) == 1
    four_cores.setattr(_threads, "_LAST_BUSY", [1, -10.0])  # an old reading is read again
    library_threads()
    assert len(readings) == 2


def test_the_policy_never_raises_torchs_count(four_cores):
    # e.g. a forked child that set 1 thread: a pool of 2 there hangs GNU OpenMP
    four_cores.setenv("SKPD_THREADS", "2")
    torch.set_num_threads(1)
    assert library_threads() == 1
    with thread_policy() as n:
        assert n == 1 and torch.get_num_threads() == 1
