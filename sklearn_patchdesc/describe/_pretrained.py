"""Descriptor weights shipped inside the package, with their model cards.

Each shipped descriptor is ``pretrained/<name>.safetensors`` (weights only:
safetensors never runs code) beside ``pretrained/<name>.json``, its model
card: the data it was trained on, the command and seed that trained it, the
CPU time, the git commit and its held-out HPatches mAP. The script that made
them is ``benchmarks/train_pretrained.py``.
"""
from __future__ import annotations

import numpy as np

from .._shipped import shipped_card, shipped_names
from ._hardnet import HardNetDescriptor
from ._weights import PRETRAINED_DIR, resolve_weights

__all__ = ["list_pretrained", "load_pretrained", "pretrained_card", "resolve_weights",
           "evaluation_set", "BUILTIN_HELDOUT"]

def list_pretrained():
    """Names of the descriptors shipped with the package (sorted).

    Returns
    -------
    names : list of str
    """
    return shipped_names(PRETRAINED_DIR)


def pretrained_card(name):
    """The model card of a shipped descriptor.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`.

    Returns
    -------
    card : dict
        Training data, command, seed, CPU seconds, git commit, held-out mAP
        per task, and the recipe of the fixed evaluation set.
    """
    return shipped_card(PRETRAINED_DIR, name, "descriptor")


def load_pretrained(name="hardnet-hpatches-like", **params):
    """A fitted :class:`HardNetDescriptor` holding shipped (or given) weights.

    Nothing is downloaded: the weights are a safetensors file inside the
    package, or a file you pass. The returned estimator transforms 32x32
    patches right away; ``fit`` fine-tunes it from these weights.

    Parameters
    ----------
    name : str or path-like, default="hardnet-hpatches-like"
        A name from :func:`list_pretrained`, or a HardNet weights file in the
        layout of DagnyT/hardnet or ``kornia.feature.HardNet``.
    **params
        Other :class:`HardNetDescriptor` parameters (e.g. ``max_epochs`` for
        a later fine-tuning fit, ``device``).

    Returns
    -------
    descriptor : HardNetDescriptor
        Fitted (``transform`` works).

    Examples
    --------
    >>> from sklearn_patchdesc.describe import load_pretrained
    >>> d = load_pretrained()
    >>> import numpy as np
    >>> d.transform(np.zeros((2, 32, 32), np.uint8) + np.arange(32, dtype=np.uint8)).shape
    (2, 128)
    """
    resolve_weights(name)
    return HardNetDescriptor(pretrained=name, **params)._fit_without_training()


#: built-in photos never used to train the shipped descriptors
BUILTIN_HELDOUT = ("chelsea", "coins")


def evaluation_set(n_points=100, random_state=12345):
    """The fixed held-out set of the model cards: built-in photos never trained on.

    :func:`~sklearn_patchdesc.datasets.make_hpatches_like` sequences of the
    photos ``chelsea`` and ``coins`` (clean patches). Needs no data outside
    the installed packages.

    Parameters
    ----------
    n_points : int, default=100
        Points per sequence.
    random_state : int, default=12345

    Returns
    -------
    X : ndarray of shape (n, 32, 32) uint8
    y : record array (``label``, ``sequence``, ``image``)
    """
    from ..datasets import make_hpatches_like
    from ..datasets._synth import builtin_photos, synthetic_sequence

    photos = dict(builtin_photos())
    rng = np.random.default_rng(random_state)
    seqs = []
    for name, kind in zip(BUILTIN_HELDOUT, ("i", "v")):
        s = synthetic_sequence(name, photos[name], kind, rng)
        seqs.append({"name": s.name, "images": s.images, "homographies": s.homographies,
                     "kind": kind, "layout": "synthetic"})
    b = make_hpatches_like(sequences=seqs, n_patches_per_sequence=n_points,
                           random_state=random_state)
    return b.data, b.target
