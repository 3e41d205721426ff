"""Top-k training: the generator learns only from its k most realistic samples.

Sinha, Zhao, Goyal, Raffel & Odena [1]: in each generator update, sort the
batch's generated samples by the discriminator's score and back-propagate the
generator loss through the ``k`` highest only. Early in training every sample
counts (``k`` = the batch); ``k`` shrinks by a factor ``gamma`` per epoch down
to ``min_fraction`` of the batch, so late updates ignore the samples the
discriminator already rejects (the ones that would drag the generator off the
modes it has found).

Here the selection is a per-sample weight (``generator_sample_weights``,
1 for the top ``k``, 0 for the rest): the GAN's adversarial loss becomes the
mean over the kept samples, and any other stabilizer's generator term that
reads ``ctx.sample_weights`` follows the same selection -- with feature
matching the kept samples' mean feature is matched to the real one.

Options (``--stabilizer top-k:gamma=0.99,min_fraction=0.5``), the paper's
defaults: ``gamma`` (decay of ``k`` per epoch, 0.99) and ``min_fraction``
(``nu``, the smallest ``k`` as a fraction of the batch, 0.5).

References:

[1]: Sinha, Zhao, Goyal, Raffel & Odena. Top-k Training of GANs: Improving GAN
     Performance by Throwing Away Bad Samples. NeurIPS 2020.
     https://arxiv.org/abs/2002.06224
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["TopK", "top_k_count"]


def top_k_count(n, epoch, gamma: float, min_fraction: float):
    """``k = max(ceil(n · gamma^epoch), ceil(n · min_fraction))``, at least 1, as int32.

    Args:
        n: Samples in the batch (int32 scalar tensor).
        epoch: Completed epochs (int scalar tensor).
        gamma: Decay of ``k`` per epoch.
        min_fraction: The smallest ``k`` as a fraction of ``n``.
    """
    n_float = tf.cast(n, tf.float32)
    decayed = n_float * tf.pow(tf.constant(gamma, tf.float32), tf.cast(epoch, tf.float32))
    k = tf.maximum(tf.math.ceil(decayed), tf.math.ceil(n_float * min_fraction))
    return tf.cast(tf.clip_by_value(k, 1.0, tf.maximum(n_float, 1.0)), tf.int32)


@keras.saving.register_keras_serializable(package="genkeras")
class TopK(Stabilizer):
    """The generator's update uses its ``k`` best-scored samples (``k`` decays per epoch).

    Args:
        gamma: Decay of ``k`` per epoch, in ``(0, 1]``.
        min_fraction: Smallest ``k`` as a fraction of the batch, in ``(0, 1]``.
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    tracked_keys = ("kept",)

    def __init__(self, gamma: float = 0.99, min_fraction: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        gamma, min_fraction = float(gamma), float(min_fraction)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1]. Received: gamma={gamma}")
        if not 0.0 < min_fraction <= 1.0:
            raise ValueError(
                f"min_fraction must be in (0, 1]. Received: min_fraction={min_fraction}"
            )
        self.gamma = gamma
        self.min_fraction = min_fraction

    def generator_sample_weights(self, ctx):
        """1 for the ``k`` generated samples with the highest logits, 0 for the others.

        Without an epoch count (a GAN compiled outside a run) ``k`` stays the
        whole batch until ``ctx.epoch`` is known.
        """
        logits = tf.reshape(tf.stop_gradient(ctx.fake_logits), (-1,))
        n = tf.shape(logits)[0]
        epoch = tf.zeros((), tf.int64) if ctx.epoch is None else ctx.epoch
        k = top_k_count(n, epoch, self.gamma, self.min_fraction)
        # A sort rather than tf.math.top_k: k is a tensor, and XLA needs top_k's k static.
        threshold = tf.gather(tf.sort(logits, direction="DESCENDING"), k - 1)
        # Ties at the threshold may keep a few more than k; the weights stay exact 0/1.
        return tf.cast(logits >= threshold, logits.dtype)

    def tracked(self, ctx):
        """``kept``: the fraction of the generated batch the update used."""
        if ctx.sample_weights is None or ctx.player != "generator":
            return {"kept": tf.ones(())}
        return {"kept": tf.reduce_mean(tf.cast(ctx.sample_weights, tf.float32))}

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "gamma": self.gamma, "min_fraction": self.min_fraction}
