"""VGG16 and AlexNet feature extractors built in the library (no torchvision).

The VGG layout, VGG16 builder and the torchvision-format weight reader are the
library's one (:mod:`sklearn_patchdesc._vgg_layout`, shared with TernausNet
and the multi-scale descriptor); this module adds AlexNet.

Seed 003 inverts the layers of VGG16 and AlexNet. The builders here return the
``features`` part of those networks with torchvision's layer order, so a
torchvision-format state-dict file (keys ``features.N.weight`` /
``features.N.bias``; any ``classifier.*`` keys are ignored) loads into them.
Nothing is downloaded: without a file the weights are random.

Patches here are grey. With ``in_channels=1`` and a 3-channel (RGB) weight
file, the grey patch is read as an RGB image with equal channels normalised
with the ImageNet mean and standard deviation, and that normalisation is folded
into the first convolution (exact away from the zero-padded border).
"""
from __future__ import annotations

from torch import nn

from .._vgg_layout import torchvision_state, vgg16_features

__all__ = ["vgg16_features", "alexnet_features"]


def _alexnet_layers(in_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def alexnet_features(weights=None, in_channels=1):
    """AlexNet's convolutional part (torchvision's ``alexnet().features`` layout).

    Parameters
    ----------
    weights : str, Path or dict, optional
        A torchvision-format AlexNet state dict or its file (see
        :func:`sklearn_patchdesc._vgg_layout.torchvision_state`). ``None``
        keeps random weights.
    in_channels : int, default=1
        Input channels; see :func:`vgg16_features`.

    Returns
    -------
    features : torch.nn.Sequential
        13 layers: 5 convolutions with ReLU and 3 max-poolings. Torchvision's
        AlexNet has no local response normalisation (seed 003 found that
        Caffe's LRN layer loses much information). The last pooling needs
        patches of at least 63x63.

    Raises
    ------
    FileNotFoundError
        If ``weights`` names no file.
    ValueError
        If the file is not a matching torchvision AlexNet state dict.
    """
    features = _alexnet_layers(in_channels)
    if weights is not None:
        features.load_state_dict(torchvision_state(features, weights, "AlexNet"))
    return features
