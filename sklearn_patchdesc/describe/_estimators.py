"""Descriptor network estimators (thin skorch wrappers on the shared core).

:class:`BaseDescriptorNet` holds everything a learned descriptor needs on top
of :class:`~sklearn_patchdesc._training.BasePatchNet`: label checks, sampler
and miner plumbing, validation split by sequence, the per-epoch HPatches
score and early stopping, ``transform`` and ``score``. A new descriptor
network subclasses it and only declares its ``__init__`` and
:meth:`_module_spec` (see :class:`L2NetDescriptor`).

How the pieces plug in during ``fit``:

- ``sampler`` (deep-copied to ``sampler_``) becomes the training loader's
  ``iterator_train__sampler``: it decides every batch. It lives at
  ``net.iterator_train__sampler`` (the same object), so a callback may change
  its attributes between epochs. A sampler that is a skorch ``Callback`` is
  registered as callback ``"sampler"`` too.
- ``criterion`` (default :class:`TripletMarginLoss`) is called as
  ``criterion(embeddings, labels)`` on every batch. A class is built with the
  ``criterion__`` options; an instance is copied and keeps its own arguments,
  the ``criterion__`` options being applied on top with its ``set_params``
  (see :func:`~sklearn_patchdesc._training.resolve_criterion`). Its miner
  (``criterion__miner=``, the one miner keyword of every loss) is a copy
  too and, when it is a ``Callback``, is registered as callback ``"miner"``.
- ``callbacks`` are skorch callbacks; they receive the net (``net.module_``,
  ``net.history``, ``net.iterator_train__sampler``, ``net.criterion_``) and
  can get descriptors with :func:`~sklearn_patchdesc.describe.embed`.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, EarlyStopping

from .._data import PatchDataset
from .._params import declared_params
from .._split import train_split_groups
from .._training import BasePatchNet
from .._validation import check_labels, is_record_target
from ..metrics._scorers import scores_retrieval
from ._callbacks import HPatchesEpochScore
from ._descriptor_mixin import DescriptorMixin
from ._losses import TripletMarginLoss
from ._modules import L2Net
from ._samplers import BatchSizeUnitWarning, RandomTripletSampler, check_triplet_labels

__all__ = ["BaseDescriptorNet", "L2NetDescriptor"]


class BaseDescriptorNet(DescriptorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                        BasePatchNet):
    """Base of the learned descriptor estimators (not public API; subclass it)."""

    #: descriptor length when the module does not say (``out_features``)
    _default_out_features = 128
    #: what ``batch_size`` counted before it counted patches (:class:`BatchSizeUnitWarning`)
    _old_batch_unit = ("triplets", 3)
    #: the learned descriptors' own parameters, after each subclass's and before the shared ones
    _init_params = {"criterion": None, "sampler": None, "valid_scoring": None,
                    "early_stopping": None}

    # ------------------------------------------------------------ plumbing
    def _criterion_spec(self):
        return (self.criterion if self.criterion is not None else TripletMarginLoss), {}

    def _default_sampler(self):
        """Sampler used when ``sampler=None``."""
        return RandomTripletSampler()

    def _net_kwargs(self):
        valid_sampler = self.sampler_
        if isinstance(valid_sampler, Callback):
            valid_sampler = RandomTripletSampler()
        return {
            "iterator_train__sampler": self.sampler_,
            "iterator_valid__sampler": copy.deepcopy(valid_sampler),
            "iterator_valid__seed": 0,  # same validation triplets every epoch
        }

    def _extra_callbacks(self):
        if isinstance(self.sampler_, Callback):
            return [("sampler", self.sampler_)]
        return []

    def _warn_batch_size_unit(self):
        """Warn (one release) where ``batch_size`` is set: its meaning changed to patches."""
        default = declared_params(type(self))["batch_size"]
        if self.batch_size == default:
            return
        unit, per = self._old_batch_unit
        warnings.warn(
            f"{type(self).__name__}(batch_size={self.batch_size}) trains {self.batch_size} "
            f"patches per step: batch_size now counts patches for every estimator. Before "
            f"version 0.1 it counted {unit} with the default sampler ({self.batch_size} "
            f"{unit} = {per * self.batch_size} patches); for that, pass "
            f"batch_size={per * self.batch_size}. This warning will be removed in the next "
            f"release.", BatchSizeUnitWarning, stacklevel=4)

    # ----------------------------------------------------------- validation
    def _validation(self, X4, labels, y):
        """The held-out part of a fractional ``train_split`` and its callbacks.

        Returns ``(train_rows or None, valid dataset or None, callbacks)``.
        Whole sequences (``y["sequence"]``; whole points for 1-D labels) are
        held out, so validation never sees a training sequence.
        """
        groups = train_split_groups(y, len(labels))
        rows = self._holdout(groups)
        train, valid_ds, valid_data = None, None, None
        if rows is not None:
            train, valid = rows
            self.valid_groups_ = np.unique(groups[valid])
            if scores_retrieval(self.valid_scoring) and len(self.valid_groups_) < 2:
                raise ValueError(
                    f"valid_scoring={self.valid_scoring!r} scores retrieval, whose distractors "
                    f"come from other sequences, so the validation part needs at least two; "
                    f"train_split={self.train_split!r} of {len(np.unique(groups))} sequences "
                    f"holds out {len(self.valid_groups_)}. Raise train_split, add sequences, "
                    f"or use valid_scoring='hpatches_verification' or 'hpatches_matching'.")
            check_triplet_labels(labels[train], name="y (training part)")
            check_triplet_labels(labels[valid], name=f"y (validation part, {len(valid)} "
                                 "patches of held-out sequences)")
            valid_ds = PatchDataset(X4[valid], labels[valid])
            valid_data = (X4[valid], y[valid] if is_record_target(y) else labels[valid])
        cbs = []
        if valid_data is not None and self.valid_scoring is not None:
            cbs.append(("valid_score", HPatchesEpochScore(*valid_data,
                                                          scoring=self.valid_scoring)))
        if self.early_stopping is not None:
            if self.train_split is None:
                raise ValueError("early_stopping needs a validation set: set train_split "
                                 "(e.g. 0.2 to hold out 20% of the sequences).")
            if cbs:
                monitor, lower = cbs[-1][1].name_, False
            else:
                monitor, lower = "valid_loss", True
            cbs.append(("early_stopping", EarlyStopping(
                monitor=monitor, lower_is_better=lower, patience=int(self.early_stopping),
                load_best=True, sink=print if self.verbose else (lambda *a, **k: None))))
        return train, valid_ds, cbs

    # ---------------------------------------------------------------- API
    def fit(self, X, y, **fit_params):
        """Train the descriptor network on labelled patches.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            uint8 (kept uint8 in memory) or float patches.
        y : array-like of shape (n,) or record array
            Point labels (same label = same 3-D point) or the loaders' record
            array (``y["label"]``; ``y["sequence"]`` groups the validation split).
        **fit_params
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None: give point labels or the loaders' record array.")
        X4, _ = self._validate_patches(X, reset=True, keep_uint8=True)
        labels = check_labels(y, X4.shape[0])
        check_triplet_labels(labels)
        self.sampler_ = (copy.deepcopy(self.sampler) if self.sampler is not None
                         else self._default_sampler())
        self.valid_groups_ = None
        self._check_common_params()
        self._warn_batch_size_unit()
        train, valid, callbacks = self._validation(X4, labels, y)
        if train is not None:
            X4, labels = X4[train], labels[train]
        return self._train(PatchDataset(X4, labels), valid=valid, callbacks=callbacks,
                           **fit_params)

    def transform(self, X):
        """Descriptors of ``X``: ``(n, d)`` float32, unit L2 norm per row.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches to describe, of the size the network was trained on.

        Returns
        -------
        descriptors : ndarray of shape (n, d), float32
            One unit-norm descriptor per patch.
        """
        check_is_fitted(self, "net_")
        X4, _ = self._validate_patches(X, reset=False, keep_uint8=True)
        return self._forward(X4).astype(np.float32, copy=False)

    @property
    def _n_features_out(self):
        check_is_fitted(self, "net_")
        module = self.net_.module_
        n = getattr(module, "out_features", None)
        if n is None:  # ask the network: module__ options may have changed it
            x = np.zeros((1, 1, self.patch_size_, self.patch_size_), dtype=np.float32)
            n = self._forward(x).shape[1]
        return int(n)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        return tags


class L2NetDescriptor(BaseDescriptorNet):
    """L2-Net patch descriptor trained with a triplet loss (seed 000 baseline).

    ``fit(X, y)`` trains :class:`~sklearn_patchdesc.describe.L2Net` on
    labelled patches; ``transform(X)`` returns ``(n, 128)`` float32 unit
    vectors. Patches of any square size are resized to 32x32 inside the
    network; each patch is standardised (mean 0, std 1) inside it too.

    Defaults are the baseline of seed 000 (the N-HPatches coursework report
    whose course handed out this baseline as a Keras notebook; the docs page
    "Where the recipes come from" describes the sources): random triplets
    (:class:`RandomTripletSampler`), hinge triplet loss with margin 1 on
    Euclidean distances, SGD with learning rate 0.1, dropout 0.1, ReLU.
    The same report's improved variant, with hyper-parameters found by a
    Tree-structured Parzen Estimator search (dropout 0.5, sigmoid in layers 3
    and 4, Adam with learning rate 1e-3), is
    ``set_params(**L2NetDescriptor.TPE_PARAMS)``.
    Batch-hard training (seed 001, another report of the same course) is
    ``sampler=PKSampler(S, K), criterion__miner="batch_hard"`` (seed 001
    used Adam, lr 2e-4, for it).

    Parameters
    ----------
    activations : str or sequence of 6 str, default="relu"
        Activation after each 3x3 convolution, layer 1 first.
    dropout : float, default=0.1
        Dropout before the final 8x8 convolution.
    criterion : nn.Module class or instance, default=None
        Loss called as ``criterion(embeddings, labels)``; None means
        :class:`TripletMarginLoss` (margin 1.0, hinge, Euclidean, given
        triplets). Options with ``criterion__margin=0.0``,
        ``criterion__soft=True``, ``criterion__miner="batch_hard"`` ...; an
        instance keeps its own arguments and gets these options on top
        (``set_params``), and is copied, never trained in place.
    sampler : object, default=None
        Batch formation (:class:`RandomTripletSampler` when None, or
        :class:`PKSampler`, or anything with ``batches(labels, batch_size,
        rng)``). Deep-copied to ``sampler_`` in fit.
    valid_scoring : str or callable, optional
        With a fractional ``train_split``: also record the held-out HPatches
        score each epoch (``"hpatches_mean"``, ``"hpatches_retrieval"`` ...,
        see :class:`HPatchesEpochScore`).
    early_stopping : int, optional
        Patience (epochs) of early stopping on the held-out score (or on
        ``valid_loss`` without ``valid_scoring``); the best weights are kept.
    max_epochs : int, default=10
    batch_size : int, default=384
        Patches per training step (the sampler makes them into triplets:
        384 patches are seed 000's 128 triplets; or S = 384 // K labels of K
        patches for :class:`PKSampler`). It counted triplets before version
        0.1; setting it warns :class:`BatchSizeUnitWarning` for one release.
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` (memory only: the result
        does not depend on it).
    lr : float, default=0.1
        Learning rate (seed 000 baseline: SGD 0.1).
    optimizer : str or torch.optim.Optimizer class, default="sgd"
        Options via ``optimizer__momentum=...`` etc.
    train_split : None, float or callable, default=None
        None trains on everything. A fraction in (0, 1) holds out that share
        of the sequences (``y["sequence"]`` of record arrays; of the points
        for 1-D labels) for validation, never a part of a sequence, so the
        ``valid_loss`` of every epoch is not leaky. A callable is skorch's
        ``train_split`` (``split(dataset, y) -> (train, valid)``), used as
        given. The same meaning in every network estimator.
    callbacks : list of (name, Callback), optional
    device : str, default="cpu"
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Precision of the forward passes, in training and inference: ``"bf16"``
        and ``"fp16"`` (CUDA only) run them under autocast with float32
        weights, losses and outputs; ``"auto"`` picks bf16 where the device has
        bf16 units, else float32. Refused where it would be slow. See the user
        guide, "Precision, devices and threads".
    random_state : int, RandomState or None, default=None
        Seeds weights, triplets, batches, dropout and the validation split.
    verbose : int, default=0
        1 shows skorch's per-epoch table and a progress bar.
    checkpoint_dir : str or Path, optional
        Save after every epoch; a later fit resumes from it.
    **kwargs
        skorch-prefixed options: ``module__``, ``criterion__``,
        ``optimizer__``, ``iterator_train__``, ``iterator_valid__``,
        ``callbacks__``.

    Attributes
    ----------
    net_ : PatchNeuralNet
        The trained skorch net (``net_.module_`` is the :class:`L2Net`).
    history_ : skorch History
    sampler_ : object
        The sampler used in fit.
    valid_groups_ : ndarray or None
        Sequences (labels for 1-D targets) held out by a fractional
        ``train_split``.
    patch_size_, n_features_in_ : int

    See Also
    --------
    HardNetDescriptor : the same trunk with the HardNet recipe (recommended).
    load_pretrained : a ready-to-use descriptor shipped with the package.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    >>> y = np.repeat(np.arange(20), 3)
    >>> d = L2NetDescriptor(max_epochs=1, batch_size=60, random_state=0).fit(X, y)
    >>> d.transform(X).shape
    (60, 128)
    """

    #: seed 000 sec. 3.2.2: L2-Net tuned by a TPE search (``set_params(**TPE_PARAMS)``)
    TPE_PARAMS = {
        "dropout": 0.5,
        "activations": ("relu", "relu", "sigmoid", "sigmoid", "relu", "relu"),
        "optimizer": "adam",
        "lr": 1e-3,
    }
    #: seed 000 sec. 2.1: the course's baseline (the defaults)
    BASELINE_PARAMS = {"dropout": 0.1, "activations": "relu", "optimizer": "sgd", "lr": 0.1}

    _init_params = {"activations": "relu", "dropout": 0.1, "batch_size": 384, "lr": 0.1,
                    "optimizer": "sgd"}

    def _module_spec(self):
        acts = self.activations
        if not isinstance(acts, str) and acts is not None:
            acts = tuple(acts)
        return L2Net, {"out_features": 128, "activations": acts, "dropout": self.dropout}
