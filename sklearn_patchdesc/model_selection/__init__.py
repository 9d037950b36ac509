"""Model selection: TPE hyper-parameter search and HPatches cross-validation splits.

``TPESearchCV`` needs optuna (``pip install sklearn-patchdesc[tpe]``), which is
imported only when a search is fitted.
"""
from ._hpatches_split import HPatchesSplit
from ._tpe import TPESearchCV

__all__ = ["HPatchesSplit", "TPESearchCV"]
