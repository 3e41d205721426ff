"""genkeras-spectral-norm: a spectral-normalization stabilizer plugin for genkeras GANs.

This module is what the ``genkeras.stabilizers`` entry point loads. It only
defines a :class:`genkeras.registry.Lazy` handle, so discovering the plugin
does not import TensorFlow; :mod:`genkeras_spectral_norm.stabilizer` is
imported when a GAN first uses ``spectral-norm``.
"""

from genkeras.registry import Lazy

__version__ = "0.1.0"

spectral_norm = Lazy(
    "genkeras_spectral_norm.stabilizer:SpectralNorm",
    "Spectral normalization (Miyato et al. 2018) of D's kernels, by projection after each update.",
)
