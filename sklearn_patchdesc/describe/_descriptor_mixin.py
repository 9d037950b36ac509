"""What every descriptor shares: the HPatches ``score`` and float32 output."""
from __future__ import annotations

__all__ = ["DescriptorMixin"]


class DescriptorMixin:
    """``score`` by the ``hpatches_mean`` scorer; the float32 output declared in the tags.

    Put before the scikit-learn bases (``TransformerMixin``, ``BaseEstimator``).
    """

    #: what the denoising scorers look for to refuse descriptors (read by metrics._scorers)
    _patch_descriptor = True

    def score(self, X, y):
        """Mean of the three HPatches mAPs (the ``hpatches_mean`` scorer) on ``X``.

        Parameters
        ----------
        X : array-like of shape (n, H, W), (n, 1, H, W) or (n, H*W)
            Patches.
        y : array-like of shape (n,) or record array
            Point labels, or the loaders' record array (full HPatches protocol).

        Returns
        -------
        score : float
            In [0, 1]; higher is better.
        """
        from sklearn.metrics import get_scorer

        from .. import metrics  # noqa: F401  (registers the scorer names)

        return get_scorer("hpatches_mean")(self, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # descriptors are float32 whatever the input (DESIGN.md data conventions)
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
