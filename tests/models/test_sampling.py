"""Tests of the shared samplers: seeding, temperature, and cached == compiled == Python loop."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from genkeras.models import sampling
from genkeras.models.pixelcnn import GatedPixelCNN, PixelCNN
from genkeras.models.pixelrnn import PixelRNN


def _model(kind, shape=(4, 5, 1), levels=3, **config):
    keras.utils.set_random_seed(0)
    if kind == "pixelcnn":
        config = {"filters": 12, "num_blocks": 2, **config}
        return PixelCNN(shape, levels=levels, config=config).build_from_shape()
    if kind == "row":  # PixelRNN with Row LSTM layers
        config = {"layer": "row", "filters": 6, "num_layers": 2, "first_kernel": 3, **config}
        return PixelRNN(shape, levels=levels, config=config).build_from_shape()
    config = {"filters": 6, "num_layers": 3, **config}
    return GatedPixelCNN(shape, levels=levels, config=config, num_classes=4).build_from_shape()


def test_gumbel_argmax_samples_the_softmax():
    logits = tf.math.log(tf.constant([[0.1, 0.6, 0.3]] * 20000))
    draws = sampling.gumbel_argmax(logits, tf.constant([1, 2]), 7).numpy()
    np.testing.assert_allclose(
        np.bincount(draws, minlength=3) / len(draws), [0.1, 0.6, 0.3], atol=0.015
    )
    cold = sampling.gumbel_argmax(logits, tf.constant([1, 2]), 7, temperature=1e-3).numpy()
    assert np.all(cold == 1)


@pytest.mark.parametrize("kind", ["pixelcnn", "gated"])
def test_same_seed_same_images_other_seed_other_images(kind):
    model = _model(kind)
    a, b = model.sample(6, seed=3), model.sample(6, seed=3)
    np.testing.assert_array_equal(a, b)
    assert tuple(a.shape) == (6, 4, 5, 1)
    values = np.unique(a.numpy())
    assert set(values) <= {0.0, 1.0, 2.0} and len(values) > 1
    assert not np.array_equal(a, model.sample(6, seed=4))
    assert not np.array_equal(model.sample(6), model.sample(6))  # the model's seed generator


@pytest.mark.parametrize(
    "kind,shape,config",
    [
        ("pixelcnn", (4, 5, 1), {}),
        ("pixelcnn", (3, 3, 3), {"first_kernel": 5}),
        ("gated", (4, 5, 1), {}),
        ("gated", (3, 4, 3), {"first_kernel": 5}),
        ("gated", (4, 5, 1), {"conditional": True}),
        ("row", (4, 5, 1), {}),
        ("row", (3, 4, 3), {"first_kernel": 5}),
        ("row", (5, 4, 1), {"kernel_size": 5, "num_layers": 3}),
    ],
)
def test_cached_sampler_equals_uncached_and_python_loop(kind, shape, config):
    model = _model(kind, shape, 4, **config)
    # Random-init logits are nearly flat, so the Gumbel noise alone would decide most
    # draws: sharpen them so that a wrong cached logit changes the images.
    model.out_logits.kernel.assign(10.0 * model.out_logits.kernel)
    cached = sampling.sample_cached(model, 5, seed=9, labels=tf.constant([0, 1, 2, 3, 0]))
    compiled = sampling.sample_compiled(model, 5, seed=9, labels=tf.constant([0, 1, 2, 3, 0]))
    loop = sampling.sample_python_loop(model, 5, seed=9, labels=tf.constant([0, 1, 2, 3, 0]))
    np.testing.assert_array_equal(cached, compiled)
    np.testing.assert_array_equal(cached, loop)
    assert len(np.unique(cached.numpy())) > 1


@pytest.mark.parametrize("kind", ["gated", "row"])
def test_cached_sampler_is_the_default_and_xla_compiles(kind):
    model = _model(kind)
    np.testing.assert_array_equal(model.sample(3, seed=1), model.sample(3, seed=1, cached=True))
    np.testing.assert_array_equal(
        model.sample(3, seed=1, jit_compile=True),
        model.sample(3, seed=1, cached=False, jit_compile=True),
    )


def test_labels_change_conditional_samples():
    model = _model("gated", conditional=True)
    rng = np.random.default_rng(0)
    for pair in model.embeddings:  # make the (small at init) label effect strong
        for embedding in pair:
            embedding.embeddings.assign(3.0 * rng.normal(size=embedding.embeddings.shape))
    # Random-init logits are nearly flat (differences ~0.01): sharpen them.
    model.out_logits.kernel.assign(3.0 * model.out_logits.kernel)
    zeros = model.sample(4, seed=2, labels=[0])  # one label is repeated for all images
    threes = model.sample(4, seed=2, labels=[3, 3, 3, 3])
    assert not np.array_equal(zeros, threes)
    np.testing.assert_array_equal(model.sample(2, seed=2, labels=[0, 0]), zeros[:2])


def test_temperature_near_zero_is_greedy():
    model = _model("pixelcnn")
    # Zero-init biases make the first pixel's logits an exact tie; break the ties.
    model.out_logits.bias.assign(np.random.default_rng(0).normal(size=3))
    a = model.sample(2, seed=1, temperature=1e-6)
    b = model.sample(2, seed=2, temperature=1e-6)
    np.testing.assert_array_equal(a, b)  # argmax decoding: the seed no longer matters


def test_bad_arguments():
    model = _model("pixelcnn")
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=0.0)
    with pytest.raises(ValueError, match="Received: n=0"):
        sampling.sample_compiled(model, 0)


def test_prefix_sampling_matches_the_full_sample():
    model = _model("pixelcnn")
    full = sampling.sample_cached(model, 3, seed=5).numpy().reshape(3, -1)
    prefix = sampling.sample_compiled(model, 3, seed=5, steps=7).numpy().reshape(3, -1)
    loop = sampling.sample_python_loop(model, 3, seed=5, steps=7).numpy().reshape(3, -1)
    np.testing.assert_array_equal(prefix[:, :7], full[:, :7])
    np.testing.assert_array_equal(loop, prefix)
    assert np.all(prefix[:, 7:] == 0)
    with pytest.raises(ValueError, match="Received: steps=21"):
        sampling.sample_compiled(model, 3, steps=21)


def test_label_argument_for_the_cli():
    model = _model("gated", conditional=True)
    np.testing.assert_array_equal(
        model.sample(3, seed=1, label=2), model.sample(3, seed=1, labels=[2, 2, 2])
    )
    with pytest.raises(ValueError, match="Received: label=4"):
        model.sample(3, label=4)
    with pytest.raises(ValueError, match="not class-conditional"):
        _model("pixelcnn").sample(2, label=1)
