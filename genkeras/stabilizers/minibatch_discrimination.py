"""Minibatch discrimination: the discriminator sees how similar each example is to its batch.

Salimans et al. [1], Section 3.2. A collapsed generator emits near-identical
samples; a discriminator that looks at one example at a time cannot tell. A
learned tensor ``T ∈ R^{A×B×C}`` maps the trunk features ``f(x_i) ∈ R^A`` of
each example to ``B`` rows of ``C`` numbers, and each row is compared with the
same row of every other example in the batch:

    M_i = f(x_i) · T                                  ∈ R^{B×C}
    c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_L1)      ∈ (0, 1]
    o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j)                  ∈ [0, n − 1]

``o(x_i) ∈ R^B`` is concatenated to ``f(x_i)`` before the discriminator's head.
Real and generated batches are processed separately (as in [1]), so a
collapsed generated batch has ``o`` near its maximum ``n − 1`` while a diverse
real batch does not -- a signal the head learns to punish. (``[1]`` sums over
all ``j``; excluding ``j = i`` only removes the constant 1.)

For a gradient penalty (:meth:`MinibatchDiscrimination.per_sample_features`)
the comparison partners ``M_j``, ``j ≠ i``, are held constant
(``tf.stop_gradient``): ``o(x_i)`` keeps its value, and its gradient is the
partial derivative with respect to ``x_i`` alone, so the penalty of example
``i`` does not collect the other examples' gradients.

``T`` is a trainable weight of the discriminator, saved with the model.
Tracked: ``minibatch_discrimination_fake_similarity`` and ``..._real_similarity``,
the batch mean of ``o / (n − 1)`` (1 = all examples identical).

The pairwise comparison costs ``O(n² · B · C)`` for a batch of ``n``. For
large batches ``group=g`` compares each example only with the others of its
group of ``g`` consecutive examples (the batch is shuffled, so a group is a
random sub-batch; [1] used batches of about 100): ``o`` then lies in
``[0, g − 1]`` and the cost drops to ``O(n · g · B · C)``. A last, smaller
group is handled exactly (its missing partners count as absent).

Options: ``kernels`` (``B``, default 50), ``dims`` (``C``, default 5),
``group`` (``g``, default 0: the whole batch).

References:

[1]: Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
     https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["MinibatchDiscrimination", "minibatch_features"]


def minibatch_features(
    features, kernel, kernels: int, dims: int, group: int = 0, per_sample: bool = False
):
    """Computes ``o(x_i)`` for a batch (see the module docstring).

    Args:
        features: ``(n, A)`` trunk features.
        kernel: ``(A, B·C)`` the tensor ``T`` flattened over its last two axes.
        kernels: ``B``.
        dims: ``C``.
        group: Compare within groups of this many consecutive examples
            (``0``: the whole batch is one group).
        per_sample: Hold each example's comparison partners constant
            (``tf.stop_gradient``), so row ``i`` of the result has a gradient
            with respect to row ``i`` of ``features`` only.

    Returns:
        ``(n, B)`` the summed similarities of each example to the others of its group.
    """
    m = tf.reshape(tf.matmul(features, kernel), (-1, kernels, dims))  # (n, B, C)
    if not group:
        partners = tf.stop_gradient(m) if per_sample else m
        l1 = tf.reduce_sum(tf.abs(m[:, None] - partners[None, :]), axis=-1)  # (n, n, B)
        return tf.reduce_sum(tf.exp(-l1), axis=1) - 1.0  # (n, B): drop c_b(x_i, x_i) = 1
    n = tf.shape(m)[0]
    pad = (group - n % group) % group  # rows that fill the last group
    valid = tf.pad(tf.ones((n,), m.dtype), [[0, pad]])  # (n + pad,)
    m = tf.pad(m, [[0, pad], [0, 0], [0, 0]])
    m = tf.reshape(m, (-1, group, kernels, dims))  # (G, g, B, C)
    valid = tf.reshape(valid, (-1, 1, group, 1))  # (G, 1, g, 1): which partners exist
    partners = tf.stop_gradient(m) if per_sample else m
    l1 = tf.reduce_sum(tf.abs(m[:, :, None] - partners[:, None, :]), axis=-1)  # (G, g, g, B)
    o = tf.reduce_sum(tf.exp(-l1) * valid, axis=2) - 1.0  # (G, g, B)
    return tf.reshape(o, (-1, kernels))[:n]  # (n, B)


@keras.saving.register_keras_serializable(package="genkeras")
class MinibatchDiscrimination(Stabilizer):
    """Concatenates minibatch similarity features ``o(x_i)`` before the discriminator's head.

    Args:
        kernels: ``B``, number of similarity features added.
        dims: ``C``, length of each compared row.
        init_std: Standard deviation of ``T``'s normal initialiser.
        group: Compare each example with its group of this many (``0``: the
            whole batch).
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`
            (``weight`` is accepted but unused: this stabilizer adds no loss).
    """

    tracked_keys = ("fake_similarity", "real_similarity")

    def __init__(
        self, kernels: int = 50, dims: int = 5, init_std: float = 0.05, group: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        if int(group) != group or group < 0:
            raise ValueError(f"group must be a non-negative integer. Received: group={group}")
        self.group = int(group)
        for name, value in (("kernels", kernels), ("dims", dims)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={value}")
        self.kernels = int(kernels)
        self.dims = int(dims)
        self.init_std = float(init_std)
        self.kernel = None

    def build_features(self, dim):
        """Creates ``T`` of shape ``(dim, kernels · dims)``; returns ``dim + kernels``."""
        self.kernel = self.add_weight(
            shape=(int(dim), self.kernels * self.dims),
            name="T",
            initializer=keras.initializers.RandomNormal(stddev=self.init_std),
        )
        self.built = True
        return int(dim) + self.kernels

    def similarity(self, features):
        """``o(x_i)``, shape ``(n, kernels)``."""
        return minibatch_features(features, self.kernel, self.kernels, self.dims, self.group)

    def transform_features(self, features, training):
        """``[f(x_i), o(x_i)]``, shape ``(n, A + B)``."""
        return tf.concat([features, self.similarity(features)], axis=-1)

    def per_sample_features(self, features, training):
        """``[f(x_i), o(x_i)]`` with the partners ``x_j``, ``j ≠ i``, held constant."""
        o = minibatch_features(
            features, self.kernel, self.kernels, self.dims, self.group, per_sample=True
        )
        return tf.concat([features, o], axis=-1)

    def tracked(self, ctx):
        """Mean normalised similarity ``o / (n − 1)`` (``n``: the group size) of fake and real."""
        n = tf.cast(tf.shape(ctx.fake_features)[0], tf.float32)
        if self.group:
            n = tf.minimum(n, float(self.group))
        scale = 1.0 / tf.maximum(n - 1.0, 1.0)
        return {
            "fake_similarity": tf.reduce_mean(self.similarity(ctx.fake_features)) * scale,
            "real_similarity": tf.reduce_mean(self.similarity(ctx.real_features)) * scale,
        }

    def get_config(self):
        """Returns the constructor arguments."""
        return {
            **super().get_config(),
            "kernels": self.kernels,
            "dims": self.dims,
            "init_std": self.init_std,
            "group": self.group,
        }
