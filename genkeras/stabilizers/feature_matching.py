"""Feature matching: the generator matches the mean discriminator features of real data.

Salimans et al. [1], Section 3.1: instead of (or besides) maximising the
discriminator's output, the generator minimises

    L_FM = ‖ E_{x~p_data} f(x) − E_{z~p(z)} f(G(z)) ‖²₂

where ``f`` is an intermediate layer of the discriminator -- here the output
of its feature trunk, before the head (and before minibatch discrimination).
Expectations are batch means; the real features carry no gradient.

Options (``--stabilizer feature-matching:weight=1,adversarial=0``):

* ``weight``: multiplier of ``L_FM`` (default 1).
* ``adversarial``: multiplier of the generator's adversarial loss (default 0:
  feature matching *replaces* it, as in [1]; 1 adds ``L_FM`` to it).

References:

[1]: Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen. Improved Techniques
     for Training GANs. NeurIPS 2016. https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["FeatureMatching"]


@keras.saving.register_keras_serializable(package="genkeras")
class FeatureMatching(Stabilizer):
    """Generator loss ``‖mean f(x) − mean f(G(z))‖²`` on the discriminator's trunk features.

    Args:
        weight: Multiplier of the feature-matching loss.
        adversarial: Multiplier of the generator's adversarial loss (0 replaces it).
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    def __init__(self, weight: float = 1.0, adversarial: float = 0.0, **kwargs):
        super().__init__(weight=weight, **kwargs)
        adversarial = float(adversarial)
        if not adversarial >= 0.0:
            raise ValueError(f"adversarial must be >= 0. Received: adversarial={adversarial}")
        self.adversarial = adversarial
        self.generator_adversarial_weight = adversarial

    @staticmethod
    def distance(real_features, fake_features, fake_weights=None):
        """``‖mean_i real_i − mean_i fake_i‖²`` for ``(batch, F)`` features; a scalar.

        With ``fake_weights`` ``(batch,)`` the fake mean is the weighted one,
        ``Σ_i w_i fake_i / Σ_i w_i`` (a top-k update matches the kept samples).
        """
        real_mean = tf.reduce_mean(tf.stop_gradient(real_features), axis=0)  # (F,)
        if fake_weights is None:
            fake_mean = tf.reduce_mean(fake_features, axis=0)  # (F,)
        else:
            w = tf.cast(fake_weights, fake_features.dtype)[:, None]
            fake_mean = tf.math.divide_no_nan(
                tf.reduce_sum(w * fake_features, axis=0), tf.reduce_sum(w)
            )
        return tf.reduce_sum(tf.square(real_mean - fake_mean))

    def generator_loss(self, ctx):
        """``‖E f(x) − E f(G(z))‖²`` (the GAN multiplies it by ``weight``).

        The fake mean is weighted by ``ctx.sample_weights`` when a stabilizer
        gives them (top-k).
        """
        return self.distance(ctx.real_features, ctx.fake_features, ctx.sample_weights)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "adversarial": self.adversarial}
