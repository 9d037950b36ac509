"""Per-patch noise level: a blind estimate, and a noise-level input for any U-Net.

N-HPatches noise differs per image (easy / hard / tough: gaussian sigma 8 /
16 / 24 grey levels), and a denoiser that sees only the patch has to guess
how hard to smooth. FFDNet (Zhang, Zuo & Zhang 2018) gives the network a
noise-level map as a second input channel; here that map is filled with a
*blind* per-patch estimate, so no caller has to know the level:

- :func:`noise_sigma` is the fast noise-variance estimator of Immerkaer
  (1996): the mean absolute response to the 3x3 Laplacian-difference mask
  (which cancels locally linear image structure) times sqrt(pi/2) / 6. On
  textured patches it over-estimates (texture leaks through the mask), but
  the network is trained with the same estimate as input, so it learns what
  the number means on its data.
- :class:`NoiseLevelInput` wraps a denoiser module whose first convolution
  takes one channel, widening that convolution to two (the new channel's
  weights start at zero, so a pixel-trained denoiser starts out unchanged).

No library ships this estimator for torch tensors of patches (scikit-image's
``estimate_sigma`` is a wavelet estimate on numpy images, one call per
image), hence the few lines here.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["noise_sigma", "estimate_noise_sigma", "sigma_grey_levels", "NoiseLevelInput",
           "ResidualDenoiser", "SIGMA_SCALE"]

_MASK = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])

#: the map fed to the network is sigma (on the [0, 1] scale) / SIGMA_SCALE, so
#: N-HPatches' tough level (24 grey levels) is about 1
SIGMA_SCALE = 24.0 / 255.0


def noise_sigma(x):
    """Immerkaer's blind noise estimate per patch.

    Parameters
    ----------
    x : Tensor of shape (n, 1, H, W)
        Patches on the [0, 1] scale. Sides under 3 are edge-replicated to 3
        (such patches are too small to measure noise on and read about 0).

    Returns
    -------
    sigma : Tensor of shape (n,)
        Estimated standard deviation of additive white noise, same scale as ``x``.
    """
    mask = _MASK.to(device=x.device, dtype=x.dtype).view(1, 1, 3, 3)
    if min(x.shape[-2:]) < 3:  # too small to measure: edge-replicate to 3x3 at least
        ph, pw = (max(0, 3 - s) for s in x.shape[-2:])
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    r = F.conv2d(x, mask)
    h, w = r.shape[-2:]
    return r.abs().flatten(1).sum(1) * (math.sqrt(math.pi / 2) / (6.0 * h * w))


def estimate_noise_sigma(X):
    """Blind per-patch noise level, in grey levels (0..255 scale).

    The estimate the ``noise_level="blind"`` denoisers feed their network
    (Immerkaer 1996). On N-HPatches gaussian noise (sigma 8 / 16 / 24) it
    reads close to the true sigma on flat patches and above it on textured
    ones; clean patches read a few grey levels (their texture).

    Parameters
    ----------
    X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
        Patches (uint8 0..255 or float 0..1).

    Returns
    -------
    sigma : ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_patchdesc.denoise import estimate_noise_sigma
    >>> flat = np.full((1, 32, 32), 128.0)
    >>> noisy = flat + np.random.default_rng(0).normal(0, 16, flat.shape)
    >>> sigma = estimate_noise_sigma(np.concatenate([flat, noisy]) / 255)
    >>> float(sigma[0]), round(float(sigma[1]))
    (0.0, 16)
    """
    from .._validation import check_patches

    X4, _ = check_patches(X)
    return sigma_grey_levels(X4)


def sigma_grey_levels(X4, batch=4096):
    """:func:`noise_sigma` of validated float patches ``(n, 1, H, W)``, in grey levels.

    Batched, so a large set never becomes one float32 tensor copy at once.
    """
    out = [noise_sigma(torch.as_tensor(np.ascontiguousarray(X4[i:i + batch]),
                                       dtype=torch.float32)).numpy()
           for i in range(0, len(X4), batch)]
    return np.concatenate(out).astype(np.float64) * 255.0


def _first_conv(module):
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    return None, None


class NoiseLevelInput(nn.Module):
    """A denoiser module given a per-patch noise-level map as second input channel.

    Parameters
    ----------
    denoiser : nn.Module
        Maps ``(n, 1, H, W)`` to ``(n, 1, H, W)`` and reads its input only
        through its first ``nn.Conv2d``, which it declares with the class
        attribute ``reads_input_once = True`` (the library's
        :class:`~sklearn_patchdesc.denoise._modules.ShallowUNet` and
        :class:`~sklearn_patchdesc.denoise._modules.UNet`; not of the residual
        DnCNN, whose output subtracts from its input). That convolution is
        widened to two input channels; the new weights are zero.

    Raises
    ------
    ValueError
        If the module does not declare ``reads_input_once``.
    """

    def __init__(self, denoiser):
        super().__init__()
        name, conv = _first_conv(denoiser)
        if not getattr(denoiser, "reads_input_once", False) or conv.in_channels != 1:
            raise ValueError(
                f"a noise-level input needs a denoiser network that reads its one input "
                f"channel only through its first convolution (ShallowUNet, UNet); "
                f"{type(denoiser).__name__} does not.")
        wide = nn.Conv2d(2, conv.out_channels, conv.kernel_size, stride=conv.stride,
                         padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                         bias=conv.bias is not None, padding_mode=conv.padding_mode)
        with torch.no_grad():
            wide.weight.zero_()
            wide.weight[:, :1] = conv.weight
            if conv.bias is not None:
                wide.bias.copy_(conv.bias)
        parent = denoiser
        *path, last = name.split(".")
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, wide)
        self.denoiser = denoiser
        self.size_multiple = getattr(denoiser, "size_multiple", 1)

    def forward(self, x):
        sigma = noise_sigma(x).view(-1, 1, 1, 1) / SIGMA_SCALE
        return self.denoiser(torch.cat([x, sigma.expand_as(x)], dim=1))


def _last_conv(module):
    last = None
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            last = m
    return last


class ResidualDenoiser(nn.Module):
    """``x + r(x)``: a denoiser network made to predict a correction, starting as the identity.

    The last convolution of ``denoiser`` starts at zero, so the untrained
    network returns its input unchanged: training for a descriptor then
    starts from the descriptor's noisy-input score, never below it.

    Parameters
    ----------
    denoiser : nn.Module
        Maps ``(n, c, H, W)`` to ``(n, 1, H, W)`` (``c`` = 2 behind a
        :class:`NoiseLevelInput`); its last ``nn.Conv2d`` writes the output.
    """

    def __init__(self, denoiser):
        super().__init__()
        conv = _last_conv(denoiser)
        if conv is None or conv.out_channels != 1:
            raise ValueError(f"a residual denoiser needs a network whose last convolution "
                             f"writes one channel; {type(denoiser).__name__}'s does not.")
        with torch.no_grad():
            conv.weight.zero_()
            if conv.bias is not None:
                conv.bias.zero_()
        self.denoiser = denoiser
        self.size_multiple = getattr(denoiser, "size_multiple", 1)

    def forward(self, x):
        return x + self.denoiser(x)
