"""Patch descriptors: learned (L2-Net) and handcrafted (raw pixels, SIFT),
their triplet / contrastive losses, in-batch miners and batch samplers.

Learned descriptors are skorch-based transformers: ``fit(X, y)`` on labelled
patches, ``transform(X)`` -> ``(n, d)`` float32 unit vectors, ``score`` =
the HPatches mean mAP. Any other descriptor (a user's torch module or numpy
function) becomes one with :class:`TorchModuleDescriptor` /
:class:`FunctionDescriptor`.
"""
from ._callbacks import HPatchesEpochScore, embed
from ._augment import PatchAugmentation
from ._collapse import CollapseMonitor
from ._estimators import L2NetDescriptor
from ._hardnet import HardNetDescriptor
from ._hardnet_loss import HardNetLoss
from ._handcrafted import RawPatchDescriptor, SIFTPatchDescriptor
from ._hard_positive import HardPositiveMiner
from ._losses import ContrastiveLoss, TripletMarginLoss
from ._miners import BatchHardMiner
from ._modules import L2Net, TFeat
from ._multiscale import MultiScaleDescriptor, MultiScaleNet
from ._opms import OnlinePairMiner
from ._pretrained import list_pretrained, load_pretrained, pretrained_card
from ._samplers import BatchSizeUnitWarning, PKSampler, RandomTripletSampler
from ._schedules import LinearDecayLR
from ._stepped import SteppedBatchHard
from ._weights import load_hardnet_weights
from ._wrapped import FunctionDescriptor, TorchModuleDescriptor

__all__ = [
    "BatchHardMiner",
    "CollapseMonitor",
    "ContrastiveLoss",
    "FunctionDescriptor",
    "HPatchesEpochScore",
    "HardNetDescriptor",
    "HardNetLoss",
    "HardPositiveMiner",
    "L2Net",
    "L2NetDescriptor",
    "LinearDecayLR",
    "MultiScaleDescriptor",
    "MultiScaleNet",
    "OnlinePairMiner",
    "PKSampler",
    "BatchSizeUnitWarning",
    "PatchAugmentation",
    "RandomTripletSampler",
    "RawPatchDescriptor",
    "SIFTPatchDescriptor",
    "SteppedBatchHard",
    "TFeat",
    "TorchModuleDescriptor",
    "TripletMarginLoss",
    "embed",
    "list_pretrained",
    "load_hardnet_weights",
    "load_pretrained",
    "pretrained_card",
]
