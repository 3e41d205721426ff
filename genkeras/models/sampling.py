"""Compiled autoregressive sampling shared by the pixel models.

Drawing an image from ``p(x) = prod_k p(x_k | x_<k)`` takes ``D = H * W * C``
sequential steps: sample ``x_1``, feed it back, sample ``x_2``... Three ways to do
it are implemented here, all giving **the same images for the same seed**:

* :func:`sample_python_loop` -- the naive way (as in the Keras PixelCNN example):
  a Python loop that calls the model once per sub-pixel; every step is a round
  trip from Python to the runtime. Kept as the benchmark baseline.
* :func:`sample_compiled` -- the whole loop over positions is one ``tf.while_loop``
  inside one ``tf.function`` (optionally XLA-compiled): one call, no Python in
  the loop. Still a full forward pass over the image per step.
* :func:`sample_cached` -- the cached incremental sampler, in the spirit of
  [1]: each layer keeps a buffer of its past activations and each step computes
  only the activations at the new position (the Gated PixelCNN computes its
  vertical stack once per row, the PixelRNN's Row LSTM its state-to-state gates
  from the row above). The work per step drops from ``O(H W)`` positions to
  ``O(1)`` (plus ``O(W)`` once per row).

Randomness: the value at flat position ``t`` (raster order, channels inner) is
``argmax_l(logits_l / T + g_l)`` with Gumbel noise ``g = -log(-log u)`` (the
Gumbel-max trick samples exactly ``softmax(logits / T)``), where ``u`` is a
counter-based hash of ``(seed, t, index)`` (:func:`counter_uniform`). Because the
noise depends only on the seed and the position, and is computed with integer
ops that XLA reproduces bit for bit, the samplers agree image for image, with
or without ``jit_compile``.

References:

[1]: Ramachandran et al. Fast Generation for Convolutional Autoregressive
     Models. ICLR 2017 workshop. https://arxiv.org/abs/1704.06001
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

__all__ = [
    "counter_uniform",
    "gumbel_argmax",
    "sample_cached",
    "sample_compiled",
    "sample_python_loop",
]

# Compiled sampling functions per model, so repeated calls do not retrace.
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_MASK32 = 0xFFFFFFFF


def _mix32(x):
    """MurmurHash3's 32-bit finaliser on int64 tensors holding 32-bit values."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = (x * 0x85EBCA6B) & _MASK32
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13))
    x = (x * 0xC2B2AE35) & _MASK32
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def counter_uniform(shape, seed, position):
    """Uniform ``(0, 1)`` numbers from a hash of ``(seed, position, element index)``.

    Built from integer ops only, so it gives bit-identical numbers eagerly, in a
    ``tf.function`` and under XLA (TF's stateless RNG kernels do not: XLA derives
    its Philox key differently).

    Args:
        shape: ``(batch, levels)``, static.
        seed: ``(2,)`` integer seed.
        position: Integer position ``t``.

    Returns:
        float32 tensor of ``shape`` in ``(0, 1)``.
    """
    seed = tf.cast(seed, tf.int64) & _MASK32
    key = _mix32((seed[1] * 0x9E3779B1 + tf.cast(position, tf.int64)) & _MASK32)
    key = _mix32(tf.bitwise.bitwise_xor(key, (seed[0] * 0x7FEB352D) & _MASK32))
    index = tf.reshape(tf.range(int(np.prod(shape)), dtype=tf.int64), shape)
    bits = _mix32(_mix32((index * 0x27D4EB2F + key) & _MASK32))
    return (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) / float(2**24)


def gumbel_argmax(logits, seed, position, temperature=1.0):
    """Samples ``Categorical(softmax(logits / temperature))`` with the Gumbel-max trick.

    Args:
        logits: ``(batch, levels)`` with a static shape.
        seed: ``(2,)`` integer base seed.
        position: Flat position ``t``; the noise is a function of ``(seed, t)`` only.
        temperature: Positive softmax temperature.

    Returns:
        ``(batch,)`` int32 samples.
    """
    u = counter_uniform(tuple(logits.shape), seed, position)
    gumbel = -tf.math.log(-tf.math.log(u))
    scaled = tf.cast(logits, tf.float32) / tf.cast(temperature, tf.float32)
    return tf.argmax(scaled + gumbel, axis=-1, output_type=tf.int32)


def _prepare(model, n, temperature, labels):
    if n < 1:
        raise ValueError(f"n must be positive. Received: n={n}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive. Received: temperature={temperature}")
    if not model.built:
        model.build_from_shape()
    if labels is None:
        labels = tf.zeros((n,), tf.int32)
    labels = tf.cast(tf.reshape(labels, (-1,)), tf.int32)
    if int(labels.shape[0]) != n:
        raise ValueError(f"labels must have n={n} entries. Received: labels.shape={labels.shape}")
    return tf.constant(float(temperature), tf.float32), labels


def _check_steps(model, steps):
    dims = int(np.prod(model.data_shape))
    if steps is None:
        return dims
    if not 1 <= int(steps) <= dims:
        raise ValueError(f"steps must be in 1..{dims}. Received: steps={steps}")
    return int(steps)


def _forward(model, x, labels):
    return tf.cast(model.forward(x, labels), tf.float32)  # (n, H, W, C, levels)


def _function(model, key, python_fn, jit_compile):
    table = _FUNCTIONS.setdefault(model, {})
    if key not in table:
        table[key] = tf.function(python_fn, jit_compile=jit_compile, autograph=False)
    return table[key]


# -- (a) the naive baseline -------------------------------------------------------
def sample_python_loop(model, n, seed=None, temperature=1.0, labels=None, steps=None):
    """Samples with a Python loop calling the (compiled) model once per sub-pixel.

    This is the slow baseline of the benchmarks: ``H * W * C`` round trips.

    Args:
        model: An :class:`~genkeras.models.autoregressive.AutoregressiveModel`.
        n: Number of images.
        seed: Integer seed (``None``: from the model's seed generator).
        temperature: Softmax temperature.
        labels: ``(n,)`` labels for a conditional model.
        steps: Sample only the first ``steps`` positions (the rest stay 0); the
            benchmarks time a prefix and extrapolate. ``None``: all positions.

    Returns:
        ``(n, H, W, C)`` float32 tensor of levels.
    """
    temperature, labels = _prepare(model, n, temperature, labels)
    steps = _check_steps(model, steps)
    seed = model.seed_tensor(seed)
    forward = _function(model, ("forward", n), lambda x, y: _forward(model, x, y), False)
    height, width, channels = model.data_shape
    x = np.zeros((n, height, width, channels), np.float32)
    for t in range(steps):
        i, j, c = t // (width * channels), (t // channels) % width, t % channels
        logits = forward(tf.constant(x), labels)
        x[:, i, j, c] = gumbel_argmax(logits[:, i, j, c], seed, t, temperature).numpy()
    return tf.constant(x)


# -- (b) one compiled while loop --------------------------------------------------
def _full_loop(model, n, seed, temperature, labels, steps):
    height, width, channels = model.data_shape
    dims = height * width * channels

    def body(t, x):
        logits = _forward(model, x, labels)
        i, j, c = t // (width * channels), (t // channels) % width, t % channels
        value = gumbel_argmax(logits[:, i, j, c], seed, t, temperature)  # (n,)
        where = tf.reshape(tf.one_hot(t, dims), (1, height, width, channels))
        return t + 1, x + where * tf.cast(value, tf.float32)[:, None, None, None]

    x0 = tf.zeros((n, height, width, channels), tf.float32)
    _, x = tf.while_loop(lambda t, x: t < steps, body, (tf.constant(0), x0))
    return x


def sample_compiled(
    model, n, seed=None, temperature=1.0, labels=None, jit_compile=False, steps=None
):
    """Samples inside one ``tf.function`` with a ``tf.while_loop`` over positions.

    Each step runs the full model on the partial images and samples the next
    sub-pixel; works for every pixel model.

    Args:
        model: An :class:`~genkeras.models.autoregressive.AutoregressiveModel`.
        n: Number of images.
        seed: Integer seed (``None``: from the model's seed generator).
        temperature: Softmax temperature.
        labels: ``(n,)`` labels for a conditional model.
        jit_compile: XLA-compile the loop.
        steps: Sample only the first ``steps`` positions (the rest stay 0).
            ``None``: all positions.

    Returns:
        ``(n, H, W, C)`` float32 tensor of levels.
    """
    temperature, labels = _prepare(model, n, temperature, labels)
    steps = _check_steps(model, steps)
    fn = _function(
        model,
        ("full", n, jit_compile, steps),
        lambda s, t, y: _full_loop(model, n, s, t, y, steps),
        jit_compile,
    )
    return fn(model.seed_tensor(seed), temperature, labels)


# -- (c) cached incremental sampling -----------------------------------------------
def _cached_loop(model, n, seed, temperature, labels):
    height, width, channels = model.data_shape
    levels, pad = model.levels, model.cache_pad()

    def pixel(i, j, state):
        for c in range(channels):  # R -> G -> B; the buffers at (i, j) end final
            state, logits = model.cache_pixel(state, i, j)  # logits (n, C, levels)
            t = (i * width + j) * channels + c
            value = tf.cast(gumbel_argmax(logits[:, c], seed, t, temperature), tf.float32)
            value = value / float(levels - 1) * 2.0 - 1.0  # as model.preprocess
            x_buf = state["x"]
            current = x_buf[i + pad, j + pad]  # (n, C)
            new = current + tf.one_hot(c, channels)[None] * value[:, None]
            x_buf = tf.tensor_scatter_nd_update(
                x_buf, tf.reshape(tf.stack([i + pad, j + pad]), (1, 2)), new[None]
            )
            state = {**state, "x": x_buf}
        return state

    def row(i, state):
        state = model.cache_row(state, i)
        _, state = tf.while_loop(
            lambda j, s: j < width, lambda j, s: (j + 1, pixel(i, j, s)), (tf.constant(0), state)
        )
        return i + 1, state

    state = model.cache_init(n, labels if model.conditional else None)
    _, state = tf.while_loop(lambda i, s: i < height, row, (tf.constant(0), state))
    x = tf.transpose(state["x"][pad : pad + height, pad : pad + width], (2, 0, 1, 3))
    return tf.round((x + 1.0) / 2.0 * float(levels - 1))  # (n, H, W, C) levels


def sample_cached(model, n, seed=None, temperature=1.0, labels=None, jit_compile=False):
    """Samples with per-layer activation caches: only the new position is computed.

    Needs a model with ``supports_cached_sampling`` (PixelCNN, Gated PixelCNN,
    PixelRNN with Row LSTM layers). Gives the same images as
    :func:`sample_compiled` for the same seed.

    Args:
        model: A model implementing ``cache_init``/``cache_row``/``cache_pixel``.
        n: Number of images.
        seed: Integer seed (``None``: from the model's seed generator).
        temperature: Softmax temperature.
        labels: ``(n,)`` labels for a conditional model.
        jit_compile: XLA-compile the loop.

    Returns:
        ``(n, H, W, C)`` float32 tensor of levels.
    """
    if not model.supports_cached_sampling:
        raise ValueError(
            f"{type(model).__name__} has no cached sampler. Received: model={type(model).__name__}"
        )
    temperature, labels = _prepare(model, n, temperature, labels)
    fn = _function(
        model,
        ("cached", n, jit_compile),
        lambda s, t, y: _cached_loop(model, n, s, t, y),
        jit_compile,
    )
    return fn(model.seed_tensor(seed), temperature, labels)
