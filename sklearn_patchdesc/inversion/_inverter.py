"""FeatureInverter: learn to reconstruct patches from a network's features.

After seed 003 (inverting VGG16 / AlexNet layers): the network is split into
operations, the operations up to ``layer`` are grouped into blocks (one
convolution or pooling with the batch norm / activation / dropout after it,
like the seed's "conv1_1 (conv+relu)"), and one inversion module per block maps
the block's output back to its input. Modules are trained

- ``stacked``: each on its own block's input/output pairs, then stacked (the
  seed's best result on VGG16 pool1);
- ``end_to_end``: the whole stack at once, on input reconstruction only;
- ``joint``: the whole stack at once on the sum of the per-module losses, each
  module taking the next module's reconstruction as input.

FeatureInverter composes its nets rather than being one: every net is an
inner :class:`~sklearn_patchdesc._training.BasePatchNet` estimator
(``nets_``) trained by the shared training path, so seeding, validation loss,
NaN stop, progress bar and checkpoint resume come from there; FeatureInverter
itself takes only the parameter handling
(:class:`~sklearn_patchdesc._training.NetParams`).
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._data import PatchDataset, run_batched
from .._precision import resolve_precision
from .._params import REQUIRED
from .._training import BasePatchNet, NetParams, check_device
from .._validation import check_patches, restore_patches, validate_patch_size
from ._decompose import decompose, is_spatial, resolve_layer, resolve_network
from ._modules import SHAPES, InversionStack, InversionModule, JointInversion, SumOfMSE

__all__ = ["FeatureInverter"]

MODES = ("stacked", "end_to_end", "joint")
GROUPINGS = ("block", "operation")


def _as4d(r):
    """View a representation as (n, C, H, W); flat (n, d) features become (n, d, 1, 1)."""
    if r.ndim == 4:
        return r
    return r.reshape(len(r), -1, 1, 1)


def _run(block, R):
    """Apply a frozen block to a tensor in batches (inference mode)."""
    return run_batched(block, R, numpy=False)


def _channel_stats(R, enabled):
    R4 = _as4d(R)
    if not enabled:
        c = R4.shape[1]
        return torch.zeros(c), torch.ones(c)
    mean = R4.mean(dim=(0, 2, 3))
    std = R4.std(dim=(0, 2, 3), unbiased=False)
    return mean, torch.where(std > 1e-6, std, torch.ones_like(std))


def _normalise(R, mean, std):
    return (_as4d(R) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def psnr(X4, R4):
    """Mean PSNR (dB, data range 1) of ``R4`` against ``X4``: the metrics' one rule."""
    from ..metrics import patch_psnr

    return float(patch_psnr(X4[:, 0], R4[:, 0], data_range=1.0))


class _PerModuleLoss(Callback):
    """Record each module's training and validation loss (joint mode) per epoch."""

    def on_epoch_begin(self, net, **kwargs):
        self._sums = {True: None, False: None}
        self._counts = {True: 0, False: 0}

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        parts = np.asarray(getattr(net.criterion_, "last_parts_", []), dtype=float)
        n = len(batch[0])
        self._sums[training] = parts * n if self._sums[training] is None \
            else self._sums[training] + parts * n
        self._counts[training] += n

    def on_epoch_end(self, net, **kwargs):
        for training, key in ((True, "train"), (False, "valid")):
            if self._counts[training]:
                for i, value in enumerate(self._sums[training] / self._counts[training]):
                    net.history.record(f"{key}_loss_module{i}", float(value))


class _InversionNet(BasePatchNet):
    """Internal estimator: one torch module trained by the shared training path."""

    _init_params = {"module_class": REQUIRED, "module_kwargs": REQUIRED, "criterion": REQUIRED}

    def _module_spec(self):
        return self.module_class, dict(self.module_kwargs)

    def _criterion_spec(self):
        return self.criterion, {}


class FeatureInverter(TransformerMixin, NetParams):
    """Reconstruct patches from the features of one layer of a network.

    Learns inversion modules (seed 003) that map the representation after
    operation ``layer`` of ``network`` back to the input patch, one module per
    block of operations. ``transform`` returns the reconstructions; ``score``
    is their PSNR. Comparing layers shows what information about the patch
    each layer of a fitted descriptor keeps.

    Parameters
    ----------
    network : torch.nn.Module or fitted estimator
        The network to invert: a fitted estimator exposing ``net_.module_``
        (e.g. :class:`~sklearn_patchdesc.describe.L2NetDescriptor`; wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to keep it fitted through
        ``clone``), an ``nn.Sequential`` (e.g. :func:`vgg16_features`), or a
        module with an ``inversion_operations()`` method. It is copied at fit,
        never modified, and always run in eval mode.
    layer : int or str
        Operation whose output is inverted: an index into the flattened
        operation list (negative counts from the end), its dotted path
        (``"features.4"``) or its alias (``"conv2"``, ``"pool1"``, ``"relu3"``...).
        See :attr:`operations_`.
    mode : {"stacked", "end_to_end", "joint"}, default="stacked"
        How the modules are trained (see the module docstring).
    module : {"conv_deconv", "deconv_conv", "deconv_deconv"}, default="conv_deconv"
        Shape of every inversion module (seed 003); the width is set with
        ``module__hidden_channels`` (default ``max(16, C_in, C_out)``).
    grouping : {"block", "operation"}, default="block"
        ``"block"``: one module per convolution/pooling together with the
        operations after it (batch norm, activation, dropout); ``"operation"``:
        one module per operation.
    normalize_targets : bool, default=True
        Standardise every representation per channel with training-set
        statistics, so each module's target is its normalised input (the
        normalised image for the first module, as in seed 003).
    max_epochs : int, default=10
        Epochs per trained net (per module in ``stacked`` mode).
    batch_size : int, default=64
        Patches per training step.
    inference_batch_size : int, default=256
        Patches per forward pass in ``transform`` / ``reconstruct`` (memory
        only: the result does not depend on it).
    lr : float, default=1e-3
    optimizer : str or torch.optim.Optimizer class, default="adam"
    train_split : None, float or callable, default=0.1
        A fraction in (0, 1) of the patches held out to track the validation
        loss (``valid_loss`` in the histories); the same patches are held out
        for every trained net. A callable is skorch's ``train_split``, used
        as given; None trains on everything. The same meaning as in every
        network estimator (``fit`` takes no ``y``, so the groups are patches).
    callbacks : list of (name, skorch Callback), optional
        Added to every trained net.
    device : str, default="cpu"
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Precision of the forward passes, in training and inference: ``"bf16"``
        and ``"fp16"`` (CUDA only) run them under autocast with float32
        weights, losses and outputs; ``"auto"`` picks bf16 where the device has
        bf16 units, else float32. Refused where it would be slow. See the user
        guide, "Precision, devices and threads".
    random_state : int, RandomState or None, default=None
        Seeds weights, batch order and validation split of every net.
    verbose : int, default=0
        Progress bar and per-epoch log when positive.
    checkpoint_dir : str or Path, optional
        Folder of per-net checkpoints (``module_0``, ``module_1``... in
        ``stacked`` mode, ``end_to_end`` or ``joint`` otherwise); an
        interrupted fit resumes from them.
    **kwargs
        skorch-prefixed options, e.g. ``module__hidden_channels=32``,
        ``optimizer__weight_decay=1e-5``.

    Attributes
    ----------
    operations_ : list of str
        Aliases of the network's operations up to ``layer``.
    layer_index_ : int
        Index of the inverted operation.
    blocks_ : list of list of int
        Operation indices grouped per inversion module, input side first.
    feature_shape_ : tuple of int
        ``(C, H, W)`` of the inverted representation.
    inverse_ : torch.nn.ModuleList
        The fitted inversion modules, input side first.
    nets_ : list of estimators
        The trained internal nets (one per module in ``stacked`` mode).
    history_ : list of skorch History
        One per trained net: per module in ``stacked`` mode, a single one
        otherwise; in ``joint`` mode it also holds each module's losses
        (``train_loss_module{i}``, ``valid_loss_module{i}``).
    patch_size_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_patchdesc.inversion import FeatureInverter
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.MaxPool2d(2))
    >>> X = np.random.default_rng(0).random((64, 16, 16)).astype(np.float32)
    >>> inv = FeatureInverter(net, layer="pool1", max_epochs=2, random_state=0).fit(X)
    >>> inv.transform(X).shape
    (64, 16, 16)
    """

    _init_positional = ("network", "layer")
    _init_params = {"network": REQUIRED, "layer": REQUIRED, "mode": "stacked",
                    "module": "conv_deconv", "grouping": "block", "normalize_targets": True,
                    "train_split": 0.1}

    # ---------------------------------------------------------------- checks
    def _check_params(self):
        for name, value, allowed in (("mode", self.mode, MODES), ("module", self.module, SHAPES),
                                     ("grouping", self.grouping, GROUPINGS)):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not valid; use one of {allowed}.")
        self._check_common_params()

    # ------------------------------------------------------------- structure
    def _prepare(self, X4):
        """Decompose the network, copy the operations up to ``layer``, group them."""
        module = resolve_network(self.network)
        operations = decompose(module)
        index = resolve_layer(self.layer, operations)
        size = X4.shape[-1]
        expected = getattr(module, "input_size", None)
        if isinstance(expected, int) and expected != size:
            raise ValueError(
                f"X holds {size}x{size} patches but the network {type(module).__name__} "
                f"works on {expected}x{expected} patches; resize the patches first."
            )
        ops = [copy.deepcopy(op.module) for op in operations[:index + 1]]
        for op in ops:
            op.eval().requires_grad_(False)
        shapes, r = [tuple(X4.shape[1:])], torch.from_numpy(X4[:2])
        for op, info in zip(ops, operations):
            try:
                with torch.inference_mode():
                    r = op(r)
            except RuntimeError as exc:
                raise ValueError(
                    f"The network cannot take {size}x{size} grey patches: operation "
                    f"{info.alias} ({info.path}) failed: {exc}"
                ) from exc
            if r.numel() == 0:
                raise ValueError(
                    f"{size}x{size} patches are too small for this network: the output of "
                    f"{info.alias} ({info.path}) is empty; use larger patches or an "
                    "earlier layer."
                )
            shapes.append(tuple(_as4d(r).shape[1:]))
        blocks = []
        for i, op in enumerate(ops):
            starts = is_spatial(op) or shapes[i] != shapes[i + 1]
            current_has_spatial = blocks and any(
                is_spatial(ops[j]) or shapes[j] != shapes[j + 1] for j in blocks[-1])
            if not blocks or self.grouping == "operation" or (starts and current_has_spatial):
                blocks.append([i])
            else:
                blocks[-1].append(i)
        self.operations_ = [op.alias for op in operations[:index + 1]]
        self.layer_index_ = index
        self.blocks_ = blocks
        self.feature_shape_ = shapes[-1]
        frozen = [nn.Sequential(*(ops[j] for j in block)) for block in blocks]
        pairs = [(shapes[b[-1] + 1], shapes[b[0]]) for b in blocks]
        return frozen, pairs

    # -------------------------------------------------------------- training
    def _net(self, k, name, module_class, module_kwargs, criterion, seed, extra_callbacks=()):
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = str(Path(self.checkpoint_dir) / name)
        callbacks = list(extra_callbacks) + list(self.callbacks or [])
        return _InversionNet(
            module_class=module_class, module_kwargs=module_kwargs, criterion=criterion,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size, inference_batch_size=self.inference_batch_size,
            lr=self.lr, optimizer=self.optimizer,
            train_split=self.train_split if callable(self.train_split) else None,
            callbacks=callbacks or None, device=self.device, precision=self.precision,
            random_state=seed, verbose=self.verbose, checkpoint_dir=checkpoint,
            **self._prefixed_params())

    def fit(self, X, y=None):
        """Learn the inversion modules from patches ``X``.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches, uint8 (0..255) or float in [0, 1].
        y : ignored

        Returns
        -------
        self : FeatureInverter
        """
        self._check_params()
        X4, layout = check_patches(X, min_samples=2)
        frozen, pairs = self._prepare(X4)
        n_modules = len(frozen)
        n_nets = n_modules if self.mode == "stacked" else 1
        seeds = ([None] * n_nets if self.random_state is None else
                 [int(s) for s in check_random_state(self.random_state).randint(0, 2**31 - 1, n_nets)])
        shape_kwargs = {"shape": self.module}
        # one held-out set of patches for every net: no module validates on
        # patches another module trained on
        rows = self._holdout(np.arange(len(X4)))

        def train(net, dataset):
            if rows is None:
                return net._train(dataset)
            return net._train(dataset.take(rows[0]), valid=dataset.take(rows[1]))

        R = torch.from_numpy(X4)
        mean, std = _channel_stats(R, self.normalize_targets)
        means, stds, nets = [mean], [std], []
        z_in = _normalise(R, mean, std)
        for k, block in enumerate(frozen):
            R = _run(block, R)
            mean, std = _channel_stats(R, self.normalize_targets)
            means.append(mean)
            stds.append(std)
            if self.mode != "stacked":
                continue
            z_out = _normalise(R, mean, std)
            if self.verbose:
                names = "+".join(self.operations_[j] for j in self.blocks_[k])
                print(f"[FeatureInverter] module {k + 1}/{n_modules}: inverting {names}")
            net = self._net(k, f"module_{k}", InversionModule,
                            {"feature_shape": pairs[k][0], "target_shape": pairs[k][1],
                             **shape_kwargs}, nn.MSELoss, seeds[k])
            nets.append(train(net, PatchDataset(z_out.contiguous(), z_in.contiguous())))
            z_in = z_out
        if self.mode == "end_to_end":
            z_out = _normalise(R, means[-1], stds[-1])
            net = self._net(0, "end_to_end", InversionStack, {"shapes": pairs, **shape_kwargs},
                            nn.MSELoss, seeds[0])
            nets.append(train(net, PatchDataset(
                z_out.contiguous(), _normalise(torch.from_numpy(X4), means[0], stds[0]))))
        elif self.mode == "joint":
            net = self._net(0, "joint", JointInversion,
                            {"frozen": frozen, "means": means, "stds": stds, "shapes": pairs,
                             **shape_kwargs}, SumOfMSE, seeds[0],
                            extra_callbacks=[("module_losses", _PerModuleLoss())])
            nets.append(train(net, PatchDataset(X4)))
        del R, z_in

        if self.mode == "stacked":
            inverse = [n.net_.module_ for n in nets]
        elif self.mode == "end_to_end":
            inverse = list(nets[0].net_.module_.blocks)
        else:
            inverse = list(nets[0].net_.module_.stack.blocks)
        self.frozen_ = nn.Sequential(*frozen).eval()
        self.inverse_ = nn.ModuleList(inverse).eval()
        self.means_, self.stds_ = means, stds
        self.nets_ = nets
        self.patch_size_ = layout.size
        self.n_features_in_ = layout.size * layout.size
        return self

    @property
    def history_(self):
        """Training histories, one per trained net (see the class docstring)."""
        check_is_fitted(self, "nets_")
        return [n.net_.history for n in self.nets_]

    # ------------------------------------------------------------- inference
    def _check_X(self, X):
        check_is_fitted(self, "inverse_")
        return validate_patch_size(self, X, reset=False)

    def _reconstruct(self, X4):
        device = check_device(self.device)
        precision = resolve_precision(self.precision, device)
        self.frozen_.to(device).eval()
        self.inverse_.to(device).eval()
        mean_in, std_in = (t.to(device).view(1, -1, 1, 1) for t in (self.means_[0], self.stds_[0]))
        mean_out, std_out = self.means_[-1].to(device), self.stds_[-1].to(device)

        def reconstruct(xb):
            z = _normalise(self.frozen_(xb), mean_out, std_out)
            for block in reversed(self.inverse_):
                z = block(z)
            return z * std_in + mean_in

        return run_batched(reconstruct, X4, batch_size=self.inference_batch_size, device=device,
                           precision=precision)

    def transform(self, X):
        """Reconstruct ``X`` from its features at ``layer``.

        Parameters
        ----------
        X : array-like of patches, as in :meth:`fit`

        Returns
        -------
        X_rec : ndarray
            Reconstructions in the layout and dtype of ``X`` (uint8 input gives
            uint8 output, rounded and clipped; float output is not clipped).
        """
        X4, layout = self._check_X(X)
        return restore_patches(self._reconstruct(X4), layout)

    def score(self, X, y=None):
        """Mean PSNR (dB, intensities on the [0, 1] scale) of the reconstructions.

        Reconstructions are clipped to [0, 1] before comparison with ``X``.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches to reconstruct from their features.
        y : ignored
            Accepted for scikit-learn's scorer interface.

        Returns
        -------
        score : float
            Mean PSNR in dB; higher is better.
        """
        X4, _ = self._check_X(X)
        return psnr(X4, np.clip(self._reconstruct(X4), 0.0, 1.0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.random_state is None
        return tags
