"""genkeras-nade: NADE (Larochelle & Murray 2011) as a genkeras model family.

This module is what the ``genkeras.models`` entry point loads. It only defines
a :class:`genkeras.registry.Lazy` handle naming the model class and its config
class, so ``genkeras list``, ``genkeras run nade --help`` and option errors
answer without importing TensorFlow; :mod:`genkeras_nade.model` is imported
when a run builds the model.
"""

from genkeras.registry import Lazy

__version__ = "0.1.0"

nade = Lazy(
    "genkeras_nade.model:NADE",
    "NADE (Larochelle & Murray 2011): exact likelihood of binary data, shared-weight "
    "autoregressive sigmoid units.",
    config="genkeras_nade.config:NADEConfig",
)
