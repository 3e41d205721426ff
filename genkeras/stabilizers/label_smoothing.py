"""One-sided label smoothing: the discriminator's target for real data is ``1 − s``.

Salimans et al. [1], Section 3.4: replacing the discriminator's real target 1
by ``1 − s`` (and keeping the fake target 0 -- smoothing it too would reward
the generator for staying where it is) keeps the discriminator from becoming
over-confident. With logits ``l``,

    BCE(l, 1 − s) = softplus(l) − (1 − s)·l = BCE(l, 1) + s·l,

so one-sided smoothing is *exactly* the extra discriminator loss term
``s · mean_i l(x_i)`` on the real logits, which is what this stabilizer adds
(and tracks as ``one_sided_label_smoothing_d``).

Options: ``smoothing`` (``s``, default 0.1, so the target is 0.9) and ``weight``.

References:

[1]: Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
     https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["OneSidedLabelSmoothing"]


@keras.saving.register_keras_serializable(package="genkeras")
class OneSidedLabelSmoothing(Stabilizer):
    """Real-data target ``1 − smoothing`` for the discriminator (fake target stays 0).

    Args:
        smoothing: ``s`` in ``[0, 1)``; the real target becomes ``1 − s``.
        weight: Multiplier of the term (1 gives exactly the smoothed BCE).
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    def __init__(self, smoothing: float = 0.1, weight: float = 1.0, **kwargs):
        super().__init__(weight=weight, **kwargs)
        smoothing = float(smoothing)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1). Received: smoothing={smoothing}")
        self.smoothing = smoothing

    def discriminator_loss(self, ctx):
        """``s · mean(real logits)`` = BCE(l, 1 − s) − BCE(l, 1) (times ``weight``, by the GAN)."""
        return self.smoothing * tf.reduce_mean(ctx.real_logits)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "smoothing": self.smoothing}
