"""Network denoisers: thin estimators around the modules of :mod:`._modules`."""
from __future__ import annotations

import torch
from torch import nn

from .._vgg_layout import torchvision_state
from ._base import _COMMON_ATTRS, _COMMON_PARAMS, _FROZEN_NOTE, BaseNetDenoiser
from ._modules import (
    VGG_CONFIGS,
    ConvAutoencoder,
    DnCNN,
    ShallowUNet,
    TernausNet,
    UNet,
    _vgg_features,
)

__all__ = [
    "ShallowUNetDenoiser",
    "UNetDenoiser",
    "TernausNetDenoiser",
    "DnCNNDenoiser",
    "ConvAutoencoderDenoiser",
]


def _doc(cls):
    cls.__doc__ = (cls.__doc__
                   .replace("{common_params}", _COMMON_PARAMS.strip("\n"))
                   .replace("{common_attrs}", _COMMON_ATTRS.strip("\n"))
                   .replace("{frozen}", _FROZEN_NOTE.strip("\n")))
    return cls


def _check_int(name, value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")


@_doc
class ShallowUNetDenoiser(BaseNetDenoiser):
    """Shallow one-level U-Net denoiser: the course baseline (seed 000, section 2.1).

    3x3 conv (16) + ReLU, 2x2 max-pool, 3x3 conv (32) bottleneck, 2x
    upsampling + 2x2 conv (64), concatenation with the encoder maps, 3x3 conv
    (64), 3x3 conv to one channel; He-normal initialisation; mean absolute
    error loss (:class:`~sklearn_patchdesc.denoise._modules.ShallowUNet`).
    Widths are set with ``module__channels=(16, 32, 64)``. Odd patch sides
    are edge-padded internally, so any size works.

    Optimiser: the defaults (Adam, lr 1e-3) are seed 001's settings, which
    reached a lower loss than the baseline. The baseline's own optimiser
    (SGD, lr 1e-5, momentum 0.9, Nesterov) is::

        den.set_params(optimizer="sgd", lr=1e-5, optimizer__momentum=0.9,
                       optimizer__nesterov=True)

    It trains far slower (seed 000 ran 50 epochs).

    Parameters
    ----------
{common_params}

{common_attrs}

    Notes
    -----
{frozen}

    Examples
    --------
    >>> from sklearn_patchdesc.denoise import ShallowUNetDenoiser
    >>> den = ShallowUNetDenoiser(max_epochs=5, random_state=0)
    >>> den.fit(X_noisy, X_clean).transform(X_noisy)  # doctest: +SKIP
    """

    def _module_spec(self):
        return ShallowUNet, {}

    def _criterion_spec(self):
        return nn.L1Loss, {}


@_doc
class UNetDenoiser(BaseNetDenoiser):
    """U-Net denoiser with ``depth`` pooling levels (seed 001: 3 down / 3 up).

    Seed 001 ("U-Net Denoising") replaced the shallow baseline by a U-Net with
    3 downsampling and 3 upsampling levels after Ronneberger et al. and
    reached a lower L1 loss (4.5 vs 5.3 on 0..255) in fewer epochs. Each level
    has two 3x3 conv + ReLU; 2x2 max-pooling down, 2x2 transposed conv up,
    skip concatenations; He-normal initialisation; MAE loss; Adam lr 1e-3
    (seed 001). Channels start at ``module__base_channels=32`` and double per
    level (Ronneberger et al. use 64; 32 is 4x cheaper on a CPU and measured no
    worse on 32x32 patches). Patch sides that are not a multiple of
    ``2**depth`` are edge-padded internally.

    Parameters
    ----------
    depth : int, default=3
        Number of pooling levels.
{common_params}

{common_attrs}

    Notes
    -----
{frozen}
    """

    _init_params = {"depth": 3}

    def _check_params(self):
        _check_int("depth", self.depth, 1)

    def _module_spec(self):
        return UNet, {"depth": self.depth}

    def _criterion_spec(self):
        return nn.L1Loss, {}


@_doc
class TernausNetDenoiser(BaseNetDenoiser):
    """U-Net with a VGG11 / VGG16 encoder: the proposed denoiser of seed 000 (3.1).

    TernausNet (Iglovikov & Shvets) with the VGG encoder of ``encoder``
    (seed 000 chose VGG16 over the original VGG11), the fully connected
    layers replaced by a 512-channel 3x3 convolution (bottleneck), and a
    decoder of 5 upsampling convolutions (2x nearest upsampling + 3x3 conv
    halving the channels, avoiding transposed-convolution artefacts), each
    concatenated with the encoder block of its scale and convolved back to
    that block's width. The grey patch is replicated to 3 channels (and
    normalised with the ImageNet mean/std). MAE loss, Adam lr 1e-3 (best in
    seed 000's figure 5). See
    :class:`~sklearn_patchdesc.denoise._modules.TernausNet`.

    The 5 max-poolings need a patch side that is a multiple of 32 (32x32
    N-HPatches patches are fine); other sizes are rejected with a clear error.

    Parameters
    ----------
    encoder : {"vgg11", "vgg16"}, default="vgg11"
    encoder_weights : str, Path or None, default=None
        Path of a torchvision-format VGG state dict of the same variant
        (``torch.save(torchvision.models.vgg16(weights=...).state_dict(), path)``
        on a machine with torchvision; keys ``features.N.weight/bias``, the
        ``classifier.*`` keys are ignored). Loaded with
        ``torch.load(weights_only=True)``; nothing is ever downloaded.
        ``None``: random He-normal encoder.
    freeze_encoder : bool, default=True
        Keep the encoder fixed and train only bottleneck and decoder (seed
        000 froze its ImageNet encoder). With ``encoder_weights=None`` this
        freezes *random* filters (a random-feature encoder that still passes
        the full-resolution skip maps); set ``False`` to train it.
{common_params}

{common_attrs}

    Notes
    -----
    ``module__base_channels`` (default 64) scales every width, e.g. 8 for
    fast tests; pretrained weights need 64.

{frozen}
    """

    #: parameters naming a file the network reads when it is built; a loaded model
    #: (:func:`sklearn_patchdesc.persistence.load`) is built without them, its weights
    #: come from the model file
    _build_reads_files = ("encoder_weights",)

    _init_params = {"encoder": "vgg11", "encoder_weights": None, "freeze_encoder": True}

    def _check_params(self):
        if self.encoder not in VGG_CONFIGS:
            raise ValueError(
                f"encoder must be one of {sorted(VGG_CONFIGS)}; got {self.encoder!r}."
            )
        if self.encoder_weights is not None:
            base = getattr(self, "module__base_channels", 64)
            # fails early (before any training) on a missing or mismatched file
            torchvision_state(_vgg_features(VGG_CONFIGS[self.encoder], int(base)),
                              self.encoder_weights, self.encoder)

    def _patch_checks(self):
        return {"multiple_of": 32}

    def _module_spec(self):
        return TernausNet, {"encoder": self.encoder, "encoder_weights": self.encoder_weights,
                            "freeze_encoder": bool(self.freeze_encoder)}

    def _criterion_spec(self):
        return nn.L1Loss, {}


@_doc
class DnCNNDenoiser(BaseNetDenoiser):
    """DnCNN residual-learning denoiser (Zhang et al. 2017; seed 000 table 1).

    ``depth`` 3x3 convolutions with 64 channels (``module__channels``),
    BatchNorm + ReLU in the middle layers; the network predicts the noise and
    returns ``input - noise`` (residual learning). MSE loss as in the DnCNN
    paper; Adam lr 1e-3. Seed 000's table 1 ranks it between the shallow
    U-Net and the deeper U-Net / TernausNet for the descriptor downstream.
    Any patch size works.

    Parameters
    ----------
    depth : int, default=17
        Number of convolution layers (17 in the paper).
{common_params}

{common_attrs}

    Notes
    -----
{frozen}
    """

    _init_params = {"depth": 17}

    def _check_params(self):
        _check_int("depth", self.depth, 2)

    def _module_spec(self):
        return DnCNN, {"depth": self.depth}

    def _criterion_spec(self):
        return nn.MSELoss, {}


@_doc
class ConvAutoencoderDenoiser(BaseNetDenoiser):
    """Noise2Noise convolutional autoencoder of seed 002.

    5 convolutions / 5 transposed convolutions, kernel 2, stride 1, padding
    1, ReLU, BatchNorm around the middle as in seed 002's appendix A (the
    "two BatchNorms at the end" of its figure 1a), no pooling; MSE loss
    (seed 002, section 1.3). Widths: ``module__channels=(64, 64, 128, 256,
    512)``. Seed 002 trained it Noise2Noise, i.e. ``fit(X_noisy,
    X_noisy_again)``; clean targets or self-supervised training work too.

    The optimiser defaults follow seed 002: ``optimizer="hybrid"`` -- the
    first ``optimizer__lbfgs_steps=5`` steps with L-BFGS (up to
    ``optimizer__lbfgs_max_iter=20`` iterations each), then SGD with
    momentum -- with lr 0.05 and momentum 0.9 (section 1.3). Each L-BFGS
    step costs up to ``1.25 * lbfgs_max_iter + 1`` forward/backward passes
    (about 22 measured), whatever the data size: on a few hundred patches
    they dominate the fit (one epoch of 64 patches is one batch: about 22
    passes, against 1 for ``optimizer="adam"``, which then needs ``lr=1e-3``);
    on 1000 patches (16 batches per epoch) they add about 7 epochs' worth.
    The phase pays for itself in epochs, not always in compute: on 512
    generated patches, 4 hybrid epochs (143 passes) reached 28.8 dB, 16 Adam
    epochs (144 passes) 30.1 dB; ``optimizer__lbfgs_max_iter=10`` halves the
    cost, measured +0.9 dB on 512 patches but -2.4 dB on 256
    (``benchmarks/bench_convae_optimizer.py``).
    ``flip_augment=True`` adds its flip augmentation. Seed 002's preferred
    ``init="xavier_positive"`` (figure 1b) is available but not the default:
    on one-channel [0, 1] patches ten layers of non-negative weights grow the
    output by about 7x per layer and the first losses reach ~1e8 (measured);
    PyTorch's default initialisation trained best here.

    Parameters
    ----------
    init : {"default", "xavier", "xavier_positive"}, default="default"
        Weight initialisation: PyTorch's default, Xavier-uniform, or
        Xavier-uniform with the negative weights then set to 0 (seed 002).
    momentum : float, default=0.9
        Momentum of the ``"sgd"`` / ``"hybrid"`` optimisers (ignored by
        others).
{common_params}

{common_attrs}

    Notes
    -----
    The full-width network is heavy for a CPU (about 3 GFLOP per 32x32
    patch forward); ``module__channels=(16, 16, 32, 64, 128)`` is ~16x cheaper.

{frozen}
    """

    _init_params = {"init": "default", "momentum": 0.9, "lr": 0.05, "optimizer": "hybrid"}

    def _check_params(self):
        if self.init not in ("xavier_positive", "xavier", "default"):
            raise ValueError(
                f"init must be 'xavier_positive', 'xavier' or 'default'; got {self.init!r}."
            )

    def _net_kwargs(self):
        if issubclass(self._optimizer_class(), torch.optim.SGD):
            return {"optimizer__momentum": self.momentum}
        return {}

    def _module_spec(self):
        return ConvAutoencoder, {"init": self.init}

    def _criterion_spec(self):
        return nn.MSELoss, {}
