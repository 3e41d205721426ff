"""R1 gradient penalty: penalise the discriminator's gradient on real data.

Mescheder, Geiger & Nowozin [1]: near the equilibrium a GAN's gradient
dynamics oscillate unless the discriminator is kept flat on the data. The R1
regulariser adds to the discriminator's loss

    R1 = (γ / 2) · E_{x~p_data} ‖∇_x D(x)‖²₂

with ``D`` the discriminator's logit. The gradient is taken with a nested
``tf.GradientTape`` (a second-order term in the discriminator's update), which
XLA compiles. Tracked as ``r1_penalty_d``.

``∇_x D(x)`` is the gradient of one example's logit with respect to that
example: the penalty differentiates the *per-sample* discriminator
(:meth:`~genkeras.stabilizers.base.StabilizerContext.discriminate`), so a
feature transform that compares the examples of a batch (minibatch
discrimination) does not leak the other examples' gradients into
``‖∇_{x_i} D(x_i)‖²``. With PacGAN's packing, ``x`` is one pack.

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

    (The GAN applies ``weight``; :meth:`discriminator_loss` returns ``γ/2 · E‖∇_x D(x)‖²``.)

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
        """``R1`` on the real batch (the GAN multiplies it by ``weight``)."""
        return self.penalty(ctx.discriminate, ctx.real)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "gamma": self.gamma}
