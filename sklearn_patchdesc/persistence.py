"""Save and load fitted estimators and pipelines without pickle.

:func:`save` writes one ``.skpd`` file; :func:`load` reads it back. Loading
runs no code from the file: it is a zip archive of exactly two members,

- ``manifest.json``: ``{"format": "sklearn_patchdesc.model", "format_version":
  1, "library_version": ..., "root": <tree>}`` where ``<tree>`` describes the
  object: estimator class names, constructor parameters and fitted attributes
  as plain JSON values with a few tagged forms (``{"__tuple__": [...]}``,
  ``{"__ndarray__": key}``, ``{"__estimator__": name, ...}`` ...);
- ``tensors.safetensors``: every array and tensor (network weights, optimizer
  state, numeric fitted arrays) in the `safetensors` format, referred to by
  key from the manifest.

Classes are rebuilt only from an **allow-list** held in this module: the
public classes of this library's ``denoise``, ``describe``, ``inversion`` and
``pipeline`` packages, :class:`sklearn.pipeline.Pipeline`,
:class:`sklearn.frozen.FrozenEstimator`, torch's optimizers and a few torch
losses. A class name in a file is only ever a key looked up in that table;
no dotted path is imported. A file that is not a zip of these two members
(e.g. a pickle, a joblib dump, a ``torch.save`` file), a truncated file or an
unknown tag raises :class:`PersistenceError` before anything is built, and no
byte of it is ever unpickled.

What is saved:

- any scikit-learn estimator of an allow-listed class (and :class:`Pipeline` /
  :class:`FrozenEstimator` nesting them): ``get_params(deep=False)`` plus
  every fitted attribute (public names ending in ``_``);
- for the network estimators (``net_``): the module weights, the optimizer
  state, the criterion state and the training history; on load the skorch net
  is rebuilt from the parameters (``_build_net``) and the state is put back,
  so ``transform`` gives identical results and ``partial_fit`` can go on;
- parameter values that are JSON values, tuples, dicts, numpy arrays and
  scalars, ``pathlib`` paths, ``numpy.random.RandomState``, allow-listed
  classes (e.g. ``optimizer=torch.optim.AdamW``) and instances of allow-listed
  library classes whose constructor arguments are stored under their own
  names (samplers, losses, miners, library callbacks).

Anything else (a lambda, a user-defined class or callback, skorch's own
callbacks, an arbitrary ``nn.Module``) is refused at save time with a
:class:`PersistenceError` that names the parameter, e.g.
``Pipeline.steps[1][1]:L2NetDescriptor.callbacks[0][1]``. Pickle (``joblib.dump``) still works for
those, with pickle's usual trust caveat.

Not saved: parameters that name a folder of the saving machine where the
estimator reads and writes (``checkpoint_dir`` of the network estimators,
``memory`` of a :class:`Pipeline`); they are stored as ``None`` and a file
that sets them is refused, so a model file never decides where a later fit
writes checkpoints or which cached pickles it reads.

Loading is bounded before anything is read or built: each zip member's
inflated size is capped (``max_bytes``, 1 GiB by default) and a compressed
member may not inflate more than ``MAX_INFLATE_RATIO`` times (float weights
hardly compress; a zip bomb does), the manifest nests at most ``MAX_DEPTH``
levels, every stored tensor may be used once (so one tensor cannot become
many in memory), the string and record arrays decoded from the manifest take
at most ``DECODE_BUDGET_RATIO`` times the file's size *in all*, and only
names an estimator really has can be set from a manifest: its constructor
parameters (skorch-prefixed ones for the network estimators) and public
fitted attributes (``name_``) that are not a method, property or parameter
of its class. Memory while loading is thus about twice the file's size (its
bytes, then its tensors) plus the model's own tensors.

What is read is checked against what it must be: every network weight has
the dtype and shape of the rebuilt network's own tensor (a file whose float
weights were relabelled as integers is refused, not cast), an array has the
dtype its manifest entry names, optimizer state is float, the training
history is skorch's list of epochs 1, 2, ..., and ``patch_size_`` /
``n_features_in_`` are a positive side and its square that meet the
estimator's size rule. Loading never opens a path written in the file: a
network whose parameters name a weights file (TernausNet's
``encoder_weights``) is rebuilt without it, its weights come from the file.
Anything else raises :class:`PersistenceError`.

Files are written atomically: to a temporary name in the destination folder,
flushed, then renamed over ``path``.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import warnings
import zipfile
from pathlib import Path, PurePath

import numpy as np
import torch

from ._checkpoint import _json_safe
from ._device import check_device
from ._files import atomic_write
from ._precision import PRECISIONS, resolve_precision
from ._validation import check_fitted_patch_size

__all__ = ["save", "load", "PersistenceError", "FORMAT", "FORMAT_VERSION", "allowed_classes"]

FORMAT = "sklearn_patchdesc.model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TENSORS = "tensors.safetensors"
#: refuse manifests larger than this (a manifest only holds parameters)
MAX_MANIFEST_BYTES = 64 * 2**20
#: default cap on the inflated size of each member (and of any decoded array)
MAX_MEMBER_BYTES = 2**30
#: a compressed member may inflate at most this many times (save() stores, never compresses)
MAX_INFLATE_RATIO = 100
#: the arrays decoded from the manifest (string and record arrays) may take at most this
#: many times the file's size in all (a JSON string costs at least 3 bytes, a '<U13' entry 52)
DECODE_BUDGET_RATIO = 4
#: deepest nesting of the manifest tree (a saved pipeline needs about 15 levels)
MAX_DEPTH = 100
#: parameters naming a folder of the saving machine that a fit reads and writes: never saved
_LOCAL_FOLDER_PARAMS = ("checkpoint_dir", "memory")
_READ_CHUNK = 2**20


class PersistenceError(ValueError):
    """A model file cannot be written or read (not ours, damaged, unsupported value)."""


# ---------------------------------------------------------------- allow-list
_TORCH_CLASSES = (
    torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop,
    torch.optim.LBFGS, torch.optim.Adagrad, torch.optim.Adadelta, torch.optim.Adamax,
    torch.optim.NAdam, torch.optim.RAdam,
    torch.nn.MSELoss, torch.nn.L1Loss, torch.nn.SmoothL1Loss, torch.nn.HuberLoss,
)
_LIBRARY_PACKAGES = ("denoise", "describe", "inversion", "pipeline")
_EXTRA_LIBRARY = (
    ("sklearn_patchdesc.denoise._optim", "HybridLBFGSSGD", "sklearn_patchdesc.denoise.HybridLBFGSSGD"),
)
_registry = None


def allowed_classes():
    """Return the allow-list: ``{name in the file: class}``.

    Returns
    -------
    classes : dict of str to type
        Public classes of the library packages ``denoise``, ``describe``,
        ``inversion`` and ``pipeline`` (named ``sklearn_patchdesc.<package>.<Class>``),
        scikit-learn's ``Pipeline`` and ``FrozenEstimator``, torch optimizers
        and losses (``torch.optim.Adam``, ``torch.nn.MSELoss`` ...).
    """
    global _registry
    if _registry is None:
        import importlib

        from sklearn.frozen import FrozenEstimator
        from sklearn.pipeline import Pipeline

        table = {"sklearn.pipeline.Pipeline": Pipeline,
                 "sklearn.frozen.FrozenEstimator": FrozenEstimator}
        for cls in _TORCH_CLASSES:
            prefix = "torch.optim" if issubclass(cls, torch.optim.Optimizer) else "torch.nn"
            table[f"{prefix}.{cls.__name__}"] = cls
        for package in _LIBRARY_PACKAGES:
            # fixed, known module names of this library (never names from a file)
            try:
                mod = importlib.import_module(f"sklearn_patchdesc.{package}")
            except ModuleNotFoundError:
                continue
            for name in getattr(mod, "__all__", ()):
                obj = getattr(mod, name, None)
                if isinstance(obj, type):
                    table[f"sklearn_patchdesc.{package}.{name}"] = obj
        for module, name, key in _EXTRA_LIBRARY:
            with contextlib.suppress(ImportError, AttributeError):
                table[key] = getattr(importlib.import_module(module), name)
        _registry = table
    return dict(_registry)


def _name_of_class(cls):
    for name, known in allowed_classes().items():
        if known is cls:
            return name
    return None


# ------------------------------------------------------------------- encode
class _Encoder:
    def __init__(self):
        self.tensors = {}

    def _tensor(self, t):
        key = f"t{len(self.tensors)}"
        # safetensors wants dense, contiguous, unshared storage
        self.tensors[key] = t.detach().to("cpu").contiguous().clone()
        return key

    def value(self, obj, where):
        from sklearn.base import BaseEstimator

        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, np.generic):
            if obj.dtype.kind not in "biuf":
                raise PersistenceError(f"Cannot save {where}: numpy scalar of dtype {obj.dtype}.")
            return {"__npscalar__": obj.dtype.str, "value": self.value(obj.item(), where)}
        if isinstance(obj, np.ndarray):
            return self._ndarray(obj, where)
        if isinstance(obj, torch.Tensor):
            return {"__tensor__": self._tensor(obj)}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.value(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {"__dict__": {k: self.value(v, f"{where}[{k!r}]") for k, v in obj.items()}}
            return {"__items__": [[self.value(k, f"{where} key"), self.value(v, f"{where}[{k!r}]")]
                                  for k, v in obj.items()]}
        if isinstance(obj, PurePath):
            return {"__path__": str(obj)}
        if isinstance(obj, np.random.RandomState):
            return {"__randomstate__": self.value(obj.get_state(legacy=True), where)}
        if isinstance(obj, torch.dtype):
            return {"__torchdtype__": str(obj).removeprefix("torch.")}
        if isinstance(obj, type):
            name = _name_of_class(obj)
            if name is None:
                raise PersistenceError(
                    f"Cannot save {where}: the class {obj.__module__}.{obj.__qualname__} is not "
                    "in the allow-list of classes sklearn_patchdesc rebuilds without pickle "
                    "(see sklearn_patchdesc.persistence.allowed_classes()). Use a built-in "
                    "name (e.g. optimizer='adam') or save with joblib (pickle) instead.")
            return {"__class__": name}
        if isinstance(obj, BaseEstimator):
            return self.estimator(obj, where)
        name = _name_of_class(type(obj))
        if name is not None:
            return self._object(obj, name, where)
        what = "a function" if callable(obj) and not hasattr(obj, "__dict__") else \
            f"an instance of {type(obj).__module__}.{type(obj).__qualname__}"
        if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj):
            what = f"the callable {getattr(obj, '__qualname__', obj)!r}"
        raise PersistenceError(
            f"Cannot save {where}: it is {what}, which cannot be stored as JSON or "
            "safetensors (only plain values, arrays, allow-listed classes and library "
            "objects are). Set it to a supported value (e.g. a string option) before "
            "saving, or save with joblib (pickle) instead.")

    def _ndarray(self, arr, where):
        if arr.dtype.names is not None:
            return {"__recarray__": [[name, self._ndarray(np.ascontiguousarray(arr[name]),
                                                           f"{where}[{name!r}]")]
                                     for name in arr.dtype.names]}
        kind = arr.dtype.kind
        if kind in "US":
            return {"__strarray__": arr.dtype.str, "shape": list(arr.shape),
                    "values": [str(v) if kind == "U" else v.decode("latin-1")
                               for v in arr.ravel().tolist()]}
        if kind == "O":
            return {"__objarray__": [self.value(v, f"{where}[{i}]")
                                     for i, v in enumerate(arr.ravel().tolist())],
                    "shape": list(arr.shape)}
        if kind not in "biuf" or arr.dtype.byteorder == ">":
            raise PersistenceError(f"Cannot save {where}: arrays of dtype {arr.dtype} are not "
                                   "supported.")
        key = self._tensor(torch.from_numpy(np.ascontiguousarray(arr)))
        return {"__ndarray__": key, "dtype": arr.dtype.str}

    def _object(self, obj, name, where):
        """A library object rebuilt as ``cls(**init_args)`` (+ module state)."""
        sig = inspect.signature(type(obj).__init__)
        init = {}
        for pname, p in list(sig.parameters.items())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if not hasattr(obj, pname):
                raise PersistenceError(
                    f"Cannot save {where}: {type(obj).__name__} does not keep its argument "
                    f"{pname!r} as an attribute, so it cannot be rebuilt without pickle.")
            init[pname] = self.value(getattr(obj, pname), f"{where}.{pname}")
        out = {"__object__": name, "init": {"__dict__": init}}
        if isinstance(obj, torch.nn.Module):
            out["state"] = self.value(dict(obj.state_dict()), f"{where}.state_dict()")
        return out

    def estimator(self, est, where=None):
        where = f"{where}:{type(est).__name__}" if where else type(est).__name__
        name = _name_of_class(type(est))
        if name is None:
            raise PersistenceError(
                f"Cannot save {where}: {type(est).__module__}.{type(est).__qualname__} is not "
                "an estimator class sklearn_patchdesc can rebuild without pickle (allowed: "
                "this library's estimators, Pipeline, FrozenEstimator). Use joblib instead.")
        params = est.get_params(deep=False)
        params.update({k: None for k in _LOCAL_FOLDER_PARAMS if k in params})
        out = {"__estimator__": name,
               "params": {"__dict__": {k: self.value(v, f"{where}.{k}") for k, v in params.items()}}}
        fitted = {}
        for key, value in vars(est).items():
            if key in params or not key.endswith("_") or key.startswith("_"):
                continue
            if key == "net_":
                fitted[key] = self._net(value, f"{where}.net_")
            else:
                fitted[key] = self.value(value, f"{where}.{key}")
        if fitted:
            out["fitted"] = {"__dict__": fitted}
        return out

    def _net(self, net, where):
        out = {"module": self.value(dict(net.module_.state_dict()), f"{where}.module_"),
               "optimizer": self.value(net.optimizer_.state_dict(), f"{where}.optimizer_"),
               "history": json.dumps(_json_safe(net.history.to_list()))}
        if isinstance(net.criterion_, torch.nn.Module):
            out["criterion"] = self.value(dict(net.criterion_.state_dict()), f"{where}.criterion_")
        return {"__net__": out}


# ------------------------------------------------------------------- decode
class _Decoder:
    def __init__(self, tensors, path, max_bytes, budget):
        self.tensors = tensors
        self.path = path
        self.max_bytes = max_bytes
        self.budget = budget  # bytes the manifest's own arrays may still allocate
        self._used = set()
        self._depth = 0

    def _spend(self, n_bytes, what):
        """Charge an allocation decoded from the manifest to the file's budget."""
        if n_bytes > min(self.budget, self.max_bytes):
            raise self._bad(
                f"{what} would take {n_bytes} bytes; the arrays of a model file may take at "
                f"most {DECODE_BUDGET_RATIO} times its size in all ({self.budget} bytes "
                "left), so it is not loaded")
        self.budget -= n_bytes

    def _bad(self, msg):
        return PersistenceError(f"{self.path} is damaged or not a sklearn_patchdesc model file: {msg}")

    def _tensor(self, key):
        """The tensor stored under ``key``: each one may be used once (save writes it once).

        It is taken out of the table, so a file cannot turn one stored tensor
        into many in memory, and it is freed once its value is decoded.
        """
        if isinstance(key, str) and key in self._used:
            raise self._bad(f"tensor {key!r} is referenced more than once (save() writes "
                            "every tensor once)")
        if not isinstance(key, str) or key not in self.tensors:
            raise self._bad(f"missing tensor {key!r}")
        self._used.add(key)
        return self.tensors.pop(key)

    def _class(self, name):
        cls = allowed_classes().get(name) if isinstance(name, str) else None
        if cls is None:
            raise PersistenceError(
                f"{self.path} names the class {name!r}, which is not in the allow-list of "
                "classes sklearn_patchdesc loads (allowed_classes()); refusing to load it.")
        return cls

    def value(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if self._depth >= MAX_DEPTH:
            raise self._bad(f"the manifest nests deeper than {MAX_DEPTH} levels")
        self._depth += 1
        try:
            return self._container(node)
        finally:
            self._depth -= 1

    def _container(self, node):
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise self._bad(f"unexpected value {node!r:.80}")
        tag = next(iter(node))
        body = node[tag]
        if tag == "__dict__":
            return {k: self.value(v) for k, v in body.items()}
        if tag == "__items__":
            return {self.value(k): self.value(v) for k, v in body}
        if tag == "__tuple__":
            return tuple(self.value(v) for v in body)
        if tag == "__float__":
            if body not in ("nan", "inf", "-inf"):
                raise self._bad(f"bad float {body!r}")
            return float(body)
        if tag == "__npscalar__":
            return np.dtype(_check_dtype(body, self)).type(self.value(node["value"]))
        if tag == "__ndarray__":
            arr = self._tensor(body).numpy()
            dtype = np.dtype(_check_dtype(node["dtype"], self))
            if arr.dtype != dtype:  # save() stores the array's own dtype: never converted
                raise self._bad(f"array {body!r} is stored as {arr.dtype} but the manifest "
                                f"says {dtype}")
            return arr
        if tag == "__recarray__":
            cols = [(name, self.value(col)) for name, col in body]
            dtype = [(name, col.dtype, col.shape[1:]) for name, col in cols]
            n = len(cols[0][1]) if cols else 0
            self._spend(np.dtype(dtype).itemsize * n, f"a record array of {n} rows")
            out = np.empty(n, dtype=dtype)
            for name, col in cols:
                out[name] = col
            return out
        if tag == "__strarray__":
            dtype = np.dtype(_check_dtype(body, self))
            vals = node["values"]
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise self._bad("a string array holds non-strings")
            # np.array allocates itemsize * count bytes: bound it before allocating
            self._spend(dtype.itemsize * len(vals), f"a string array of {len(vals)} x {dtype}")
            if dtype.kind == "S":
                vals = [v.encode("latin-1") for v in vals]
            return np.array(vals, dtype=dtype).reshape(node["shape"])
        if tag == "__objarray__":
            vals = [self.value(v) for v in body]
            out = np.empty(len(vals), dtype=object)
            out[:] = vals
            return out.reshape(node["shape"])
        if tag == "__tensor__":
            # a writable copy (safetensors' tensors view read-only bytes); the stored one
            # was taken out of the table, so it is freed now: one copy at a time
            return self._tensor(body).clone()
        if tag == "__path__":
            return Path(body)
        if tag == "__randomstate__":
            rs = np.random.RandomState()
            rs.set_state(self.value(body))
            return rs
        if tag == "__torchdtype__":
            dt = getattr(torch, str(body), None)
            if not isinstance(dt, torch.dtype):
                raise self._bad(f"unknown torch dtype {body!r}")
            return dt
        if tag == "__class__":
            return self._class(body)
        if tag == "__object__":
            cls = self._class(body)
            init = self.value(node["init"])
            self._check_names(cls, init, _init_names(cls), "argument")
            obj = cls(**init)
            if "state" in node and isinstance(obj, torch.nn.Module):
                state = self.value(node["state"])
                self._check_state(obj, state, body)
                obj.load_state_dict(state)
            return obj
        if tag == "__estimator__":
            return self.estimator(node)
        raise self._bad(f"unknown tag {tag!r}")

    def estimator(self, node):
        from sklearn.base import BaseEstimator

        cls = self._class(node["__estimator__"])
        if not issubclass(cls, BaseEstimator):
            raise self._bad(f"{node['__estimator__']} is not an estimator")
        params = self.value(node["params"])
        allowed = _init_names(cls)
        prefixed = getattr(cls, "_is_prefixed", None)
        if prefixed is not None:  # skorch-prefixed options of the network estimators
            allowed |= {k for k in params if isinstance(k, str) and k.isidentifier()
                        and prefixed(k)}
        self._check_names(cls, params, allowed, "parameter")
        for key in _LOCAL_FOLDER_PARAMS:
            if params.get(key) is not None:
                raise PersistenceError(
                    f"{self.path} sets {cls.__name__}.{key}={params[key]!r}; a model file may "
                    f"not name a folder a fit reads from and writes to (save() stores {key} as "
                    "None). Refusing to load it.")
        est = cls(**_runnable_here(cls, params, self.path))
        fitted_nodes = node.get("fitted", {"__dict__": {}})["__dict__"]
        fitted_names = {k for k in fitted_nodes if _is_fitted_name(cls, k) and k not in allowed}
        self._check_names(cls, fitted_nodes, fitted_names, "fitted attribute")
        fitted = self.value({"__dict__": {k: v for k, v in fitted_nodes.items() if k != "net_"}})
        for key, value in fitted.items():
            setattr(est, key, value)
        net_node = fitted_nodes.get("net_")
        if net_node is not None:
            self._restore_net(est, net_node["__net__"])
        if type(est).__module__.startswith("sklearn_patchdesc."):
            try:
                check_fitted_patch_size(est)
            except ValueError as exc:
                raise self._bad(str(exc)) from None
        return est

    def _restore_net(self, est, node):
        from skorch.history import History

        history = self._history(node.get("history"), type(est).__name__)
        # the network is built without the files its parameters name (e.g. TernausNet's
        # encoder_weights): its weights come from this file, and loading never opens a
        # path written in a file
        files = {k: getattr(est, k) for k in getattr(est, "_build_reads_files", ())}
        try:
            for key in files:
                setattr(est, key, None)
            with torch.random.fork_rng(devices=[]):  # must not move the caller's RNG
                net = est._build_net()
                net.initialize()
        finally:
            for key, value in files.items():
                setattr(est, key, value)
        name = type(est).__name__
        try:
            module_state = self.value(node["module"])
            self._check_state(net.module_, module_state, f"{name}'s network")
            net.module_.load_state_dict(module_state)
            optimizer_state = self.value(node["optimizer"])
            self._check_optimizer_state(net.optimizer_, optimizer_state, name)
            net.optimizer_.load_state_dict(optimizer_state)
            if "criterion" in node:
                criterion_state = self.value(node["criterion"])
                self._check_state(net.criterion_, criterion_state, f"{name}'s criterion")
                net.criterion_.load_state_dict(criterion_state)
        except (RuntimeError, ValueError, KeyError) as exc:
            if isinstance(exc, PersistenceError):
                raise
            raise self._bad(f"the saved weights do not fit {name}'s network: {exc}") from exc
        net.history_ = History(history)
        est.net_ = net

    def _history(self, text, name):
        """The training history: skorch's list of epoch dicts numbered 1, 2, ..."""
        try:
            history = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            raise self._bad(f"the training history of {name} is not readable: "
                            f"{type(exc).__name__}") from exc
        if not isinstance(history, list):
            raise self._bad(f"the training history of {name} is a {type(history).__name__}, "
                            "not a list of epochs")
        for i, epoch in enumerate(history):
            if not (isinstance(epoch, dict) and type(epoch.get("epoch")) is int
                    and epoch["epoch"] == i + 1
                    and isinstance(epoch.get("batches", []), list)
                    and all(isinstance(b, dict) for b in epoch.get("batches", []))):
                raise self._bad(f"entry {i} of the training history of {name} is not epoch "
                                f"{i + 1} (a dict with 'epoch': {i + 1} and a list of batch "
                                f"dicts): {epoch!r:.80}")
        return history

    def _check_state(self, module, state, what):
        """Every saved tensor has the dtype and shape of the module's own (no silent cast)."""
        if not isinstance(state, dict):
            raise self._bad(f"the saved state of {what} is not a dict of tensors")
        own = module.state_dict()
        for key, value in state.items():
            ref = own.get(key)
            if ref is None or not isinstance(value, torch.Tensor):
                continue  # load_state_dict names unexpected keys itself
            if value.dtype != ref.dtype or value.shape != ref.shape:
                raise self._bad(
                    f"tensor {key!r} of {what} is stored as {value.dtype} "
                    f"{tuple(value.shape)}, but the network holds {ref.dtype} "
                    f"{tuple(ref.shape)}; the file was altered or is from another model")

    def _check_optimizer_state(self, optimizer, state, name):
        """Optimizer state holds float tensors shaped like their parameters (what torch saves).

        Per-parameter optimizers (all but L-BFGS, whose state is one flat
        history) keep moments of the parameter's shape and scalar step counts;
        torch's ``load_state_dict`` checks neither, and casts dtypes.
        """
        per_param = state.get("state") if isinstance(state, dict) else None
        groups = state.get("param_groups") if isinstance(state, dict) else None
        if not isinstance(per_param, dict) or not isinstance(groups, list):
            raise self._bad(f"the optimizer state of {name} is not a state dict")
        try:
            ids = [i for g in groups for i in g["params"]]
        except (TypeError, KeyError):
            raise self._bad(f"the optimizer parameter groups of {name} are malformed") from None
        params = dict(zip(ids, [p for g in optimizer.param_groups for p in g["params"]]))
        flat = isinstance(optimizer, torch.optim.LBFGS)
        for pid, slot in per_param.items():
            for key, value in (slot.items() if isinstance(slot, dict) else ()):
                if not isinstance(value, torch.Tensor):
                    continue
                param = params.get(pid)
                if not value.is_floating_point() or (
                        not flat and value.ndim and param is not None
                        and (value.shape != param.shape or value.dtype != param.dtype)):
                    want = "a float tensor" if param is None or flat else (
                        f"{param.dtype} {tuple(param.shape)} or a scalar")
                    raise self._bad(f"optimizer state {key!r} of {name} is stored as "
                                    f"{value.dtype} {tuple(value.shape)}; torch saves {want} "
                                    "there")

    def _check_names(self, cls, mapping, allowed, what):
        unknown = [k for k in mapping if k not in allowed]
        if unknown:
            raise PersistenceError(
                f"{self.path} sets {what} {unknown[0]!r:.80} of {cls.__name__}, which is not a "
                f"{what} {cls.__name__} has; refusing to load it (a model file may only set "
                "constructor parameters and public fitted attributes).")


def _runnable_here(cls, params, path):
    """``params`` with a device and precision this machine has (a GPU-trained model loads anywhere).

    A CUDA device that is absent here becomes ``"cpu"``, and a precision the
    device cannot run fast becomes ``"auto"``, each with a warning naming the
    saved value; a device the library never runs on (``"meta"``, ``"mps"``,
    an unknown name) is refused.
    """
    params = dict(params)
    name = cls.__name__
    if "device" in params:
        device = params["device"]
        try:
            check_device(device)
        except ValueError as exc:
            if not (isinstance(device, str) and device.split(":")[0] == "cuda"):
                raise PersistenceError(f"{path} sets {name}.device={device!r}: {exc}") from None
            warnings.warn(f"{path}: {name} was saved with device={device!r}, which this machine "
                          "does not have; it is loaded on the CPU (device='cpu').", UserWarning,
                          stacklevel=4)
            params["device"] = "cpu"
    if "precision" in params:
        try:
            resolve_precision(params["precision"], params.get("device", "cpu"))
        except ValueError as exc:
            if params["precision"] not in PRECISIONS:
                raise PersistenceError(f"{path} sets {name}.precision="
                                       f"{params['precision']!r}: {exc}") from None
            warnings.warn(f"{path}: {name} was saved with precision={params['precision']!r}, "
                          f"which device={params.get('device', 'cpu')!r} here cannot run fast; "
                          "it is loaded with precision='auto'.", UserWarning, stacklevel=4)
            params["precision"] = "auto"
    return params


def _init_names(cls):
    """Names of the explicit constructor arguments of ``cls`` (not ``*args``/``**kwargs``)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _is_fitted_name(cls, name):
    """A public fitted attribute name (``coef_``) that shadows nothing of the class."""
    sentinel = object()
    return (isinstance(name, str) and name.isidentifier() and name.endswith("_")
            and not name.startswith("_")
            and inspect.getattr_static(cls, name, sentinel) is sentinel)


def _check_dtype(text, decoder):
    if not isinstance(text, str) or len(text) > 8:
        raise decoder._bad(f"bad dtype {text!r}")
    try:
        dt = np.dtype(text)
    except TypeError as exc:
        raise decoder._bad(f"bad dtype {text!r}") from exc
    if dt.kind not in "biufUS":
        raise decoder._bad(f"dtype {text!r} is not allowed")
    return text


# --------------------------------------------------------------- public API
def save(obj, path):
    """Save a fitted (or unfitted) estimator or pipeline to ``path`` without pickle.

    Parameters
    ----------
    obj : estimator
        An estimator of this library, or a :class:`~sklearn.pipeline.Pipeline` /
        :class:`~sklearn.frozen.FrozenEstimator` of them (nesting allowed).
    path : str or Path
        Destination file (the ``.skpd`` suffix is conventional, not
        required). Written atomically (temporary file, then rename).

    Returns
    -------
    path : Path

    Raises
    ------
    PersistenceError
        If a parameter or fitted attribute cannot be stored without pickle;
        the message names it (e.g.
        ``Pipeline.steps[1][1]:L2NetDescriptor.callbacks``).
        Nothing is written then.

    See Also
    --------
    load : read the file back.
    """
    from sklearn.base import BaseEstimator
    from safetensors.torch import save as st_save

    if not isinstance(obj, BaseEstimator):
        raise PersistenceError(f"save() takes an estimator or a Pipeline; got {type(obj).__name__}.")
    import sklearn_patchdesc

    enc = _Encoder()
    root = enc.estimator(obj)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "library_version": sklearn_patchdesc.__version__, "root": root}
    manifest_bytes = json.dumps(manifest, allow_nan=False).encode("utf-8")
    tensor_bytes = st_save(enc.tensors, metadata={"format": FORMAT})
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, manifest_bytes)
            zf.writestr(TENSORS, tensor_bytes)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _sniff(head):
    """A readable guess of what a non-model file is (first bytes only), or None."""
    if head[:1] == b"\x80" and len(head) > 1 and head[1:2] in b"\x02\x03\x04\x05":
        return "a Python pickle (e.g. pickle.dump / joblib.dump)"
    zlib_header = len(head) > 1 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0
    if zlib_header or head[:2] in (b"\x1f\x8b", b"ZF") or head[:3] == b"BZh" \
            or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        return "a compressed file (e.g. a compressed joblib pickle)"
    if head[:1] in (b"(", b"}", b"]") or head[:2] == b"cc":
        return "possibly a protocol-0/1 Python pickle"
    return None


def _read_member(zf, name, path, max_bytes):
    """The bytes of member ``name``, with its inflated size bounded before reading.

    The size in the zip directory is what ``zipfile`` stops at, so checking it
    first bounds the memory; reading in chunks keeps a lying deflate stream from
    inflating more than one chunk past it.
    """
    info = zf.getinfo(name)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PersistenceError(f"{path}: {name} uses zip compression method "
                               f"{info.compress_type}; only stored or deflated members are read.")
    if info.file_size > max_bytes:
        raise PersistenceError(
            f"{path}: {name} would inflate to {info.file_size} bytes, more than the cap of "
            f"{max_bytes} bytes; not loaded (pass max_bytes= to load() for a larger model "
            "you trust).")
    if info.compress_type == zipfile.ZIP_DEFLATED and \
            info.file_size > MAX_INFLATE_RATIO * info.compress_size + _READ_CHUNK:
        raise PersistenceError(
            f"{path}: {name} inflates {info.file_size / max(info.compress_size, 1):.0f} times "
            f"({info.compress_size} -> {info.file_size} bytes); model weights hardly compress, "
            "so this is a zip bomb or not a model file. Not loaded.")
    chunks, total = [], 0
    with zf.open(info) as fh:
        while chunk := fh.read(_READ_CHUNK):
            total += len(chunk)
            if total > info.file_size:
                raise PersistenceError(f"{path}: {name} is longer than its zip entry says.")
            chunks.append(chunk)
    return b"".join(chunks)


def load(path, *, max_bytes=MAX_MEMBER_BYTES):
    """Load an estimator or pipeline written by :func:`save`; never unpickles.

    Parameters
    ----------
    path : str or Path
    max_bytes : int, default=1 GiB
        Cap on the inflated size of each member of the file (the tensors
        member holds every weight) and of any array decoded from the
        manifest, checked before reading. Raise it only for a file you trust.
        The arrays decoded from the manifest also share one budget of
        ``DECODE_BUDGET_RATIO`` times the file's size.

    Returns
    -------
    estimator
        A new object equal in parameters and fitted state to the saved one.

    Raises
    ------
    PersistenceError
        If the file is not a sklearn_patchdesc model file (a pickle, a
        ``torch.save`` file, anything else), is truncated or damaged, names
        a class outside :func:`allowed_classes`, sets a name its class does
        not have (or ``checkpoint_dir`` / ``memory``), nests deeper than
        ``MAX_DEPTH``, exceeds the size caps, uses a stored tensor twice, or
        holds weights, arrays, a history or a patch size that do not fit the
        model (see the module notes).
    FileNotFoundError
        If ``path`` does not exist.
    """
    from safetensors.torch import load as st_load

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not zipfile.is_zipfile(path):
        guess = _sniff(head)
        what = f"it looks like {guess}" if guess else "unknown content, or a truncated file"
        raise PersistenceError(
            f"{path} is not a sklearn_patchdesc model file ({what}). It was not loaded: "
            "sklearn_patchdesc.persistence.load never unpickles. Load trusted pickles "
            "with joblib.load yourself.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(zf.namelist())
            if names != sorted([MANIFEST, TENSORS]):
                raise PersistenceError(
                    f"{path} is a zip archive but not a sklearn_patchdesc model file (members "
                    f"{names[:5]}{'...' if len(names) > 5 else ''}; expected {MANIFEST} and "
                    f"{TENSORS}). A torch.save file holds pickles: it was not loaded.")
            manifest_bytes = _read_member(zf, MANIFEST, path, min(max_bytes, MAX_MANIFEST_BYTES))
            tensor_bytes = _read_member(zf, TENSORS, path, max_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise PersistenceError(f"{path} is truncated or damaged: {exc}") from exc
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PersistenceError(f"{path}: {MANIFEST} is not valid JSON: {exc}") from exc
    except (RecursionError, ValueError) as exc:  # nesting, or an int of > 4300 digits
        raise PersistenceError(f"{path}: {MANIFEST} nests too deeply or holds an oversized "
                               f"number ({type(exc).__name__}); not loaded.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PersistenceError(f"{path} is not a sklearn_patchdesc model file (format "
                               f"{manifest.get('format') if isinstance(manifest, dict) else None!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PersistenceError(
            f"{path} has format version {manifest.get('format_version')!r}; this version of "
            f"sklearn_patchdesc reads version {FORMAT_VERSION}.")
    try:
        tensors = st_load(tensor_bytes)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise PersistenceError(f"{path}: {TENSORS} is damaged: {exc}") from exc
    del tensor_bytes  # the tensors hold their own copy
    budget = DECODE_BUDGET_RATIO * (len(manifest_bytes) + sum(
        t.numel() * t.element_size() for t in tensors.values())) + 2**20
    decoder = _Decoder(tensors, path, max_bytes, budget)
    try:
        return decoder.estimator(manifest["root"])
    except PersistenceError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise PersistenceError(f"{path} is damaged or not a sklearn_patchdesc model file: "
                               f"{type(exc).__name__}: {exc}") from exc
