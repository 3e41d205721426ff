"""Shared machinery of the autoregressive pixel models (PixelCNN, Gated PixelCNN, PixelRNN).

An autoregressive image model factorises the joint distribution of an image
``x`` with ``D = H * W * C`` discrete values by the chain rule, in raster order
(rows top to bottom, pixels left to right, channels R -> G -> B) [1]:

    p(x) = prod_{k=1..D} p(x_k | x_1, ..., x_{k-1}).

Every model here maps an image to logits of shape ``(batch, H, W, C, levels)``
in a single forward pass; masks make the logits at position ``k`` depend only on
``x_<k``, so one pass gives every conditional at once and the log-likelihood is
exact:

    log p(x) = sum_k log Categorical(x_k; softmax(logits_k)).

It is computed with ``tfd.Independent(Categorical(logits), 3)`` (TFP's
categorical with a cheaper ``log_prob``, :mod:`genkeras.models.distributions`): the
conditionals are *not* independent, but given the (causally masked) logits the
joint log-probability is the sum of per-position terms, which is exactly what
``Independent`` sums. Training minimises the mean negative log-likelihood in
nats per image; ``bits_per_dim = nats / (D ln 2)``.

Sampling is sequential (``D`` steps) and runs in one compiled loop
(:mod:`genkeras.models.sampling`).

References:

[1]: van den Oord, Kalchbrenner & Kavukcuoglu. Pixel Recurrent Neural Networks.
     ICML 2016. https://arxiv.org/abs/1601.06759
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.models.base import GenerativeModel
from genkeras.models.distributions import Categorical

tfd = tfp.distributions

__all__ = ["FIELD_CANVAS", "AutoregressiveModel"]

#: The smallest side of the canvas the receptive-field figure is drawn on.
FIELD_CANVAS = 16


class AutoregressiveModel(GenerativeModel):
    """Base class of the pixel models: exact categorical likelihood, training, sampling.

    Subclasses build their layers in ``__init__`` and implement ``call(x, labels=None)``
    returning logits ``(batch, H, W, C, levels)`` that are causal in raster/channel
    order. Models that support the cached incremental sampler also implement
    ``cache_init``, ``cache_row`` and ``cache_pixel``
    (see :func:`genkeras.models.sampling.sample_cached`).

    Args:
        data_shape: ``(H, W, C)``.
        levels: Number of discrete values per sub-pixel.
        config: The family's config dataclass or dict.
        num_classes: Number of label classes (for class conditioning), or ``None``.
        **kwargs: Passed to ``keras.Model``.
    """

    #: Options of :meth:`sample` (``genkeras sample --temperature/--label``).
    sample_options = {
        "temperature": "Softmax temperature (< 1 sharper, > 1 flatter).",
        "label": "One class for every image (class-conditional models).",
        "labels": "(n,) class labels (class-conditional models).",
        "cached": "Use the cached incremental sampler.",
        "jit_compile": "XLA-compile the sampling loop.",
    }
    #: Whether :meth:`cache_init` / :meth:`cache_row` / :meth:`cache_pixel` exist. A
    #: subclass whose answer depends on its config overrides it with a property
    #: (PixelRNN: Row LSTM yes, Diagonal BiLSTM no).
    supports_cached_sampling = False

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(
            data_shape, levels=levels, config=config, num_classes=num_classes, **kwargs
        )
        self.height, self.width, self.channels = self.data_shape
        self.num_dims = self.height * self.width * self.channels
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self._log_prob_fn = None

    # -- likelihood ---------------------------------------------------------------
    def preprocess(self, x):
        """Maps integer levels ``0..levels-1`` to ``[-1, 1]`` (the network input)."""
        x = tf.cast(x, self.compute_dtype)
        return x / float(self.levels - 1) * 2.0 - 1.0

    def logits_to_output(self, out):
        """Reshapes ``(batch, H, W, C * levels)`` features to ``(batch, H, W, C, levels)``.

        Output feature ``f`` belongs to channel group ``f % C`` (the masks' grouping),
        so the last axis is split as ``(levels, C)`` and transposed.
        """
        shape = tf.shape(out)
        out = tf.reshape(out, (shape[0], self.height, self.width, self.levels, self.channels))
        return tf.transpose(out, (0, 1, 2, 4, 3))

    def distribution(self, logits) -> tfd.Distribution:
        """The joint distribution of an image given its (causal) logits.

        Args:
            logits: ``(batch, H, W, C, levels)``.

        Returns:
            ``tfd.Independent(tfd.Categorical(logits), 3)`` with event shape ``(H, W, C)``.
        """
        return tfd.Independent(Categorical(logits=logits), reinterpreted_batch_ndims=3)

    def log_prob(self, x, labels=None):
        """Exact log-likelihood ``log p(x)`` in nats, shape ``(batch,)``.

        Args:
            x: ``(batch, H, W, C)`` integer levels (any numeric dtype).
            labels: ``(batch,)`` class labels for a conditional model.
        """
        x = tf.convert_to_tensor(x)
        logits = self.forward(x, labels)
        return self.distribution(tf.cast(logits, tf.float32)).log_prob(tf.cast(x, tf.int32))

    def conditional_log_probs(self, x, labels=None):
        """Per-position conditionals ``log p(x_k | x_<k)``, shape ``(batch, H, W, C)``."""
        x = tf.convert_to_tensor(x)
        logits = self.forward(x, labels)
        return Categorical(logits=tf.cast(logits, tf.float32)).log_prob(tf.cast(x, tf.int32))

    # -- training -----------------------------------------------------------------
    def build_from_config(self, config):
        """Rebuilds the weights on loading (a conditional model also needs labels)."""
        if config:
            self.build_from_shape()

    @property
    def metrics(self):
        """Loss (NLL in nats per image) and bits per dimension."""
        return [self.loss_tracker, self.bpd_tracker]

    def _nll(self, x, labels, training):
        """Per-example negative log-likelihood in nats, shape ``(batch,)``."""
        logits = self.forward(x, labels, training=training)
        log_p = self.distribution(tf.cast(logits, tf.float32)).log_prob(tf.cast(x, tf.int32))
        return -log_p

    def _update(self, nll):
        # Per-example values: the trackers average over examples, whatever the batches.
        self.loss_tracker.update_state(nll)
        self.bpd_tracker.update_state(self.bits_per_dim(nll, self.num_dims))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One optimizer step on the mean negative log-likelihood."""
        x, labels = self.unpack(data)

        def loss():
            nll = self._nll(x, labels, training=True)
            return tf.reduce_mean(nll), nll

        _, nll = self.optimize(loss)
        return self._update(nll)

    def test_step(self, data):
        """Evaluates the mean negative log-likelihood."""
        x, labels = self.unpack(data)
        return self._update(self._nll(x, labels, training=False))

    # -- evaluation ---------------------------------------------------------------
    def evaluation_metrics(self, spec, batch_size: int = 256, **kwargs) -> dict[str, float]:
        """Exact test NLL (nats per image) and bits per dimension.

        For a class-conditional model this is ``-log p(x | y)`` with the true labels.

        Args:
            spec: The :class:`genkeras.data.DataSpec`.
            batch_size: Evaluation batch size.
            **kwargs: Ignored (arguments a later genkeras may pass).

        Returns:
            ``{"nll_nats": ..., "bits_per_dim": ..., "num_test": ...}``.
        """
        if self._log_prob_fn is None:
            self._log_prob_fn = tf.function(lambda x, y: self.log_prob(x, y), reduce_retracing=True)
        total, count = 0.0, 0
        for batch in self.test_dataset(spec, batch_size):
            x, labels = self.unpack(batch)
            total += float(tf.reduce_sum(self._log_prob_fn(x, labels)))
            count += int(x.shape[0])
        nll = -total / count
        return {
            "nll_nats": nll,
            "bits_per_dim": self.bits_per_dim(nll, self.num_dims),
            "num_test": float(count),
        }

    # -- sampling -----------------------------------------------------------------
    def default_labels(self, n: int):
        """Labels ``0, 1, ..., num_classes-1, 0, ...`` for ``n`` conditional samples."""
        return tf.range(n, dtype=tf.int32) % max(int(self.num_classes or 1), 1)

    def sample(
        self,
        n: int,
        seed: int | None = None,
        temperature: float = 1.0,
        labels=None,
        label: int | None = None,
        cached: bool | None = None,
        jit_compile: bool = False,
    ):
        """Draws ``n`` images in one compiled loop over positions.

        Args:
            n: Number of images.
            seed: Integer seed; the same seed gives the same images
                (``None``: from the model's seed generator).
            temperature: Softmax temperature (``< 1`` sharper, ``> 1`` flatter).
            labels: ``(n,)`` class labels for a conditional model (default:
                ``0, 1, 2, ...`` cycling over the classes).
            label: One class for all ``n`` images (``genkeras sample --label``).
            cached: Use the cached incremental sampler (default: when the model
                supports it). Both samplers give the same images for a seed.
            jit_compile: Compile the sampling loop with XLA.

        Returns:
            ``(n, H, W, C)`` float32 tensor of levels.
        """
        from genkeras.models import sampling

        n = self.sample_count(n)
        if (labels is not None or label is not None) and not self.conditional:
            raise ValueError(
                f"{type(self).__name__} is not class-conditional (train it with "
                f"conditional=True to sample a class). Received: label={label}"
            )
        if label is not None:
            if not 0 <= int(label) < int(self.num_classes):
                raise ValueError(
                    f"label must be in 0..{self.num_classes - 1}. Received: label={label}"
                )
            labels = tf.fill((int(n),), int(label))
        if cached is None:
            cached = self.supports_cached_sampling
        if cached and not self.supports_cached_sampling:
            raise ValueError(f"{type(self).__name__} has no cached sampler. Received: cached=True")
        if self.conditional:
            labels = self.default_labels(int(n)) if labels is None else labels
            labels = tf.cast(tf.reshape(labels, (-1,)), tf.int32)
            if int(labels.shape[0]) == 1 and int(n) > 1:
                labels = tf.repeat(labels, int(n))
        else:
            labels = None
        fn = sampling.sample_cached if cached else sampling.sample_compiled
        return fn(
            self, int(n), seed=seed, temperature=temperature, labels=labels, jit_compile=jit_compile
        )

    # -- figures ------------------------------------------------------------------
    def receptive_field(self, position=None, seed: int = 0) -> np.ndarray:
        """Gradient magnitude of one output pixel's logits w.r.t. the input image.

        Args:
            position: ``(row, col)`` of the output pixel (default: the centre).
            seed: Seed of the random input image.

        Returns:
            ``(H, W)`` array: ``sum_c |d sum(logits[row, col]) / d x[:, :, c]|``.
            Zero where the output cannot see the input.
        """
        row, col = position if position is not None else (self.height // 2, self.width // 2)
        rng = np.random.default_rng(seed)
        x = tf.constant(rng.integers(0, self.levels, (1,) + self.data_shape), tf.float32)
        labels = tf.zeros((1,), tf.int32) if self.conditional else None
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = self.forward(x, labels)
            target = tf.reduce_sum(logits[0, row, col])
        grad = tape.gradient(target, x)  # (1, H, W, C)
        return np.abs(grad.numpy()[0]).sum(axis=-1)

    def field_twin(self, cls=None, config=None):
        """This architecture (or ``cls`` with ``config``) on a canvas of at least 16x16.

        A receptive field is decided by the masks alone, so random weights do;
        the canvas is :data:`FIELD_CANVAS` on a side at least, because on an
        8x8 image the border cuts PixelCNN's blind spot off: every past pixel
        is within its reach there, and the lesson cannot be seen.

        Args:
            cls: The family (default: this one).
            config: Its config fields (default: this model's).
        """
        import dataclasses

        cls = cls or type(self)
        config = dataclasses.asdict(self.cfg) if config is None else config
        h, w = max(self.height, FIELD_CANVAS), max(self.width, FIELD_CANVAS)
        twin = cls((h, w, self.channels), self.levels, config, self.num_classes)
        return twin.build_from_shape()

    def field_comparison(self) -> list:
        """``(title, model)`` pairs the receptive-field figure shows (default: this family)."""
        return [(type(self).__name__, self.field_twin())]

    def write_figures(self, spec, out_dir) -> list[str]:
        """Writes ``receptive_field.png``: which inputs one output pixel can see.

        Drawn on a canvas of at least 16x16 (:meth:`field_twin`), with the
        number of past pixels each model cannot see in the panel's title; the
        pixel CNNs show the other variant beside them (blind spot against none).
        """
        from genkeras import plots

        pairs = self.field_comparison()
        height, width = pairs[0][1].height, pairs[0][1].width
        position = (height // 2, width // 2 - 2)
        plots.receptive_field(
            [model.receptive_field(position) for _, model in pairs],
            os.path.join(out_dir, "receptive_field.png"),
            positions=[position] * len(pairs),
            titles=[name for name, _ in pairs],
            title=f"which input pixels can output ({position[0]}, {position[1]}) see? "
            f"({height}x{width} canvas, random weights: the masks decide)",
        )
        return ["receptive_field.png"]
