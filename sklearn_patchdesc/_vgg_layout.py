"""The one VGG layout table, builder and weight reader (TernausNet's encoder, VGG16 features).

The tables are torchvision's ``cfgs["A"]`` (VGG11) and ``cfgs["D"]`` (VGG16)
and the builder gives ``torchvision.models.vgg11/vgg16(weights=None).features``'s
layer order, so torchvision state dicts load by key. torchvision itself is
not used: it is not a dependency of the package, and its builder has neither
a grey (1-channel) input nor the width scaling TernausNet's cheap variants use.
"""
from __future__ import annotations

import torch
from torch import nn

from ._state_dict import matched_state, read_state_dict, select_prefix

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "VGG_CONFIGS", "vgg_layers", "torchvision_state",
           "vgg16_features"]

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


def _fold_grey(weight, bias):
    """First-conv weights for a grey input replicated to ImageNet-normalised RGB."""
    std = torch.tensor(IMAGENET_STD, dtype=weight.dtype).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=weight.dtype).view(1, 3, 1, 1)
    grey = (weight / std).sum(dim=1, keepdim=True)
    bias = bias - (weight * mean / std).sum(dim=(1, 2, 3))
    return grey, bias


def torchvision_state(features, source, name):
    """The ``features.*`` tensors of a torchvision-format file, matched to ``features``.

    Parameters
    ----------
    features : nn.Sequential
        The feature layers to fill (their ``state_dict`` keys are the target).
    source : str, Path or dict
        ``torch.save(model.state_dict(), path)`` of a torchvision VGG / AlexNet
        (``classifier.*`` keys are ignored), a ``.safetensors`` file, or such a
        dict; read by :func:`sklearn_patchdesc._state_dict.read_state_dict`.
    name : str
        The network (``"VGG16"``, ``"vgg11"``, ``"AlexNet"``), for messages.

    Returns
    -------
    state : dict
        ``features``' state dict filled from ``source``. When ``features``
        takes one channel and the file is RGB, the ImageNet normalisation of a
        grey image replicated to three channels is folded into the first
        convolution (exact away from the zero-padded border).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be read, is a batch-norm VGG, or does not match ``features``.
    """
    layout = f"a torchvision {name} state dict"
    state = select_prefix(read_state_dict(source, f"{name} weights"), "features.", layout)
    if any(k.endswith("running_mean") for k in state):
        raise ValueError(f"the {name} weights are a batch-norm VGG (e.g. {name}_bn); only the "
                         f"plain {name} layout is supported.")
    first = features[0]
    w0 = state.get("0.weight")
    if (first.in_channels == 1 and w0 is not None and w0.ndim == 4 and w0.shape[1] == 3
            and "0.bias" in state):
        state = dict(state)
        state["0.weight"], state["0.bias"] = _fold_grey(w0, state["0.bias"])
    return matched_state(features.state_dict(), state, layout, prefix="features.")


def vgg16_features(weights=None, in_channels=1):
    """VGG16's convolutional part (torchvision's ``vgg16().features`` layout).

    Parameters
    ----------
    weights : str, Path or dict, optional
        A torchvision-format VGG16 state dict or its file (see
        :func:`torchvision_state`). ``None`` keeps random weights; nothing is
        downloaded.
    in_channels : int, default=1
        Input channels. With 1 and an RGB file, the ImageNet normalisation of a
        grey image replicated to three channels is folded into ``features.0``.

    Returns
    -------
    features : torch.nn.Sequential
        31 layers: 13 convolutions (3x3, padding 1) each followed by ReLU, and 5
        max-poolings; index ``N`` matches ``features.N`` of torchvision.

    Raises
    ------
    FileNotFoundError
        If ``weights`` names no file.
    ValueError
        If the file is not a matching torchvision VGG16 state dict.
    """
    features = vgg_layers("vgg16", in_channels)
    if weights is not None:
        features.load_state_dict(torchvision_state(features, weights, "VGG16"))
    return features
