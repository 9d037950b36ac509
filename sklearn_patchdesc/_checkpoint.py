"""Per-epoch checkpoints of a network fit, tied to the fit they belong to.

A checkpoint holds module, optimizer, criterion, history and torch's RNG
state after the last complete epoch, plus a *fingerprint* of the fit: the
estimator class, its parameters (minus the ones a resumed fit may change:
``max_epochs``, ``checkpoint_dir``, ``verbose``, ``device`` and ``callbacks``
-- a progress bar, logger or stopping rule may be added when resuming), the training
data's shape and a hash of its bytes, and the seed. A fit resumes only from a
checkpoint with its own fingerprint; any other one is refused with a
:class:`~sklearn_patchdesc._training.TrainingError` naming what differs, so a
reused folder (another fit, another cross-validation fold) never hands back
another fit's model.

skorch's own ``Checkpoint`` / ``LoadInitState`` are not used, deliberately:
they write params, optimizer and history as separate files, each written in
place (a kill between or during the writes leaves a mixed or truncated set
that ``LoadInitState`` loads), they keep no RNG state (a resumed fit would
draw other batches than an uninterrupted one), and they carry nothing that
says which fit a file belongs to. One file, written under a temporary name
and renamed, with a fingerprint, gives all three.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ._errors import TrainingError
from ._files import atomic_write

__all__ = ["CHECKPOINT_FILE", "EpochCheckpoint", "load_checkpoint", "fit_fingerprint",
           "prepare_checkpoint_dir"]

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "sklearn_patchdesc-checkpoint-2"
#: parameters a resumed fit may change: they do not alter the epochs already done
RESUMABLE_PARAMS = frozenset({"max_epochs", "checkpoint_dir", "verbose", "device",
                              "callbacks"})


def _json_safe(obj):
    """History entries as plain JSON values (numpy scalars become Python ones)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _digest_bytes(*arrays):
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().contiguous().numpy()
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()


def _describe(value, depth=0):
    """A JSON value standing for a parameter: equal for equal settings across processes."""
    if depth > 8:
        return type(value).__qualname__
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_describe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _describe(v, depth + 1) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return {"array": _digest_bytes(value)}
    if isinstance(value, torch.nn.Module):
        return {"module": type(value).__qualname__,
                "state": _digest_bytes(*value.state_dict().values())}
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if hasattr(value, "get_params"):
        return {"class": type(value).__qualname__,
                "params": _describe(value.get_params(deep=False), depth + 1)}
    # an object without parameters to compare: its class is all that is stable
    return {"class": type(value).__qualname__}


def fit_fingerprint(estimator, dataset, seed):
    """What a checkpoint belongs to: estimator class and parameters, data, seed."""
    params = {k: v for k, v in estimator.get_params(deep=False).items()
              if k not in RESUMABLE_PARAMS and k != "random_state"}
    X, y = dataset.X, dataset.y
    return {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": _describe(params),
        "data": {"X_shape": list(X.shape), "y_shape": None if y is None else list(y.shape),
                 "hash": _digest_bytes(X, y)},
        "seed": seed,
    }


def _differences(old, new, prefix=""):
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if old != new:
        return [f"{prefix[:-1]} ({_short(old)} then, {_short(new)} now)"]
    return []


def _short(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def prepare_checkpoint_dir(dirname):
    """Create ``dirname`` and check a checkpoint can be written there, before any epoch."""
    path = Path(dirname)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test", suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(
            f"checkpoint_dir={os.fspath(dirname)!r} cannot hold checkpoints: "
            f"{exc.strerror or exc}. Give a writable folder (created when missing) or "
            "checkpoint_dir=None."
        ) from None
    return path


def _atomic_torch_save(obj, path):
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


class EpochCheckpoint(Callback):
    """Save module, optimizer, criterion, history and RNG state after every epoch.

    The file is written under a temporary name and renamed, so an interrupted
    save never leaves a half-written checkpoint. :meth:`BasePatchNet._train`
    resumes from it and runs only the epochs still missing.

    Parameters
    ----------
    dirname : str or Path
        Folder of ``checkpoint.pt``; created when missing.
    fingerprint : dict, optional
        What the checkpoint belongs to (see :func:`fit_fingerprint`); a fit
        resumes only from a checkpoint with its own fingerprint.
    """

    def __init__(self, dirname, fingerprint=None):
        self.dirname = dirname
        self.fingerprint = fingerprint

    def on_epoch_end(self, net, **kwargs):
        Path(self.dirname).mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
            "fingerprint": json.dumps(self.fingerprint, sort_keys=True),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(_json_safe(net.history.to_list())),
            # RNG state at the end of the epoch: a resumed fit draws the same
            # batch orders / augmentations as an uninterrupted one
            "torch_rng": torch.get_rng_state(),
        }
        if isinstance(net.criterion_, torch.nn.Module):
            state["criterion"] = net.criterion_.state_dict()
        _atomic_torch_save(state, Path(self.dirname) / CHECKPOINT_FILE)


def load_checkpoint(net, dirname, fingerprint=None):
    """Restore ``net`` (initialised) from ``dirname``; return the epochs it had done.

    Raises
    ------
    TrainingError
        If the file is unreadable, not a checkpoint of this version, written
        by another fit (``fingerprint`` differs) or does not fit the network.
    """
    path = Path(dirname) / CHECKPOINT_FILE
    try:
        # weights_only: a checkpoint holds tensors and strings, never code
        state = torch.load(path, map_location=net.device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise TrainingError(f"Cannot read the checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(
            f"{path} is not a sklearn_patchdesc checkpoint of this version (it carries no "
            "fingerprint of the fit it belongs to); delete it to start afresh.")
    if fingerprint is not None:
        try:
            old = json.loads(state["fingerprint"])
        except (KeyError, TypeError, ValueError):
            old = None
        new = json.loads(json.dumps(fingerprint, sort_keys=True))
        if old != new:
            what = _differences(old, new) if isinstance(old, dict) else ["unreadable"]
            raise TrainingError(
                f"The checkpoint {path} belongs to another fit and is not resumed "
                f"(it differs in: {'; '.join(what[:6])}{' ...' if len(what) > 6 else ''}). "
                "Use one checkpoint_dir per fit (for cross-validation: per fold), or "
                f"delete {path} to start this fit afresh."
            )
    try:
        saved_groups = state["optimizer"]["param_groups"]
        for saved, current in zip(saved_groups, net.optimizer_.param_groups):
            missing = sorted(set(current) - set(saved) - {"params"})
            if missing:  # e.g. an Adam state given to SGD: no "momentum"
                raise KeyError(f"the saved optimizer state has no {', '.join(missing)} "
                               f"for {type(net.optimizer_).__name__}")
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        if "criterion" in state:
            net.criterion_.load_state_dict(state["criterion"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainingError(
            f"The checkpoint {path} does not match this estimator's network "
            f"(different architecture, optimizer or parameters): {exc!r}. Use another "
            "checkpoint_dir or delete the old checkpoint."
        ) from exc
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"].cpu())
    net.history_ = History(json.loads(state["history"]))
    return len(net.history_)
