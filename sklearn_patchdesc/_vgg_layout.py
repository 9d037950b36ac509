"""The one VGG layout table and builder (TernausNet's encoder, the inverted VGG16).

The tables are torchvision's ``cfgs["A"]`` (VGG11) and ``cfgs["D"]`` (VGG16)
and the builder gives ``torchvision.models.vgg11/vgg16(weights=None).features``'s
layer order, so torchvision state dicts load by key. torchvision itself is
not used: it is not a dependency of the package, and its builder has neither
a grey (1-channel) input nor the width scaling TernausNet's cheap variants use.
"""
from __future__ import annotations

from torch import nn

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "VGG_CONFIGS", "vgg_layers"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: convolution widths, "M" = 2x2 max-pooling (torchvision's cfgs "A" and "D")
VGG_CONFIGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"),
}


def vgg_layers(config, in_channels=3, base_channels=64):
    """VGG feature layers: 3x3 convolutions (padding 1) with ReLU, 2x2 max-poolings.

    Parameters
    ----------
    config : str or sequence
        ``"vgg11"``, ``"vgg16"`` or a width table like those of :data:`VGG_CONFIGS`.
    in_channels : int, default=3
    base_channels : int, default=64
        Width of the first convolution; every width scales with it (64 is VGG's).

    Returns
    -------
    features : nn.Sequential
        Index ``N`` is torchvision's ``features.N`` when ``base_channels=64``.
    """
    if isinstance(config, str):
        config = VGG_CONFIGS[config]
    layers, c_in = [], int(in_channels)
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            c_out = int(item) * int(base_channels) // 64
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
    return nn.Sequential(*layers)
