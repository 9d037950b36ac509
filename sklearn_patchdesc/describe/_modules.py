"""Torch modules of the descriptor networks (kept apart from the estimators).

:class:`L2Net` is the trunk of L2-Net (Tian, Fan & Wu, CVPR 2017) as used by
the HardNet line of work and by the baseline of seed 000: seven convolutions
on a 32x32 grey patch, the last one an 8x8 convolution that leaves a 1x1 map of
``out_features`` channels, then L2 normalisation. Its ``features`` chain has
the module indices and parameter names of DagnyT/hardnet's ``HardNet`` and of
``kornia.feature.HardNet``, so their state dicts load into it unchanged
(:func:`~sklearn_patchdesc.describe.load_hardnet_weights`).

:class:`TFeat` is the shallow trunk of TFeat (Balntas, Riba, Ponsa &
Mikolajczyk, BMVC 2016): two convolutions and a linear layer, about a sixth
of L2-Net's forward cost, with the parameter names of
``kornia.feature.TFeat``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["L2Net", "TFeat", "TRUNKS", "PatchStandardize", "L2Normalize", "ACTIVATIONS", "L2NET_CHANNELS",
           "INITS"]

#: (out_channels, stride) of the six 3x3 convolutions of L2-Net
L2NET_CHANNELS = ((32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1))

ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


class PatchStandardize(nn.Module):
    """Per-patch standardisation: subtract each patch's mean, divide by its std.

    Makes the descriptor invariant to affine changes of brightness, so uint8
    (0..255) and [0, 1] inputs give the same output. The defaults (sample
    standard deviation, ``eps`` added to it) are those of HardNet's input
    normalisation in DagnyT/hardnet and kornia, so published weights give the
    descriptors they were trained to give.

    Parameters
    ----------
    eps : float, default=1e-6
        Added to the standard deviation (kornia's value; DagnyT/hardnet uses
        1e-7).
    unbiased : bool, default=True
        Divide by ``n - 1`` (sample std) rather than ``n``.
    """

    def __init__(self, eps=1e-6, unbiased=True):
        super().__init__()
        self.eps = eps
        self.unbiased = unbiased

    def forward(self, x):
        flat = x.flatten(1)
        mean = flat.mean(dim=1).view(-1, 1, 1, 1)
        std = flat.std(dim=1, correction=int(self.unbiased)).view(-1, 1, 1, 1)
        return (x - mean) / (std + self.eps)


class L2Normalize(nn.Module):
    """Scale each row to unit Euclidean norm, in float32 even under autocast.

    A bf16 norm keeps about 3 significant digits, and the distances of unit
    vectors (2 - 2 cos) lose what is left, so this step never runs in bf16.
    """

    def forward(self, x):
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.normalize(x.float(), p=2.0, dim=1, eps=1e-10)


def _orthogonal_init(module, gain=0.6):
    # DagnyT/hardnet's weights_init: orthogonal convolution weights (gain 0.6);
    # the trunk has no biases
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.01)


#: weight initialisations of :class:`L2Net` (``init=``)
INITS = {"default": None, "orthogonal": _orthogonal_init}


def _activation_list(activations, n_layers):
    if isinstance(activations, str) or activations is None:
        activations = [activations or "relu"] * n_layers
    activations = list(activations)
    if len(activations) != n_layers:
        raise ValueError(
            f"activations must be one name or {n_layers} names (one per 3x3 "
            f"convolution); got {len(activations)}."
        )
    out = []
    for name in activations:
        if isinstance(name, str):
            try:
                out.append(ACTIVATIONS[name.lower()])
            except KeyError:
                raise ValueError(
                    f"Unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}."
                ) from None
        elif isinstance(name, type) and issubclass(name, nn.Module):
            out.append(name)
        else:
            raise TypeError(f"An activation must be a name or an nn.Module class; got {name!r}.")
    return out


class L2Net(nn.Module):
    """L2-Net descriptor trunk for 32x32 grey patches.

    Layout (Tian et al. 2017, fig. 2 of seed 000): 3x3 convolutions with
    32, 32, 64 (stride 2), 64, 128 (stride 2), 128 channels, zero padding 1,
    each followed by BatchNorm and an activation; dropout; an 8x8 convolution
    to ``out_features`` channels (no padding: 8x8 -> 1x1); BatchNorm; L2
    normalisation. The input is standardised per patch inside the network
    (:class:`PatchStandardize`), before ``features``.

    ``features`` holds exactly the chain of HardNet (Mishchuk et al. 2017) in
    DagnyT/hardnet and ``kornia.feature.HardNet``: index ``N`` here is index
    ``N`` there, so ``features.0.weight`` ... ``features.20.running_var`` are
    the same tensors.

    Parameters
    ----------
    out_features : int, default=128
        Descriptor length.
    activations : str or sequence of 6 str, default="relu"
        Activation after each 3x3 convolution (layer 1 first). Seed 000's TPE
        variant uses ``("relu", "relu", "sigmoid", "sigmoid", "relu", "relu")``.
    dropout : float, default=0.1
        Dropout rate before the last convolution (0.1 in the L2-Net baseline
        of seed 000, 0.5 in its TPE variant, 0.3 in HardNet).
    batchnorm_affine : bool, default=False
        Learn BatchNorm scale and shift. L2-Net and HardNet keep them fixed
        (1 and 0), which is the default here.
    input_size : int, default=32
        Side of the patches the 8x8 head expects; other square inputs are
        resized (bilinear, antialiased) to it inside :meth:`forward`.
    init : {"default", "orthogonal"}, default="default"
        Convolution weight initialisation: PyTorch's default, or HardNet's
        orthogonal initialisation with gain 0.6.
    """

    def __init__(self, out_features=128, activations="relu", dropout=0.1,
                 batchnorm_affine=False, input_size=32, init="default"):
        super().__init__()
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        if input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4; got {input_size}.")
        if init not in INITS:
            raise ValueError(f"init must be one of {sorted(INITS)}; got {init!r}.")
        acts = _activation_list(activations, len(L2NET_CHANNELS))
        self.input_size = int(input_size)
        self.out_features = int(out_features)
        self.standardize = PatchStandardize()
        layers = []
        in_ch = 1
        for (out_ch, stride), act in zip(L2NET_CHANNELS, acts):
            layers += [
                nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_ch, affine=batchnorm_affine),
                act(),
            ]
            in_ch = out_ch
        head = self.input_size // 4
        layers += [
            nn.Dropout(float(dropout)),
            nn.Conv2d(in_ch, self.out_features, head, bias=False),
            nn.BatchNorm2d(self.out_features, affine=batchnorm_affine),
        ]
        self.features = nn.Sequential(*layers)
        self.normalize = L2Normalize()
        if INITS[init] is not None:
            INITS[init](self)

    def forward(self, x):
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return self.normalize(self.features(self.standardize(x)).flatten(1))


class TFeat(nn.Module):
    """TFeat descriptor trunk for 32x32 grey patches (a cheap option on a CPU).

    Layout (Balntas et al. 2016; the chain of ``kornia.feature.TFeat``, with
    the same indices and parameter names): per-patch instance normalisation,
    a 7x7 convolution to 32 channels, tanh, 2x2 max pooling, a 6x6
    convolution to 64 channels, tanh (8x8 map), then ``descr``: a linear
    layer to ``out_features`` and tanh. The output is L2-normalised here
    (kornia returns the tanh layer as is), so descriptors are unit vectors
    like every learned descriptor of this package; kornia's weights load
    unchanged and give the same directions.

    Forward cost: about 13 MFLOP per patch, a sixth of :class:`L2Net`'s 78.

    Parameters
    ----------
    out_features : int, default=128
        Descriptor length.
    input_size : int, default=32
        Side of the patches the network expects; other square inputs are
        resized (bilinear, antialiased) to it inside :meth:`forward`. It must
        leave a map of at least 1x1 after the second convolution (>= 20).
    """

    def __init__(self, out_features=128, input_size=32):
        super().__init__()
        side = (int(input_size) - 6) // 2 - 5
        if side < 1:
            raise ValueError(f"input_size must be at least 20 for TFeat; got {input_size}.")
        self.input_size = int(input_size)
        self.out_features = int(out_features)
        self.features = nn.Sequential(
            nn.InstanceNorm2d(1, affine=False),
            nn.Conv2d(1, 32, kernel_size=7),
            nn.Tanh(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, kernel_size=6),
            nn.Tanh(),
        )
        self.descr = nn.Sequential(nn.Linear(64 * side * side, self.out_features), nn.Tanh())
        self.normalize = L2Normalize()

    def forward(self, x):
        x = resize_patches(x, self.input_size)  # patches are square (checked by the estimators)
        return self.normalize(self.descr(self.features(x).flatten(1)))


#: descriptor trunks by name (``HardNetDescriptor(trunk=...)``)
TRUNKS = {"l2net": L2Net, "tfeat": TFeat}


def resize_patches(x, size):
    """Resize a float tensor batch ``(n, 1, H, W)`` to ``size`` x ``size``."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)

