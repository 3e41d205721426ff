"""PixelCNN and Gated PixelCNN: masked convolutions with an exact categorical likelihood.

A PixelCNN [1] models ``p(x) = prod_k p(x_k | x_<k)`` (raster order, channels
R -> G -> B) with a stack of convolutions whose kernels are multiplied by a
constant 0/1 mask, so the output at a pixel never sees that pixel or any later
one. :class:`MaskedConv2D` implements the masks of [1]:

* type ``"A"`` (first layer): taps strictly above, or left on the same row; at
  the centre tap, output channel group ``g`` sees input groups ``< g``;
* type ``"B"`` (later layers): the same, but the centre tap also connects group
  ``g`` to group ``g`` (a feature may see the features of its own position that
  were computed from earlier sub-pixels);
* ``"vertical_A"`` / ``"vertical_B"``: rows strictly above / at or above the
  centre (all columns) -- the vertical stack of the Gated PixelCNN [2].

Feature ``f`` of a layer belongs to channel group ``f % C`` (``C`` = image
channels), so for colour images the R logits depend on earlier pixels, the G
logits also on R of the same pixel, and B on R and G.

Stacked ``"B"`` 3x3 masked convolutions never see a region above and to the
right of the current pixel: the **blind spot** [2]. The Gated PixelCNN removes it
by splitting the network into a vertical stack (everything above) and a
horizontal stack (the current row to the left) joined by a 1x1 link, and uses
gated units ``tanh(W_f * x) ⊙ σ(W_g * x)``; a class label embedding can be added
to every gate (``p(x | y)``).

Mathematical details::

    PixelCNN:  h_0 = MaskA_7x7(x)
               h_l = h_{l-1} + 1x1(relu(MaskB_3x3(relu(1x1(relu(h_{l-1}))))))
    Gated:     v_l = tanh(Wv_f * v_{l-1} + e_f(y)) ⊙ σ(Wv_g * v_{l-1} + e_g(y))
               h_l = h_{l-1} + 1x1(tanh(Wh_f * h_{l-1} + L_f v_pre + e'_f(y))
                                   ⊙ σ(Wh_g * h_{l-1} + L_g v_pre + e'_g(y)))
    logits  =  1x1(relu(1x1(relu(h_L))))   -> (H, W, C, levels)

The kernel variable is never overwritten: ``kernel * mask`` is formed in
``call``. Both models also implement a cached incremental sampler
(:func:`genkeras.models.sampling.sample_cached`, in the spirit of [3]).

References:

[1]: van den Oord, Kalchbrenner & Kavukcuoglu. Pixel Recurrent Neural Networks.
     ICML 2016. https://arxiv.org/abs/1601.06759
[2]: van den Oord et al. Conditional Image Generation with PixelCNN Decoders.
     NeurIPS 2016. https://arxiv.org/abs/1606.05328
[3]: Ramachandran et al. Fast Generation for Convolutional Autoregressive
     Models. ICLR 2017 workshop. https://arxiv.org/abs/1704.06001
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from genkeras.models.autoregressive import AutoregressiveModel
from genkeras.models.config import GatedPixelCNNConfig, PixelCNNConfig

__all__ = [
    "GatedPixelCNN",
    "GatedPixelCNNConfig",
    "MaskedConv2D",
    "PixelCNN",
    "PixelCNNConfig",
    "conv_mask",
]

MASK_TYPES = ("A", "B", "vertical_A", "vertical_B")


def _pair(kernel_size) -> tuple[int, int]:
    if isinstance(kernel_size, int):
        return (kernel_size, kernel_size)
    return tuple(int(k) for k in kernel_size)


def conv_mask(
    kernel_size, in_features: int, out_features: int, mask_type: str, data_channels: int = 1
) -> np.ndarray:
    """Builds the 0/1 mask of a masked convolution kernel.

    Args:
        kernel_size: ``k`` or ``(kh, kw)``, odd sizes.
        in_features: Input features; feature ``f`` is in channel group ``f % data_channels``.
        out_features: Output features, grouped the same way.
        mask_type: ``"A"``, ``"B"``, ``"vertical_A"`` or ``"vertical_B"``.
        data_channels: Image channels ``C`` (3 for RGB: groups R, G, B).

    Returns:
        ``(kh, kw, in_features, out_features)`` float32 array.

    Example:

    >>> conv_mask(3, 1, 1, "A")[..., 0, 0]
    array([[1., 1., 1.],
           [1., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    kh, kw = _pair(kernel_size)
    if mask_type not in MASK_TYPES:
        raise ValueError(
            f"mask_type must be one of {MASK_TYPES}. Received: mask_type={mask_type!r}"
        )
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel sizes must be odd. Received: kernel_size={kernel_size}")
    ch, cw = kh // 2, kw // 2
    mask = np.zeros((kh, kw, in_features, out_features), np.float32)
    if mask_type.startswith("vertical"):
        mask[: ch + (mask_type == "vertical_B")] = 1.0
        return mask
    mask[:ch] = 1.0
    mask[ch, :cw] = 1.0
    group_in = np.arange(in_features)[:, None] % data_channels
    group_out = np.arange(out_features)[None, :] % data_channels
    centre = group_out > group_in if mask_type == "A" else group_out >= group_in
    mask[ch, cw] = centre.astype(np.float32)
    return mask


@keras.saving.register_keras_serializable(package="genkeras")
class MaskedConv2D(keras.layers.Layer):
    """A stride-1 ``"same"`` 2-D convolution whose kernel is multiplied by a constant mask.

    Args:
        filters: Output features.
        kernel_size: ``k`` or ``(kh, kw)`` (odd).
        mask_type: ``"A"``, ``"B"``, ``"vertical_A"`` or ``"vertical_B"`` (see
            :func:`conv_mask`).
        data_channels: Image channels ``C``; features are grouped ``f % C``.
        use_bias: Add a bias.
        kernel_initializer: Keras initializer for the kernel.
        **kwargs: Passed to ``keras.layers.Layer``.

    Call arguments:
        x: ``(batch, H, W, in_features)``.

    Returns:
        ``(batch, H, W, filters)``.

    Example:

    >>> layer = MaskedConv2D(4, 3, mask_type="A")
    >>> tuple(layer(np.zeros((2, 5, 5, 1), "float32")).shape)
    (2, 5, 5, 4)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        data_channels=1,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"filters must be positive. Received: filters={filters}")
        if int(data_channels) < 1:
            raise ValueError(
                f"data_channels must be positive. Received: data_channels={data_channels}"
            )
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.mask_type = mask_type
        self.data_channels = int(data_channels)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        conv_mask(self.kernel_size, 1, 1, mask_type)  # validates the arguments

    def build(self, input_shape):
        in_features = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (in_features, self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
            if self.use_bias
            else None
        )
        # A constant, not a variable: it is not trained, saved or overwritten.
        self.mask = conv_mask(
            self.kernel_size, in_features, self.filters, self.mask_type, self.data_channels
        )

    def masked_kernel(self):
        """Returns ``kernel * mask``, shape ``(kh, kw, in_features, filters)``."""
        return self.kernel * keras.ops.convert_to_tensor(self.mask, dtype=self.kernel.dtype)

    def call(self, x):
        y = keras.ops.conv(x, self.masked_kernel(), strides=1, padding="same")
        if self.bias is not None:
            y = y + self.bias
        return y

    def apply_patch(self, patch):
        """Output at one position from its input window (for the cached sampler).

        Args:
            patch: ``(kh, kw, batch, in_features)`` window centred on the position.

        Returns:
            ``(batch, filters)``.
        """
        y = tf.einsum("hwbi,hwio->bo", patch, self.masked_kernel())
        return y + self.bias if self.bias is not None else y

    def apply_vector(self, v):
        """Output of a 1x1 masked conv at one position: ``(batch, in) -> (batch, filters)``."""
        kernel = self.masked_kernel()
        y = tf.matmul(v, kernel[self.kernel_size[0] // 2, self.kernel_size[1] // 2])
        return y + self.bias if self.bias is not None else y

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "mask_type": self.mask_type,
            "data_channels": self.data_channels,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def _scatter(buf, i, j, value):
    """Writes ``value`` ``(batch, F)`` into ``buf[i, j]`` of an ``(H, W, batch, F)`` buffer."""
    return tf.tensor_scatter_nd_update(buf, tf.reshape(tf.stack([i, j]), (1, 2)), value[None])


# ---------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="genkeras")
class PixelCNN(AutoregressiveModel):
    """PixelCNN (van den Oord et al. 2016): masked convolutions, a per-pixel categorical.

    Args:
        data_shape: ``(H, W, C)``.
        levels: Discrete values per sub-pixel (2, 17, 256...).
        config: :class:`PixelCNNConfig` or a dict of its fields.
        num_classes: Unused (kept for the common constructor).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: ``(batch, H, W, C)`` integer levels.

    Returns:
        Logits ``(batch, H, W, C, levels)``; position ``k`` depends on ``x_<k`` only.

    Example:

    >>> model = PixelCNN((4, 4, 1), levels=2, config={"filters": 8, "num_blocks": 1})
    >>> tuple(model(np.zeros((3, 4, 4, 1), "float32")).shape)
    (3, 4, 4, 1, 2)
    """

    config_class = PixelCNNConfig
    supports_cached_sampling = True

    def field_comparison(self) -> list:
        """This PixelCNN beside a Gated PixelCNN of the same depth: its blind spot, and none."""
        cfg = self.cfg
        gated = {
            "filters": max(cfg.filters // 2, self.channels),
            "num_layers": cfg.num_blocks,
            "first_kernel": cfg.first_kernel,
            "kernel_size": cfg.kernel_size,
        }
        return [
            ("PixelCNN", self.field_twin()),
            ("Gated PixelCNN", self.field_twin(GatedPixelCNN, gated)),
        ]

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(
            data_shape, levels=levels, config=config, num_classes=num_classes, **kwargs
        )
        cfg, c = self.cfg, self.channels
        half = cfg.filters // 2
        self.input_conv = MaskedConv2D(cfg.filters, cfg.first_kernel, "A", c, name="input_conv")
        self.blocks = []
        for b in range(cfg.num_blocks):
            self.blocks.append(
                (
                    MaskedConv2D(half, 1, "B", c, name=f"block{b}_reduce"),
                    MaskedConv2D(half, cfg.kernel_size, "B", c, name=f"block{b}_conv"),
                    MaskedConv2D(cfg.filters, 1, "B", c, name=f"block{b}_expand"),
                )
            )
        self.out_hidden = MaskedConv2D(cfg.filters, 1, "B", c, name="out_hidden")
        self.out_logits = MaskedConv2D(c * self.levels, 1, "B", c, name="out_logits")

    def call(self, x, training=False):
        h = self.input_conv(self.preprocess(x))  # (batch, H, W, filters)
        for reduce, conv, expand in self.blocks:
            a = reduce(keras.ops.relu(h))  # (batch, H, W, filters / 2)
            a = conv(keras.ops.relu(a))
            h = h + expand(keras.ops.relu(a))
        out = self.out_logits(keras.ops.relu(self.out_hidden(keras.ops.relu(h))))
        return self.logits_to_output(out)  # (batch, H, W, C, levels)

    # -- cached incremental sampling ------------------------------------------------
    # Buffers are laid out (H + 2p, W + 2p, batch, features) so one position is one
    # index; each holds the (zero-padded) input of a k x k masked convolution.
    def cache_init(self, n, labels=None):
        """Zero buffers: the padded image and each block's 3x3-conv input."""
        a, b = self.cfg.first_kernel // 2, self.cfg.kernel_size // 2
        x_buf = tf.zeros((self.height + 2 * a, self.width + 2 * a, n, self.channels))
        bufs = [
            tf.zeros((self.height + 2 * b, self.width + 2 * b, n, self.cfg.filters // 2))
            for _ in self.blocks
        ]
        return {"x": x_buf, "blocks": bufs}

    def cache_pad(self):
        """Padding of the image buffer (``first_kernel // 2``)."""
        return self.cfg.first_kernel // 2

    def cache_row(self, state, i):
        """Nothing to precompute per row for the plain PixelCNN."""
        return state

    def cache_pixel(self, state, i, j):
        """Computes every layer at ``(i, j)`` only; returns ``(state, logits (n, C, L))``."""
        k0, k = self.cfg.first_kernel, self.cfg.kernel_size
        b = k // 2
        x_buf = state["x"]
        n = tf.shape(x_buf)[2]
        patch = tf.slice(x_buf, [i, j, 0, 0], [k0, k0, n, self.channels])
        h = self.input_conv.apply_patch(patch)  # (n, filters)
        new_bufs = []
        for (reduce, conv, expand), buf in zip(self.blocks, state["blocks"]):
            a = tf.nn.relu(reduce.apply_vector(tf.nn.relu(h)))
            buf = _scatter(buf, i + b, j + b, a)
            patch = tf.slice(buf, [i, j, 0, 0], [k, k, n, self.cfg.filters // 2])
            h = h + expand.apply_vector(tf.nn.relu(conv.apply_patch(patch)))
            new_bufs.append(buf)
        out = self.out_logits.apply_vector(tf.nn.relu(self.out_hidden.apply_vector(tf.nn.relu(h))))
        logits = tf.transpose(tf.reshape(out, (n, self.levels, self.channels)), (0, 2, 1))
        return {"x": x_buf, "blocks": new_bufs}, logits


# ---------------------------------------------------------------------------------
def _gate(a):
    f, g = tf.split(a, 2, axis=-1)
    return tf.tanh(f) * tf.sigmoid(g)


@keras.saving.register_keras_serializable(package="genkeras")
class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN (van den Oord et al. 2016b): vertical + horizontal stacks, no blind spot.

    Args:
        data_shape: ``(H, W, C)``.
        levels: Discrete values per sub-pixel.
        config: :class:`GatedPixelCNNConfig` or a dict of its fields.
        num_classes: Number of classes (required when ``conditional``).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: ``(batch, H, W, C)`` integer levels.
        labels: ``(batch,)`` integer class labels (conditional models only).

    Returns:
        Logits ``(batch, H, W, C, levels)``.

    Example:

    >>> model = GatedPixelCNN((4, 4, 1), levels=2, config={"filters": 8, "num_layers": 2})
    >>> tuple(model(np.zeros((3, 4, 4, 1), "float32")).shape)
    (3, 4, 4, 1, 2)
    """

    config_class = GatedPixelCNNConfig
    supports_cached_sampling = True

    def field_comparison(self) -> list:
        """This Gated PixelCNN beside a PixelCNN of the same depth: no blind spot, and one."""
        cfg = self.cfg
        plain = {
            "filters": 2 * cfg.filters,
            "num_blocks": cfg.num_layers,
            "first_kernel": cfg.first_kernel,
            "kernel_size": cfg.kernel_size,
        }
        return [
            ("Gated PixelCNN", self.field_twin()),
            ("PixelCNN", self.field_twin(PixelCNN, plain)),
        ]

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(
            data_shape, levels=levels, config=config, num_classes=num_classes, **kwargs
        )
        cfg, c = self.cfg, self.channels
        p2 = 2 * cfg.filters
        self.stacks = []
        for layer in range(cfg.num_layers):
            k = cfg.first_kernel if layer == 0 else cfg.kernel_size
            v_type, h_type = ("vertical_A", "A") if layer == 0 else ("vertical_B", "B")
            self.stacks.append(
                (
                    MaskedConv2D(p2, k, v_type, c, name=f"layer{layer}_vertical"),
                    MaskedConv2D(p2, (1, k), h_type, c, name=f"layer{layer}_horizontal"),
                    keras.layers.Dense(p2, name=f"layer{layer}_link"),
                    MaskedConv2D(cfg.filters, 1, "B", c, name=f"layer{layer}_out"),
                )
            )
        self.embeddings = []
        if cfg.conditional:
            self.embeddings = [
                (
                    keras.layers.Embedding(self.num_classes, p2, name=f"layer{i}_label_v"),
                    keras.layers.Embedding(self.num_classes, p2, name=f"layer{i}_label_h"),
                )
                for i in range(cfg.num_layers)
            ]
        self.out_hidden = MaskedConv2D(cfg.filters, 1, "B", c, name="out_hidden")
        self.out_logits = MaskedConv2D(c * self.levels, 1, "B", c, name="out_logits")

    @property
    def conditional(self) -> bool:
        """Whether the model is class-conditional (``config.conditional``)."""
        return bool(self.cfg.conditional)

    def _label_terms(self, labels):
        if not self.conditional:
            return [(0.0, 0.0)] * len(self.stacks)
        if labels is None:
            raise ValueError(
                "GatedPixelCNN is class-conditional: pass labels "
                "(training batches must be (x, y) pairs). Received: labels=None"
            )
        labels = tf.cast(tf.reshape(labels, (-1,)), tf.int32)
        return [(ev(labels), eh(labels)) for ev, eh in self.embeddings]  # (batch, 2p) each

    def call(self, x, labels=None, training=False):
        x = self.preprocess(x)  # (batch, H, W, C)
        v, h = x, x
        for layer, ((vconv, hconv, link, hout), (cv, ch)) in enumerate(
            zip(self.stacks, self._label_terms(labels))
        ):
            cv = cv[:, None, None, :] if self.conditional else cv
            ch = ch[:, None, None, :] if self.conditional else ch
            v_pre = vconv(v) + cv  # (batch, H, W, 2p): rows above only
            h_pre = hconv(h) + link(v_pre) + ch  # current row, to the left
            h_new = hout(_gate(h_pre))
            h = h_new + h if layer > 0 else h_new  # (batch, H, W, p)
            v = _gate(v_pre)
        out = self.out_logits(keras.ops.relu(self.out_hidden(keras.ops.relu(h))))
        return self.logits_to_output(out)

    # -- cached incremental sampling ------------------------------------------------
    # The vertical stack of row i depends only on rows < i, so it is computed for a
    # whole row at once when the row starts (cache_row); the horizontal stack is
    # computed one pixel at a time (cache_pixel).
    def cache_pad(self):
        """Padding of the image buffer (``first_kernel // 2``)."""
        return self.cfg.first_kernel // 2

    def cache_init(self, n, labels=None):
        """Zero buffers for both stacks, plus the label terms."""
        b, p = self.cfg.kernel_size // 2, self.cfg.filters
        a = self.cache_pad()
        size = (self.height + 2 * b, self.width + 2 * b, n, p)
        later = len(self.stacks) - 1
        state = {
            "x": tf.zeros((self.height + 2 * a, self.width + 2 * a, n, self.channels)),
            "v": [tf.zeros(size) for _ in range(later)],  # inputs of vertical layers 1..
            "h": [tf.zeros(size) for _ in range(later)],  # inputs of horizontal layers 1..
            "link": [tf.zeros((self.width, n, 2 * p)) for _ in self.stacks],
        }
        if self.conditional:
            state["labels"] = labels
        return state

    def cache_row(self, state, i):
        """Computes the vertical stack and its links for row ``i`` (all columns)."""
        b = self.cfg.kernel_size // 2
        terms = self._label_terms(state.get("labels"))
        v_bufs, links = list(state["v"]), []
        for layer, ((vconv, _, link, _), (cv, ch)) in enumerate(zip(self.stacks, terms)):
            src = state["x"] if layer == 0 else v_bufs[layer - 1]
            k = vconv.kernel_size[0]
            strip = tf.slice(src, [i, 0, 0, 0], [k, -1, -1, -1])  # (k, W + 2pad, n, F)
            strip = tf.transpose(strip, (2, 0, 1, 3))  # (n, k, W + 2pad, F)
            v_pre = keras.ops.conv(strip, vconv.masked_kernel(), padding="valid") + vconv.bias
            v_pre = tf.transpose(v_pre[:, 0], (1, 0, 2)) + cv  # (W, n, 2p)
            links.append(link(v_pre) + ch)
            if layer + 1 < len(self.stacks):
                row = tf.pad(_gate(v_pre), [[b, b], [0, 0], [0, 0]])  # (W + 2b, n, p)
                v_bufs[layer] = tf.tensor_scatter_nd_update(
                    v_bufs[layer], tf.reshape(i + b, (1, 1)), row[None]
                )
        return {**state, "v": v_bufs, "link": links}

    def cache_pixel(self, state, i, j):
        """Computes the horizontal stack at ``(i, j)``; returns ``(state, logits (n, C, L))``."""
        a, b = self.cache_pad(), self.cfg.kernel_size // 2
        n = tf.shape(state["x"])[2]
        h_bufs = list(state["h"])
        h = None
        for layer, (_, hconv, _, hout) in enumerate(self.stacks):
            if layer == 0:
                k = self.cfg.first_kernel
                patch = tf.slice(
                    state["x"], [i + a, j + a - k // 2, 0, 0], [1, k, n, self.channels]
                )
            else:
                k = self.cfg.kernel_size
                patch = tf.slice(h_bufs[layer - 1], [i + b, j, 0, 0], [1, k, n, -1])
            h_pre = hconv.apply_patch(patch) + tf.gather(state["link"][layer], j)
            h_new = hout.apply_vector(_gate(h_pre))  # (n, p)
            h = h_new + h if layer > 0 else h_new
            if layer + 1 < len(self.stacks):
                h_bufs[layer] = _scatter(h_bufs[layer], i + b, j + b, h)
        out = self.out_logits.apply_vector(tf.nn.relu(self.out_hidden.apply_vector(tf.nn.relu(h))))
        logits = tf.transpose(tf.reshape(out, (n, self.levels, self.channels)), (0, 2, 1))
        return {**state, "h": h_bufs}, logits
