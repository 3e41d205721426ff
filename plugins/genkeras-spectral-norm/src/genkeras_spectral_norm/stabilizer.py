"""Spectral normalization of the discriminator's kernels, applied by projection.

For each kernel ``W`` (reshaped to a matrix ``(fan_in, out)``) of the GAN's
discriminator trunk and head, one power-iteration step per discriminator
update refines a persistent estimate ``u`` of the top left singular vector,

    v ← W u / ‖W u‖,   u ← Wᵀ v / ‖Wᵀ v‖,   σ̂ = vᵀ W u,

(written for ``W`` of shape ``(fan_in, out)``, so ``u ∈ R^out``) and the kernel
is projected to spectral norm at most ``bound``: ``W ← W · min(1, bound / σ̂)``.

References:

[1]: Miyato, Kataoka, Koyama & Yoshida. Spectral Normalization for Generative
     Adversarial Networks. ICLR 2018. https://arxiv.org/abs/1802.05957
[2]: Gouk, Frank, Pfahringer & Cree. Regularisation of neural networks by
     enforcing Lipschitz continuity. Machine Learning 2021.
     https://arxiv.org/abs/1804.04368
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["SpectralNorm", "power_iteration"]


def power_iteration(matrix, u, iterations: int = 1, eps: float = 1e-12):
    """Refines ``u`` and estimates the largest singular value of ``matrix``.

    Args:
        matrix: ``(m, k)``.
        u: ``(k,)`` current estimate of the top right singular vector.
        iterations: Power-iteration steps.
        eps: Guards the normalisations.

    Returns:
        ``(sigma, u)``: the estimate ``vᵀ W u`` and the refined ``u``.
    """
    v = None
    for _ in range(iterations):
        v = tf.linalg.l2_normalize(tf.linalg.matvec(matrix, u), epsilon=eps)  # (m,)
        u = tf.linalg.l2_normalize(
            tf.linalg.matvec(matrix, v, transpose_a=True), epsilon=eps
        )  # (k,)
    sigma = tf.tensordot(v, tf.linalg.matvec(matrix, u), 1)
    return sigma, u


class _Refs:
    """Holds the discriminator's kernels without Keras tracking them as this layer's."""

    def __init__(self):
        self.kernels = []


@keras.saving.register_keras_serializable(package="genkeras_spectral_norm")
class SpectralNorm(Stabilizer):
    """Projects every discriminator kernel to spectral norm ``≤ bound`` after each D update.

    Args:
        bound: Largest allowed spectral norm of each kernel.
        power_iterations: Power-iteration steps per update.
        **kwargs: Passed to :class:`genkeras.stabilizers.base.Stabilizer`.
    """

    tracked_keys = ("sigma_max",)

    def __init__(self, bound: float = 1.0, power_iterations: int = 1, **kwargs):
        super().__init__(**kwargs)
        bound = float(bound)
        if not bound > 0:
            raise ValueError(f"bound must be positive. Received: bound={bound}")
        if int(power_iterations) < 1:
            raise ValueError(
                "power_iterations must be at least 1. "
                f"Received: power_iterations={power_iterations}"
            )
        self.bound = bound
        self.power_iterations = int(power_iterations)
        self._refs = _Refs()
        self.vectors = []
        self.sigma_max = None

    def setup(self, gan):
        """Finds the trunk's and head's kernels and creates one ``u`` per kernel."""
        kernels = [
            v
            for v in list(gan.trunk.trainable_variables) + list(gan.head.trainable_variables)
            if len(v.shape) >= 2
        ]
        self._refs.kernels = kernels
        self.vectors = [
            self.add_weight(
                shape=(int(k.shape[-1]),),
                name=f"u_{i}",
                trainable=False,
                aggregation="only_first_replica",  # replicas hold equal copies
                initializer=keras.initializers.RandomNormal(seed=i),
            )
            for i, k in enumerate(kernels)
        ]
        self.sigma_max = self.add_weight(
            shape=(),
            name="sigma_max",
            trainable=False,
            aggregation="only_first_replica",
            initializer="zeros",
        )
        self.built = True

    def after_discriminator_step(self, gan):
        """One power-iteration step per kernel, then ``W ← W · min(1, bound/σ̂)``."""
        largest = tf.constant(0.0)
        for kernel, u in zip(self._refs.kernels, self.vectors):
            matrix = tf.reshape(kernel, (-1, kernel.shape[-1]))  # (fan_in, out)
            sigma, new_u = power_iteration(matrix, u, self.power_iterations)
            u.assign(new_u)
            kernel.assign(kernel * tf.minimum(1.0, self.bound / tf.maximum(sigma, 1e-12)))
            largest = tf.maximum(largest, sigma)
        self.sigma_max.assign(largest)

    def tracked(self, ctx):
        """The largest spectral-norm estimate before the last projection."""
        return {"sigma_max": tf.convert_to_tensor(self.sigma_max)}

    def get_config(self):
        """Returns the constructor arguments."""
        return {
            **super().get_config(),
            "bound": self.bound,
            "power_iterations": self.power_iterations,
        }
