"""Self-supervised training from noisy patches alone: Neighbor2Neighbor.

Huang et al., "Neighbor2Neighbor: Self-Supervised Denoising from Single Noisy
Images" (CVPR 2021). Every 2x2 cell of a noisy patch ``y`` gives two
*different, adjacent* pixels chosen at random; collecting the first pixel of
every cell gives a half-size sub-image ``g1(y)``, the second one ``g2(y)``.
The two sub-images show (almost) the same content with independent noise, so
``g2(y)`` is a Noise2Noise target for ``f(g1(y))``. A regulariser corrects for
the small content shift between the two sub-images::

    loss = L(f(g1(y)), g2(y))
           + gamma * L(f(g1(y)) - g2(y), g1(f(y)) - g2(f(y)))

where ``f(y)`` (the denoised full patch) is computed without gradient and
sub-sampled with the same cells. ``L`` is the estimator's criterion (MAE or
MSE). The noise must be pixel-wise independent and zero-mean (Gaussian,
Poisson-like sensor noise, as in N-HPatches); spatially correlated noise is
learned as content.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["neighbor_pairs", "subsample", "neighbor2neighbor_loss"]

# positions inside a 2x2 cell: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right;
# the 8 ordered pairs of horizontally or vertically adjacent positions
_PAIRS = torch.tensor([[0, 1], [1, 0], [0, 2], [2, 0], [1, 3], [3, 1], [2, 3], [3, 2]])


def neighbor_pairs(n, h2, w2, device="cpu", generator=None):
    """Random adjacent pixel pairs per 2x2 cell: two index tensors ``(n, 1, h2, w2)``."""
    choice = torch.randint(0, len(_PAIRS), (n, 1, h2, w2), generator=generator)
    pairs = _PAIRS[choice]
    return pairs[..., 0].to(device), pairs[..., 1].to(device)


def _cells(x):
    """``(n, c, H, W)`` -> ``(n, c, H//2, W//2, 4)`` 2x2 cells (odd edges dropped)."""
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    x = x[..., : 2 * h2, : 2 * w2].reshape(n, c, h2, 2, w2, 2)
    return x.permute(0, 1, 2, 4, 3, 5).reshape(n, c, h2, w2, 4)


def subsample(x, index):
    """Pick one pixel per 2x2 cell of ``x``; ``index`` broadcasts over channels."""
    cells = _cells(x)
    index = index.expand(cells.shape[:-1]).unsqueeze(-1)
    return torch.gather(cells, -1, index).squeeze(-1)


def _apply(module, x, multiple):
    """Run ``module`` on ``x``, edge-padding to a side it accepts, and crop back."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        top, left = ph // 2, pw // 2
        xp = F.pad(x, (left, pw - left, top, ph - top), mode="replicate")
        return module(xp)[..., top:top + h, left:left + w]
    return module(x)


def neighbor2neighbor_loss(module, y, criterion, gamma=1.0, size_multiple=1):
    """Neighbor2Neighbor loss of ``module`` on noisy patches ``y`` ``(n, 1, H, W)``.

    Parameters
    ----------
    module : torch.nn.Module
        The denoiser ``f``.
    y : Tensor of shape (n, 1, H, W)
        Noisy patches, ``H, W >= 2``.
    criterion : callable
        ``criterion(prediction, target)`` -> scalar loss.
    gamma : float, default=1.0
        Weight of the regulariser (0 = plain sub-sampled Noise2Noise).
    size_multiple : int, default=1
        The module needs sides that are a multiple of this; half-size
        sub-images are edge-padded to it and cropped back.

    Returns
    -------
    loss : Tensor (scalar)
    prediction : Tensor
        ``f(g1(y))``.
    """
    n, _, h, w = y.shape
    if h < 2 or w < 2:
        raise ValueError(
            f"Neighbor2Neighbor self-supervised training needs patches of at least 2x2; "
            f"got {h}x{w}. Give clean or second noisy targets y of X's shape instead."
        )
    i1, i2 = neighbor_pairs(n, h // 2, w // 2, device=y.device)
    g1, g2 = subsample(y, i1), subsample(y, i2)
    pred = _apply(module, g1, size_multiple)
    loss = criterion(pred, g2)
    if gamma:
        with torch.no_grad():
            full = _apply(module, y, size_multiple)
            target_gap = subsample(full, i1) - subsample(full, i2)
        loss = loss + gamma * criterion(pred - g2, target_gap)
    return loss, pred
