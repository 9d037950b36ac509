"""Datasets: HPatches / N-HPatches and Brown / PhotoTour loaders and writers,
an image-sequence reader, an offline HPatches-like generator, patch noise models and the descriptor CSV
format of the official hpatches-benchmark tools."""
from ._common import IMAGE_NAMES
from ._descriptors_csv import load_descriptors_csv, save_descriptors_csv
from ._generate import make_hpatches_like
from ._hpatches_io import load_hpatches, write_hpatches
from ._noise import add_patch_noise
from ._phototour import load_phototour, write_phototour
from ._sequences import load_image_sequences
from ._splits import load_hpatches_splits

__all__ = [
    "IMAGE_NAMES",
    "add_patch_noise",
    "load_descriptors_csv",
    "load_hpatches",
    "load_hpatches_splits",
    "load_image_sequences",
    "load_phototour",
    "make_hpatches_like",
    "save_descriptors_csv",
    "write_hpatches",
    "write_phototour",
]
