"""Shared base of the network denoisers: fit modes, transform, score, tags.

The fit branching lives here once:

- ``y`` with the shape of ``X`` (any accepted patch layout, same number of
  patches and patch size) is the training target: clean patches give
  supervised training, a second independently noisy copy gives Noise2Noise
  (seed 002) -- both are the same paired loss ``L(f(X), y)``;
- ``y`` given as point labels, the loaders' record array, or ``None``: the
  network trains self-supervised from ``X`` alone with Neighbor2Neighbor
  (:mod:`._selfsupervised`), so a ``Pipeline(denoise, describe)`` fitted on
  noisy patches and labels needs no clean references.

Training itself is the shared core's (:class:`~sklearn_patchdesc._training.BasePatchNet`):
a skorch :class:`DenoiseNeuralNet` whose ``train_step_single`` adds the flip
augmentation and the self-supervised loss.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import TransformerMixin

from .._data import PatchDataset
from .._split import train_split_groups
from .._training import BasePatchNet, PatchNeuralNet
from .._validation import check_labels, check_patches, is_record_target, restore_patches
from ._optim import HybridLBFGSSGD
from ._selfsupervised import neighbor2neighbor_loss

__all__ = ["DenoiseNeuralNet", "BaseNetDenoiser", "patch_psnr_score"]


def patch_psnr_score(X, y, denoised):
    """``score`` of every denoiser: mean per-patch PSNR (dB) of ``denoised`` against ``y``.

    Both sides are put on the [0, 1] scale (integers / 255); the PSNR rule is
    :func:`~sklearn_patchdesc.metrics.patch_psnr`'s, the library's one.
    """
    from ..metrics import patch_psnr

    D4, _ = check_patches(denoised)
    Y4, _ = check_patches(y, name="y")
    if Y4.shape != D4.shape:
        raise ValueError(
            f"y has shape {np.shape(y)} but X has shape {np.shape(X)}; score needs "
            "clean patches of X's shape."
        )
    return float(patch_psnr(Y4[:, 0], D4[:, 0], data_range=1.0))


def _random_flips(xb, yb):
    """Flip each patch (and its target patch) left-right / up-down with p=0.5."""
    n = xb.shape[0]
    for dim in (-1, -2):
        mask = (torch.rand(n) < 0.5).view(n, 1, 1, 1).to(xb.device)
        xb = torch.where(mask, xb.flip(dim), xb)
        if yb is not None and yb.ndim == 4:
            yb = torch.where(mask.to(yb.device), yb.flip(dim), yb)
    return xb, yb


class DenoiseNeuralNet(PatchNeuralNet):
    """skorch net of the denoisers: paired or Neighbor2Neighbor loss, flips.

    A batch whose target is a patch tensor ``(n, 1, H, W)`` trains with the
    paired loss ``criterion(f(X), y)``; a batch without target patches (the
    dataset's ``y`` is ``None``) trains with the Neighbor2Neighbor loss.
    Attributes set by the estimator after construction: ``flip_augment``,
    ``n2n_gamma``.
    """

    flip_augment = False
    n2n_gamma = 1.0

    def batch_loss(self, batch, training, **fit_params):
        Xi, yi = batch
        Xi = Xi.to(self.device)
        paired = yi.ndim == 4
        if training and self.flip_augment:
            Xi, yi = _random_flips(Xi, yi if paired else None)
            if not paired:
                yi = batch[1]
        if paired:
            y_pred = self.infer(Xi, **fit_params)
            return self._paired_loss(y_pred, yi.to(y_pred.device), Xi, training), y_pred
        multiple = getattr(self.module_, "size_multiple", 1)
        return neighbor2neighbor_loss(
            self.module_, Xi, lambda p, t: self.get_loss(p, t, X=Xi, training=training),
            gamma=self.n2n_gamma, size_multiple=multiple,
        )

    def _paired_loss(self, y_pred, y_true, X, training):
        """Loss of a batch with target patches (a subclass may add terms)."""
        return self.get_loss(y_pred, y_true, X=X, training=training)


_FROZEN_NOTE = """
    A fitted denoiser is reused without refitting inside a pipeline through
    :class:`sklearn.frozen.FrozenEstimator`::

        from sklearn.frozen import FrozenEstimator
        pipe = Pipeline([("denoise", FrozenEstimator(fitted_denoiser)),
                         ("describe", L2NetDescriptor())])
        pipe.fit(X_noisy, y)   # only the descriptor trains
"""

_COMMON_PARAMS = """
    flip_augment : bool, default=False
        Randomly flip each training patch (and its target) left-right and
        up-down (the flip augmentation of seed 002, section 1.2).
    n2n_gamma : float, default=1.0
        Weight of the Neighbor2Neighbor regulariser in self-supervised mode
        (``y`` = labels / record array / ``None``); 0 gives plain
        sub-sampled Noise2Noise. Huang et al. use values up to 2.
    max_epochs : int, default=10
        Training epochs (seed 000 trained its baseline for 50, table 1 used 30).
    batch_size : int, default=64
        Patches per training step.
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` (memory only: the result
        does not depend on it).
    lr : float
        Learning rate of ``optimizer``.
    optimizer : str or torch.optim.Optimizer class
        ``"adam"``, ``"sgd"``, ``"adamw"``, ``"rmsprop"``, ``"lbfgs"``,
        ``"hybrid"`` (L-BFGS then momentum SGD, seed 002; see
        :class:`~sklearn_patchdesc.denoise._optim.HybridLBFGSSGD`) or a class.
        Its own options are set with the ``optimizer__`` prefix, e.g.
        ``optimizer__momentum=0.9``.
    train_split : None, float or callable, default=None
        None trains on everything. A fraction in (0, 1) holds out that share
        for the ``valid_loss`` of every epoch: of the sequences when ``y`` is
        the loaders' record array, of the points for 1-D labels, of the
        patches otherwise (target patches or ``y=None``). A callable is
        skorch's ``train_split`` (e.g. ``skorch.dataset.ValidSplit(5)``),
        used as given. The same meaning in every network estimator.
    callbacks : list of (name, skorch callback) or None, default=None
        Extra skorch callbacks.
    device : str, default="cpu"
        ``"cuda"`` to train and infer on a GPU (an error if none is present).
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Precision of the forward passes, in training and inference: ``"bf16"``
        and ``"fp16"`` (CUDA only) run them under autocast with float32
        weights, losses and outputs; ``"auto"`` picks bf16 where the device has
        bf16 units, else float32. Refused where it would be slow. See the user
        guide, "Precision, devices and threads".
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, batch order, augmentation and the
        self-supervised sub-sampling; a fixed value gives identical fits on CPU
        at a fixed thread count (see the user guide, "Threads").
    verbose : int, default=0
        1 shows skorch's epoch table and a progress bar.
    checkpoint_dir : str, Path or None, default=None
        Folder for a per-epoch checkpoint (written atomically). A fit started
        with the same folder resumes from it and runs only the missing epochs.
    **kwargs
        skorch-prefixed options: ``module__*`` (architecture widths, see
        the module), ``optimizer__*``, ``criterion__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``callbacks__*``.
"""

_COMMON_ATTRS = """
    Attributes
    ----------
    net_ : DenoiseNeuralNet
        The trained skorch net (``net_.module_`` is the torch module).
    history_ : skorch.history.History
        Per-epoch and per-batch training losses.
    patch_size_ : int
        Side of the patches seen in ``fit``.
    n_features_in_ : int
        ``patch_size_ ** 2``.
    training_mode_ : {"paired", "neighbor2neighbor"}
        ``"paired"`` when ``y`` were target patches (clean: supervised;
        noisy: Noise2Noise), else self-supervised Neighbor2Neighbor.
"""


class BaseNetDenoiser(TransformerMixin, BasePatchNet):
    """Base class of the network denoisers (not public API).

    Subclasses declare their own parameters (``_init_params``; the shared
    ones and this family's come from the bases), ``_module_spec`` and
    ``_criterion_spec``; they may override :meth:`_patch_checks` (size
    constraints) and :meth:`_check_params`.
    """

    _net_class = DenoiseNeuralNet
    #: the denoisers' own training options, after each subclass's and before the shared ones
    _init_params = {"flip_augment": False, "n2n_gamma": 1.0}

    # ------------------------------------------------------------- hooks
    def _patch_checks(self):
        """Keyword arguments for ``check_patches`` (size constraints of the net)."""
        return {}

    def _check_params(self):
        """Validate estimator-specific parameters (called first in ``fit``)."""

    def _optimizer_class(self):
        if isinstance(self.optimizer, str) and self.optimizer.lower() == "hybrid":
            return HybridLBFGSSGD
        return super()._optimizer_class()

    def _build_net(self, **kwargs):
        net = super()._build_net(**kwargs)
        net.flip_augment = bool(self.flip_augment)
        net.n2n_gamma = float(self.n2n_gamma)
        if issubclass(self._optimizer_class(), (torch.optim.LBFGS, HybridLBFGSSGD)):
            # L-BFGS flattens gradients with .view(), which channels-last weights refuse
            net.channels_last = False
        return net

    # ------------------------------------------------------------- targets
    def _check_target(self, y, X, X4):
        """Return target patches shaped like ``X4`` (keeping uint8), or ``None``."""
        if y is None or is_record_target(y):
            if y is not None:
                check_labels(y, X4.shape[0])
            return None
        y_arr = np.asarray(y)
        if y_arr.ndim <= 1:
            check_labels(y_arr, X4.shape[0])
            return None
        try:
            Y4, _ = check_patches(y_arr, name="y", keep_uint8=True)
        except (ValueError, TypeError) as exc:
            raise type(exc)(
                f"y must be target patches of X's shape {np.shape(X)} (clean or a second "
                f"noisy copy), or 1-D point labels / the record array / None for "
                f"self-supervised training. {exc}"
            ) from None
        if Y4.shape != X4.shape:
            raise ValueError(
                f"y has shape {y_arr.shape} but X has shape {np.shape(X)}: target patches "
                f"must have X's number of patches ({X4.shape[0]}) and patch size "
                f"({X4.shape[-1]}x{X4.shape[-1]}). For self-supervised training pass "
                "1-D labels or y=None."
            )
        return Y4  # integer targets stay uint8 (0..255) in memory

    # ------------------------------------------------------------- API
    def fit(self, X, y=None):
        """Train the denoiser.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Noisy patches on the package's one scale: integers 0..255 (uint8,
            or any integer dtype holding 0..255), floats in [0, 1].
        y : array-like of X's shape, 1-D labels, record array or None
            Target patches (clean = supervised; independently noisy copy =
            Noise2Noise); labels, the loaders' record array or ``None`` train
            self-supervised (Neighbor2Neighbor) from ``X`` alone.

        Returns
        -------
        self
        """
        self._check_params()
        X_arr = X
        # integer input stays uint8 in memory; batches are converted on the fly
        X4, layout = self._validate_patches(X, reset=True, keep_uint8=True,
                                            **self._patch_checks())
        Y = self._check_target(y, X_arr, X4)
        if Y is None and X4.shape[-1] < 2:
            raise ValueError(
                f"Self-supervised (Neighbor2Neighbor) training needs patches of at least "
                f"2x2 (n_features >= 4); X holds {X4.shape[-1]}x{X4.shape[-1]} patches "
                f"(n_features = {X4.shape[-1] ** 2}). Give target patches y of X's "
                "shape instead."
            )
        self.training_mode_ = "paired" if Y is not None else "neighbor2neighbor"
        self._check_common_params()
        train, valid = self._split_dataset(PatchDataset(X4, Y), train_split_groups(y, len(X4)))
        return self._train(train, valid=valid)

    def transform(self, X):
        """Denoise patches.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches of the size seen in ``fit``.

        Returns
        -------
        X_denoised : ndarray
            Same layout and dtype as ``X`` (uint8 in -> uint8 out, rounded
            and clipped to 0..255; float in -> float out, unclipped).
        """
        X4, layout = self._validate_patches(X, reset=False, **self._patch_checks())
        return restore_patches(self._forward(X4), layout)

    def score(self, X, y):
        """Mean per-patch PSNR (dB) of ``transform(X)`` against clean patches ``y``.

        PSNR is computed on the [0, 1] scale (uint8 / 255), i.e. the usual
        0..255 PSNR for uint8 data.

        Parameters
        ----------
        X : array-like
            Noisy patches.
        y : array-like of X's shape
            Clean reference patches.

        Returns
        -------
        psnr : float
        """
        return patch_psnr_score(X, y, self.transform(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags
