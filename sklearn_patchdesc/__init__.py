"""sklearn-patchdesc: learned local patch descriptors as scikit-learn estimators.

Importing the package registers the HPatches and denoising scorers with
scikit-learn, so ``scoring="hpatches_retrieval"`` works as a string.
"""

__version__ = "0.1.0.dev0"

from . import metrics  # noqa: E402,F401  (registers the scorer strings)

__all__ = ["__version__"]
