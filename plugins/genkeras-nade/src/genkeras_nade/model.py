"""NADE: the neural autoregressive distribution estimator, for binary data.

Larochelle & Murray [1]. Like PixelCNN and PixelRNN, NADE factorises the joint
distribution of ``D`` binary values by the chain rule in a fixed order,

    p(x) = Π_{d=1..D} p(x_d | x_{<d}),

but each conditional is a one-hidden-layer network whose weights are *shared*
across the ``D`` positions:

    h_d = σ(c + W_{:,<d} x_{<d})                ∈ (0, 1)^H
    p(x_d = 1 | x_{<d}) = σ(b_d + V_d · h_d)

with ``W ∈ R^{H×D}``, ``c ∈ R^H``, ``V ∈ R^{D×H}``, ``b ∈ R^D``. Sharing ``W``
makes the pre-activations a running sum, ``a_{d+1} = a_d + W_{:,d} x_d``, so all
``D`` conditionals cost ``O(DH)`` -- one exclusive cumulative sum over the
positions (here ``tf.cumsum(..., exclusive=True)``) -- and the log-likelihood
is exact:

    log p(x) = Σ_d log Bernoulli(x_d; σ(l_d)),

computed with ``tfd.Independent(tfd.Bernoulli(logits=l), 1)``. Training
minimises the mean negative log-likelihood in nats per example; sampling draws
``x_1, x_2, …`` in turn inside one compiled ``tf.while_loop``, carrying the
running sum ``a_d``.

The model flattens each example (an ``8×8×1`` image is ``D = 64`` values in
raster order) and needs binary data: ``genkeras run nade --binarize``.

References:

[1]: Larochelle & Murray. The Neural Autoregressive Distribution Estimator.
     AISTATS 2011. https://proceedings.mlr.press/v15/larochelle11a.html
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.models.base import GenerativeModel
from genkeras_nade.config import NADEConfig

tfd = tfp.distributions

__all__ = ["NADE", "NADEConfig"]


@keras.saving.register_keras_serializable(package="genkeras_nade")
class NADE(GenerativeModel):
    """NADE (Larochelle & Murray 2011) over flattened binary examples.

    Args:
        data_shape: Shape of one example (flattened to ``D`` values).
        levels: Must be 2 (binary data).
        config: :class:`~genkeras_nade.config.NADEConfig` or a dict of its fields.
        num_classes: Unused (NADE is unconditional).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: ``(batch, *data_shape)`` binary values (as floats).

    Returns (of ``call``):
        The logits ``l_d`` of ``p(x_d = 1 | x_{<d})``, shape ``(batch, D)``.

    Example:

    >>> model = NADE((2, 2, 1), levels=2, config={"hidden": 3})
    >>> model.sample(5, seed=0).shape
    TensorShape([5, 2, 2, 1])
    """

    config_class = NADEConfig

    def __init__(self, data_shape, levels=2, config=None, num_classes=None, **kwargs):
        super().__init__(data_shape, levels, config, num_classes, **kwargs)
        self.num_dims = int(math.prod(self.data_shape))
        d, h = self.num_dims, self.cfg.hidden
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.w = self.add_weight(shape=(d, h), initializer=init, name="W")  # row d: W_{:,d}
        self.c = self.add_weight(shape=(h,), initializer="zeros", name="c")
        self.v = self.add_weight(shape=(d, h), initializer=init, name="V")
        self.b = self.add_weight(shape=(d,), initializer="zeros", name="b")
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self._sampler = None
        self.built = True

    # -- the model ---------------------------------------------------------------------
    def call(self, x, training=False):
        """Logits ``(batch, D)`` of every conditional ``p(x_d = 1 | x_{<d})``."""
        x = tf.reshape(tf.cast(x, self.w.dtype), (-1, self.num_dims))  # (batch, D)
        # a_d = c + Σ_{k<d} W_{:,k} x_k: an exclusive running sum over positions
        contributions = x[:, :, None] * self.w[None]  # (batch, D, H)
        a = self.c + tf.cumsum(contributions, axis=1, exclusive=True)  # (batch, D, H)
        hidden = tf.sigmoid(a)  # h_d
        return self.b + tf.reduce_sum(hidden * self.v[None], axis=-1)  # (batch, D)

    def distribution(self, logits) -> tfd.Distribution:
        """``Π_d Bernoulli(σ(l_d))`` over the ``D`` values, given causal logits ``(batch, D)``."""
        return tfd.Independent(tfd.Bernoulli(logits=logits), reinterpreted_batch_ndims=1)

    def log_prob(self, x):
        """Exact ``log p(x)`` in nats, shape ``(batch,)``."""
        flat = tf.reshape(tf.cast(x, tf.float32), (-1, self.num_dims))
        return self.distribution(self(x)).log_prob(flat)

    # -- training ----------------------------------------------------------------------
    @property
    def metrics(self):
        """Loss (NLL in nats per example) and bits per dimension."""
        return [self.loss_tracker, self.bpd_tracker]

    def _update(self, nll):
        self.loss_tracker.update_state(nll)
        self.bpd_tracker.update_state(self.bits_per_dim(nll, self.num_dims))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One optimizer step on the mean negative log-likelihood (batches: ``x`` or ``(x, y)``)."""
        x, _ = self.unpack(data)
        # genkeras's one gradient step: replica and loss scaling, --grad-clip.
        nll = self.optimize(lambda: -tf.reduce_mean(self.log_prob(x)))
        return self._update(nll)

    def test_step(self, data):
        """The mean negative log-likelihood of a test batch."""
        x, _ = self.unpack(data)
        return self._update(-tf.reduce_mean(self.log_prob(x)))

    # -- sampling ----------------------------------------------------------------------
    def _sample_loop(self, uniforms):
        """Draws ``x_1 … x_D`` in turn; ``uniforms`` ``(n, D)`` decide each ``x_d``."""
        n = tf.shape(uniforms)[0]
        d_total = self.num_dims

        def body(d, a, x):
            hidden = tf.sigmoid(a)  # (n, H): h_d
            logit = self.b[d] + tf.linalg.matvec(hidden, self.v[d])  # (n,)
            x_d = tf.cast(uniforms[:, d] < tf.sigmoid(logit), a.dtype)  # x_d ~ Bernoulli
            x = x + x_d[:, None] * tf.one_hot(d, d_total, dtype=a.dtype)[None]
            a = a + x_d[:, None] * self.w[d][None]  # a_{d+1} = a_d + W_{:,d} x_d
            return d + 1, a, x

        a0 = tf.broadcast_to(self.c[None], (n, self.cfg.hidden))
        x0 = tf.zeros((n, d_total), a0.dtype)
        _, _, x = tf.while_loop(
            lambda d, a, x: d < d_total, body, (tf.constant(0), a0, x0), maximum_iterations=d_total
        )
        return x

    def sample(self, n: int, seed: int | None = None):
        """Draws ``n`` examples by ancestral sampling in one compiled loop.

        Args:
            n: Number of examples.
            seed: Integer seed (``None``: the model's seed generator).

        Returns:
            Tensor ``(n, *data_shape)`` of 0/1 values as float32.
        """
        n = self.sample_count(n)  # a positive integer, or ValueError naming n
        if self._sampler is None:
            self._sampler = tf.function(self._sample_loop, reduce_retracing=True)
        uniforms = tf.random.stateless_uniform((n, self.num_dims), seed=self.seed_tensor(seed))
        return tf.reshape(self._sampler(uniforms), (n,) + self.data_shape)

    def describe_samples(self, **options) -> str:
        """What :meth:`sample` returns."""
        return "NADE samples (binary)"

    # -- evaluation --------------------------------------------------------------------
    def evaluation_metrics(self, spec, batch_size: int = 256, **kwargs) -> dict[str, float]:
        """Exact test NLL in nats per example and bits per dimension.

        Args:
            spec: The :class:`genkeras.data.DataSpec` (binary).
            batch_size: Examples per pass.
            **kwargs: Ignored (arguments a later genkeras may pass).

        Returns:
            ``{"nll_nats", "bits_per_dim", "num_test"}``.
        """
        total, count = 0.0, 0
        for batch in self.test_dataset(spec, batch_size):
            x, _ = self.unpack(batch)
            total += float(tf.reduce_sum(self.log_prob(x)))
            count += int(x.shape[0])
        nll = -total / count
        return {
            "nll_nats": nll,
            "bits_per_dim": float(self.bits_per_dim(nll, self.num_dims)),
            "num_test": float(count),
        }

    def conditional_probabilities(self, x) -> np.ndarray:
        """``p(x_d = 1 | x_{<d})`` for each example and position, NumPy ``(batch, D)``."""
        return tf.sigmoid(self(x)).numpy()
