"""The one held-out split of the library: whole groups (sequences) go to one side.

Every place that holds data out -- an estimator's ``train_split``, the demo,
the benchmarks -- picks the held-out rows here, so "a fraction of sequences"
means the same everywhere and a validation or test side never shares a
sequence (or a 3-D point) with the training side.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["interleaved_order", "held_out_groups", "held_out_rows", "check_train_split", "train_split_groups"]

_KINDS = ("v_", "i_")


def interleaved_order(names, rng):
    """Group names in random order; HPatches viewpoint and illumination ones alternate first.

    ``rng`` is a numpy ``Generator``.
    """
    order = [names[i] for i in rng.permutation(len(names))]
    if not all(isinstance(n, str) for n in names):
        return order
    by_kind = [[n for n in order if n.startswith(k)] for k in _KINDS]
    paired = [n for pair in zip(*by_kind) for n in pair]
    chosen = set(paired)
    return paired + [n for n in order if n not in chosen]


def _n_held_out(test_size, n_groups):
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n = int(test_size)
        if not 1 <= n < n_groups:
            raise ValueError(f"test_size={n} groups cannot be held out of {n_groups}: "
                             "at least one must stay for training.")
        return n
    if isinstance(test_size, numbers.Real) and not isinstance(test_size, bool) \
            and 0.0 < float(test_size) < 1.0:
        return min(n_groups - 1, max(1, round(n_groups * float(test_size))))
    raise ValueError(f"test_size must be a fraction in (0, 1) or a whole number of groups; "
                     f"got {test_size!r}.")


def held_out_groups(groups, test_size, random_state=None):
    """The group names held out: ``test_size`` of them, drawn at random.

    Parameters
    ----------
    groups : array-like of shape (n,)
        Group of every row (sequence names, point labels ...).
    test_size : float in (0, 1) or int
        Fraction of the groups held out (rounded, at least one, and at least
        one left for training), or their number.
    random_state : int, RandomState, Generator or None
        Seed of the draw. When the groups are HPatches sequence names, the
        draw alternates viewpoint (``v_``) and illumination (``i_``)
        sequences, so both kinds are held out whenever two or more are.

    Returns
    -------
    names : ndarray
        The held-out group names, sorted.
    """
    names = np.unique(np.asarray(groups))
    if len(names) < 2:
        raise ValueError(f"holding data out needs at least two groups (sequences or labels), "
                         f"one to train on and one to hold out; got {len(names)}.")
    n_test = _n_held_out(test_size, len(names))
    if isinstance(random_state, np.random.RandomState):
        rng = np.random.default_rng(random_state.randint(0, 2**31 - 1))
    else:
        rng = np.random.default_rng(random_state)
    picked = interleaved_order(names.tolist(), rng)[:n_test]
    return np.sort(np.asarray(picked, dtype=names.dtype))


def held_out_rows(groups, test_size, random_state=None):
    """Row indices ``(train, test)`` of a split that keeps every group on one side.

    Parameters and the rule of the draw are those of :func:`held_out_groups`.

    Returns
    -------
    train, test : ndarray of int
        Sorted row indices; every group is on exactly one side.
    """
    groups = np.asarray(groups)
    test = np.isin(groups, held_out_groups(groups, test_size, random_state))
    return np.flatnonzero(~test), np.flatnonzero(test)


def check_train_split(train_split):
    """Return ``train_split`` if valid: None, a fraction in (0, 1), or a callable.

    This is the one meaning of ``train_split`` in every network estimator:

    - ``None``: train on everything, no validation;
    - a float in (0, 1): hold out that fraction of the *groups* for
      validation (``valid_loss`` per epoch); the groups are the sequences
      (``y["sequence"]`` of a record-array target), else the points (1-D
      labels), else single patches (see :func:`train_split_groups`);
    - a callable: skorch's ``train_split`` protocol, ``split(dataset, y)``
      returning ``(train_dataset, valid_dataset)`` (e.g.
      ``skorch.dataset.ValidSplit(5)``), used as given.
    """
    if train_split is None or callable(train_split):
        return train_split
    if isinstance(train_split, numbers.Real) and not isinstance(train_split, bool) \
            and 0.0 < float(train_split) < 1.0:
        return float(train_split)
    raise ValueError(
        f"train_split must be None, a fraction in (0, 1) of the sequences (or points, or "
        f"patches) to hold out for validation, or a skorch-style callable "
        f"split(dataset, y) -> (train, valid) such as skorch.dataset.ValidSplit(5); "
        f"got {train_split!r}.")


def train_split_groups(y, n):
    """The groups a fractional ``train_split`` holds out whole, for a target ``y``.

    Sequences for the loaders' record array, points for 1-D labels, single
    patches otherwise (``y`` None or target patches).
    """
    if y is not None:
        names = getattr(getattr(y, "dtype", None), "names", None) or ()
        if "sequence" in names:
            return np.asarray(y["sequence"])
        if "label" in names:
            return np.asarray(y["label"])
        y = np.asarray(y)
        if y.ndim == 1 and len(y) == n:
            return y
    return np.arange(n)
