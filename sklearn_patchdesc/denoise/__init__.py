"""Denoising transformers for noisy patches (N-HPatches).

Network denoisers (skorch, trained with the shared core):

- :class:`ShallowUNetDenoiser` -- the course baseline (seed 000, 2.1);
- :class:`UNetDenoiser` -- deeper U-Net (seed 001);
- :class:`TernausNetDenoiser` -- VGG11/VGG16-encoder U-Net (seed 000, 3.1);
- :class:`DnCNNDenoiser` -- residual DnCNN (seed 000, table 1);
- :class:`ConvAutoencoderDenoiser` -- Noise2Noise autoencoder (seed 002);
- :class:`TaskAwareDenoiser` -- any of the U-Nets trained for a frozen
  descriptor (pixel + descriptor-consistency loss), with a blind per-patch
  noise-level input (:func:`estimate_noise_sigma`).

Classical, training-free: :class:`GaussianDenoiser`, :class:`NLMeansDenoiser`.

All are scikit-learn transformers: ``transform`` returns denoised patches in
the caller's layout and dtype, ``score`` is the PSNR against clean patches.
``fit(X, y)`` trains on target patches ``y`` of ``X``'s shape (clean =
supervised, second noisy copy = Noise2Noise) or, with labels / the record
array / ``None``, self-supervised (Neighbor2Neighbor) from the noisy patches
alone. Reuse a fitted denoiser in a pipeline with
:class:`sklearn.frozen.FrozenEstimator`.
"""
from ._classical import GaussianDenoiser, NLMeansDenoiser
from ._estimators import (
    ConvAutoencoderDenoiser,
    DnCNNDenoiser,
    ShallowUNetDenoiser,
    TernausNetDenoiser,
    UNetDenoiser,
)
from ._noise_level import estimate_noise_sigma
from ._task_aware import NoiseLevelWarning, TaskAwareDenoiser

__all__ = [
    "ShallowUNetDenoiser",
    "UNetDenoiser",
    "TernausNetDenoiser",
    "DnCNNDenoiser",
    "ConvAutoencoderDenoiser",
    "TaskAwareDenoiser",
    "GaussianDenoiser",
    "NLMeansDenoiser",
    "NoiseLevelWarning",
    "estimate_noise_sigma",
]
