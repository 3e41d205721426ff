"""R1 gradient penalty: penalise the discriminator's gradient on real data.

Mescheder, Geiger & Nowozin [1]: near the equilibrium a GAN's gradient
dynamics oscillate unless the discriminator is kept flat on the data. The R1
regulariser adds to the discriminator's loss

    R1 = (γ / 2) · E_{x~p_data} ‖∇_x D(x)‖²₂

with ``D`` the discriminator's logit. The gradient is taken with a nested
``tf.GradientTape`` (a second-order term in the discriminator's update), which
XLA compiles. Tracked as ``r1_penalty_d``.

Options: ``gamma`` (default 1.0) and ``weight`` (default 1).

References:

[1]: Mescheder, Geiger & Nowozin. Which Training Methods for GANs do actually
     Converge? ICML 2018. https://arxiv.org/abs/1801.04406
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["R1Penalty"]


@keras.saving.register_keras_serializable(package="genkeras")
class R1Penalty(Stabilizer):
    """Adds ``weight · γ/2 · E‖∇_x D(x)‖²`` on real data to the discriminator's loss.

    Args:
        gamma: ``γ``.
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    def __init__(self, gamma: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        gamma = float(gamma)
        if not gamma >= 0.0:
            raise ValueError(f"gamma must be >= 0. Received: gamma={gamma}")
        self.gamma = gamma

    def penalty(self, discriminate, x):
        """``γ/2 · mean_i ‖∇_{x_i} D(x_i)‖²`` for a callable ``discriminate(x) -> (n,)``."""
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(discriminate(x))  # Σ_i D(x_i): ∂/∂x_i is ∇D(x_i)
        grads = tape.gradient(total, x)  # (n, *data_shape)
        squared = tf.reduce_sum(tf.reshape(tf.square(grads), (tf.shape(x)[0], -1)), axis=1)
        return 0.5 * self.gamma * tf.reduce_mean(squared)

    def discriminator_loss(self, ctx):
        """``weight · R1`` on the real batch."""
        return self.weight * self.penalty(ctx.discriminate, ctx.real)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "gamma": self.gamma}
