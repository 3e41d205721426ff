"""Numerical checks shared by the pixel-model tests (not a test module itself)."""

import itertools

import numpy as np
import tensorflow as tf


def logits_of(model, x, labels=None):
    """Float64 NumPy logits ``(batch, H, W, C, levels)``."""
    x = tf.constant(x, tf.float32)
    out = model(x, labels=labels) if model.conditional else model(x)
    return out.numpy().astype(np.float64)


def dependency_matrix(model, seed=0, labels=None):
    """``dep[t, k]``: how much the logits at flat position k move when input t changes.

    Flat positions follow raster order with channels innermost (R, G, B).
    """
    height, width, channels = model.data_shape
    dims = height * width * channels
    rng = np.random.default_rng(seed)
    x = rng.integers(0, model.levels, (1, height, width, channels)).astype(np.float32)
    flat = np.repeat(x.reshape(1, dims), dims, axis=0)  # one perturbed copy per position
    flat[np.arange(dims), np.arange(dims)] = (
        flat[np.arange(dims), np.arange(dims)] + 1
    ) % model.levels
    batch = np.concatenate([x, flat.reshape((dims,) + model.data_shape)])
    if labels is not None:
        labels = tf.fill((dims + 1,), labels)
    out = logits_of(model, batch, labels).reshape(dims + 1, dims, model.levels)
    return np.abs(out[1:] - out[:1]).max(axis=-1)  # (perturbed input t, output k)


def assert_causal(model, seed=0, labels=None, atol=1e-5):
    """Perturbing input t leaves every output k <= t unchanged; later outputs do move."""
    dep = dependency_matrix(model, seed, labels)
    dims = dep.shape[0]
    past_or_self = np.tril(np.ones((dims, dims), bool))  # [t, k]: k <= t
    leaked = dep[past_or_self].max()
    assert leaked < atol, f"output at k <= t moved by {leaked} when input t changed"
    assert dep[~past_or_self].max() > 1e-4, "no output depends on any earlier input"
    return dep


def all_images(model):
    """Every image of the model's shape and levels, ``(levels**D, H, W, C)``."""
    dims = int(np.prod(model.data_shape))
    grid = np.array(list(itertools.product(range(model.levels), repeat=dims)), np.float32)
    return grid.reshape((-1,) + model.data_shape)


def chain_rule_log_probs(model, x, labels=None):
    """``sum_k log p(x_k | x_<k)`` from D separate passes, each with ``x_>=k`` zeroed."""
    height, width, channels = model.data_shape
    dims = height * width * channels
    x = np.asarray(x, np.float32)
    flat = x.reshape(len(x), dims)
    total = np.zeros(len(x))
    for k in range(dims):
        hidden = flat.copy()
        hidden[:, k:] = 0.0  # the future (and x_k itself) replaced by zeros
        logits = logits_of(model, hidden.reshape(x.shape), labels).reshape(len(x), dims, -1)
        log_softmax = logits[:, k] - np.log(np.exp(logits[:, k]).sum(-1, keepdims=True))
        total += log_softmax[np.arange(len(x)), flat[:, k].astype(int)]
    return total
