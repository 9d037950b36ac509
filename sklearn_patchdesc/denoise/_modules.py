"""Torch modules of the denoisers (no estimator logic here).

Every module maps float patches ``(n, 1, H, W)`` to denoised patches of the
same shape. Each carries a ``size_multiple`` attribute: the patch side must be
a multiple of it (1 = any size). The U-Nets pad internally (edge replication)
to the size their pooling needs and crop back, so they take any size;
TernausNet follows its VGG encoder and needs a multiple of 32.

Sources (see the estimators' docstrings for the full story):

- :class:`ShallowUNet`: seed 000 section 2.1 (the course's keras baseline).
- :class:`UNet`: seed 001 "U-Net Denoising" (3 down / 3 up, Ronneberger et al.).
- :class:`TernausNet`: seed 000 section 3.1.1 (Iglovikov & Shvets, VGG11/VGG16
  encoder, 512-channel bottleneck, upsampling-convolution decoder).
- :class:`DnCNN`: seed 000 table 1 (Zhang et al. 2017, residual learning).
- :class:`ConvAutoencoder`: seed 002 section 1.1 and appendix A.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._vgg_layout import (IMAGENET_MEAN, IMAGENET_STD, VGG_CONFIGS, torchvision_state,
                           vgg_layers)

__all__ = [
    "ShallowUNet",
    "UNet",
    "TernausNet",
    "DnCNN",
    "ConvAutoencoder",
    "VGG_CONFIGS",
    "he_normal_",
    "xavier_positive_",
]


# ---------------------------------------------------------------- initialisers
def he_normal_(module):
    """He-normal (fan-in, ReLU gain) weights and zero biases for every conv layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def xavier_positive_(module):
    """Xavier-uniform weights with the negative entries then set to 0 (seed 002, 1.1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            with torch.no_grad():
                m.weight.clamp_(min=0.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def _pad_to_multiple(x, multiple):
    """Pad H and W at the bottom/right by edge replication up to ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


# ------------------------------------------------------------------ ShallowUNet
class ShallowUNet(nn.Module):
    """One-level U-Net of the course baseline (seed 000, section 2.1).

    3x3 conv (16) + ReLU -> 2x2 max-pool -> 3x3 conv (32) + ReLU bottleneck ->
    2x upsampling + 2x2 conv (64, "same" padding) + ReLU -> concatenation with
    the 16 encoder maps -> 3x3 conv (64) + ReLU -> 3x3 conv to 1 channel.
    He-normal initialisation.

    Parameters
    ----------
    channels : tuple of 3 int, default=(16, 32, 64)
        Encoder, bottleneck and decoder widths.
    """

    size_multiple = 1
    #: the input is read by the first convolution only (see NoiseLevelInput)
    reads_input_once = True

    def __init__(self, channels=(16, 32, 64)):
        super().__init__()
        c_enc, c_mid, c_dec = (int(c) for c in channels)
        self.enc = nn.Conv2d(1, c_enc, 3, padding=1)
        self.mid = nn.Conv2d(c_enc, c_mid, 3, padding=1)
        self.up = nn.Conv2d(c_mid, c_dec, 2)  # keras "same" for an even kernel: pad after
        self.dec = nn.Conv2d(c_dec + c_enc, c_dec, 3, padding=1)
        self.out = nn.Conv2d(c_dec, 1, 3, padding=1)
        he_normal_(self)

    def forward(self, x):
        x, h, w = _pad_to_multiple(x, 2)
        e = F.relu(self.enc(x))
        m = F.relu(self.mid(F.max_pool2d(e, 2)))
        u = F.interpolate(m, scale_factor=2, mode="nearest")
        u = F.relu(self.up(F.pad(u, (0, 1, 0, 1))))
        d = F.relu(self.dec(torch.cat([u, e], dim=1)))
        return self.out(d)[..., :h, :w]


# ------------------------------------------------------------------------- UNet
def _double_conv(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with ``depth`` pooling levels (seed 001: 3 down, 3 up).

    Each level: two 3x3 convolutions + ReLU; 2x2 max-pooling down; 2x2
    transposed convolution up (halving the channels), concatenation with the
    encoder maps of the same level, two 3x3 convolutions + ReLU; a 1x1
    convolution to one channel. Channels double per level from
    ``base_channels`` (Ronneberger et al. use 64). He-normal initialisation.

    Parameters
    ----------
    depth : int, default=3
    base_channels : int, default=32
    """

    size_multiple = 1
    #: the input is read by the first convolution only (see NoiseLevelInput)
    reads_input_once = True

    def __init__(self, depth=3, base_channels=32):
        super().__init__()
        depth, base = int(depth), int(base_channels)
        if depth < 1:
            raise ValueError(f"depth must be at least 1; got {depth}.")
        if base < 1:
            raise ValueError(f"base_channels must be positive; got {base}.")
        self.depth = depth
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c_in = 1
        for c in widths[:-1]:
            self.down.append(_double_conv(c_in, c))
            c_in = c
        self.bottom = _double_conv(widths[-2], widths[-1])
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c_hi, c_lo in zip(widths[:0:-1], widths[-2::-1]):
            self.ups.append(nn.ConvTranspose2d(c_hi, c_lo, 2, stride=2))
            self.dec.append(_double_conv(2 * c_lo, c_lo))
        self.out = nn.Conv2d(widths[0], 1, 1)
        he_normal_(self)

    def forward(self, x):
        x, h, w = _pad_to_multiple(x, 2 ** self.depth)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, block, skip in zip(self.ups, self.dec, reversed(skips)):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.out(x)[..., :h, :w]


# ------------------------------------------------------------------- TernausNet
#: torchvision's VGG layer lists ("M" = 2x2 max-pool); indices of the resulting
#: ``features`` Sequential match torchvision's state-dict keys.
def _vgg_features(config, base_channels):
    """TernausNet's RGB VGG encoder (the library's one VGG builder)."""
    return vgg_layers(config, in_channels=3, base_channels=base_channels)


class TernausNet(nn.Module):
    """U-Net with a VGG encoder (seed 000, section 3.1.1; Iglovikov & Shvets).

    The grey patch is replicated to 3 channels and normalised with the
    ImageNet mean/std; a VGG11 or VGG16 convolutional encoder (5 blocks, 5
    max-pools) follows; its fully connected layers are replaced by one 3x3
    convolution with 512 channels (the bottleneck). The decoder repeats 5
    times: 2x nearest upsampling + 3x3 conv halving the channels ("upsampling
    convolution", no transposed convolutions), concatenation with the encoder
    block of the same scale, 3x3 conv back to that block's width. A 1x1
    convolution gives one channel.

    Parameters
    ----------
    encoder : {"vgg11", "vgg16"}, default="vgg11"
    encoder_weights : str, Path, dict or None
        torchvision-format VGG state dict (see
        :func:`sklearn_patchdesc._vgg_layout.torchvision_state`);
        ``None`` keeps a random He-normal encoder.
    freeze_encoder : bool, default=True
        Exclude the encoder's parameters from training.
    base_channels : int, default=64
        Width of the first VGG block (64 in VGG; pretrained weights need 64).
    """

    size_multiple = 32

    def __init__(self, encoder="vgg11", encoder_weights=None, freeze_encoder=True,
                 base_channels=64):
        super().__init__()
        if encoder not in VGG_CONFIGS:
            raise ValueError(f"encoder must be one of {sorted(VGG_CONFIGS)}; got {encoder!r}.")
        base = int(base_channels)
        self.features = _vgg_features(VGG_CONFIGS[encoder], base)
        he_normal_(self.features)
        if encoder_weights is not None:
            self.features.load_state_dict(torchvision_state(self.features, encoder_weights,
                                                            encoder))
        if freeze_encoder:
            for p in self.features.parameters():
                p.requires_grad_(False)
        self.freeze_encoder = bool(freeze_encoder)
        # widths of the 5 encoder blocks (the maps right before each max-pool)
        widths, last = [], None
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                last = layer.out_channels
            elif isinstance(layer, nn.MaxPool2d):
                widths.append(last)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        c_bottom = 512 * base // 64
        self.bottleneck = nn.Conv2d(widths[-1], c_bottom, 3, padding=1)
        self.up_convs = nn.ModuleList()
        self.merge_convs = nn.ModuleList()
        c_in = c_bottom
        for c_skip in reversed(widths):
            c_up = max(c_in // 2, 1)
            self.up_convs.append(nn.Conv2d(c_in, c_up, 3, padding=1))
            self.merge_convs.append(nn.Conv2d(c_up + c_skip, c_skip, 3, padding=1))
            c_in = c_skip
        self.out = nn.Conv2d(c_in, 1, 1)
        he_normal_(self.bottleneck)
        he_normal_(self.up_convs)
        he_normal_(self.merge_convs)
        he_normal_(self.out)

    def forward(self, x):
        h = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        skips = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                skips.append(h)
            h = layer(h)
        h = F.relu(self.bottleneck(h))
        for up, merge, skip in zip(self.up_convs, self.merge_convs, reversed(skips)):
            h = F.relu(up(F.interpolate(h, scale_factor=2, mode="nearest")))
            h = F.relu(merge(torch.cat([h, skip], dim=1)))
        return self.out(h)


# ------------------------------------------------------------------------ DnCNN
class DnCNN(nn.Module):
    """DnCNN (Zhang et al. 2017; compared in seed 000 table 1): residual learning.

    3x3 conv (``channels``) + ReLU, ``depth - 2`` times [3x3 conv + BatchNorm +
    ReLU], 3x3 conv to 1 channel predicting the noise; the output is the input
    minus the predicted noise.

    Parameters
    ----------
    depth : int, default=17
        Number of convolution layers (17 in the paper for known-sigma noise).
    channels : int, default=64
    """

    size_multiple = 1

    def __init__(self, depth=17, channels=64):
        super().__init__()
        depth, channels = int(depth), int(channels)
        if depth < 2:
            raise ValueError(f"depth must be at least 2; got {depth}.")
        layers = [nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)
        he_normal_(self.body)
        # start near the identity: a small last layer means a small noise estimate
        with torch.no_grad():
            self.body[-1].weight.mul_(0.1)

    def forward(self, x):
        return x - self.body(x)


# -------------------------------------------------------------- ConvAutoencoder
class ConvAutoencoder(nn.Module):
    """Noise2Noise convolutional autoencoder of seed 002 (appendix A), grey in/out.

    Encoder: 5 convolutions (kernel 2, stride 1, padding 1: each grows the map
    by one pixel) with ReLU between them and BatchNorm before the ReLU of the
    3rd and 4th; decoder: 5 transposed convolutions (kernel 2, stride 1,
    padding 1: each shrinks the map by one pixel), BatchNorm + ReLU after the
    first two, ReLU after the 3rd and 4th, none after the last. No pooling.

    Parameters
    ----------
    channels : tuple of 5 int, default=(64, 64, 128, 256, 512)
        Output widths of the 5 encoder convolutions (the decoder mirrors them).
    init : {"default", "xavier", "xavier_positive"}, default="default"
        Weight initialisation; "xavier_positive" is Xavier-uniform with the
        negative weights set to 0, found best in seed 002 (figure 1b).
    """

    size_multiple = 1

    def __init__(self, channels=(64, 64, 128, 256, 512), init="default"):
        super().__init__()
        c = [int(v) for v in channels]
        if len(c) != 5:
            raise ValueError(f"channels must list 5 widths; got {channels!r}.")
        enc_bn = {2, 3}  # BatchNorm after the 3rd and 4th convolutions (seed layers 5, 8)
        dec_bn = {0, 1}  # and after the first two transposed ones (seed layers 12, 15)
        enc, c_in = [], 1
        for i, c_out in enumerate(c):
            enc.append(nn.Conv2d(c_in, c_out, 2, stride=1, padding=1))
            if i < 4:
                if i in enc_bn:
                    enc.append(nn.BatchNorm2d(c_out))
                enc.append(nn.ReLU(inplace=True))
            c_in = c_out
        dec_out = c[-2::-1] + [1]  # 256, 128, 64, 64, 1 for the defaults
        dec = []
        for i, c_out in enumerate(dec_out):
            dec.append(nn.ConvTranspose2d(c_in, c_out, 2, stride=1, padding=1))
            if i < 4:
                if i in dec_bn:
                    dec.append(nn.BatchNorm2d(c_out))
                dec.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        if init == "xavier_positive":
            xavier_positive_(self)
        elif init == "xavier":
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        elif init != "default":
            raise ValueError(
                f"init must be 'xavier_positive', 'xavier' or 'default'; got {init!r}."
            )

    def forward(self, x):
        return self.decoder(self.encoder(x))
