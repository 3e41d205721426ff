"""genkeras: the generative models of the cs231n lecture as real, tested Keras 3 code.

The top-level package is light (it does not import TensorFlow); the model
families live in :mod:`genkeras.models` and are reached through
:mod:`genkeras.registry` or imported directly. After ``import genkeras``,
``keras.saving.load_model`` loads any run's ``model.keras``.
"""

__version__ = "0.2.0"

from genkeras import catalog, registry  # noqa: E402

catalog.register_with_keras()  # keras.saving.load_model finds the families (no TF import)

__all__ = ["__version__", "registry"]
