"""Tests of RowLSTM, DiagonalBiLSTM and PixelRNN: skewing, causality, exact likelihood."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import all_images, assert_causal, chain_rule_log_probs, logits_of

from genkeras import registry
from genkeras.models import sampling
from genkeras.models.pixelrnn import (
    DiagonalBiLSTM,
    PixelRNN,
    PixelRNNConfig,
    RowLSTM,
    skew,
    unskew,
)

LAYERS = ["row", "diagonal"]


def _pixelrnn(layer, shape=(3, 3, 1), levels=2, **config):
    keras.utils.set_random_seed(0)
    config = {"layer": layer, "filters": 6, "num_layers": 2, "first_kernel": 3, **config}
    return PixelRNN(shape, levels=levels, config=config).build_from_shape()


def test_skew_unskew_round_trip_and_diagonals_become_columns():
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    skewed = skew(x)
    assert tuple(skewed.shape) == (2, 3, 6, 2)
    for i in range(3):
        np.testing.assert_array_equal(skewed[:, i, i : i + 4], x[:, i])
        assert np.all(skewed[:, i, :i] == 0) and np.all(skewed[:, i, i + 4 :] == 0)
    np.testing.assert_array_equal(unskew(skewed, 4), x)


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="Received: layer='grid'"):
        PixelRNNConfig(layer="grid")
    with pytest.raises(ValueError, match="Received: kernel_size=2"):
        PixelRNNConfig(kernel_size=2)
    with pytest.raises(ValueError, match="units"):
        RowLSTM(4, data_channels=3)
    assert registry.models.get("pixelrnn") is PixelRNN


@pytest.mark.parametrize("cls,kwargs", [(RowLSTM, {"kernel_size": 3}), (DiagonalBiLSTM, {})])
def test_layers_get_config_round_trip(cls, kwargs):
    layer = cls(6, data_channels=3, **kwargs)
    clone = cls.from_config(layer.get_config())
    assert (clone.units, clone.data_channels) == (6, 3)
    y = layer(np.zeros((2, 3, 4, 5), np.float32))
    assert tuple(y.shape) == (2, 3, 4, 6)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("shape,levels", [((4, 4, 1), 3), ((3, 3, 3), 4)])
def test_pixelrnn_is_causal(layer, shape, levels):
    assert_causal(_pixelrnn(layer, shape, levels))


def test_diagonal_bilstm_sees_the_past_and_row_lstm_a_triangle():
    shape, (row, col) = (5, 9, 1), (3, 6)
    past = np.zeros(shape[:2], bool)
    past[:row] = True
    past[row, :col] = True
    kwargs = {"first_kernel": 3, "num_layers": 1}  # one recurrent layer's own field
    diagonal = _pixelrnn("diagonal", shape, 3, **kwargs).receptive_field((row, col))
    row_lstm = _pixelrnn("row", shape, 3, **kwargs).receptive_field((row, col))
    assert np.all(diagonal[~past] == 0) and np.all(row_lstm[~past] == 0)
    # Diagonal BiLSTM: everything, except the end of the row above: pixel (i-1, c) enters
    # only features of row i (type-A first layer, reach first_kernel // 2 = 1), and the
    # forward scan reads row i only up to column j; the backward map is shifted down.
    blind = past.copy()
    blind[:] = False
    blind[row - 1, col + 2 :] = True
    assert np.all(diagonal[past & ~blind] > 0) and np.all(diagonal[blind] == 0)
    # Row LSTM (k = 3): a triangle; it even misses the current row beyond two pixels.
    assert np.all(row_lstm[row, : col - 2] == 0) and np.all(row_lstm[row, col - 2 : col] > 0)
    assert row_lstm[row - 1, col + 2] == 0 and row_lstm[row - 1, col + 1] > 0
    assert row_lstm[0, 0] == 0 and row_lstm[0, 1] > 0


@pytest.mark.parametrize("layer", LAYERS)
def test_exact_likelihood_on_all_binary_images(layer):
    model = _pixelrnn(layer)
    images = all_images(model)  # 512 images of 3x3
    log_p = model.log_prob(images).numpy().astype(np.float64)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, atol=1e-4)
    assert log_p.max() - log_p.min() > 0.5
    x = images[::53]
    np.testing.assert_allclose(model.log_prob(x).numpy(), chain_rule_log_probs(model, x), atol=1e-4)


@pytest.mark.parametrize("layer", LAYERS)
def test_jit_compiled_training_and_save_load(tmp_path, layer):
    model = _pixelrnn(layer, (4, 4, 1), 3)
    model.compile_for_training(learning_rate=1e-2, jit_compile=True)
    x = np.random.default_rng(0).integers(0, 3, (64, 4, 4, 1)).astype(np.float32)
    before = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)["loss"]
    model.fit(x, batch_size=32, epochs=4, verbose=0, shuffle=False)
    assert model.evaluate(x, batch_size=32, verbose=0, return_dict=True)["loss"] < before
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.cfg == model.cfg
    np.testing.assert_allclose(logits_of(loaded, x[:4]), logits_of(model, x[:4]), atol=1e-6)


@pytest.mark.parametrize("layer", LAYERS)
def test_compiled_sampler_matches_the_python_loop(layer):
    model = _pixelrnn(layer, (3, 4, 1), 3)
    compiled = model.sample(3, seed=11)
    assert tuple(compiled.shape) == (3, 3, 4, 1)
    np.testing.assert_array_equal(compiled, sampling.sample_python_loop(model, 3, seed=11))
    assert not np.array_equal(compiled, model.sample(3, seed=12))
    with pytest.raises(ValueError, match="cached"):
        model.sample(2, cached=True)


def test_graph_mode_forward_under_xla_matches_eager():
    model = _pixelrnn("diagonal", (4, 5, 1), 3)
    x = tf.constant(np.random.default_rng(1).integers(0, 3, (2, 4, 5, 1)), tf.float32)
    xla = tf.function(lambda v: model(v), jit_compile=True)(x)
    np.testing.assert_allclose(xla, model(x), atol=1e-5)
