"""A denoiser trained for a descriptor: :class:`TaskAwareDenoiser`.

A pixel loss (L1 / L2 to the clean twin) rewards what PSNR measures, not
what a learned descriptor needs: on N-HPatches the pixel-trained U-Net
raises PSNR by 9 dB at the tough level while the shipped HardNet's matching
mAP hardly moves. :class:`TaskAwareDenoiser` adds to the pixel loss a
descriptor-consistency term for a *frozen* descriptor ``f``::

    loss = pixel_weight * pixel(D(x), y) + consistency_weight * |f(D(x)) - f(y)|^2

(the squared distance of the unit descriptors, mean over the batch), the
"perceptual loss" of Johnson et al. (2016) with the descriptor as the
feature network. Training goes through the denoisers' one skorch net
(:class:`~sklearn_patchdesc.denoise._base.DenoiseNeuralNet`); this module
only adds the term.

With labels or ``y=None`` there is no clean twin to compare descriptors
with: the denoiser trains self-supervised (Neighbor2Neighbor, times
``pixel_weight``), as every network denoiser does, and the consistency term
is off. To back-propagate the descriptor's own loss on labelled noisy
patches through the denoiser, use
:class:`~sklearn_patchdesc.pipeline.JointDenoiseDescribe` with
``freeze_descriptor=True`` (and ``freeze_descriptor=False`` to fine-tune both).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .._composite import FrozenModule, frozen_descriptor_module, module_of, unwrap
from .._shipped import resolve_shipped, shipped_card, shipped_names
from .._state_dict import load_weights
from .._validation import check_patches, restore_patches
from ._base import _COMMON_ATTRS, _COMMON_PARAMS, BaseNetDenoiser, DenoiseNeuralNet
from ._noise_level import NoiseLevelInput, ResidualDenoiser, sigma_grey_levels

__all__ = ["TaskAwareDenoiser", "NoiseLevelWarning", "PRETRAINED_DIR"]

#: shipped denoiser weights (``<name>.safetensors`` + model card ``<name>.json``)
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class NoiseLevelWarning(UserWarning):
    """Input whose estimated noise level lies outside what a denoiser was trained on."""


class TaskAwareNeuralNet(DenoiseNeuralNet):
    """Denoisers' skorch net plus the descriptor-consistency term on paired batches.

    Attributes set by the estimator: ``pixel_weight``, ``consistency_weight``,
    ``descriptor`` (a :class:`~sklearn_patchdesc._composite.FrozenModule`).
    Batches record ``pixel_loss`` and ``consistency_loss``; epochs get their
    means as ``train_pixel_loss`` / ``train_consistency_loss``.
    """

    pixel_weight = 1.0
    consistency_weight = 1.0
    descriptor = None

    def _paired_loss(self, y_pred, y_true, X, training):
        pixel = self.get_loss(y_pred, y_true, X=X, training=training)
        loss = self.pixel_weight * pixel
        consistency = torch.zeros(())
        if self.consistency_weight:
            with torch.no_grad():
                target = self.descriptor(y_true)
            consistency = (self.descriptor(y_pred) - target).pow(2).sum(1).mean()
            loss = loss + self.consistency_weight * consistency
        prefix = "" if training else "valid_"
        self.history.record_batch(f"{prefix}pixel_loss", float(pixel.detach()))
        self.history.record_batch(f"{prefix}consistency_loss", float(consistency.detach()))
        return loss

    def batch_loss(self, batch, training, **fit_params):
        loss, y_pred = super().batch_loss(batch, training, **fit_params)
        if batch[1].ndim != 4:  # self-supervised: Neighbor2Neighbor only
            loss = self.pixel_weight * loss
        return loss, y_pred

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                             **kwargs)
        self.record_epoch_means("pixel_loss", "consistency_loss")


def _check_weight(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")


class TaskAwareDenoiser(BaseNetDenoiser):
    """A network denoiser trained for a frozen descriptor (pixel + descriptor consistency).

    Trains ``denoiser``'s network on

        ``pixel_weight * pixel(D(x), y) + consistency_weight * |f(D(x)) - f(y)|^2``

    where ``pixel`` is the denoiser's own loss (L1 for the U-Nets), ``f`` the
    frozen ``descriptor`` network and ``y`` the clean twin (or a second noisy
    copy: Noise2Noise). Descriptors are unit vectors, so the consistency
    term lies in [0, 4]. With labels / ``y=None`` the fit is self-supervised
    (Neighbor2Neighbor) and the consistency term is off; see
    :class:`~sklearn_patchdesc.pipeline.JointDenoiseDescribe` to train the
    denoiser through the descriptor's own loss on labelled patches.

    With ``noise_level="blind"`` the network gets, as in FFDNet (Zhang et al.
    2018), a second input channel holding the patch's estimated noise level
    (:func:`estimate_noise_sigma`), so one network adapts its smoothing to
    easy, hard and tough patches. ``transform`` warns
    (:class:`NoiseLevelWarning`) once when the input's median estimated
    level lies outside the 1st-99th percentile of the training patches'
    (clean input, or noisier than anything seen) and still denoises.

    Parameters
    ----------
    denoiser : network denoiser estimator, default=None
        Whose network is trained: e.g. :class:`ShallowUNetDenoiser` (fitted:
        fine-tuned from its weights; unfitted: built from its parameters).
        Never modified. None: ``ShallowUNetDenoiser()``.
    descriptor : learned descriptor estimator, default=None
        The frozen ``f``: fitted, a ``FrozenEstimator`` of a fitted one, or
        one with pretrained weights (``load_pretrained()`` and its clones).
        Never modified. None: :func:`~sklearn_patchdesc.describe.load_pretrained`'s
        shipped HardNet.
    pixel_weight : float, default=1.0
    consistency_weight : float, default=1.0
        0 gives the plain pixel-trained denoiser. Both are ordinary
        parameters for ``GridSearchCV`` / ``TPESearchCV``.
    noise_level : {"blind", None}, default="blind"
        ``"blind"``: feed the per-patch noise estimate as a second channel
        (needs a denoiser whose first convolution reads the one input
        channel: the U-Nets). None: the network sees the patch only.
    residual : bool, default=True
        Train the network to predict a correction added to its input, its
        last convolution starting at zero: the untrained denoiser is the
        identity, so the descriptor starts from its noisy-input score (a
        fitted ``denoiser`` keeps its other weights). The default because it
        measured best for the shipped HardNet on noisy real held-out patches
        (6,000 training pairs, matching mAP, noisy input 0.7498): residual
        with consistency weight 1 and pixel weight 0.1, 4 epochs, 0.7513;
        plain network from random weights, 6 epochs, 0.7457; pixel-trained
        for 6 epochs then 3 with the consistency term, 0.7460; pixel loss
        only, 0.7452.
    pretrained : str, path or None, default=None
        Starting weights of the whole network (``denoiser``'s architecture,
        with the noise-level channel when ``noise_level="blind"``): the name
        of a shipped denoiser (see
        :func:`~sklearn_patchdesc.pipeline.load_pretrained_pipeline`) or a
        safetensors / PyTorch state-dict file (read without running code).
        ``fit`` fine-tunes from them; a clone keeps them.
{common_params}

{common_attrs}
    noise_sigma_range_ : tuple of float
        1st and 99th percentile of the training patches' estimated noise
        level (grey levels), the range ``transform`` does not warn about.

    Examples
    --------
    >>> from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TaskAwareDenoiser
    >>> from sklearn_patchdesc.describe import load_pretrained
    >>> den = TaskAwareDenoiser(ShallowUNetDenoiser(), load_pretrained(),
    ...                         consistency_weight=1.0, max_epochs=5)
    >>> den.fit(X_noisy, X_clean).transform(X_noisy)  # doctest: +SKIP
    """

    _net_class = TaskAwareNeuralNet

    _init_positional = ("denoiser", "descriptor")
    _init_params = {"denoiser": None, "descriptor": None, "pixel_weight": 1.0,
                    "consistency_weight": 1.0, "noise_level": "blind", "residual": True,
                    "pretrained": None}

    # ------------------------------------------------------------- parts
    def _denoiser(self):
        if self.denoiser is None:
            from ._estimators import ShallowUNetDenoiser

            return ShallowUNetDenoiser()
        est = unwrap(self.denoiser)
        if not isinstance(est, BaseNetDenoiser) or isinstance(est, TaskAwareDenoiser):
            raise TypeError("denoiser must be a network denoiser of sklearn_patchdesc (e.g. "
                            f"ShallowUNetDenoiser()); got {type(est).__name__}.")
        return est

    def _descriptor(self):
        if self.descriptor is None:
            from ..describe import load_pretrained

            return load_pretrained()
        return self.descriptor

    def _check_params(self):
        _check_weight("pixel_weight", self.pixel_weight)
        _check_weight("consistency_weight", self.consistency_weight)
        if not (self.pixel_weight or self.consistency_weight):
            raise ValueError("pixel_weight and consistency_weight are both 0: nothing to train.")
        if self.noise_level not in ("blind", None):
            raise ValueError(f"noise_level must be 'blind' or None; got {self.noise_level!r}.")
        if not isinstance(self.residual, (bool, np.bool_)):
            raise ValueError(f"residual must be True or False; got {self.residual!r}.")
        self._denoiser()  # the descriptor is checked with the patch size, in fit

    def _patch_checks(self):
        return self._denoiser()._patch_checks()

    def _initialize_weights(self, net):
        if self.pretrained is None:
            return
        path = resolve_shipped(PRETRAINED_DIR, self.pretrained, "denoiser")
        name = type(self._denoiser()).__name__
        layout = (f"this denoiser ({name}, noise_level={self.noise_level!r}, "
                  f"residual={self.residual!r})")
        try:
            load_weights(net.module_, path, layout, "denoiser weights")
        except ValueError as exc:
            raise ValueError(f"the weights in {path} do not fit {layout}: {exc}") from None

    def _fit_without_training(self, patch_size=32):
        """Become a fitted denoiser holding the ``pretrained`` weights (no training)."""
        if self.pretrained is None:
            raise ValueError("pretrained weights are needed to use a TaskAwareDenoiser "
                             "without fitting it.")
        self._check_params()
        self._check_common_params()
        self.patch_size_ = int(patch_size)
        self.n_features_in_ = self.patch_size_ ** 2
        self.training_mode_ = "paired"
        with self._seeded():
            net = self._build_net()
            net.initialize()
            self._initialize_weights(net)
        self.net_ = net
        low, high = 0.0, float("inf")
        if isinstance(self.pretrained, str) and self.pretrained in shipped_names(PRETRAINED_DIR):
            low, high = shipped_card(PRETRAINED_DIR, self.pretrained,
                                     "denoiser")["noise_sigma_range"]
        self.noise_sigma_range_ = (float(low), float(high))
        return self

    def _module_spec(self):
        module = module_of(self._denoiser())
        if self.noise_level == "blind":
            module = NoiseLevelInput(module)
        if self.residual:
            module = ResidualDenoiser(module)
        return module, {}

    def _criterion_spec(self):
        crit, kwargs = self._denoiser()._criterion_spec()
        return crit, kwargs

    def _build_net(self, **kwargs):
        net = super()._build_net(**kwargs)
        net.pixel_weight = float(self.pixel_weight)
        net.consistency_weight = float(self.consistency_weight)
        if self.consistency_weight:
            module = frozen_descriptor_module(self._descriptor(), self.patch_size_)
            net.descriptor = FrozenModule(module).to(self.device)
        return net

    # ------------------------------------------------------------- API
    def fit(self, X, y=None):
        """Train the denoiser for the descriptor.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Noisy patches (uint8 0..255 or float 0..1).
        y : array-like of X's shape, 1-D labels, record array or None
            Clean (or second noisy) patches: pixel + consistency loss;
            labels / record array / None: self-supervised pixel loss only.

        Returns
        -------
        self
        """
        self._check_params()
        X4, _ = check_patches(X, **self._patch_checks())
        if self.consistency_weight:  # fail before training on a wrong descriptor
            frozen_descriptor_module(self._descriptor(), X4.shape[-1])
        super().fit(X, y)
        sigma = sigma_grey_levels(X4)
        self.noise_sigma_range_ = (float(np.percentile(sigma, 1)),
                                   float(np.percentile(sigma, 99)))
        return self

    def transform(self, X):
        """Denoise patches (see :meth:`ShallowUNetDenoiser.transform`).

        Warns (:class:`NoiseLevelWarning`) when the median estimated noise
        level of ``X`` lies outside ``noise_sigma_range_``.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)

        Returns
        -------
        X_denoised : ndarray
            Same layout and dtype as ``X``.
        """
        X4, layout = self._validate_patches(X, reset=False, **self._patch_checks())
        out = restore_patches(self._forward(X4), layout)
        low, high = getattr(self, "noise_sigma_range_", (0.0, np.inf))
        if X4.shape[-1] >= 3:  # smaller patches carry no usable noise estimate
            level = float(np.median(sigma_grey_levels(X4)))
            if level < low or level > high:
                what = ("below that range: the patches look clean, and denoising may "
                        "remove detail" if level < low else "above that range: the patches "
                        "are noisier than anything it was trained on, and may stay noisy")
                warnings.warn(
                    f"{type(self).__name__} was trained on patches whose estimated noise "
                    f"level was {low:.1f} to {high:.1f} grey levels (1st-99th percentile); "
                    f"this input's median, {level:.1f}, is {what}.", NoiseLevelWarning,
                    stacklevel=2)
        return out



_doc = (TaskAwareDenoiser.__doc__
        .replace("{common_params}", _COMMON_PARAMS.strip("\n"))
        .replace("{common_attrs}", _COMMON_ATTRS.strip("\n")))
TaskAwareDenoiser.__doc__ = _doc
