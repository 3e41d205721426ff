"""The GAN's networks, sized from the data: MLPs for vectors, DCGAN-style conv nets for images.

:func:`build_generator` maps ``z`` to the model range (images through
``tanh`` to ``[-1, 1]``); :func:`build_trunk` is the discriminator's feature
trunk ``x -> f(x)``, to which :class:`genkeras.models.gan.GAN` adds the
stabilizers' feature transforms and a linear head. Images need a height and
width that are multiples of 4 (two stride-2 stages), as in DCGAN [1].

References:

[1]: Radford, Metz & Chintala. Unsupervised Representation Learning with Deep
     Convolutional Generative Adversarial Networks. ICLR 2016.
     https://arxiv.org/abs/1511.06434
"""

from __future__ import annotations

import keras

from genkeras.models.config import GANConfig

__all__ = ["build_generator", "build_trunk"]


def build_generator(cfg: GANConfig, data_shape) -> keras.Model:
    """``G``: an MLP for vectors, a DCGAN-style deconvolution stack for images.

    Args:
        cfg: The GAN's config.
        data_shape: ``(D,)`` or ``(H, W, C)``.

    Returns:
        A ``keras.Sequential`` from ``(batch, latent_dim)`` to ``(batch, *data_shape)``
        (``tanh`` output for images, in the model range ``[-1, 1]``).
    """
    if len(data_shape) == 1:
        (d,) = data_shape
        layers = [keras.Input((cfg.latent_dim,))]
        layers += [keras.layers.Dense(cfg.width, activation="relu") for _ in range(cfg.depth)]
        layers += [keras.layers.Dense(d)]
        return keras.Sequential(layers, name="generator")
    h, w, c = data_shape
    f = cfg.filters
    return keras.Sequential(
        [
            keras.Input((cfg.latent_dim,)),
            keras.layers.Dense((h // 4) * (w // 4) * 4 * f, use_bias=False),
            keras.layers.Reshape((h // 4, w // 4, 4 * f)),  # (batch, h/4, w/4, 4f)
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(2 * f, 4, strides=2, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),  # (batch, h/2, w/2, 2f)
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),  # (batch, h, w, f)
            keras.layers.ReLU(),
            keras.layers.Conv2D(c, 3, padding="same", activation="tanh"),  # (batch, h, w, c)
        ],
        name="generator",
    )


def build_trunk(cfg: GANConfig, data_shape) -> keras.Model:
    """The discriminator's feature trunk ``x -> f(x)``, ``(batch, width)``.

    No batch normalization: it would couple the examples of a batch, which
    minibatch discrimination and gradient penalties assume it does not.

    Args:
        cfg: The GAN's config.
        data_shape: The shape of one discriminator input, ``(D,)`` or
            ``(H, W, C)`` (the data's shape, or what the stabilizers declared,
            e.g. ``(H, W, m·C)`` for packs of ``m`` images).

    Returns:
        A ``keras.Sequential`` from ``(batch, *data_shape)`` to ``(batch, width)``.
    """
    if len(data_shape) == 1:
        layers = [keras.Input(tuple(data_shape))]
        for _ in range(cfg.depth):
            layers += [keras.layers.Dense(cfg.width), keras.layers.LeakyReLU(0.2)]
        return keras.Sequential(layers, name="discriminator_trunk")
    f = cfg.filters
    return keras.Sequential(
        [
            keras.Input(tuple(data_shape)),
            keras.layers.Conv2D(f, 4, strides=2, padding="same"),  # (batch, h/2, w/2, f)
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2D(2 * f, 4, strides=2, padding="same"),  # (batch, h/4, w/4, 2f)
            keras.layers.LeakyReLU(0.2),
            keras.layers.Flatten(),
            keras.layers.Dense(cfg.width),  # (batch, F): the features f(x)
            keras.layers.LeakyReLU(0.2),
        ],
        name="discriminator_trunk",
    )
