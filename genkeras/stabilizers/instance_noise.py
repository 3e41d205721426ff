"""Instance noise: annealed Gaussian noise on every discriminator input.

Sønderby et al. [1] and Arjovsky & Bottou [2]: when the data and the
generator's distribution lie on low-dimensional manifolds that do not overlap,
the optimal discriminator is perfect and its gradients are useless. Adding
the same noise ``ε ~ N(0, σ_t² I)`` to real and generated inputs makes both
distributions overlap (it convolves both with a Gaussian), and annealing
``σ_t`` to 0 recovers the original problem:

    x̃ = x + σ_t ε,   σ_t = σ₀ · max(0, 1 − t / T)

with ``t`` the training step and ``T = anneal_steps`` (0 keeps ``σ₀``
constant). Noise is only added in training steps. It adds no loss term;
``σ_t`` is tracked as ``instance_noise_sigma``.

Options: ``sigma`` (``σ₀``, default 0.1 in the model's input units: images are
in ``[-1, 1]``) and ``anneal_steps`` (default 2000).

References:

[1]: Sønderby, Caballero, Theis, Shi & Huszár. Amortised MAP Inference for Image
     Super-resolution. ICLR 2017. https://arxiv.org/abs/1610.04490
[2]: Arjovsky & Bottou. Towards Principled Methods for Training Generative
     Adversarial Networks. ICLR 2017. https://arxiv.org/abs/1701.04862
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["InstanceNoise"]


@keras.saving.register_keras_serializable(package="genkeras")
class InstanceNoise(Stabilizer):
    """Adds ``N(0, σ_t²)`` noise to real and fake discriminator inputs, σ_t annealed to 0.

    Args:
        sigma: Initial noise standard deviation ``σ₀``.
        anneal_steps: Steps over which ``σ_t`` decays linearly to 0 (0: constant).
        seed: Seed of the noise's generator.
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    tracked_keys = ("sigma",)

    def __init__(self, sigma: float = 0.1, anneal_steps: int = 2000, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        sigma = float(sigma)
        if not sigma >= 0.0:
            raise ValueError(f"sigma must be >= 0. Received: sigma={sigma}")
        if int(anneal_steps) < 0:
            raise ValueError(f"anneal_steps must be >= 0. Received: anneal_steps={anneal_steps}")
        self.sigma = sigma
        self.anneal_steps = int(anneal_steps)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def current_sigma(self, step):
        """``σ_t = σ₀ · max(0, 1 − t/T)`` (or ``σ₀`` when ``anneal_steps`` is 0)."""
        if self.anneal_steps == 0:
            return tf.constant(self.sigma, tf.float32)
        t = tf.cast(step, tf.float32)
        return self.sigma * tf.maximum(0.0, 1.0 - t / float(self.anneal_steps))

    def discriminator_input(self, x, step, training):
        """Returns ``x + σ_t ε`` in training, ``x`` otherwise."""
        if not training:
            return x
        noise = keras.random.normal(tf.shape(x), seed=self.seed_generator)
        return x + self.current_sigma(step) * noise

    def tracked(self, ctx):
        """Tracks the current noise level ``σ_t``."""
        return {"sigma": self.current_sigma(ctx.step)}

    def get_config(self):
        """Returns the constructor arguments."""
        return {
            **super().get_config(),
            "sigma": self.sigma,
            "anneal_steps": self.anneal_steps,
            "seed": self.seed,
        }
