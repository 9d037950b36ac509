"""Feature inversion: reconstructing patches from a network's layers.

:class:`FeatureInverter` learns inversion modules (seed 003) that map the
features after one layer of a fitted descriptor, a denoiser's encoder, or the
in-library VGG16 / AlexNet feature extractors back to the input patch; the
reconstructions and their error maps (:func:`error_maps`,
:func:`sklearn_patchdesc.plotting.plot_inversion`) show what each layer keeps.
"""
from ._errors import error_maps
from ._inverter import FeatureInverter
from ._vgg import alexnet_features, vgg16_features

__all__ = ["FeatureInverter", "alexnet_features", "error_maps", "vgg16_features"]
