"""Datasets: HPatches / N-HPatches loaders and writers, image-sequence reader,
an offline HPatches-like generator, patch noise models and the descriptor CSV
format of the official hpatches-benchmark tools."""
from ._common import IMAGE_NAMES
from ._hpatches_io import load_hpatches, write_hpatches
from ._splits import load_hpatches_splits

__all__ = [
    "IMAGE_NAMES",
    "load_hpatches",
    "load_hpatches_splits",
    "write_hpatches",
]
