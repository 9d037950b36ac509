"""Estimators built from other estimators' networks: one place for the shared plumbing.

:class:`~sklearn_patchdesc.pipeline.JointDenoiseDescribe` and
:class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser` both train a network
made of a denoiser estimator's module and a descriptor estimator's module.
They take the estimators (fitted or not) as parameters, so ``clone``,
``get_params`` and a search see ordinary scikit-learn parameters, and build
the torch modules from them here.
"""
from __future__ import annotations

import copy

from torch import nn

__all__ = ["unwrap", "module_of", "frozen_descriptor_module", "FrozenModule"]


def unwrap(est):
    """The estimator inside a :class:`sklearn.frozen.FrozenEstimator` (else ``est``)."""
    return getattr(est, "estimator", est)


def module_of(est):
    """A fresh copy of an estimator's torch module: its fitted weights, or a new build."""
    est = unwrap(est)
    net = getattr(est, "net_", None)
    if net is not None:
        return copy.deepcopy(net.module_)
    module, kwargs = est._module_spec()
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    kwargs = dict(kwargs)
    kwargs.update({k[len("module__"):]: v for k, v in est._prefixed_params().items()
                   if k.startswith("module__")})
    return module(**kwargs)


def frozen_descriptor_module(descriptor, patch_size):
    """The weights a frozen descriptor holds, as an ``eval()`` module without gradients.

    ``descriptor`` is a fitted learned descriptor, a ``FrozenEstimator`` of
    one, or an unfitted one that carries pretrained weights (a
    ``HardNetDescriptor(pretrained=...)``, e.g. a ``clone`` of
    :func:`~sklearn_patchdesc.describe.load_pretrained`), which is then
    loaded (never trained).

    Raises
    ------
    TypeError
        If ``descriptor`` is not a network descriptor of this library.
    ValueError
        If it has no weights to freeze, or was fitted on another patch size.
    """
    est = unwrap(descriptor)
    if not hasattr(est, "_module_spec") or not hasattr(est, "transform"):
        raise TypeError("descriptor must be a learned descriptor of sklearn_patchdesc (with a "
                        f"torch module); got {type(est).__name__}.")
    if getattr(est, "net_", None) is None:
        if getattr(est, "pretrained", None) is None:
            raise ValueError(
                f"descriptor {type(est).__name__} is neither fitted nor pretrained, so there "
                "are no descriptor weights to train the denoiser for: pass a fitted "
                "descriptor, FrozenEstimator(fitted), or load_pretrained().")
        est = copy.deepcopy(est)._fit_without_training(patch_size)
    size = getattr(est, "patch_size_", patch_size)
    if size != patch_size:
        raise ValueError(f"the descriptor was fitted on {size}x{size} patches but the "
                         f"denoiser gets {patch_size}x{patch_size} patches; both must "
                         "work on the same patch size.")
    module = copy.deepcopy(est.net_.module_).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class FrozenModule:
    """Holds a frozen module on a net (skorch registers bare ``nn.Module`` attributes).

    Calling it runs the module in ``eval`` mode whatever the net's mode is;
    gradients still flow to its *input*.
    """

    def __init__(self, module):
        self.module = module

    def to(self, device):
        self.module.to(device)
        return self

    def __call__(self, x):
        self.module.eval()
        return self.module(x)
