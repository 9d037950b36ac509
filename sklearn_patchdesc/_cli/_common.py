"""Helpers shared by the subcommands: user errors, argument types, paths, output."""
from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path


class CLIError(Exception):
    """A user error: printed as ``<prog> <command>: error: <message>``, exit status 1."""


@contextmanager
def user_input(what):
    """Turn the library's ``ValueError`` about user-given input into a :class:`CLIError`.

    Wrap only calls whose ``ValueError`` is a verdict on what the user gave
    (a file or folder read, an option value passed through); the message
    starts with ``what`` (e.g. the path). Other exceptions pass unchanged, so
    a bug keeps its traceback.
    """
    try:
        yield
    except ValueError as exc:
        raise CLIError(f"{what}: {exc}") from exc


def _number_type(convert, accept, expected, name):
    """An argparse type: ``convert(text)``, refused unless ``accept(value)``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


#: argparse type: an integer >= 1
positive_int = _number_type(int, lambda v: v >= 1, "a positive integer", "positive_int")
#: argparse type: an integer >= 0 (seeds)
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0", "non_negative_int")
#: argparse type: a finite float > 0
positive_float = _number_type(float, lambda v: 0 < v < float("inf"), "a positive number",
                              "positive_float")


def n_jobs(text):
    """argparse type: a joblib worker count, any integer but 0 (-1 = all cores)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of workers: a positive integer, or -1 for all cores "
            f"(-2 all but one ...), got {text!r}")
    return value


def exists_conflict(exc, out):
    """CLIError for a FileExistsError of a library writer into ``out``.

    The library's message names its ``overwrite=True`` argument; the command
    line's name for it is ``--force``. Everything was checked before the
    command started writing, so the folder appeared meanwhile: another run
    writing into the same place.
    """
    where = exc.filename or out
    return CLIError(f"{where} already exists: it appeared in {out} while this run was "
                    "writing (another run writing into the same folder?); run again with "
                    "--force to replace it once the other run has finished")


def check_precision(precision, device):
    """Refuse, as a :class:`CLIError`, a precision ``device`` cannot run fast (before any work)."""
    from .._precision import resolve_precision

    try:
        resolve_precision(precision, device)
    except ValueError as exc:
        raise CLIError(f"--precision {precision}: {exc}") from None


def torch_device(text):
    """argparse type: a device the networks run on here ('cpu', 'cuda', 'cuda:1').

    :func:`~sklearn_patchdesc._training.check_device` decides: a device the
    library does not run on (``mps``, ``xpu``, ``meta``) or one this machine
    lacks is refused here, before the command does any work, and not by a
    traceback minutes later.
    """
    from .._training import check_device

    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(f"device={text!r}", repr(text))) \
            from None


def existing_dir(path, what):
    """Return ``Path(path)`` if it is a folder, else raise :class:`CLIError`."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{what} not found: {path}")
    if not path.is_dir():
        raise CLIError(f"{what} is not a folder: {path}")
    return path


def check_output_dir(path, force, what="output folder"):
    """Check that ``path`` can be written: absent, an empty folder, or ``force``.

    Nothing is created here; the caller writes only after all checks pass.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{what} exists and is not a folder: {path}")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise CLIError(f"{what} is not empty: {path} (pass --force to write into it)")
    probe = path if path.exists() else next(p for p in path.resolve().parents if p.exists())
    if not os.access(probe, os.W_OK):
        raise CLIError(f"{what} is not writable: {path}")
    return path


def disk_usage(path):
    """Total size in bytes and number of files under ``path``."""
    total = count = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
            count += 1
    return total, count


def human_size(n_bytes):
    """``12.3 MB`` style size."""
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def note(message):
    """Print a progress or status line on stderr (stdout stays for results)."""
    print(message, file=sys.stderr, flush=True)


#: seconds between two progress lines when stderr is not a terminal (a log file, CI)
LOG_INTERVAL_S = 30.0


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def progress(iterable, desc, total=None, unit="it", *, stream=None, interval=None,
             clock=time.monotonic):
    """Iterate ``iterable`` with progress on stderr: a bar on a terminal, lines elsewhere.

    On a terminal this is tqdm's bar. Written to a file or a pipe (CI, logs),
    a bar's carriage returns make an unreadable log and tqdm is switched off,
    which leaves minutes without a sign of life; instead one plain line
    ``<desc>: k/total <unit> (p %), <s> s`` is written at most every
    ``interval`` seconds (:data:`LOG_INTERVAL_S`), plus a last line when
    the loop took that long.
    """
    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream):
        from tqdm.auto import tqdm

        yield from tqdm(iterable, desc=desc, total=total, unit=unit, file=stream,
                        leave=False)
        return
    interval = LOG_INTERVAL_S if interval is None else interval
    total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__")
                                             else None)
    start = last = clock()
    k = 0
    for k, item in enumerate(iterable, 1):
        yield item
        now = clock()
        if now - last >= interval and (total is None or k < total):
            last = now
            frac = f"/{total} {unit} ({100 * k / total:.0f} %)" if total else f" {unit}"
            print(f"{desc}: {k}{frac}, {now - start:.0f} s", file=stream, flush=True)
    if clock() - start >= interval:
        print(f"{desc}: {k} {unit} done in {clock() - start:.0f} s", file=stream, flush=True)


@contextmanager
def heartbeat(what, *, stream=None, interval=None):
    """While the block runs, say ``<what>: still running (<s> s)`` every ``interval`` seconds.

    For one long call with no loop to report on (data generation): only when
    ``stream`` (stderr) is not a terminal, where nothing else shows life.
    """
    import threading

    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream):
        yield
        return
    interval = LOG_INTERVAL_S if interval is None else interval
    done = threading.Event()
    start = time.monotonic()

    def beat():
        while not done.wait(interval):
            print(f"{what}: still running ({time.monotonic() - start:.0f} s)", file=stream,
                  flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def read_image_sequences(path):
    """Image sequences with homographies from ``path`` (one sequence or a folder of them).

    Incomplete sub-folders are skipped with a note on stderr.
    """
    import warnings

    from ..datasets import load_image_sequences

    with warnings.catch_warnings(record=True) as caught, user_input(path):
        warnings.simplefilter("always")
        seqs = load_image_sequences(path, on_error="skip")
    for w in caught:
        note(f"note: {w.message}")
    return seqs


def transform_batches(model, X, batch_size=2048, desc="describing"):
    """``model.transform`` over ``X`` in batches, with a progress bar on stderr.

    Returns the concatenated outputs (descriptors ``(n, d)`` or patches).
    """
    import numpy as np

    if not hasattr(model, "transform"):
        raise CLIError(f"{type(model).__name__} has no transform(); a fitted descriptor, "
                       "denoiser or pipeline is needed")
    parts = [np.asarray(model.transform(X[start:start + batch_size]))
             for start in progress(range(0, len(X), batch_size), desc=desc, unit="batch")]
    return np.concatenate(parts)


def json_safe(obj):
    """``obj`` with NaN / infinity replaced by None, so ``json.dumps`` writes strict JSON."""
    import math

    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
