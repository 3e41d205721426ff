"""PacGAN: the discriminator judges packs of ``m`` samples, not single samples.

Lin, Khetan, Fanti & Oh [1]. A generator that drops modes can still fool a
discriminator that sees one sample at a time, if the samples it does make are
realistic. PacGAN changes only the discriminator's input: it receives ``m``
samples *packed* together, all real or all generated, and decides whether the
pack is real,

    D : (x_1, …, x_m) ↦ l,     real packs drawn from p_data^m, fake packs from p_g^m.

The optimal packed discriminator measures the total variation
``d_TV(p_data^m, p_g^m)``, which grows with ``m`` much faster for a
mode-collapsed ``p_g`` than for one that spreads its error evenly [1, §3]: the
discriminator sees a lack of diversity inside each pack and penalises it.

Packing is implemented as in the paper: the ``m`` examples are concatenated
along their last axis -- vectors ``(n, d) -> (n/m, m·d)``, images
``(n, h, w, c) -> (n/m, h, w, m·c)`` (stacked along channels) -- so only the
discriminator's first layer grows; everything after it is unchanged. Pack
``j`` holds examples ``jm, …, jm + m − 1`` of the (shuffled) batch; if ``m``
does not divide the batch size the last ``n mod m`` examples are left out
(training batches should be multiples of ``m``). The discriminator's logits,
its adversarial losses and every other stabilizer's context are then per
pack, and the generator's gradient reaches every sample through the packs it
is in.

This stabilizer uses the hooks that declare the discriminator's input before it
is built: ``discriminator_input_shape`` (the packed shape) and ``pack``. It
adds no loss term and tracks nothing.

Options: ``m`` (the packing degree, default 4: PacGAN4, the paper's best on
the 2-D ring and grid).

References:

[1]: Lin, Khetan, Fanti & Oh. PacGAN: The power of two samples in generative
     adversarial networks. NeurIPS 2018. https://arxiv.org/abs/1712.04086
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["PacGAN", "pack_examples"]


def pack_examples(x, m: int):
    """Packs groups of ``m`` consecutive examples along the last axis.

    Args:
        x: ``(n, *shape)`` examples.
        m: The packing degree.

    Returns:
        ``(n // m, *shape[:-1], m · shape[-1])``: pack ``j`` is the
        concatenation of examples ``jm … jm + m − 1`` along the last axis (the
        last ``n mod m`` examples are left out).

    Example:

    >>> pack_examples(tf.reshape(tf.range(12.0), (6, 2)), 3).numpy().tolist()
    [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]
    """
    if m == 1:
        return x
    shape = tuple(x.shape[1:])
    n = x.shape[0]
    if n is not None:  # static batch size (always under XLA): a static slice
        x = x[: n - n % m]
    else:
        n = tf.shape(x)[0]
        x = x[: n - n % m]
    x = tf.reshape(x, (-1, m) + shape)  # (n/m, m, *shape)
    rank = len(shape)
    # move the pack axis next to the last axis: (n/m, *shape[:-1], m, shape[-1])
    order = [0] + list(range(2, rank + 1)) + [1, rank + 1]
    x = tf.transpose(x, order)
    return tf.reshape(x, (-1,) + shape[:-1] + (m * shape[-1],))


@keras.saving.register_keras_serializable(package="genkeras")
class PacGAN(Stabilizer):
    """The discriminator sees packs of ``m`` examples concatenated along their last axis.

    Args:
        m: The packing degree (``m = 1`` is the plain GAN).
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`
            (``weight`` is accepted but unused: this stabilizer adds no loss).
    """

    def __init__(self, m: int = 4, **kwargs):
        super().__init__(**kwargs)
        if int(m) != m or m < 1:
            raise ValueError(f"m must be a positive integer. Received: m={m}")
        self.m = int(m)

    def discriminator_input_shape(self, shape):
        """``(d,) -> (m·d,)``; ``(h, w, c) -> (h, w, m·c)``."""
        shape = tuple(shape)
        return shape[:-1] + (self.m * shape[-1],)

    def pack(self, x, training):
        """Packs the batch ``(n, *shape) -> (n // m, *packed shape)`` (:func:`pack_examples`)."""
        return pack_examples(x, self.m)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "m": self.m}
