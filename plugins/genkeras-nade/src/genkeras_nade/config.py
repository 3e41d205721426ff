"""NADE's options, checked before TensorFlow starts (this module does not import it).

``genkeras run nade`` builds its options from :class:`NADEConfig`'s fields
(``hidden`` becomes ``--hidden``), reads the run defaults from
``run_defaults`` and calls :meth:`NADEConfig.check_data` on the dataset before
the model is built, so ``genkeras run nade --help`` and a wrong dataset answer
at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from genkeras.models.config import ModelConfig, option

__all__ = ["NADEConfig"]


@dataclasses.dataclass
class NADEConfig(ModelConfig):
    """Hyperparameters of :class:`genkeras_nade.model.NADE`: each is a ``genkeras run nade`` option.

    Attributes:
        hidden: Hidden units ``H`` of the shared layer.
    """

    #: Binarized digits: 1,437 training images of 64 pixels; 30 epochs of batch 32
    #: take about a minute on a laptop CPU.
    run_defaults: ClassVar[Mapping[str, Any]] = {
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 3e-3,
    }
    requires_discrete: ClassVar[bool] = True

    hidden: int = option(64, "Hidden units H of the shared sigmoid layer.", min=1)

    def check_data(self, shape, levels=None, num_classes=None):
        """Binary data (``levels == 2``) of any shape (examples are flattened)."""
        super().check_data(shape, levels, num_classes)
        if levels != 2:
            raise ValueError(
                "NADE models binary data (levels=2): pass --binarize (or --levels 2). "
                f"Received: levels={levels}"
            )
