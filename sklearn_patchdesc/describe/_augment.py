"""Flip / 90-degree-rotation augmentation of training batches (seed 001).

Seed 001 ("Feature Augmentation") applied random ``np.flip`` / ``np.rot90``
to every patch independently and found it harmful on HPatches: patches of one
sequence share their positional appearance, which independent flips destroy
("a near doubling of the loss"). Its untested proposal is to transform all
patches of one label in a batch identically, so anchor and positive stay
aligned. Both are here; augmentation is off unless this callback is added.
"""
from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import Callback

from .._params import ParamsMixin
from ._embedding import torch_seeded_rng

__all__ = ["PatchAugmentation", "dihedral_transform"]

MODES = ("independent", "label")


def dihedral_transform(x, codes):
    """Apply one of the 8 flips/rotations to each square patch.

    Parameters
    ----------
    x : Tensor of shape (n, C, H, H)
    codes : array-like of int in 0..7, shape (n,)
        ``code % 4`` quarter turns (``torch.rot90`` on the last two axes),
        then a left-right flip when ``code >= 4``. Code 0 is the identity.

    Returns
    -------
    Tensor of the same shape (a new tensor).
    """
    codes = np.asarray(codes, dtype=np.int64)
    out = x.clone()
    for code in np.unique(codes):
        if code == 0:
            continue
        idx = torch.as_tensor(np.flatnonzero(codes == code))
        part = torch.rot90(x[idx], int(code % 4), dims=(-2, -1))
        if code >= 4:
            part = torch.flip(part, dims=(-1,))
        out[idx] = part
    return out


class PatchAugmentation(ParamsMixin, Callback):
    """Random flips and 90-degree rotations of the training batches (off by default).

    Add it as a callback: ``L2NetDescriptor(callbacks=[("augment",
    PatchAugmentation(mode="label"))])``. Before every training batch, each
    patch gets one of the allowed dihedral transforms, drawn:

    - ``mode="independent"``: per patch (seed 001's augmentation, which it
      found detrimental on HPatches);
    - ``mode="label"``: once per label in the batch and applied to all its
      patches, so anchor-positive positional similarity is kept (seed 001's
      untested proposal).

    Validation batches and ``transform`` are never augmented. The generator
    is seeded from torch's global generator at the start of training, so
    the estimators' ``random_state`` makes it reproducible.

    Parameters
    ----------
    mode : {"independent", "label"}, default="label"
    flips : bool, default=True
        Allow left-right flips (combined with rotations: all 8 symmetries of
        the square).
    rotations : bool, default=True
        Allow 90, 180 and 270 degree rotations.
    p : float, default=1.0
        Probability that a patch (``"independent"``) or label (``"label"``)
        is transformed at all; otherwise it is left as is.
    """

    def __init__(self, mode="label", flips=True, rotations=True, p=1.0):
        self.mode = mode
        self.flips = flips
        self.rotations = rotations
        self.p = p

    def initialize(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}.")
        if not (self.flips or self.rotations):
            raise ValueError("PatchAugmentation needs flips=True or rotations=True.")
        if not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"p must be in [0, 1]; got {self.p!r}.")
        self.rng_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.rng_ = torch_seeded_rng()

    def _choices(self):
        rots = [0, 1, 2, 3] if self.rotations else [0]
        return np.array([r + 4 * f for f in ([0, 1] if self.flips else [0]) for r in rots])

    def draw_codes(self, labels, rng):
        """Transform code (0..7) of every patch of a batch with these labels.

        Parameters
        ----------
        labels : array-like of shape (n,)
            Point labels of the batch (``mode="label"`` gives one code per label).
        rng : numpy.random.Generator

        Returns
        -------
        codes : ndarray of shape (n,)
            0 (unchanged) or a dihedral transform code 1..7.
        """
        labels = np.asarray(labels)
        choices = self._choices()[1:]  # a transformed patch is never the identity
        if self.mode == "label":
            uniq, inverse = np.unique(labels, return_inverse=True)
            per = rng.choice(choices, size=len(uniq))
            per[rng.random(len(uniq)) >= float(self.p)] = 0
            return per[inverse.ravel()]
        codes = rng.choice(choices, size=len(labels))
        codes[rng.random(len(labels)) >= float(self.p)] = 0
        return codes

    def augment(self, X, labels, rng=None):
        """Return augmented copies of patches ``X`` (Tensor ``(n, C, H, H)``).

        Parameters
        ----------
        X : torch.Tensor of shape (n, C, H, H)
            Square patches.
        labels : array-like of shape (n,)
            Their point labels.
        rng : numpy.random.Generator, int or None, default=None
            Source of the transform draws.

        Returns
        -------
        X_augmented : torch.Tensor of shape (n, C, H, H)
        """
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        if X.shape[-1] != X.shape[-2]:
            raise ValueError(f"patches must be square to rotate; got {tuple(X.shape[-2:])}.")
        return dihedral_transform(X, self.draw_codes(labels, rng))

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training or batch is None:
            return
        xb, yb = batch[0], batch[1]
        if not isinstance(xb, torch.Tensor) or xb.ndim != 4 or yb.ndim != 1:
            return  # not a labelled patch batch
        if self.rng_ is None:
            self.rng_ = torch_seeded_rng()
        labels = yb.cpu().numpy()
        # in place: skorch trains on this same tensor right after this hook
        xb.copy_(dihedral_transform(xb, self.draw_codes(labels, self.rng_)))
