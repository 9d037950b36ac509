"""HPatchesSplit: the official HPatches train/test sequence splits as a CV splitter."""
import numpy as np
from sklearn.model_selection import BaseCrossValidator

_UNKNOWN = ("raise", "train", "drop")


class HPatchesSplit(BaseCrossValidator):
    """Cross-validation over the official HPatches train/test splits.

    Each requested split (``"a"``, ``"b"``, ``"c"`` in the hpatches-benchmark
    ``splits.json``) gives one fold: the patches of its train sequences for
    fitting, those of its test sequences for scoring. The sequence of every
    patch comes from ``groups`` when given, else from the ``"sequence"`` field
    of a record-array ``y`` (as returned by the loaders).

    Parameters
    ----------
    splits : str or sequence of str, default=("a", "b", "c")
        Names of the splits to yield, in this order. Test-only splits
        (``"full"``, ``"illum"``, ``"view"``: no train list) are refused.
    splits_file : path-like, default=None
        The ``splits.json`` of hpatches-benchmark; read with
        :func:`sklearn_patchdesc.datasets.load_hpatches_splits`, which also
        explains where it is looked for when None.
    unknown : {"raise", "train", "drop"}, default="raise"
        What to do with sequences that are in neither the train nor the test
        list of a split (e.g. your own or synthetic sequences):

        - ``"raise"``: ``ValueError`` naming them (the default, so a typo or
          foreign data is never silently mis-split);
        - ``"train"``: always put them on the training side, so they add
          training data and never leak into an official test set;
        - ``"drop"``: leave them out of both sides.

    Notes
    -----
    ``split`` raises ``ValueError`` when a fold would have no training or no
    test patch in the given data (e.g. a subset holding only train sequences).
    The splitter is deterministic; ``get_n_splits`` does not read the file.

    Examples
    --------
    >>> from sklearn_patchdesc.model_selection import HPatchesSplit
    >>> HPatchesSplit(splits=("a", "b")).get_n_splits()
    2
    """

    def __init__(self, splits=("a", "b", "c"), splits_file=None, unknown="raise"):
        self.splits = splits
        self.splits_file = splits_file
        self.unknown = unknown

    def _names(self):
        names = (self.splits,) if isinstance(self.splits, str) else tuple(self.splits)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"splits must be a split name or a list of them, got {self.splits!r}.")
        return names

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds: the number of requested splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
            ``len(splits)``.
        """
        return len(self._names())

    def split(self, X, y=None, groups=None):
        """Yield train and test indices of each requested official split.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The patches (only their number is used).
        y : record array of shape (n_samples,), default=None
            Used for its ``"sequence"`` field when ``groups`` is None.
        groups : array-like of shape (n_samples,), default=None
            Sequence name of every patch.

        Yields
        ------
        train : ndarray of int
            Indices of the patches of the split's train sequences.
        test : ndarray of int
            Indices of the patches of the split's test sequences.
        """
        from ..datasets import load_hpatches_splits

        if self.unknown not in _UNKNOWN:
            raise ValueError(f"unknown must be one of {_UNKNOWN}, got {self.unknown!r}.")
        names = self._names()
        sequences = self._sequences(X, y, groups)
        official = load_hpatches_splits(splits_file=self.splits_file)
        for name in names:
            if name not in official:
                raise ValueError(f"No split {name!r} in the splits file; it has {sorted(official)}.")
            train_names, test_names = official[name]["train"], official[name]["test"]
            if not train_names:
                raise ValueError(
                    f"Split {name!r} is test-only (no train sequences); use a, b or c."
                )
            in_train = np.isin(sequences, list(train_names))
            in_test = np.isin(sequences, list(test_names))
            other = ~(in_train | in_test)
            if other.any():
                if self.unknown == "raise":
                    strange = sorted(set(sequences[other]))
                    raise ValueError(
                        f"{len(strange)} sequence(s) are not in split {name!r}: "
                        f"{strange[:5]}{' ...' if len(strange) > 5 else ''}. Pass "
                        "unknown='train' or unknown='drop' to place them."
                    )
                if self.unknown == "train":
                    in_train |= other
            train, test = np.flatnonzero(in_train), np.flatnonzero(in_test)
            if train.size == 0 or test.size == 0:
                side = "training" if train.size == 0 else "test"
                raise ValueError(f"Split {name!r} has no {side} patch in this data.")
            yield train, test

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        raise NotImplementedError("HPatchesSplit defines split() directly.")

    @staticmethod
    def _sequences(X, y, groups):
        n_samples = len(X)
        if groups is not None:
            sequences = np.asarray(groups)
            source = "groups"
        elif getattr(getattr(y, "dtype", None), "names", None) and "sequence" in y.dtype.names:
            sequences = np.asarray(y["sequence"])
            source = 'y["sequence"]'
        else:
            raise ValueError(
                "HPatchesSplit needs the sequence name of every patch: pass groups=<names> "
                'or a record-array y with a "sequence" field.'
            )
        if sequences.ndim != 1 or len(sequences) != n_samples:
            raise ValueError(
                f"{source} must be 1-D with one entry per sample ({n_samples}), "
                f"got shape {sequences.shape}."
            )
        return sequences.astype(str)
