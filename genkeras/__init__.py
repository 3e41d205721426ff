"""genkeras: the generative models of the cs231n lecture as real, tested Keras 3 code.

The top-level package is light (it does not import TensorFlow); the model
families live in :mod:`genkeras.models` and are reached through
:mod:`genkeras.registry` or imported directly.
"""

__version__ = "0.1.0"

from genkeras import registry  # noqa: E402

__all__ = ["__version__", "registry"]
