"""VGG16 and AlexNet feature extractors built in the library (no torchvision).

The VGG layout is the library's one (:mod:`sklearn_patchdesc._vgg_layout`).

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

from pathlib import Path

import torch
from torch import nn

from .._vgg_layout import IMAGENET_MEAN, IMAGENET_STD, vgg_layers

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


def _fold_grey(weight, bias):
    """First-conv weights for a grey input replicated to ImageNet-normalised RGB."""
    std = torch.tensor(IMAGENET_STD, dtype=weight.dtype).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=weight.dtype).view(1, 3, 1, 1)
    grey = (weight / std).sum(dim=1, keepdim=True)
    bias = bias - (weight * mean / std).sum(dim=(1, 2, 3))
    return grey, bias


def _load(features, weights, in_channels, name):
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"The {name} weight file {str(path)!r} does not exist. Pass the path of a "
            "torchvision-format state dict (keys 'features.N.weight'), or weights=None "
            "for random weights; nothing is downloaded."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise ValueError(f"Cannot read {name} weights from {str(path)!r}: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} does not hold a state dict (got {type(state).__name__}).")
    state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not state:
        raise ValueError(
            f"{str(path)!r} has no 'features.N.weight' keys; it is not a torchvision "
            f"{name} state dict."
        )
    first = features[0]
    w0 = state.get("0.weight")
    if (w0 is not None and in_channels == 1 and w0.ndim == 4 and w0.shape[1] == 3
            and "0.bias" in state):
        state["0.weight"], state["0.bias"] = _fold_grey(w0, state["0.bias"])
    try:
        features.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The weights in {str(path)!r} do not match the {name} feature layers "
            f"(first convolution expects {first.in_channels} input channel(s)): {exc}"
        ) from exc
    return features


def vgg16_features(weights=None, in_channels=1):
    """VGG16's convolutional part (torchvision's ``vgg16().features`` layout).

    Parameters
    ----------
    weights : str or Path, optional
        A torchvision-format VGG16 state-dict file, read with
        ``torch.load(weights_only=True)``. ``None`` keeps random weights.
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
        _load(features, weights, in_channels, "VGG16")
    return features


def alexnet_features(weights=None, in_channels=1):
    """AlexNet's convolutional part (torchvision's ``alexnet().features`` layout).

    Parameters
    ----------
    weights : str or Path, optional
        A torchvision-format AlexNet state-dict file, read with
        ``torch.load(weights_only=True)``. ``None`` keeps random weights.
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
        _load(features, weights, in_channels, "AlexNet")
    return features
