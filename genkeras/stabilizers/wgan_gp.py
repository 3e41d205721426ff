"""WGAN-GP: a Wasserstein critic kept 1-Lipschitz by a gradient penalty.

Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville [1]. The Wasserstein GAN [2]
replaces the discriminator by a *critic* ``D`` (an unbounded score, here the
logit) and the game by the Kantorovich-Rubinstein dual of the earth mover's
distance,

    W(p_data, p_g) = max_{‖D‖_L ≤ 1}  E_{x~p_data} D(x) − E_{x̃~p_g} D(x̃).

Instead of clipping weights, WGAN-GP enforces the Lipschitz constraint softly:
the optimal critic has gradient norm 1 almost everywhere on the segments
between coupled real and generated points [1, Proposition 1], so the critic
minimises

    L_D = E D(x̃) − E D(x) + λ · E_{x̂} (‖∇_x̂ D(x̂)‖₂ − 1)²,
    x̂ = ε x + (1 − ε) x̃,   ε ~ U[0, 1] per example,

and the generator minimises ``L_G = −E D(G(z))`` [1, Algorithm 1].

In genkeras this is a stabilizer that uses the adversarial-weight switches:
it sets ``discriminator_adversarial_weight`` and
``generator_adversarial_weight`` to 0 (the GAN's cross-entropy losses are
replaced, not cancelled) and adds ``L_D`` and ``L_G`` as its loss terms,
tracked as ``wgan_gp_d`` and ``wgan_gp_g``. The penalty differentiates the
per-sample critic (:meth:`~genkeras.stabilizers.base.StabilizerContext.discriminate`),
as the paper requires (it drops batch normalization from the critic for the
same reason). Tracked too: ``wgan_gp_wasserstein``, ``E D(x) − E D(G(z))`` on
the generator's batch (the critic's estimate of ``W``), and
``wgan_gp_gradient_penalty``, the last discriminator update's penalty
(without ``λ``). In ``genkeras evaluate`` it reports
``wgan_gp_wasserstein``: the same estimate on the test split and the scored
samples.

The paper's settings for images: ``λ = 10``, five critic updates per
generator update (``--d-steps 5``) and Adam with ``β₁ = 0`` (``--beta-1 0``),
``β₂ = 0.9``, learning rate ``1e-4``. For the 2-D toy mixtures the authors'
code uses ``λ = 0.1`` ("smaller lambda makes things faster for toy tasks"),
five critic updates and ``β₁ = 0.5``. Options: ``penalty`` (``λ``, default 10)
and ``seed`` (of ``ε``).

References:

[1]: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville. Improved Training of
     Wasserstein GANs. NeurIPS 2017. https://arxiv.org/abs/1704.00028
[2]: Arjovsky, Chintala & Bottou. Wasserstein Generative Adversarial Networks.
     ICML 2017. https://arxiv.org/abs/1701.07875
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["WGANGP", "gradient_penalty", "interpolate"]


def interpolate(real, fake, epsilon):
    """``x̂ = ε x + (1 − ε) x̃`` with one ``ε`` per example.

    Args:
        real: ``(n, *shape)``.
        fake: ``(n, *shape)``.
        epsilon: ``(n,)`` in ``[0, 1]``.

    Returns:
        ``(n, *shape)``.
    """
    eps = tf.reshape(epsilon, (-1,) + (1,) * (len(real.shape) - 1))  # (n, 1, ..., 1)
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(discriminate, x_hat):
    """``mean_i (‖∇_{x̂_i} D(x̂_i)‖₂ − 1)²`` for a callable ``discriminate(x) -> (n,)``.

    ``discriminate`` must be per-sample (logit ``i`` a function of ``x̂_i``
    only), so the gradient of ``Σ_i D(x̂_i)`` stacks the per-example gradients.
    """
    x_hat = tf.convert_to_tensor(x_hat)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        total = tf.reduce_sum(discriminate(x_hat))
    grads = tape.gradient(total, x_hat)  # (n, *shape)
    flat = tf.reshape(grads, (tf.shape(x_hat)[0], -1))
    norms = tf.sqrt(tf.reduce_sum(tf.square(flat), axis=1) + 1e-12)  # (n,)
    return tf.reduce_mean(tf.square(norms - 1.0))


@keras.saving.register_keras_serializable(package="genkeras")
class WGANGP(Stabilizer):
    """Replaces both adversarial losses by the WGAN-GP critic and generator losses.

    Args:
        penalty: ``λ``, the gradient penalty's coefficient.
        seed: Seed of the interpolation weights ``ε``.
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`
            (``weight`` multiplies both terms).
    """

    discriminator_adversarial_weight = 0.0
    generator_adversarial_weight = 0.0
    tracked_keys = ("wasserstein", "gradient_penalty")

    def __init__(self, penalty: float = 10.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        penalty = float(penalty)
        if not penalty >= 0.0:
            raise ValueError(f"penalty must be >= 0. Received: penalty={penalty}")
        self.penalty = penalty
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.last_penalty = None

    def setup(self, gan):
        """Creates the variable that keeps the last discriminator update's penalty."""
        self.last_penalty = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="last_penalty",
        )

    def critic_loss(self, discriminate, real, fake, real_logits, fake_logits):
        """``(E D(x̃) − E D(x) + λ · GP, GP)`` for D's inputs ``real`` and ``fake``.

        Args:
            discriminate: The per-sample critic, ``x -> (n,)`` logits.
            real: ``(n, *shape)`` real inputs.
            fake: ``(n, *shape)`` generated inputs.
            real_logits: ``D(real)``, ``(n,)``.
            fake_logits: ``D(fake)``, ``(n,)``.
        """
        epsilon = keras.random.uniform((tf.shape(real)[0],), seed=self.seed_generator)
        x_hat = interpolate(real, tf.stop_gradient(fake), epsilon)
        gp = gradient_penalty(discriminate, x_hat)
        return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits) + self.penalty * gp, gp

    def discriminator_loss(self, ctx):
        """``L_D = E D(x̃) − E D(x) + λ · E(‖∇D(x̂)‖ − 1)²``."""
        loss, gp = self.critic_loss(
            ctx.discriminate, ctx.real, ctx.fake, ctx.real_logits, ctx.fake_logits
        )
        if self.last_penalty is not None:
            self.last_penalty.assign(tf.stop_gradient(gp))
        return loss

    def generator_loss(self, ctx):
        """``L_G = −E D(G(z))``."""
        return -tf.reduce_mean(ctx.fake_logits)

    def tracked(self, ctx):
        """The critic's Wasserstein estimate and the last update's gradient penalty."""
        return {
            "wasserstein": tf.reduce_mean(ctx.real_logits) - tf.reduce_mean(ctx.fake_logits),
            "gradient_penalty": tf.convert_to_tensor(self.last_penalty),
        }

    def evaluation_metrics(self, gan, spec, samples):
        """``wasserstein``: ``mean D(x_test) − mean D(samples)`` (in chunks of 500)."""

        def mean_critic(x):
            chunks = [gan(x[i : i + 500]).numpy() for i in range(0, len(x), 500)]
            return float(np.mean(np.concatenate(chunks)))

        x_test = np.asarray(spec.x_test, np.float32)
        return {"wasserstein": mean_critic(x_test) - mean_critic(np.asarray(samples, np.float32))}

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "penalty": self.penalty, "seed": self.seed}
