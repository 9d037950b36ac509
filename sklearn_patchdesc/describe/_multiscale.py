"""Multi-scale descriptor network, SimNet style (seed 004).

SimNet (Appalaraju & Chaoji 2017, read in seed 004) embeds an image with a
deep VGG16 branch for high-level semantics plus two shallow convolutional
branches on 4x and 8x down-sampled copies for colour and shape, each branch
L2-normalised, the results concatenated and projected. Here the input is a
grey patch of any square size, resized to a working size inside the module;
the VGG-style branch has a configurable depth (number of VGG16 blocks) and
width, and takes pretrained weights only from a user-given torchvision-format
VGG16 state-dict file (nothing is downloaded).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._vgg_layout import vgg16_features
from ._estimators import BaseDescriptorNet
from ._losses import ContrastiveLoss
from ._modules import L2Normalize, PatchStandardize, resize_patches
from ._opms import OnlinePairMiner

__all__ = ["MultiScaleNet", "MultiScaleDescriptor", "VGG16_BLOCKS"]

#: (convolutions, channels) of the five VGG16 blocks
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


class MultiScaleNet(nn.Module):
    """Deep VGG-style branch + two shallow branches at 1/4 and 1/8 scale.

    ``x (n, 1, H, H)`` -> resize to ``input_size`` -> per-patch
    standardisation, then

    - deep: the first ``depth`` VGG16 blocks (3x3 convolutions + ReLU, 2x2
      max-pooling; channel widths ``channels`` or VGG16's), global average
      pooling, a linear layer to ``deep_features``, L2 normalisation;
    - shallow 4x / 8x: average pooling by 4 / 8, two 3x3 convolutions with
      ``shallow_channels`` channels (BatchNorm, ReLU), global average pooling,
      L2 normalisation;
    - concatenation, dropout, a linear projection to ``out_features``,
      BatchNorm (``batchnorm=True``), L2 normalisation.

    Parameters
    ----------
    out_features : int, default=128
    depth : int, default=3
        VGG16 blocks in the deep branch, 1..5 (``input_size`` must be
        divisible by ``2 ** depth``).
    channels : sequence of int, optional
        Width of each deep block; default VGG16's ``(64, 128, 256, 512,
        512)[:depth]`` (needed for ``weights``).
    deep_features : int, default=256
    shallow_channels : int, default=32
    input_size : int, default=32
        Working size; other square inputs are resized (bilinear,
        antialiased). Must be a multiple of 8 (the 8x branch).
    batchnorm : bool, default=True
        BatchNorm after each deep convolution and (without learned scale and
        shift) after the projection, as L2-Net does; this keeps descriptors
        spread out. VGG16 weights load either way (matched by convolution
        order). ``False`` gives a plain network that can collapse to one
        point under aggressive batch-hard training.
    dropout : float, default=0.0
    weights : str or Path, optional
        torchvision-format VGG16 state-dict file; its first ``depth`` blocks'
        convolutions initialise the deep branch (grey input folded into the
        first convolution, see :func:`sklearn_patchdesc.inversion.vgg16_features`).
    """

    def __init__(self, out_features=128, depth=3, channels=None, deep_features=256,
                 shallow_channels=32, input_size=32, batchnorm=True, dropout=0.0,
                 weights=None):
        super().__init__()
        depth = int(depth)
        if not 1 <= depth <= len(VGG16_BLOCKS):
            raise ValueError(f"depth must be between 1 and 5 (VGG16 blocks); got {depth!r}.")
        if channels is None:
            channels = [c for _, c in VGG16_BLOCKS[:depth]]
        channels = [int(c) for c in channels]
        if len(channels) != depth:
            raise ValueError(f"channels must hold one width per block ({depth}); got "
                             f"{len(channels)}.")
        input_size = int(input_size)
        if input_size % 8 or input_size % (2 ** depth):
            raise ValueError(f"input_size must be a multiple of 8 and of 2**depth="
                             f"{2 ** depth}; got {input_size}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        self.input_size = input_size
        self.out_features = int(out_features)
        self.standardize = PatchStandardize()
        layers, in_ch = [], 1
        for (n_conv, _), ch in zip(VGG16_BLOCKS, channels):
            for _ in range(n_conv):
                layers.append(nn.Conv2d(in_ch, ch, 3, padding=1))
                if batchnorm:
                    layers.append(nn.BatchNorm2d(ch))
                layers.append(nn.ReLU(inplace=True))
                in_ch = ch
            layers.append(nn.MaxPool2d(2, 2))
        self.deep = nn.Sequential(*layers)
        self.deep_head = nn.Linear(in_ch, int(deep_features))
        self.shallow4 = self._shallow(int(shallow_channels))
        self.shallow8 = self._shallow(int(shallow_channels))
        self.dropout = nn.Dropout(float(dropout))
        self.project = nn.Linear(int(deep_features) + 2 * int(shallow_channels), self.out_features)
        # de-means the descriptors before normalisation, like L2-Net's last BatchNorm
        self.project_bn = nn.BatchNorm1d(self.out_features, affine=False) if batchnorm \
            else nn.Identity()
        self.normalize = L2Normalize()
        if weights is not None:
            self.load_vgg16(weights)

    @staticmethod
    def _shallow(ch):
        return nn.Sequential(
            nn.Conv2d(1, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU(inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), L2Normalize(),
        )

    def load_vgg16(self, weights):
        """Copy the convolutions of a torchvision VGG16 file into the deep branch, in order.

        Parameters
        ----------
        weights : str, Path or dict
            torchvision-format VGG16 state dict or its file.

        Returns
        -------
        self
        """
        vgg = [m for m in vgg16_features(weights, in_channels=1) if isinstance(m, nn.Conv2d)]
        mine = [m for m in self.deep if isinstance(m, nn.Conv2d)]
        for i, (dst, src) in enumerate(zip(mine, vgg)):
            if dst.weight.shape != src.weight.shape:
                raise ValueError(
                    f"VGG16 weights need the VGG16 widths: convolution {i} is "
                    f"{tuple(dst.weight.shape)} here but {tuple(src.weight.shape)} in the "
                    "file; leave channels=None.")
            dst.weight.data.copy_(src.weight.data)
            dst.bias.data.copy_(src.bias.data)
        return self

    def forward(self, x):
        x = self.standardize(resize_patches(x, self.input_size))
        deep = self.deep(x).mean(dim=(2, 3))
        deep = F.normalize(self.deep_head(deep), dim=1, eps=1e-10)
        s4 = self.shallow4(F.avg_pool2d(x, 4))
        s8 = self.shallow8(F.avg_pool2d(x, 8))
        z = self.dropout(torch.cat((deep, s4, s8), dim=1))
        return self.normalize(self.project_bn(self.project(z)))


class MultiScaleDescriptor(BaseDescriptorNet):
    """SimNet-style multi-scale descriptor trained with contrastive loss + OPMS (seed 004).

    ``fit(X, y)`` trains :class:`MultiScaleNet` on labelled images or
    patches; ``transform(X)`` returns ``(n, out_features)`` float32 unit
    vectors. Any square input size works (32x32 patches, 8x8 digits, 32x32
    CIFAR-like grey images): inputs are resized to ``input_size`` and
    standardised per image inside the network, so uint8 and float scales
    (e.g. digits in 0..16) are both fine.

    Defaults follow seed 004 where it is explicit: contrastive loss with
    margin 1 (:class:`ContrastiveLoss`) on pairs mined online by
    :class:`OnlinePairMiner` (lambda 0 -> 1 over the epochs). The seed
    fine-tunes a pretrained VGG16 with SGD at 1e-5 for 100 epochs on GPU;
    trained from scratch on a CPU, Adam at 1e-3 and a narrow, shallow deep
    branch are used instead. Batches come from ``sampler`` (random
    triplets by default, whose anchors and positives give every batch
    positive pairs; :class:`PKSampler` works too). It composes with
    scikit-learn: ``make_pipeline(MultiScaleDescriptor(), KNeighborsClassifier())``.

    Parameters
    ----------
    out_features : int, default=128
    depth : int, default=3
        VGG16 blocks in the deep branch.
    channels : sequence of int, optional
        Deep block widths; default VGG16's (required with ``weights``).
    deep_features : int, default=256
    shallow_channels : int, default=32
    input_size : int, default=32
    batchnorm : bool, default=True
    dropout : float, default=0.0
    weights : str or Path, optional
        torchvision-format VGG16 state-dict file for the deep branch.
    criterion : nn.Module class or instance, optional
        Default ``ContrastiveLoss(margin=1.0, miner=OnlinePairMiner())``.
    sampler : object, optional
        Default :class:`RandomTripletSampler`.
    valid_scoring, early_stopping
        As in :class:`L2NetDescriptor`.
    max_epochs : int, default=10
    batch_size : int, default=192
        Patches (images) per training step: 64 triplets with the default
        sampler. It counted triplets before version 0.1 (warns
        :class:`BatchSizeUnitWarning` for one release when set).
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` (memory only: the result
        does not depend on it).
    lr : float, default=1e-3
    optimizer : str or torch.optim.Optimizer class, default="adam"
    train_split, callbacks, device, precision
        As in :class:`L2NetDescriptor`.
    random_state, verbose, checkpoint_dir, **kwargs
        As in :class:`L2NetDescriptor`.

    Attributes
    ----------
    net_ : PatchNeuralNet
    history_ : skorch History
    sampler_ : object
    patch_size_, n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> X, y = load_digits(return_X_y=True)
    >>> pipe = make_pipeline(MultiScaleDescriptor(channels=(16, 32, 64), max_epochs=2,
    ...                                           random_state=0), KNeighborsClassifier())
    >>> pipe.fit(X[:300], y[:300]).score(X[300:400], y[300:400]) > 0.5
    True
    """

    _init_params = {"out_features": 128, "depth": 3, "channels": None, "deep_features": 256,
                    "shallow_channels": 32, "input_size": 32, "batchnorm": True,
                    "dropout": 0.0, "weights": None, "batch_size": 192}

    def _module_spec(self):
        channels = None if self.channels is None else tuple(self.channels)
        return MultiScaleNet, {
            "out_features": self.out_features, "depth": self.depth, "channels": channels,
            "deep_features": self.deep_features, "shallow_channels": self.shallow_channels,
            "input_size": self.input_size, "batchnorm": self.batchnorm,
            "dropout": self.dropout, "weights": self.weights,
        }

    def _criterion_spec(self):
        if self.criterion is None:
            return ContrastiveLoss, {"margin": 1.0, "miner": OnlinePairMiner()}
        return super()._criterion_spec()
