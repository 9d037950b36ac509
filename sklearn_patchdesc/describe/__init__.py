"""Patch descriptors: learned (L2-Net) and handcrafted (raw pixels, SIFT),
their triplet / contrastive losses, in-batch miners and batch samplers.

Learned descriptors are skorch-based transformers: ``fit(X, y)`` on labelled
patches, ``transform(X)`` -> ``(n, d)`` float32 unit vectors, ``score`` =
the HPatches mean mAP.
"""
from ._callbacks import HPatchesEpochScore, embed
from ._estimators import L2NetDescriptor
from ._losses import ContrastiveLoss, TripletMarginLoss
from ._miners import BatchHardMiner
from ._modules import L2Net
from ._samplers import PKSampler, RandomTripletSampler

__all__ = [
    "BatchHardMiner",
    "ContrastiveLoss",
    "HPatchesEpochScore",
    "L2Net",
    "L2NetDescriptor",
    "PKSampler",
    "RandomTripletSampler",
    "TripletMarginLoss",
    "embed",
]
