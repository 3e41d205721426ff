"""A categorical distribution whose log-probability skips the unused gradient.

``tfd.Categorical.log_prob`` computes ``−tf.nn.sparse_softmax_cross_entropy_with_logits``,
a fused kernel that also computes the cross-entropy's gradient, whether or not
anything asks for it. The VAE's IWAE bound evaluates the per-pixel categorical
of 17 levels at 360,000 decoded codes, and there that unused gradient was 40 %
of the bound's time on this CPU. :class:`Categorical` computes the same number as
``logits[k] − logsumexp(logits)``: about 2.5× faster forward, and about twice
as fast with its gradient in a training step (measured on digits' shapes; the
two agree to float32 rounding, which ``tests/test_vae.py`` checks).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["Categorical"]


class Categorical(tfp.distributions.Categorical):
    """``tfd.Categorical`` with ``log_prob(k) = logits[k] − logsumexp(logits)``.

    Everything else (sampling, entropy, KL, the parameters) is TFP's. Values
    must be integer levels in ``[0, num_categories)``, as for TFP's.
    """

    def _log_prob(self, k):
        logits = self.logits_parameter()  # (..., levels)
        k = tf.cast(k, tf.int32)
        batch = tf.broadcast_dynamic_shape(tf.shape(k), tf.shape(logits)[:-1])
        k = tf.broadcast_to(k, batch)
        levels = tf.shape(logits)[-1:]
        logits = tf.broadcast_to(logits, tf.concat([batch, levels], 0))
        flat = tf.reshape(logits, tf.concat([[-1], levels], 0))  # (n, levels), any rank
        picked = tf.gather(flat, tf.reshape(k, (-1, 1)), batch_dims=1)[:, 0]  # (n,)
        return tf.reshape(picked, batch) - tf.reduce_logsumexp(logits, axis=-1)
