"""Torch modules that invert one operation block, and their stacks.

Seed 003 compares three shapes of inversion module, each two layers with a
non-linearity between them:

- ``conv_deconv``: a stride-1 convolution at the feature resolution, then a
  transposed convolution that restores the input resolution;
- ``deconv_conv``: the transposed convolution (with the operation's stride)
  first, then a stride-1 convolution at the input resolution;
- ``deconv_deconv``: two transposed convolutions, the first with the stride
  (seed 003: "the first operation has stride"); the seed found the last two
  shapes give fewer artefacts after a strided operation.

The resolution-changing layer is sized from the operation's input and output
shapes so that it maps the output back to exactly the input shape, whatever
the stride, padding or pooling. Every module works in normalised spaces: its
input is the standardised operation output and its target the standardised
operation input (seed 003: colour/grey-level biases disappear when the
normalised image is the target).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SHAPES", "InversionModule", "InversionStack", "JointInversion", "SumOfMSE"]

SHAPES = ("conv_deconv", "deconv_conv", "deconv_deconv")


def _up_geometry(size_out, size_in):
    """(kernel, stride, padding) of a transposed conv mapping ``size_out`` to ``size_in``.

    Output of a transposed convolution: ``(size_out - 1) * s - 2 p + k``.
    """
    s = max(1, size_in // size_out) if size_out > 1 else 1
    need = size_in - (size_out - 1) * s
    base = s + 2 if s > 1 else 3
    p = max(0, math.ceil((base - need) / 2))
    return need + 2 * p, s, p


def _resizing_layer(in_ch, out_ch, size_from, size_to):
    """Layer mapping ``(in_ch, *size_from)`` maps to ``(out_ch, *size_to)``."""
    if all(t >= f for f, t in zip(size_from, size_to)):
        geo = [_up_geometry(f, t) for f, t in zip(size_from, size_to)]
        k, s, p = (tuple(g[i] for g in geo) for i in range(3))
        return nn.ConvTranspose2d(in_ch, out_ch, k, stride=s, padding=p)
    # the operation enlarged its input (rare in encoders): convolve, then pool down
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1),
                         nn.AdaptiveAvgPool2d(tuple(size_to)))


class InversionModule(nn.Module):
    """Map an operation's (normalised) output back to its (normalised) input.

    Parameters
    ----------
    feature_shape : tuple of 3 int
        ``(C, H, W)`` of the operation's output, the module's input.
    target_shape : tuple of 3 int
        ``(C, H, W)`` of the operation's input, the module's output.
    shape : {"conv_deconv", "deconv_conv", "deconv_deconv"}, default="conv_deconv"
    hidden_channels : int, optional
        Channels between the two layers; default ``max(16, C_in, C_out)``.
    """

    def __init__(self, feature_shape, target_shape, shape="conv_deconv", hidden_channels=None):
        super().__init__()
        if shape not in SHAPES:
            raise ValueError(f"module={shape!r} is not an inversion module shape; use one of {SHAPES}.")
        (cf, *sf), (ct, *st) = tuple(feature_shape), tuple(target_shape)
        hid = int(hidden_channels) if hidden_channels is not None else max(16, cf, ct)
        if hid < 1:
            raise ValueError(f"hidden_channels must be a positive integer; got {hidden_channels!r}.")
        act = nn.LeakyReLU(0.1)
        if shape == "conv_deconv":
            layers = [nn.Conv2d(cf, hid, 3, padding=1), act, _resizing_layer(hid, ct, sf, st)]
        elif shape == "deconv_conv":
            layers = [_resizing_layer(cf, hid, sf, st), act, nn.Conv2d(hid, ct, 3, padding=1)]
        else:
            layers = [_resizing_layer(cf, hid, sf, st), act,
                      nn.ConvTranspose2d(hid, ct, 3, stride=1, padding=1)]
        self.layers = nn.Sequential(*layers)
        self.target_shape = (ct, *st)
        with torch.no_grad():
            got = tuple(self.layers(torch.zeros(1, cf, *sf)).shape[1:])
        if got != self.target_shape:  # pragma: no cover - guards _up_geometry
            raise RuntimeError(f"Inversion module maps {feature_shape} to {got}, not {target_shape}.")

    def forward(self, z):
        return self.layers(z)


class InversionStack(nn.Module):
    """One :class:`InversionModule` per block, applied from the deepest block down.

    Parameters
    ----------
    shapes : list of (feature_shape, target_shape)
        Per block, input side first.
    shape, hidden_channels
        As in :class:`InversionModule`.
    """

    def __init__(self, shapes, shape="conv_deconv", hidden_channels=None):
        super().__init__()
        self.blocks = nn.ModuleList(
            InversionModule(f, t, shape=shape, hidden_channels=hidden_channels) for f, t in shapes)

    def forward(self, z):
        for block in reversed(self.blocks):
            z = block(z)
        return z


class JointInversion(nn.Module):
    """Frozen network blocks plus an inversion stack, for joint training.

    ``forward(x)`` computes every block's normalised input and output with the
    frozen blocks (no gradient), then runs the stack from the deepest
    representation down, each module taking the previous module's
    reconstruction as input (seed 003's jointly trained modules). It returns
    ``(reconstructions, targets)``, both input side first; :class:`SumOfMSE`
    sums the per-module losses.

    Parameters
    ----------
    frozen : list of torch.nn.Module
        The network's blocks (their parameters are frozen, always in eval mode).
    means, stds : list of Tensor
        Per-channel statistics of every block boundary, input first.
    shapes, shape, hidden_channels
        As in :class:`InversionStack`.
    """

    def __init__(self, frozen, means, stds, shapes, shape="conv_deconv", hidden_channels=None):
        super().__init__()
        self.frozen = nn.ModuleList(frozen)
        self.frozen.requires_grad_(False)
        for k, (m, s) in enumerate(zip(means, stds)):
            self.register_buffer(f"mean{k}", torch.as_tensor(m).view(1, -1, 1, 1).float())
            self.register_buffer(f"std{k}", torch.as_tensor(s).view(1, -1, 1, 1).float())
        self.stack = InversionStack(shapes, shape=shape, hidden_channels=hidden_channels)

    def train(self, mode=True):
        super().train(mode)
        self.frozen.eval()
        return self

    def _norm(self, k, r):
        r = r.reshape(len(r), -1, 1, 1) if r.ndim == 2 else r
        return (r - getattr(self, f"mean{k}")) / getattr(self, f"std{k}")

    def forward(self, x):
        with torch.no_grad():
            targets, r = [self._norm(0, x)], x
            for k, block in enumerate(self.frozen, start=1):
                r = block(r)
                targets.append(self._norm(k, r))
        z, preds = targets[-1], []
        for block in reversed(self.stack.blocks):
            z = block(z)
            preds.append(z)
        return tuple(preds[::-1]), tuple(targets[:-1])


class SumOfMSE(nn.Module):
    """Sum of the per-module mean squared errors; keeps the last components."""

    def forward(self, y_pred, y_true=None):
        preds, targets = y_pred
        parts = [torch.mean((p - t) ** 2) for p, t in zip(preds, targets)]
        self.last_parts_ = [float(p.detach()) for p in parts]
        return torch.stack(parts).sum()
