"""PixelRNN: Row LSTM and Diagonal BiLSTM layers with an exact categorical likelihood.

PixelRNN [1] models ``p(x) = prod_k p(x_k | x_<k)`` (raster order, channels
R -> G -> B) with two-dimensional LSTMs. Both layers compute the four LSTM gates
``[o, f, i, g] = σ/tanh(K_ss ⊛ h_prev + K_is ⊛ x)`` and the usual updates
``c = f ⊙ c_prev + i ⊙ g``, ``h = o ⊙ tanh(c)``:

* :class:`RowLSTM` processes the image one row at a time: the input-to-state
  part is a ``1 x k`` masked (type B) convolution over the current row, the
  state-to-state part a 1-D convolution of width ``k`` over the previous row's
  hidden state. Its receptive field is a triangle above the pixel (it misses
  part of the context).
* :class:`DiagonalBiLSTM` skews the input so that each diagonal becomes a
  column, then scans the columns with a ``2 x 1`` state-to-state convolution
  (the pixel's left and upper neighbours), in both directions (the backward one
  on the horizontally flipped image). The backward map is shifted down one row
  so it never sees the current row's future pixels; the sum of both covers the
  whole causal context.

The model: a ``7 x 7`` type-A masked convolution, ``num_layers`` recurrent
layers with residual connections (``x + 1x1(lstm(x))``), then two ``1 x 1``
masked convolutions to logits ``(H, W, C, levels)``. The recurrences are
``tf.scan`` loops over rows / diagonals, so the model trains under
``tf.function`` and XLA.

Sampling runs in one compiled loop (:mod:`genkeras.models.sampling`). With
Row LSTM layers it uses the cached incremental sampler by default
(:func:`~genkeras.models.sampling.sample_cached`): the state-to-state gates of
row ``i`` depend on rows ``< i`` only, so they are computed once when the row
starts, and each pixel computes only its own ``1 x k`` input-to-state gates,
cell update and ``1 x 1`` layers -- the same images as the full pass for a
seed. With Diagonal BiLSTM layers it runs the full pass (the whole network per
sub-pixel); :class:`DiagonalBiLSTM` says why.

References:

[1]: van den Oord, Kalchbrenner & Kavukcuoglu. Pixel Recurrent Neural Networks.
     ICML 2016. https://arxiv.org/abs/1601.06759
"""

from __future__ import annotations

import keras
import numpy as np  # noqa: F401 - used by the doctests
import tensorflow as tf

from genkeras.models.autoregressive import AutoregressiveModel
from genkeras.models.config import PixelRNNConfig
from genkeras.models.pixelcnn import MaskedConv2D

__all__ = ["DiagonalBiLSTM", "PixelRNN", "PixelRNNConfig", "RowLSTM", "skew", "unskew"]


def _lstm_update(gates, c_prev):
    # Chunks of `units` features; chunk feature f is in channel group f % C.
    o, f, i, g = tf.split(gates, 4, axis=-1)
    c = tf.sigmoid(f) * c_prev + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def _scatter_column(buf, j, value):
    """Writes ``value`` ``(batch, F)`` into column ``j`` of a ``(W, batch, F)`` row buffer."""
    return tf.tensor_scatter_nd_update(buf, tf.reshape(j, (1, 1)), value[None])


def _check_units(units, data_channels):
    if int(units) < 1 or int(units) % int(data_channels):
        raise ValueError(
            f"units must be a positive multiple of data_channels={data_channels}. "
            f"Received: units={units}"
        )


@keras.saving.register_keras_serializable(package="genkeras")
class RowLSTM(keras.layers.Layer):
    """Row LSTM of PixelRNN: a row-by-row LSTM with 1-D convolutional transitions.

    Row ``i``'s gates are ``input_to_state(x)[i] + state_gates(h[i - 1])``: a
    ``1 x k`` type-B masked convolution of the input row (columns ``<= j``) and a
    ``k``-wide convolution of the row above's hidden state (:meth:`state_gates`).
    The second term is known once row ``i - 1`` is, which is what the cached
    sampler of :class:`PixelRNN` uses.

    Args:
        units: Hidden-state features (a multiple of ``data_channels``).
        kernel_size: Width ``k`` of the input-to-state and state-to-state convolutions.
        data_channels: Image channels ``C`` (for the channel masks).
        **kwargs: Passed to ``keras.layers.Layer``.

    Call arguments:
        x: ``(batch, H, W, features)``, causal features (type-A masked input).

    Returns:
        ``(batch, H, W, units)``.
    """

    def __init__(self, units, kernel_size=3, data_channels=1, **kwargs):
        super().__init__(**kwargs)
        _check_units(units, data_channels)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(
                f"kernel_size must be a positive odd integer. Received: kernel_size={kernel_size}"
            )
        self.units, self.kernel_size = int(units), int(kernel_size)
        self.data_channels = int(data_channels)
        self.input_to_state = MaskedConv2D(
            4 * self.units, (1, self.kernel_size), "B", self.data_channels, name="input_to_state"
        )

    def build(self, input_shape):
        self.input_to_state.build(input_shape)
        self.state_to_state = self.add_weight(
            name="state_to_state",
            shape=(self.kernel_size, self.units, 4 * self.units),
            initializer="glorot_uniform",
        )

    def state_gates(self, h_prev):
        """State-to-state part of the gates: a 1-D ``"same"`` convolution of the row above.

        Used by ``call`` for every row and, once per row, by the cached sampler.

        Args:
            h_prev: ``(batch, W, units)``, the hidden state of the row above.

        Returns:
            ``(batch, W, 4 * units)``.
        """
        width, half = h_prev.shape[1], self.kernel_size // 2
        padded = tf.pad(h_prev, [[0, 0], [half, half], [0, 0]])
        taps = [  # one matmul per tap (XLA-friendly)
            tf.einsum("bwu,uv->bwv", padded[:, tap : tap + width], self.state_to_state[tap])
            for tap in range(self.kernel_size)
        ]
        return tf.add_n(taps)

    def call(self, x):
        gates_in = self.input_to_state(x)  # (batch, H, W, 4u)
        rows = tf.transpose(gates_in, (1, 0, 2, 3))  # (H, batch, W, 4u)
        zeros = tf.zeros_like(rows[0][..., : self.units])  # (batch, W, u)

        def step(carry, row_gates):
            h_prev, c_prev = carry  # (batch, W, u): the row above
            return _lstm_update(row_gates + self.state_gates(h_prev), c_prev)

        hs, _ = tf.scan(step, rows, initializer=(zeros, zeros))  # (H, batch, W, u)
        return tf.transpose(hs, (1, 0, 2, 3))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_size": self.kernel_size,
            "data_channels": self.data_channels,
        }


def skew(x):
    """Shifts row ``i`` right by ``i``: ``(batch, H, W, F) -> (batch, H, W + H - 1, F)``.

    Example:

    >>> skew(np.arange(4, dtype="float32").reshape(1, 2, 2, 1))[0, ..., 0].numpy()
    array([[0., 1., 0.],
           [0., 2., 3.]], dtype=float32)
    """
    x = tf.convert_to_tensor(x)
    _, height, width, features = x.shape
    x = tf.pad(x, [[0, 0], [0, 0], [0, height], [0, 0]])  # rows of length W + H
    x = tf.reshape(x, (-1, height * (width + height), features))[:, : height * (width + height - 1)]
    return tf.reshape(x, (-1, height, width + height - 1, features))


def unskew(x, width):
    """Inverse of :func:`skew`: ``(batch, H, W + H - 1, F) -> (batch, H, W, F)``."""
    _, height, skewed, features = x.shape
    x = tf.reshape(x, (-1, height * skewed, features))
    x = tf.pad(x, [[0, 0], [0, height], [0, 0]])
    return tf.reshape(x, (-1, height, width + height, features))[:, :, :width]


@keras.saving.register_keras_serializable(package="genkeras")
class DiagonalBiLSTM(keras.layers.Layer):
    """Diagonal BiLSTM of PixelRNN: skewed diagonal scans in both directions.

    Sampling: a :class:`PixelRNN` with these layers has no cached sampler and
    samples with the full pass (the whole network over the image per sub-pixel).
    That is a gap in the implementation, not a limit of the layer. Unskewed, both
    scans are raster-order recurrences (``tests/test_pixelrnn.py`` checks it):
    the forward state at ``(i, j)`` is a function of the input gates at
    ``(i, j)``, the hidden and cell state at ``(i, j - 1)`` and the hidden state
    at ``(i - 1, j)``. The skew only lets one scan step compute a whole
    diagonal at once; it links no other pixels. The backward state at ``(i, j)``
    uses ``(i, j + 1)`` and ``(i - 1, j)``, so it sees row ``i`` to the right of
    ``j``. But the output of row ``i`` uses only the backward map of row
    ``i - 1`` (the one-row shift), which depends on rows ``< i``. A
    row-incremental cache would therefore work: per pixel, one forward cell
    step per layer; when row ``i`` starts, one right-to-left scan of ``W``
    backward cell steps per layer (in layer order) over the finished row
    ``i - 1``. That is two cell steps per pixel and layer, where the Row LSTM
    cache takes one. This cache has not been written yet;
    :meth:`PixelRNN.cache_pixel` is the pattern to follow.

    Args:
        units: Hidden-state features (a multiple of ``data_channels``).
        data_channels: Image channels ``C`` (for the channel masks).
        **kwargs: Passed to ``keras.layers.Layer``.

    Call arguments:
        x: ``(batch, H, W, features)``, causal features (type-A masked input).

    Returns:
        ``(batch, H, W, units)``: forward map plus the down-shifted backward map.
    """

    def __init__(self, units, data_channels=1, **kwargs):
        super().__init__(**kwargs)
        _check_units(units, data_channels)
        self.units, self.data_channels = int(units), int(data_channels)
        self.forward_input = MaskedConv2D(
            4 * self.units, 1, "B", self.data_channels, name="forward_input_to_state"
        )
        self.backward_input = MaskedConv2D(
            4 * self.units, 1, "B", self.data_channels, name="backward_input_to_state"
        )

    def build(self, input_shape):
        self.forward_input.build(input_shape)
        self.backward_input.build(input_shape)
        shape = (2, self.units, 4 * self.units)  # taps: (row above, same row)
        self.forward_state = self.add_weight(
            name="forward_state_to_state", shape=shape, initializer="glorot_uniform"
        )
        self.backward_state = self.add_weight(
            name="backward_state_to_state", shape=shape, initializer="glorot_uniform"
        )

    def _scan(self, x, input_conv, state_kernel):
        width = x.shape[2]
        gates_in = skew(input_conv(x))  # (batch, H, W + H - 1, 4u)
        columns = tf.transpose(gates_in, (2, 0, 1, 3))  # (W + H - 1, batch, H, 4u)
        zeros = tf.zeros_like(columns[0][..., : self.units])  # (batch, H, u)

        def step(carry, column_gates):
            h_prev, c_prev = carry  # previous diagonal: left neighbours
            above = tf.pad(h_prev[:, :-1], [[0, 0], [1, 0], [0, 0]])  # upper neighbours
            gates = (
                column_gates
                + tf.einsum("bhu,uv->bhv", above, state_kernel[0])
                + tf.einsum("bhu,uv->bhv", h_prev, state_kernel[1])
            )
            return _lstm_update(gates, c_prev)

        hs, _ = tf.scan(step, columns, initializer=(zeros, zeros))  # (W+H-1, batch, H, u)
        return unskew(tf.transpose(hs, (1, 2, 0, 3)), width)  # (batch, H, W, u)

    def call(self, x):
        forward = self._scan(x, self.forward_input, self.forward_state)
        backward = self._scan(x[:, :, ::-1], self.backward_input, self.backward_state)[:, :, ::-1]
        # The backward map at (i, j) saw row i to the right of j: shift it down a row.
        backward = tf.pad(backward[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])
        return forward + backward

    def get_config(self):
        return {**super().get_config(), "units": self.units, "data_channels": self.data_channels}


@keras.saving.register_keras_serializable(package="genkeras")
class PixelRNN(AutoregressiveModel):
    """PixelRNN (van den Oord et al. 2016) with Row LSTM or Diagonal BiLSTM layers.

    Args:
        data_shape: ``(H, W, C)``.
        levels: Discrete values per sub-pixel.
        config: :class:`PixelRNNConfig` or a dict of its fields.
        num_classes: Unused (kept for the common constructor).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: ``(batch, H, W, C)`` integer levels.

    Returns:
        Logits ``(batch, H, W, C, levels)``.

    Example:

    >>> model = PixelRNN((4, 4, 1), levels=2, config={"filters": 8, "layer": "diagonal"})
    >>> tuple(model(np.zeros((3, 4, 4, 1), "float32")).shape)
    (3, 4, 4, 1, 2)
    """

    config_class = PixelRNNConfig

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(
            data_shape, levels=levels, config=config, num_classes=num_classes, **kwargs
        )
        cfg, c = self.cfg, self.channels
        self.input_conv = MaskedConv2D(cfg.filters, cfg.first_kernel, "A", c, name="input_conv")
        self.recurrent = []
        for i in range(cfg.num_layers):
            if cfg.layer == "row":
                lstm = RowLSTM(cfg.filters, cfg.kernel_size, c, name=f"row_lstm{i}")
            else:
                lstm = DiagonalBiLSTM(cfg.filters, c, name=f"diagonal_bilstm{i}")
            self.recurrent.append((lstm, MaskedConv2D(cfg.filters, 1, "B", c, name=f"residual{i}")))
        self.out_hidden = MaskedConv2D(cfg.filters, 1, "B", c, name="out_hidden")
        self.out_logits = MaskedConv2D(c * self.levels, 1, "B", c, name="out_logits")

    def call(self, x, training=False):
        h = self.input_conv(self.preprocess(x))  # (batch, H, W, filters)
        for lstm, project in self.recurrent:
            h = h + project(lstm(h))  # residual connection
        out = self.out_logits(keras.ops.relu(self.out_hidden(keras.ops.relu(h))))
        return self.logits_to_output(out)  # (batch, H, W, C, levels)

    # -- cached incremental sampling (Row LSTM only) ------------------------------------
    # A Row LSTM's gates at (i, j) are K_is ⊛ (its input, row i, columns <= j) plus
    # K_ss ⊛ (its hidden state, row i - 1, columns j - k//2 .. j + k//2). The second
    # term depends on rows < i only, so it is computed for the whole row when row i
    # starts (cache_row); the first term, the cell update and the 1x1 layers are
    # computed one pixel at a time (cache_pixel). Row buffers are (W, batch, features).
    @property
    def supports_cached_sampling(self) -> bool:
        """``True`` for the Row LSTM, ``False`` for the Diagonal BiLSTM (full pass only)."""
        return self.cfg.layer == "row"

    def cache_pad(self):
        """Padding of the image buffer (``first_kernel // 2``)."""
        return self.cfg.first_kernel // 2

    def cache_init(self, n, labels=None):
        """Zero buffers: the padded image, and per Row LSTM its input row and state rows.

        Args:
            n: Number of images.
            labels: Unused (PixelRNN is not class-conditional).

        Returns:
            The sampler state, a dict of tensors:

            * ``"x"`` -- ``(H + 2p, W + 2p, n, C)`` the image in ``[-1, 1]``, zero-padded;
            * ``"inputs"`` -- per layer ``(W + k - 1, n, filters)``: the layer's input
              on the current row, padded by ``k // 2`` columns on each side;
            * ``"h"``, ``"c"`` -- per layer ``(W, n, units)``: hidden and cell state of
              the current row (until overwritten, of the row above);
            * ``"c_above"``, ``"state_gates"`` -- per layer, the row above's cell state
              and its state-to-state gates ``(W, n, 4 units)``, set by :meth:`cache_row`.

        Raises:
            ValueError: For a Diagonal BiLSTM model.
        """
        if not self.supports_cached_sampling:
            raise ValueError(
                "Only the Row LSTM has a cached sampler; the Diagonal BiLSTM samples with "
                f"the full pass. Received: layer={self.cfg.layer!r}"
            )
        a = self.cache_pad()
        state = {"x": tf.zeros((self.height + 2 * a, self.width + 2 * a, n, self.channels))}
        state["inputs"] = [
            tf.zeros((self.width + 2 * (lstm.kernel_size // 2), n, self.cfg.filters))
            for lstm, _ in self.recurrent
        ]
        for key, size in (("h", 1), ("c", 1), ("c_above", 1), ("state_gates", 4)):
            state[key] = [
                tf.zeros((self.width, n, size * lstm.units)) for lstm, _ in self.recurrent
            ]
        return state

    def cache_row(self, state, i):
        """Starts row ``i``: the state-to-state gates from row ``i - 1`` (all columns).

        Args:
            state: The sampler state; ``"h"`` and ``"c"`` hold row ``i - 1``
                (zeros for ``i = 0``, as the full pass's initial state).
            i: Row index (unused: the buffers already hold the row above).

        Returns:
            The state with ``"state_gates"`` and ``"c_above"`` for row ``i``.
        """
        gates = []
        for (lstm, _), h in zip(self.recurrent, state["h"]):
            h_above = tf.transpose(h, (1, 0, 2))  # (n, W, u)
            gates.append(tf.transpose(lstm.state_gates(h_above), (1, 0, 2)))  # (W, n, 4u)
        return {**state, "state_gates": gates, "c_above": list(state["c"])}

    def cache_pixel(self, state, i, j):
        """Computes every layer at ``(i, j)`` only; returns ``(state, logits (n, C, L))``.

        Called once per channel of the pixel; each call recomputes ``(i, j)`` from
        the image as sampled so far and overwrites that column of the row buffers.
        """
        k0 = self.cfg.first_kernel
        x_buf = state["x"]
        n = tf.shape(x_buf)[2]
        patch = tf.slice(x_buf, [i, j, 0, 0], [k0, k0, n, self.channels])
        h = self.input_conv.apply_patch(patch)  # (n, filters)
        inputs, hs, cs = list(state["inputs"]), list(state["h"]), list(state["c"])
        for layer, (lstm, project) in enumerate(self.recurrent):
            k = lstm.kernel_size
            inputs[layer] = _scatter_column(inputs[layer], j + k // 2, h)
            # Columns j - k//2 .. j + k//2; those right of j hold stale values of an
            # earlier row, multiplied by the zero taps of the type-B mask.
            patch = tf.slice(inputs[layer], [j, 0, 0], [k, n, self.cfg.filters])[None]
            gates = lstm.input_to_state.apply_patch(patch)  # (n, 4u)
            gates = gates + tf.gather(state["state_gates"][layer], j)
            h_lstm, c = _lstm_update(gates, tf.gather(state["c_above"][layer], j))  # (n, u)
            hs[layer] = _scatter_column(hs[layer], j, h_lstm)
            cs[layer] = _scatter_column(cs[layer], j, c)
            h = h + project.apply_vector(h_lstm)  # residual connection
        out = self.out_logits.apply_vector(tf.nn.relu(self.out_hidden.apply_vector(tf.nn.relu(h))))
        logits = tf.transpose(tf.reshape(out, (n, self.levels, self.channels)), (0, 2, 1))
        return {**state, "inputs": inputs, "h": hs, "c": cs}, logits
