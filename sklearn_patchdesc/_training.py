"""The one training path every network estimator shares.

Estimators in ``denoise/``, ``describe/`` and ``inversion/`` are thin
scikit-learn estimators around a skorch :class:`PatchNeuralNet` built in
``fit`` (kept as ``net_``). This module holds what they all need:

- :class:`BasePatchNet`: parameter handling (skorch's ``module__``,
  ``criterion__``, ``optimizer__``, ``iterator_train__`` ... prefixes work in
  ``get_params`` / ``set_params`` / ``clone``), seeding from ``random_state``,
  building the net, checkpoint resume, batched inference;
- :class:`PatchNeuralNet`: a skorch ``NeuralNet`` fed by
  :class:`~sklearn_patchdesc._data.PatchLoader` (vectorised batches), with an
  optional channels-last memory layout (faster convolutions on CPU);
- callbacks :class:`StopOnDivergence` and :class:`EpochCheckpoint`.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.helper import predefined_split

from ._checkpoint import (
    CHECKPOINT_FILE,
    EpochCheckpoint,
    fit_fingerprint,
    load_checkpoint,
    prepare_checkpoint_dir,
)
from ._data import PatchDataset, PatchLoader, run_batched
from ._device import check_device
from ._errors import StopTraining, TrainingError
from ._precision import PRECISIONS, autocast, full_precision, grad_scaler, resolve_precision
from ._params import declared_init
from ._progress import BatchProgressBar, EpochLog
from ._split import check_train_split, held_out_rows
from ._threads import thread_policy
from ._validation import validate_patch_size
from .persistence import load as _load_model
from .persistence import save as _save_model

__all__ = [
    "TrainingError",
    "StopTraining",
    "StopOnDivergence",
    "EpochCheckpoint",
    "load_checkpoint",
    "PatchNeuralNet",
    "NetParams",
    "BasePatchNet",
]

PREFIXES = ("module", "criterion", "optimizer", "iterator_train", "iterator_valid",
            "callbacks", "dataset")


class StopOnDivergence(Callback):
    """Stop the fit with a clear :class:`TrainingError` when training diverges.

    Three signs, checked as they appear:

    - a training loss that is NaN or infinite (after the batch);
    - a training loss above ``loss_factor`` times the first batch's loss
      (exploding weights usually stay finite for a long while: a learning
      rate of 1e3 gives losses around 1e12 and no NaN);
    - a network whose output, at the end of an epoch, is the same for every
      patch of the last training batch (dead ReLUs after a blow-up give a
      constant image / descriptor however the input varies);
    - weights whose norm, at the end of an epoch, is more than
      ``weight_factor`` times what it was when training began, or not finite
      (a bounded loss -- a triplet margin on unit descriptors -- never
      explodes, however far the weights have run: ``L2NetDescriptor(lr=1e8)``
      ends with a weight norm of ~3e8 and a loss like any other).

    Parameters
    ----------
    loss_factor : float, default=1e4
        How many times the first batch's loss counts as divergence. Batch
        losses of a sane fit stay within a few times the first one.
    weight_factor : float, default=1e3
        How many times the initial weight norm counts as divergence. The
        sane fits of the test suite and of the shipped weights grow it less
        than 10x.
    """

    def __init__(self, loss_factor=1e4, weight_factor=1e3):
        self.loss_factor = loss_factor
        self.weight_factor = weight_factor

    def initialize(self):
        self.first_loss_ = None
        self.last_X_ = None
        self.first_norm_ = None
        return self

    @staticmethod
    def _weight_norm(net):
        with torch.no_grad():
            norms = [p.detach().float().norm() for p in net.module_.parameters()
                     if p.requires_grad and p.numel()]
            return float(torch.stack(norms).norm()) if norms else 0.0

    def on_train_begin(self, net, **kwargs):
        # a resumed fit compares with the first batch it runs, and the weights it starts from
        self.first_loss_ = None
        self.first_norm_ = self._weight_norm(net)

    def _fail(self, net, what):
        epoch = len(net.history)
        batch_no = len(net.history[-1, "batches"]) if epoch else 0
        raise TrainingError(
            f"Training diverged at epoch {epoch}, batch {batch_no}: {what}; the model is "
            "not usable. Lower the learning rate (lr / optimizer__lr), check the input "
            "for extreme values, or add a gradient-clipping callback."
        )

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if not training or loss is None:
            return
        value = float(loss.detach().float().mean())
        if not np.isfinite(value):
            self._fail(net, f"the training loss became {value}")
        if self.first_loss_ is None:
            if value > 0:
                self.first_loss_ = value
        elif value > self.loss_factor * self.first_loss_:
            self._fail(net, f"the training loss became {value:.4g}, more than "
                            f"{self.loss_factor:g} times the first batch's "
                            f"{self.first_loss_:.4g}")
        if batch is not None and isinstance(batch[0], torch.Tensor):
            self.last_X_ = batch[0]

    def on_epoch_end(self, net, **kwargs):
        norm = self._weight_norm(net)
        if not np.isfinite(norm):
            self._fail(net, "the weights became NaN or infinite")
        if self.first_norm_ and norm > self.weight_factor * self.first_norm_:
            self._fail(net, f"the norm of the weights grew from {self.first_norm_:.4g} to "
                            f"{norm:.4g}, more than {self.weight_factor:g} times")
        X = self.last_X_
        self.last_X_ = None
        if X is None or len(X) < 2 or torch.equal(X.min(0).values, X.max(0).values):
            return  # identical inputs may well give identical outputs
        module = net.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad(), autocast(net.device, net.precision):
                out = _float32(module(X.to(net.device)))
        finally:
            module.train(was_training)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return
        if not torch.isfinite(out).all():
            self._fail(net, "the network's output became NaN or infinite")
        spread = float((out - out[:1]).abs().max())
        scale = float(out.abs().max())
        if spread <= 1e-6 * scale or spread == 0.0:
            self._fail(net, "the network's output is the same for every patch "
                            f"(constant {float(out.flatten()[0]):.4g})")


def resolve_criterion(criterion, options):
    """The criterion instance a net trains: a class built, or an instance used as given.

    Parameters
    ----------
    criterion : class or instance
        A loss class (built as ``criterion(**options)``) or a loss instance.
        An instance is copied, never trained in place; its own arguments are
        kept and ``options`` are applied on top of them with its
        ``set_params`` (skorch alone would rebuild the class from the
        options and silently drop the instance's arguments).
    options : dict
        The ``criterion__`` options (prefix removed).

    Returns
    -------
    criterion : object
        A new instance.
    """
    options = copy.deepcopy(dict(options))  # never train the caller's miner objects
    if isinstance(criterion, type):
        return criterion(**options)
    if not options:
        return copy.deepcopy(criterion)
    if not (hasattr(criterion, "set_params") and hasattr(criterion, "get_params")):
        raise TypeError(
            f"criterion is an instance of {type(criterion).__name__}, which has no "
            f"set_params, so the options {sorted('criterion__' + k for k in options)} cannot "
            f"be applied to it. Pass the class (criterion={type(criterion).__name__}) with "
            "the criterion__ options, or an instance already built with them.")
    return clone(criterion, safe=False).set_params(**options)


class PatchNeuralNet(NeuralNet):
    """skorch ``NeuralNet`` fed with whole-tensor patch batches.

    ``X`` given to ``fit`` / ``forward`` is a :class:`PatchDataset`. Set the
    attribute ``channels_last = True`` to keep convolution weights in the
    channels-last layout, the fastest layout measured on CPU here.
    """

    channels_last = False
    #: resolved precision of forward passes ("fp32", "bf16" or "fp16"; see _precision)
    precision = "fp32"

    def __init__(self, module, criterion, **kwargs):
        kwargs.setdefault("iterator_train", PatchLoader)
        kwargs.setdefault("iterator_valid", PatchLoader)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("dataset", PatchDataset)
        super().__init__(module, criterion, **kwargs)

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        return self

    def initialize(self):
        super().initialize()
        self.grad_scaler_ = grad_scaler(self.device, self.precision)
        if self.grad_scaler_ is not None and "lbfgs" in type(self.optimizer_).__name__.lower():
            raise ValueError("precision='fp16' needs gradient scaling, which L-BFGS (a closure "
                             "optimizer) cannot take; use precision='bf16' or 'fp32'.")
        return self

    # ------------------------------------------------ one step, any precision
    def batch_loss(self, batch, training, **fit_params):
        """``(loss, y_pred)`` of one batch (subclasses change this, not the steps).

        Runs under the net's autocast; whatever it passes to :meth:`get_loss`
        is computed in float32.
        """
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        return self.get_loss(y_pred, yi, X=Xi, training=training), y_pred

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        with autocast(self.device, self.precision):
            loss, y_pred = self.batch_loss(batch, True, **fit_params)
        if self.grad_scaler_ is not None:
            self.grad_scaler_.scale(loss).backward()
        else:
            loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        with torch.no_grad(), autocast(self.device, self.precision):
            loss, y_pred = self.batch_loss(batch, False, **fit_params)
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        if self.grad_scaler_ is None:
            return super()._step_optimizer(step_fn)
        step_fn()  # forward, scaled backward
        for name in self._optimizers:
            self.grad_scaler_.step(getattr(self, name + "_"))
        self.grad_scaler_.update()
        return None

    def infer(self, x, **fit_params):
        if isinstance(x, torch.Tensor):  # pinned batches copy while the device computes
            x = x.to(self.device, non_blocking=x.is_pinned())
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """skorch's ``get_loss`` in float32, whatever precision the forward pass ran in."""
        with full_precision(self.device):
            return super().get_loss(_float32(y_pred), y_true, X=X, training=training)

    def get_default_callbacks(self):
        # the epoch table on stderr, uncoloured unless stderr is a terminal
        return [(name, EpochLog() if name == "print_log" else cb)
                for name, cb in super().get_default_callbacks()]

    def get_dataset(self, X, y=None):
        if isinstance(X, PatchDataset):
            return X
        return PatchDataset(X, y)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``, but Ctrl-C is not swallowed.

        skorch stops the loop on ``KeyboardInterrupt`` and returns as if the
        fit had finished; here the interrupt reaches the caller (after
        ``on_train_end``), so a script, a search or the CLI never goes on
        with a half-trained model. The epochs completed before it are in the
        checkpoint when ``checkpoint_dir`` is set.
        """
        self.interrupted_ = False
        super().partial_fit(X, y, classes=classes, **fit_params)
        if self.interrupted_:
            raise KeyboardInterrupt(
                f"training interrupted after {len(self.history)} complete epoch(s)")
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            if not self._stopped_on_purpose(exc):
                self.interrupted_ = True
            raise

    def record_epoch_means(self, *keys):
        """Record ``train_<key>``, the epoch's mean of each per-batch ``key`` that was logged."""
        batches = self.history[-1, "batches"]
        for key in keys:
            vals = [b[key] for b in batches if key in b]
            if vals:
                self.history.record(f"train_{key}", float(np.mean(vals)))

    def _stopped_on_purpose(self, exc):
        if isinstance(exc, StopTraining):
            return True
        return any(isinstance(cb, EarlyStopping) and getattr(cb, "misses_", 0) >= cb.patience
                   for _, cb in getattr(self, "callbacks_", ()))


def _float32(out):
    """Floating tensors of a network output (or tuple of them) as float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_float32(o) for o in out)
    return out


@contextlib.contextmanager
def _deterministic_algorithms():
    """Use torch's deterministic kernels while a seeded fit runs, then restore the setting.

    On CPU nearly every kernel is deterministic already; the switch makes the
    rest (and CUDA) pick their deterministic variant. ``warn_only``: an op with
    no deterministic variant warns instead of failing the fit. Bit-identical
    results need the same torch build and thread count (the reduction order
    of multi-threaded kernels depends on it).
    """
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _seed_from(random_state):
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _transactional(fit):
    """Make ``fit`` all-or-nothing for the estimator's attributes.

    When ``fit`` raises (bad input, :class:`TrainingError`, Ctrl-C), the
    estimator's attributes are put back as they were: a failed refit keeps
    the previous fitted model, a failed first fit leaves the estimator
    unfitted (``NotFittedError``), never a half-trained net that looks fitted.
    """
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    wrapper._transactional = True
    return wrapper


class NetParams(BaseEstimator):
    """Parameter handling of the network estimators (not public API).

    ``**kwargs`` with a skorch prefix (``module__``, ``criterion__``,
    ``optimizer__``, ``iterator_train__``, ``iterator_valid__``,
    ``callbacks__``, ``dataset__``) are parameters too (``get_params`` /
    ``set_params`` / ``clone``); the common parameters are checked, a
    fractional ``train_split`` is turned into held-out rows, and every
    subclass's ``fit`` is all-or-nothing. :class:`BasePatchNet` adds the
    training of one skorch net; an estimator that trains several nets
    (:class:`~sklearn_patchdesc.inversion.FeatureInverter`) composes
    BasePatchNet estimators and only takes the parameter handling from here.
    """

    #: the shared training parameters, declared once (scikit-learn's own validation, with
    #: its InvalidParameterError wording); subclasses add theirs with
    #: ``{**NetParams._parameter_constraints, ...}``. What a type cannot say (a device
    #: this machine has, a precision it runs fast, an optimizer name) is checked after.
    _parameter_constraints: dict = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "train_split": [None, Interval(Real, 0, 1, closed="neither"), callable],
        "callbacks": [None, list, tuple],
        "device": [str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "checkpoint_dir": [None, str, os.PathLike],
    }

    #: the shared training parameters and their defaults, declared once: every
    #: subclass's ``__init__`` is generated from these plus its own ``_init_params``
    #: (:func:`~sklearn_patchdesc._params.declared_init`), which may change a default
    _init_params: dict = {
        "max_epochs": 10,
        "batch_size": 64,
        "inference_batch_size": 256,
        "lr": 1e-3,
        "optimizer": "adam",
        "train_split": None,
        "callbacks": None,
        "device": "cpu",
        "precision": "fp32",
        "random_state": None,
        "verbose": 0,
        "checkpoint_dir": None,
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:  # a hand-written __init__ is kept as written
            cls.__init__ = declared_init(cls)
        # every subclass's own fit validates the declared parameters first (scikit-learn's
        # _fit_context) and is transactional, without each one having to remember
        if "fit" in cls.__dict__ and not getattr(cls.__dict__["fit"], "_transactional", False):
            cls.fit = _fit_context(prefer_skip_nested_validation=False)(
                _transactional(cls.__dict__["fit"]))

    # ----------------------------------------------------------- parameters
    def _store_kwargs(self, kwargs):
        """Store ``**kwargs`` as attributes; unprefixed names are rejected in ``fit``.

        scikit-learn's rule is that ``__init__`` only stores its arguments, so a
        misspelt argument is kept (and cloned) and reported when fitting.
        """
        for key, value in kwargs.items():
            setattr(self, key, value)
        unexpected = tuple(k for k in kwargs if not self._is_prefixed(k))
        if unexpected:
            self._unexpected_kwargs = unexpected

    def _check_no_unexpected_kwargs(self):
        unexpected = getattr(self, "_unexpected_kwargs", ())
        if unexpected:
            raise TypeError(
                f"{type(self).__name__} got unexpected argument(s) "
                f"{', '.join(map(repr, unexpected))}; prefixed network options must "
                f"start with one of {', '.join(p + '__' for p in PREFIXES)}."
            )

    @staticmethod
    def _is_prefixed(key):
        return any(key.startswith(p + "__") for p in PREFIXES)

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        extra = getattr(self, "_unexpected_kwargs", ())
        params.update({k: v for k, v in vars(self).items()
                       if self._is_prefixed(k) or k in extra})
        return params

    def set_params(self, **params):
        plain = {}
        for key, value in params.items():
            if self._is_prefixed(key):
                setattr(self, key, value)
            else:
                plain[key] = value
        for key in plain:
            base = key.partition("__")[0]
            if "__" in key and base not in plain and getattr(self, base, "") is None:
                raise ValueError(
                    f"Cannot set {key!r}: {type(self).__name__}.{base} is None. Give the "
                    f"object first, e.g. set_params({base}=..., {key}=...).")
        if plain:
            super().set_params(**plain)
        return self

    def _prefixed_params(self):
        return {k: v for k, v in vars(self).items() if self._is_prefixed(k)}


    def _check_common_params(self):
        self._check_no_unexpected_kwargs()
        check_device(self.device)
        resolve_precision(self.precision, self.device)
        check_train_split(self.train_split)

    def _holdout(self, groups):
        """Rows ``(train, valid)`` a fractional ``train_split`` gives, else None.

        Whole groups go to one side (see :func:`~sklearn_patchdesc._split.held_out_rows`):
        a validation set never shares a sequence or a point with training.
        The draw is seeded from ``random_state``.
        """
        split = check_train_split(self.train_split)
        if split is None or callable(split):
            return None
        seed = None if self.random_state is None else _seed_from(self.random_state)
        try:
            return held_out_rows(groups, split, random_state=seed)
        except ValueError as exc:
            raise ValueError(f"train_split={split!r}: {exc}") from None

    def _split_dataset(self, dataset, groups):
        """``(train, valid)`` datasets of a fractional ``train_split``; ``valid`` else None."""
        rows = self._holdout(groups)
        if rows is None:
            return dataset, None
        return dataset.take(rows[0]), dataset.take(rows[1])



class BasePatchNet(NetParams):
    """Base of every network estimator (not public API).

    Subclasses declare their parameters as ``_init_params = {name: default}``
    (their ``__init__`` is generated from it: see
    :func:`~sklearn_patchdesc._params.declared_init`), and build their module
    and criterion in :meth:`_module_spec` / :meth:`_criterion_spec`.
    Everything with a skorch prefix (``module__``, ``criterion__``,
    ``optimizer__``, ``iterator_train__``, ``iterator_valid__``,
    ``callbacks__``, ``dataset__``) is a parameter too and reaches the skorch
    net.

    Common parameters (subclasses document them): ``max_epochs``,
    ``batch_size`` (patches per training step), ``inference_batch_size``,
    ``lr``, ``optimizer``, ``train_split``, ``callbacks``, ``device``,
    ``precision``, ``random_state``, ``verbose``, ``checkpoint_dir``
    (declared once, with defaults in ``NetParams._init_params`` and constraints
    in ``NetParams._parameter_constraints``).
    """

    #: net class built in fit; subclasses may use a PatchNeuralNet subclass
    _net_class = PatchNeuralNet
    #: train with channels-last convolution weights (faster on CPU)
    _channels_last = True

    def _criterion_options(self):
        """This estimator's ``criterion__`` options, prefix removed."""
        n = len("criterion__")
        return {k[n:]: v for k, v in self._prefixed_params().items()
                if k.startswith("criterion__")}

    def _build_criterion(self):
        """The criterion instance of the net (see :func:`resolve_criterion`)."""
        criterion, defaults = self._criterion_spec()
        return resolve_criterion(criterion, {**defaults, **self._criterion_options()})

    # --------------------------------------------------------- subclass API
    def _module_spec(self):
        """Return ``(module_class, module_kwargs)`` (before ``module__`` overrides)."""
        raise NotImplementedError

    def _criterion_spec(self):
        """Return ``(criterion_class_or_instance, criterion_kwargs)``."""
        raise NotImplementedError

    def _extra_callbacks(self):
        """Callbacks a subclass always adds (list of (name, callback))."""
        return []

    def _net_kwargs(self):
        """Extra keyword arguments for the skorch net (subclass hook)."""
        return {}

    @staticmethod
    def _criterion_callbacks(criterion):
        """A criterion's miner that is a skorch callback is registered as ``"miner"``."""
        miner = getattr(criterion, "miner", None)
        return [("miner", miner)] if isinstance(miner, Callback) else []

    def _initialize_weights(self, net):
        """Set the initial weights of ``net.module_`` (subclass hook; e.g. pretrained)."""

    # ------------------------------------------------------------- patches
    def _validate_patches(self, X, *, reset, **checks):
        """Validate ``X``; on ``reset`` remember the patch size, else check it."""
        return validate_patch_size(self, X, reset=reset, **checks)

    # ------------------------------------------------------------- training
    def _build_net(self, fit_callbacks=()):
        """The skorch net of this estimator (not initialised).

        ``fit_callbacks`` are callbacks of one fit (see :meth:`_train`), placed
        after the subclass's :meth:`_extra_callbacks`.
        """
        module, module_kwargs = self._module_spec()
        criterion = self._build_criterion()
        kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
        kwargs.update(self._net_kwargs())
        if torch.device(self.device).type == "cuda":  # page-locked batches, copied asynchronously
            kwargs.update(iterator_train__pin_memory=True, iterator_valid__pin_memory=True)
        kwargs.update({k: v for k, v in self._prefixed_params().items()
                       if not k.startswith("criterion__")})
        callbacks = [("stop_on_divergence", StopOnDivergence())]
        callbacks += self._extra_callbacks()
        callbacks += list(fit_callbacks)
        callbacks += self._criterion_callbacks(criterion)
        if self.verbose:
            callbacks.append(("progress", BatchProgressBar()))
        if self.checkpoint_dir is not None:
            callbacks.append(("checkpoint", EpochCheckpoint(self.checkpoint_dir,
                                                            getattr(self, "_fingerprint", None))))
        callbacks += list(self.callbacks or [])
        net = self._net_class(
            module,
            criterion,
            optimizer=self._optimizer_class(),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            # a fractional split is made by _holdout and given to _train
            train_split=self.train_split if callable(self.train_split) else None,
            callbacks=callbacks,
            device=self.device,
            verbose=self.verbose,
            **kwargs,
        )
        net.channels_last = self._channels_last
        net.precision = resolve_precision(self.precision, self.device)
        return net

    def _optimizer_class(self):
        opt = self.optimizer
        if isinstance(opt, str):
            table = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD,
                     "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
                     "lbfgs": torch.optim.LBFGS}
            try:
                return table[opt.lower()]
            except KeyError:
                raise ValueError(
                    f"optimizer={opt!r} is not known; use one of {sorted(table)} or a "
                    "torch.optim.Optimizer class."
                ) from None
        if isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer):
            return opt
        raise TypeError(
            f"optimizer must be a name or a torch.optim.Optimizer class; got {opt!r}."
        )

    @contextlib.contextmanager
    def _seeded(self, seed="random_state"):
        """Seed torch with ``seed`` (default: from ``random_state``), caller's RNG untouched."""
        if isinstance(seed, str):
            seed = None if self.random_state is None else _seed_from(self.random_state)
        if seed is None:
            yield
            return
        devices = [torch.cuda.current_device()] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices), _deterministic_algorithms():
            torch.manual_seed(seed)
            yield

    def _train(self, dataset, valid=None, callbacks=(), **fit_params):
        """Build ``net_`` and train it on ``dataset``, resuming from a checkpoint.

        ``valid`` (a dataset, e.g. from the rows of :meth:`_holdout`) gives
        the ``valid_loss`` of every epoch; the net keeps no reference to it
        after the fit. ``callbacks`` are added for this fit only (e.g. ones
        that score the validation set).

        With ``checkpoint_dir`` holding a checkpoint of an interrupted run of
        *this* fit (same estimator parameters, data and seed: see
        :mod:`sklearn_patchdesc._checkpoint`), the weights, optimizer state
        and history are restored and only the remaining ``max_epochs - done``
        epochs run; a checkpoint of another fit is refused with a
        :class:`TrainingError`. The folder is created and checked for
        writing before the first epoch.
        """
        self._check_common_params()
        seed = None if self.random_state is None else _seed_from(self.random_state)
        self._fingerprint = None
        if self.checkpoint_dir is not None:
            prepare_checkpoint_dir(self.checkpoint_dir)
            self._fingerprint = fit_fingerprint(self, dataset, seed)
        try:
            with thread_policy(), self._seeded(seed):
                net = self._build_net(fit_callbacks=callbacks)
                if valid is not None:
                    net.train_split = predefined_split(valid)
                net.initialize()
                self._initialize_weights(net)
                done = 0
                if self.checkpoint_dir is not None and \
                        (Path(self.checkpoint_dir) / CHECKPOINT_FILE).exists():
                    done = load_checkpoint(net, self.checkpoint_dir, self._fingerprint)
                self.net_ = net
                remaining = self.max_epochs - done
                if remaining > 0:
                    net.partial_fit(dataset, None, epochs=remaining, **fit_params)
        finally:
            del self._fingerprint
            if valid is not None and hasattr(self, "net_"):
                self.net_.train_split = None  # the fitted model holds no held-out copy
        return self

    # ---------------------------------------------------------- persistence
    def save(self, path):
        """Save this estimator (fitted or not) to ``path`` without pickle.

        See :func:`sklearn_patchdesc.persistence.save` (weights in
        safetensors, parameters and fitted attributes in JSON, atomic write).

        Parameters
        ----------
        path : str or Path
            File to write.

        Returns
        -------
        path : Path
        """
        return _save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator of this class saved by :meth:`save`; never unpickles.

        Parameters
        ----------
        path : str or Path
            File written by :meth:`save`.

        Returns
        -------
        estimator : instance of this class

        Raises
        ------
        sklearn_patchdesc.persistence.PersistenceError
            If the file is not a sklearn_patchdesc model file or damaged.
        TypeError
            If the file holds another class of estimator.
        """
        obj = _load_model(path)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}; "
                            "use sklearn_patchdesc.persistence.load to load any model.")
        return obj

    @property
    def history_(self):
        """skorch ``History`` of the fit (per-epoch and per-batch losses)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    def _forward(self, X4, batch_size=None, module=None):
        """Run the fitted module on float patches ``(n, 1, H, W)``; return a numpy array.

        It runs on the estimator's current ``device`` and ``precision`` (so
        ``set_params(device=...)`` after fitting or loading moves the network);
        ``module`` is a part of the fitted network to run instead of all of it.
        """
        check_is_fitted(self, "net_")
        device = check_device(self.device)
        precision = resolve_precision(self.precision, device)
        if torch.device(self.net_.device) != torch.device(device):
            self.net_.module_.to(device)
            self.net_.device = device
        return run_batched(module or self.net_.module_, X4, device=device, precision=precision,
                           batch_size=batch_size or self.inference_batch_size)
