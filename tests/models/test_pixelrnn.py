"""Tests of RowLSTM, DiagonalBiLSTM and PixelRNN: skewing, causality, exact likelihood."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import all_images, assert_causal, chain_rule_log_probs, logits_of

from genkeras import registry
from genkeras.models import sampling
from genkeras.models.base import TrainingSettings
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
    model.compile_for_training(TrainingSettings(1e-2, jit=True))
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
    compiled = model.sample(3, seed=11, cached=False)
    assert tuple(compiled.shape) == (3, 3, 4, 1)
    np.testing.assert_array_equal(compiled, sampling.sample_python_loop(model, 3, seed=11))
    assert not np.array_equal(compiled, model.sample(3, seed=12, cached=False))


def test_only_the_row_lstm_has_a_cached_sampler():
    row, diagonal = _pixelrnn("row", (3, 4, 1), 3), _pixelrnn("diagonal", (3, 4, 1), 3)
    assert row.supports_cached_sampling and not diagonal.supports_cached_sampling
    # The default sampler of the Row LSTM is the cached one.
    np.testing.assert_array_equal(row.sample(2, seed=4), sampling.sample_cached(row, 2, seed=4))
    with pytest.raises(ValueError, match="cached"):
        diagonal.sample(2, cached=True)
    with pytest.raises(ValueError, match="Received: layer='diagonal'"):
        diagonal.cache_init(2)


def _teacher_forced_cache_logits(model, x):
    """Logits from the cache hooks, fed the given image pixel by pixel (as the sampler)."""
    height, width, channels = model.data_shape
    pad = model.cache_pad()
    values = model.preprocess(x).numpy()  # (n, H, W, C) in [-1, 1]
    state = model.cache_init(len(x))
    logits = np.zeros(x.shape + (model.levels,))
    for i in range(height):
        state = model.cache_row(state, tf.constant(i))
        for j in range(width):
            for c in range(channels):
                state, out = model.cache_pixel(state, tf.constant(i), tf.constant(j))
                logits[:, i, j, c] = out[:, c].numpy()
                image = state["x"].numpy()
                image[i + pad, j + pad, :, c] = values[:, i, j, c]
                state = {**state, "x": tf.constant(image)}
    return logits


@pytest.mark.parametrize(
    "shape,config",
    [
        ((4, 5, 1), {}),
        ((3, 4, 3), {"first_kernel": 5}),
        ((5, 4, 1), {"kernel_size": 5, "num_layers": 3}),
    ],
)
def test_row_lstm_cache_gives_the_full_pass_logits(shape, config):
    # Every logit the cached sampler sees equals the full pass's logit at that
    # position, for an image fed in raster order (stronger than comparing samples).
    model = _pixelrnn("row", shape, 4, **config)
    x = np.random.default_rng(3).integers(0, 4, (3,) + shape).astype(np.float32)
    cached = _teacher_forced_cache_logits(model, x)
    full = logits_of(model, x)
    assert np.abs(full).max() > 1e-3
    np.testing.assert_allclose(cached, full, atol=1e-5)


def _raster_scan(gates_in, kernel, reverse):
    """A Diagonal BiLSTM direction as a raster-order recurrence, in NumPy.

    State (i, j) from the input gates at (i, j), the state of its side neighbour
    (i, j - 1) (forward) or (i, j + 1) (backward), and the hidden state at (i - 1, j).
    """
    batch, height, width, _ = gates_in.shape
    units = kernel.shape[1]
    h = np.zeros((batch, height + 1, width + 2, units))  # zero row above, zero column each side
    c = np.zeros_like(h)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    for i in range(height):
        for j in reversed(range(width)) if reverse else range(width):
            side = j + 2 if reverse else j  # padded column of the side neighbour
            gates = gates_in[:, i, j] + h[:, i, j + 1] @ kernel[0] + h[:, i + 1, side] @ kernel[1]
            o, f, g_in, g = np.split(gates, 4, axis=-1)
            c[:, i + 1, j + 1] = sigmoid(f) * c[:, i + 1, side] + sigmoid(g_in) * np.tanh(g)
            h[:, i + 1, j + 1] = sigmoid(o) * np.tanh(c[:, i + 1, j + 1])
    return h[:, 1:, 1 : width + 1]


def test_diagonal_bilstm_scans_are_raster_order_recurrences():
    # The claim of DiagonalBiLSTM's docstring: the skewed scans only link a pixel to
    # its side and upper neighbours, and the output of row i uses the backward map
    # of row i - 1 only, so a row-incremental cache is possible.
    keras.utils.set_random_seed(0)
    layer = DiagonalBiLSTM(8)
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 4)).astype(np.float32)
    out = layer(x).numpy()
    forward = _raster_scan(
        layer.forward_input(x).numpy(), layer.forward_state.numpy(), reverse=False
    )
    backward = _raster_scan(
        layer.backward_input(x).numpy(), layer.backward_state.numpy(), reverse=True
    )
    shifted = np.pad(backward[:, :-1], [(0, 0), (1, 0), (0, 0), (0, 0)])  # row i-1 -> row i
    assert np.abs(backward).max() > 1e-2 and np.abs(forward).max() > 1e-2
    np.testing.assert_allclose(out, forward + shifted, atol=1e-5)


def test_graph_mode_forward_under_xla_matches_eager():
    model = _pixelrnn("diagonal", (4, 5, 1), 3)
    x = tf.constant(np.random.default_rng(1).integers(0, 3, (2, 4, 5, 1)), tf.float32)
    xla = tf.function(lambda v: model(v), jit_compile=True)(x)
    np.testing.assert_allclose(xla, model(x), atol=1e-5)
