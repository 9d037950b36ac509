"""Joint composition of a denoiser and a descriptor: :class:`JointDenoiseDescribe`.

A ``Pipeline([("denoise", D), ("describe", E)])`` trains its two steps one
after the other, each on its own loss; the denoiser never learns what the
descriptor needs. :class:`JointDenoiseDescribe` fine-tunes both networks end
to end on

    loss = descriptor loss(E(D(x)), labels) + lam * denoising loss(D, x)

It lives in a top-level ``pipeline`` module, not in ``denoise/`` or
``describe/``: it is a composition of one estimator of each of those
packages (like :class:`sklearn.pipeline.Pipeline` composes steps), and
``model_selection/`` is about searching and splitting, not about models.

Training goes through the shared core: the estimator is a descriptor
estimator (:class:`~sklearn_patchdesc.describe._estimators.BaseDescriptorNet`,
itself a :class:`~sklearn_patchdesc._training.BasePatchNet`) whose module
wraps both networks and whose skorch net (:class:`JointNeuralNet`) adds the
denoising term; seeding, samplers, NaN stop, checkpoint resume, validation
split and persistence are the core's.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._composite import module_of, unwrap
from ._params import REQUIRED
from ._training import PatchNeuralNet
from ._validation import check_patches, restore_patches
from .denoise._selfsupervised import neighbor2neighbor_loss
from .describe._estimators import BaseDescriptorNet

__all__ = ["JointDenoiseDescribe", "load_pretrained_pipeline", "list_pretrained_pipelines",
           "pretrained_pipeline_card"]
# JointModule, JointNeuralNet: building blocks


class JointModule(nn.Module):
    """``descriptor(denoiser(x))``, keeping both networks as sub-modules.

    Parameters
    ----------
    denoiser, descriptor : nn.Module
    """

    def __init__(self, denoiser, descriptor, freeze_descriptor=False):
        super().__init__()
        self.denoiser = denoiser
        self.descriptor = descriptor
        self.freeze_descriptor = bool(freeze_descriptor)
        self.out_features = getattr(descriptor, "out_features", None)
        if self.freeze_descriptor:
            for p in descriptor.parameters():
                p.requires_grad_(False)
            descriptor.eval()

    def train(self, mode=True):
        super().train(mode)
        if self.freeze_descriptor:  # batch-norm statistics stay the descriptor's own
            self.descriptor.eval()
        return self

    def forward(self, x):
        return self.descriptor(self.denoiser(x))


class JointNeuralNet(PatchNeuralNet):
    """skorch net of :class:`JointDenoiseDescribe`: descriptor loss + ``lam`` x denoising loss.

    The denoising term is the self-supervised Neighbor2Neighbor loss of the
    denoiser sub-module on the noisy batch (``denoise_criterion``, L1 by
    default). Each batch records ``descriptor_loss`` and ``denoise_loss`` in
    the history; epochs get their means as ``train_descriptor_loss`` /
    ``train_denoise_loss``. Attributes set by the estimator: ``lam``,
    ``n2n_gamma``, ``denoise_criterion``.
    """

    lam = 1.0
    n2n_gamma = 1.0
    denoise_criterion = None

    def batch_loss(self, batch, training, **fit_params):
        Xi, yi = batch
        Xi = Xi.to(self.device)
        yi = yi.to(self.device)
        emb = self.infer(Xi)
        desc_loss = self.get_loss(emb, yi, X=Xi, training=training)
        loss = desc_loss
        den_value = 0.0
        if self.lam:
            den = self.module_.denoiser
            den_loss, _ = neighbor2neighbor_loss(
                den, Xi, self.denoise_criterion, gamma=self.n2n_gamma,
                size_multiple=getattr(den, "size_multiple", 1))
            loss = desc_loss + self.lam * den_loss
            den_value = float(den_loss.detach())
        prefix = "" if training else "valid_"
        self.history.record_batch(f"{prefix}descriptor_loss", float(desc_loss.detach()))
        self.history.record_batch(f"{prefix}denoise_loss", den_value)
        return loss, emb

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                             **kwargs)
        self.record_epoch_means("descriptor_loss", "denoise_loss")


class _DenoiseLoss:
    """Picklable holder of the denoising criterion (skorch refuses bare modules as attributes)."""

    def __init__(self, criterion):
        self.criterion = criterion

    def __call__(self, pred, target):
        with torch.autocast(device_type=pred.device.type, enabled=False):  # losses in float32
            return self.criterion(pred.float(), target.float())


class JointDenoiseDescribe(BaseDescriptorNet):
    """Fine-tune a denoiser and a descriptor end to end (denoise then describe).

    ``fit(X_noisy, y)`` trains the stacked network ``E(D(x))`` on labelled
    noisy patches with the descriptor's loss plus ``lam`` times a denoising
    loss of ``D``. The denoising term is **self-supervised**
    (Neighbor2Neighbor on the noisy batch, as the denoisers use without
    clean targets): the joint fit needs no clean references, exactly like
    ``Pipeline([("denoise", D), ("describe", E)]).fit(X_noisy, y)``, so the
    two are compared on equal data. ``lam=0`` trains for the descriptor loss
    alone (the denoiser becomes a learned front end); large ``lam`` keeps
    the denoiser a denoiser.

    This is one of the library's two ways to train a denoiser *for* a
    descriptor, the one for labelled noisy patches without clean twins:
    with ``freeze_descriptor=True`` only the denoiser learns, from the
    descriptor's own loss back-propagated through it (plus ``lam`` times the
    self-supervised pixel term). With clean twins,
    :class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser` trains it on the
    pixel loss plus the distance between the frozen descriptor's output on
    denoised and on clean patches.

    ``transform(X)`` gives the descriptors of the denoised patches;
    :meth:`denoise` gives the jointly trained denoiser's output.

    Parameters
    ----------
    denoiser : network denoiser estimator
        E.g. :class:`~sklearn_patchdesc.denoise.ShallowUNetDenoiser`. Fitted
        (or a :class:`~sklearn.frozen.FrozenEstimator` of a fitted one): its
        weights are the starting point (fine-tuning); unfitted: its network
        is built from its parameters (``module__*`` included) and trained
        from scratch. Never modified.
    descriptor : learned descriptor estimator
        E.g. :class:`~sklearn_patchdesc.describe.L2NetDescriptor`; fitted or
        not, as for ``denoiser``. Its ``criterion`` (and ``criterion__*``
        options) is the descriptor loss unless ``criterion`` is given.
    lam : float, default=1.0
        Weight of the denoising loss.
    n2n_gamma : float, default=1.0
        Neighbor2Neighbor regulariser weight of the denoising loss.
    freeze_descriptor : bool, default=False
        Keep the descriptor's weights (and batch-norm statistics) fixed and
        train only the denoiser, through the descriptor's loss: the
        self-supervised, label-driven way to train a denoiser for a
        descriptor (:class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser`
        is the way with clean twins). False fine-tunes both.
    criterion : nn.Module class or instance, optional
        Descriptor loss; None takes the descriptor's.
    sampler : object, optional
        Batch formation (random triplets when None); see
        :class:`~sklearn_patchdesc.describe.L2NetDescriptor`.
    valid_scoring, early_stopping
        As in :class:`~sklearn_patchdesc.describe.L2NetDescriptor`.
    max_epochs : int, default=5
    batch_size : int, default=192
        Noisy patches per training step (64 triplets with random triplets).
        It counted triplets before version 0.1 (warns
        :class:`~sklearn_patchdesc.describe.BatchSizeUnitWarning` for one
        release when set).
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` (memory only: the result
        does not depend on it).
    lr : float, default=1e-4
        Fine-tuning learning rate (low: both nets usually start trained).
    optimizer : str or torch.optim.Optimizer class, default="adam"
    train_split, callbacks, device, precision, random_state, verbose, checkpoint_dir
        As in :class:`~sklearn_patchdesc.describe.L2NetDescriptor`.
    **kwargs
        skorch-prefixed options (``optimizer__weight_decay`` ...).

    Attributes
    ----------
    net_ : JointNeuralNet
        ``net_.module_`` is a :class:`JointModule` (``.denoiser``,
        ``.descriptor``).
    history_ : skorch History
        Also ``train_descriptor_loss`` and ``train_denoise_loss`` per epoch.
    sampler_, patch_size_, n_features_in_
        As in the descriptors.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_patchdesc.denoise import ShallowUNetDenoiser
    >>> from sklearn_patchdesc.describe import L2NetDescriptor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    >>> y = np.repeat(np.arange(20), 3)
    >>> joint = JointDenoiseDescribe(ShallowUNetDenoiser(), L2NetDescriptor(), lam=0.5,
    ...                              max_epochs=1, batch_size=60, random_state=0).fit(X, y)
    >>> joint.transform(X).shape, joint.denoise(X).shape
    ((60, 128), (60, 32, 32))
    """

    _net_class = JointNeuralNet

    _init_positional = ("denoiser", "descriptor")
    _init_params = {"denoiser": REQUIRED, "descriptor": REQUIRED, "lam": 1.0,
                    "n2n_gamma": 1.0, "freeze_descriptor": False, "max_epochs": 5, "lr": 1e-4,
                    "batch_size": 192}

    def _check_parts(self):
        for name in ("denoiser", "descriptor"):
            est = unwrap(getattr(self, name))
            if not hasattr(est, "_module_spec"):
                raise TypeError(f"{name} must be a network estimator of sklearn_patchdesc "
                                f"(with a torch module); got {type(est).__name__}.")
        if not (isinstance(self.lam, (int, float, np.floating)) and self.lam >= 0):
            raise ValueError(f"lam must be a number >= 0; got {self.lam!r}.")
        if not isinstance(self.freeze_descriptor, (bool, np.bool_)):
            raise ValueError("freeze_descriptor must be True or False; got "
                             f"{self.freeze_descriptor!r}.")

    def _module_spec(self):
        self._check_parts()
        return JointModule(module_of(self.denoiser), module_of(self.descriptor),
                           freeze_descriptor=self.freeze_descriptor), {}

    def _criterion_spec(self):
        if self.criterion is not None:
            return super()._criterion_spec()
        desc = unwrap(self.descriptor)
        crit, kwargs = desc._criterion_spec()
        kwargs = dict(kwargs)
        kwargs.update({k[len("criterion__"):]: v for k, v in desc._prefixed_params().items()
                       if k.startswith("criterion__")})
        return crit, kwargs

    def _build_net(self, **kwargs):
        net = super()._build_net(**kwargs)
        den = unwrap(self.denoiser)
        net.denoise_criterion = _DenoiseLoss(den._build_criterion())
        net.lam = float(self.lam)
        net.n2n_gamma = float(self.n2n_gamma)
        return net

    def fit(self, X, y, **fit_params):
        """Fine-tune both networks on noisy labelled patches.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Noisy patches.
        y : array-like of shape (n,) or record array
            Point labels or the loaders' record array.
        **fit_params
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self
        """
        self._check_parts()
        # the self-supervised denoising loss sub-samples 2x2 cells
        if y is not None:  # y=None gets the descriptors' "requires y" error first
            check_patches(X, min_size=2, keep_uint8=True)
        return super().fit(X, y, **fit_params)

    def denoise(self, X):
        """Denoised patches from the jointly trained denoiser (``X``'s layout and dtype).

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Noisy patches of the size seen in ``fit``.

        Returns
        -------
        X_denoised : ndarray
            In ``X``'s layout and dtype.
        """
        check_is_fitted(self, "net_")
        X4, layout = self._validate_patches(X, reset=False)
        out = self._forward(X4, module=self.net_.module_.denoiser)
        return restore_patches(out, layout)


def list_pretrained_pipelines():
    """Names of the denoise-then-describe pipelines shipped with the package (sorted).

    Returns
    -------
    names : list of str
    """
    from ._shipped import shipped_names
    from .denoise._task_aware import PRETRAINED_DIR

    return shipped_names(PRETRAINED_DIR)


def load_pretrained_pipeline(name="taskaware-hardnet-hpatches-like", *, denoise_params=None,
                             describe_params=None):
    """A fitted ``Pipeline(denoise, describe)`` for noisy patches, from shipped weights.

    The denoiser is a :class:`~sklearn_patchdesc.denoise.TaskAwareDenoiser`
    trained *for* the shipped descriptor (pixel loss plus descriptor
    consistency, blind noise-level input) by
    ``benchmarks/train_pretrained_denoiser.py``; the descriptor is the shipped
    :class:`~sklearn_patchdesc.describe.HardNetDescriptor` it was trained for.
    Nothing is downloaded and no code is read from a file (safetensors).
    ``transform`` works at once; ``fit(X_noisy, y)`` fine-tunes both steps
    from the shipped weights (the denoiser self-supervised with labels, or
    with the consistency term given clean twins through ``denoise__``
    parameters of a search).

    Parameters
    ----------
    name : str, default="taskaware-hardnet-hpatches-like"
        One of :func:`list_pretrained_pipelines`; its model card is
        :func:`pretrained_pipeline_card`.
    denoise_params, describe_params : dict, optional
        Other parameters of each step (e.g. ``{"max_epochs": 2}`` for a later
        fine-tuning fit, ``{"device": "cuda"}``).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"denoise"`` and ``"describe"``, both fitted on 32x32 patches.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_patchdesc.pipeline import load_pretrained_pipeline
    >>> pipe = load_pretrained_pipeline()
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 32, 32), dtype=np.uint8)
    >>> pipe.transform(X).shape
    (4, 128)
    """
    from sklearn.pipeline import Pipeline

    from .denoise import ShallowUNetDenoiser, TaskAwareDenoiser, UNetDenoiser
    from .describe import load_pretrained

    card = pretrained_pipeline_card(name)
    descriptor = load_pretrained(card["descriptor"], **(describe_params or {}))
    params = dict(card["denoiser_params"])
    params.update(denoise_params or {})
    kinds = {"ShallowUNetDenoiser": ShallowUNetDenoiser, "UNetDenoiser": UNetDenoiser}
    inner = kinds[card["denoiser"]](**card.get("denoiser_module_params", {}))
    # the frozen descriptor is its own copy: fitting the pipeline refits the describe
    # step in place, and the denoiser's parameter must not change with it
    denoiser = TaskAwareDenoiser(inner, load_pretrained(card["descriptor"]), pretrained=name,
                                 **params)._fit_without_training(card["patch_size"])
    return Pipeline([("denoise", denoiser), ("describe", descriptor)])


def pretrained_pipeline_card(name="taskaware-hardnet-hpatches-like"):
    """The model card of a shipped pipeline (data, command, seed, CPU time, held-out mAP).

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained_pipelines`.

    Returns
    -------
    card : dict
    """
    from ._shipped import shipped_card
    from .denoise._task_aware import PRETRAINED_DIR

    return shipped_card(PRETRAINED_DIR, name, "pipeline")
