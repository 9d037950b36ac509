"""HardNetDescriptor: the recommended learned descriptor (HardNet recipe, L2-Net trunk)."""
from __future__ import annotations

from ._estimators import BaseDescriptorNet
from ._hardnet_loss import HardNetLoss
from ._modules import TRUNKS
from ._samplers import PKSampler
from ._schedules import LinearDecayLR
from ._weights import load_hardnet_weights, resolve_weights

__all__ = ["HardNetDescriptor"]


class HardNetDescriptor(BaseDescriptorNet):
    """L2-Net trunk trained with HardNet's hardest-in-batch triplet loss (recommended).

    The recipe of HardNet (Mishchuk, Mishkin, Radenovic & Matas, "Working hard
    to know your neighbor's margins", NIPS 2017, and its code in
    DagnyT/hardnet): batches of ``batch_size // 2`` anchor/positive pairs of
    different 3-D points (:class:`PKSampler` with ``K = 2``), for each pair
    the hardest negative in the batch with anchor swap (:class:`HardNetLoss`,
    margin 1), SGD with momentum 0.9, dampening 0.9 and weight decay 1e-4, a
    learning rate decayed linearly to zero over the fit
    (:class:`LinearDecayLR`), dropout 0.3, orthogonal initialisation.
    ``fit`` can start from published or shipped weights (``pretrained``) and
    fine-tune them; :func:`load_pretrained` returns the shipped descriptor
    ready to use without training.

    Learning rate and batch size are scaled to a CPU: HardNet trained on
    millions of pairs with 1,024 pairs per batch and learning rate 10; here
    the defaults (``batch_size=256`` patches, 128 pairs; ``lr=1.0``) reach SIFT's HPatches mAP
    within CPU-minutes on the built-in data (see the learning-curve
    benchmark in the user guide).

    Parameters
    ----------
    pretrained : str, path-like or None, default=None
        Initial weights: the name of a descriptor shipped with the package
        (:func:`list_pretrained`), or a HardNet / L2-Net weights file in the
        layout of DagnyT/hardnet or ``kornia.feature.HardNet`` (``.pth``,
        ``.pt`` read with ``weights_only=True``, or ``.safetensors``). None
        starts from random weights.
    dropout : float, default=0.3
        Dropout before the final 8x8 convolution (HardNet: 0.3; L2-Net trunk
        only).
    trunk : {"l2net", "tfeat"}, default="l2net"
        The network: :class:`L2Net` (HardNet's trunk) or the shallow
        :class:`TFeat` (a sixth of the forward cost; ``pretrained`` weights
        must then have ``kornia.feature.TFeat``'s layout). The learning-curve
        benchmark in the user guide compares the two per CPU-second.
    lr_schedule : {"linear", None}, default="linear"
        Decay the learning rate linearly to 0 over the fit (HardNet's), or keep it.
    criterion : nn.Module class or instance, default=None
        None means :class:`HardNetLoss` (margin 1, anchor swap); e.g.
        ``criterion__sos_weight=1.0`` adds SOSNet's regulariser.
    sampler : object, default=None
        None means ``PKSampler(n_per_label=2)``: ``batch_size // 2``
        anchor/positive pairs of different points per step.
    valid_scoring, early_stopping
        As in :class:`L2NetDescriptor`.
    max_epochs : int, default=5
    batch_size : int, default=256
        Patches per training step: 256 are HardNet's 128 anchor/positive
        pairs. It counted pairs before version 0.1; setting it warns
        :class:`BatchSizeUnitWarning` for one release.
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` (memory only: the result
        does not depend on it).
    lr : float, default=1.0
        Initial learning rate (decayed linearly to 0 when
        ``lr_schedule="linear"``).
    optimizer : str or torch.optim.Optimizer class, default="sgd"
        With ``"sgd"``, HardNet's momentum 0.9, dampening 0.9 and weight
        decay 1e-4 are the defaults of the ``optimizer__`` options.
    train_split, callbacks, device, precision, random_state, verbose, checkpoint_dir
        As in :class:`L2NetDescriptor`.
    **kwargs
        skorch-prefixed options (``module__``, ``criterion__``,
        ``optimizer__``, ``iterator_train__``, ...).

    Attributes
    ----------
    net_ : PatchNeuralNet
        The trained skorch net (``net_.module_`` is the trunk: :class:`L2Net`
        or :class:`TFeat`).
    history_ : skorch History
    sampler_ : object
    valid_groups_ : ndarray or None
    patch_size_, n_features_in_ : int

    See Also
    --------
    load_pretrained : the shipped, ready-to-use HardNetDescriptor.
    L2NetDescriptor : the same trunk with the N-HPatches report's baseline recipe.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (64, 32, 32), dtype=np.uint8)
    >>> y = np.repeat(np.arange(16), 4)
    >>> d = HardNetDescriptor(max_epochs=1, batch_size=16, random_state=0).fit(X, y)
    >>> d.transform(X).shape
    (64, 128)
    """

    #: HardNet's SGD options (DagnyT/hardnet ``create_optimizer``)
    SGD_OPTIONS = {"momentum": 0.9, "dampening": 0.9, "weight_decay": 1e-4}

    _old_batch_unit = ("anchor/positive pairs", 2)
    _init_params = {"pretrained": None, "dropout": 0.3, "trunk": "l2net", "max_epochs": 5,
                    "batch_size": 256, "lr": 1.0, "optimizer": "sgd", "lr_schedule": "linear"}

    # ------------------------------------------------------------ plumbing
    def _module_spec(self):
        if self.trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of {sorted(TRUNKS)}; got {self.trunk!r}.")
        if self.trunk == "tfeat":
            return TRUNKS["tfeat"], {"out_features": 128}
        return TRUNKS["l2net"], {"out_features": 128, "activations": "relu",
                                 "dropout": self.dropout, "init": "orthogonal"}

    def _criterion_spec(self):
        if self.criterion is None:
            return HardNetLoss, {}
        return super()._criterion_spec()

    def _default_sampler(self):
        return PKSampler(n_per_label=2)

    def _net_kwargs(self):
        kwargs = super()._net_kwargs()
        if isinstance(self.optimizer, str) and self.optimizer.lower() == "sgd":
            kwargs.update({f"optimizer__{k}": v for k, v in self.SGD_OPTIONS.items()})
        return kwargs

    def _extra_callbacks(self):
        if self.lr_schedule not in ("linear", None):
            raise ValueError(f"lr_schedule must be 'linear' or None; got {self.lr_schedule!r}.")
        cbs = super()._extra_callbacks()
        if self.lr_schedule == "linear":
            cbs.append(("lr_schedule", LinearDecayLR()))
        return cbs

    def _initialize_weights(self, net):
        if self.pretrained is None:
            return
        load_hardnet_weights(net.module_, resolve_weights(self.pretrained))

    def _fit_without_training(self, patch_size=32):
        """Become a fitted estimator holding the ``pretrained`` weights (no training)."""
        if self.pretrained is None:
            raise ValueError("pretrained weights are needed to use a HardNetDescriptor "
                             "without fitting it.")
        self._check_common_params()
        self.sampler_ = self.sampler if self.sampler is not None else self._default_sampler()
        self.valid_groups_ = None
        self.patch_size_ = int(patch_size)
        self.n_features_in_ = self.patch_size_ ** 2
        with self._seeded():
            net = self._build_net()
            net.initialize()
            self._initialize_weights(net)
        net.train_split = None
        self.net_ = net
        return self
