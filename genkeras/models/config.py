"""The model families' hyperparameters, checkable before TensorFlow starts.

Each family has one config dataclass, a :class:`ModelConfig` subclass whose
fields are declared with :func:`genkeras.run.options.option`; every field is a
``genkeras run MODEL`` option (``latent_dim`` is ``--latent-dim``), and an
unknown key is an error. The class also carries what the runner must know
about the family *before* it builds the model (and so before TensorFlow is
imported, which keeps ``--help`` and option errors instant):

* :attr:`ModelConfig.run_defaults` -- the family's default epochs, batch size
  and learning rate;
* :attr:`ModelConfig.requires_discrete`, :attr:`~ModelConfig.requires_images`,
  :attr:`~ModelConfig.ranks`, :attr:`~ModelConfig.image_multiple` and
  :meth:`ModelConfig.check_data` -- which data the family can model;
* :meth:`ModelConfig.upgrade` -- how option names written by older versions
  map to today's.

The families' behaviour (networks, losses, sampling, metrics) is declared on
:class:`genkeras.models.base.GenerativeModel`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from genkeras.mixture.params import COVARIANCE_TYPES, INIT_METHODS
from genkeras.run.options import check_fields, from_dict, option
from genkeras.stabilizers.spec import parse_spec

__all__ = [
    "COVARIANCE_TYPES",
    "GENERATOR_LOSSES",
    "GANConfig",
    "GMMConfig",
    "GatedPixelCNNConfig",
    "INIT_METHODS",
    "ModelConfig",
    "PixelCNNConfig",
    "PixelRNNConfig",
    "VAEConfig",
    "config_from_dict",
    "option",
]

GENERATOR_LOSSES = ("non-saturating", "minimax")


def config_from_dict(config_class, values):
    """Builds a family's config from a dict of fields, refusing unknown keys.

    A dict read from a file that an older genkeras may have written goes
    through the config class's ``upgrade`` first (:meth:`ModelConfig.upgrade`).

    Raises:
        ValueError: For an unknown key or an invalid value.
    """
    if isinstance(values, config_class):
        return values
    return from_dict(config_class, values)


@dataclasses.dataclass
class ModelConfig:
    """Base class of the families' config dataclasses (no options of its own).

    Subclasses declare their options as fields with
    :func:`genkeras.run.options.option` and may set the class attributes below.
    A subclass that defines ``__post_init__`` calls ``super().__post_init__()``
    first, which checks every field's type, choices and range.
    """

    #: The family's defaults for the run options ``epochs``, ``batch_size`` and
    #: ``learning_rate`` (missing keys: 10 epochs, batch 64, rate 1e-3).
    run_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Whether the family needs discrete data (``levels`` not ``None``).
    requires_discrete: ClassVar[bool] = False
    #: Whether the family needs images ``(H, W, C)``.
    requires_images: ClassVar[bool] = False
    #: The example ranks the family models (1: vectors, 3: images), ``None``: any.
    ranks: ClassVar[tuple[int, ...] | None] = None
    #: Image height and width must be multiples of this (stride-2 networks).
    image_multiple: ClassVar[int] = 1
    #: Whether training needs at least one full batch of the training split
    #: (``batch_size`` examples); the mixture streams any chunk size instead.
    full_batches: ClassVar[bool] = True

    def __post_init__(self):
        check_fields(self)

    @property
    def family(self) -> str:
        """The family's name for messages (``VAEConfig`` -> ``VAE``)."""
        return type(self).__name__.removesuffix("Config")

    def check_run(self, run) -> None:
        """Raises ``ValueError`` for options that cannot work with the run's (default: none).

        Called by ``genkeras.run.plan.plan_run`` before anything is built,
        with the resolved ``RunConfig``.
        """

    def check_data(self, shape, levels: int | None = None, num_classes: int | None = None):
        """Raises ``ValueError`` if the family cannot model data of this kind.

        Args:
            shape: The shape of one example, e.g. ``(8, 8, 1)`` or ``(2,)``.
            levels: Discrete levels per dimension, or ``None`` for continuous data.
            num_classes: Number of label classes, or ``None``.
        """
        shape = tuple(int(d) for d in shape)
        if self.requires_discrete and levels is None:
            raise ValueError(
                f"{self.family} models discrete data; this data is continuous "
                "(levels=None). Use an image dataset such as digits or mnist."
            )
        if self.requires_images and len(shape) != 3:
            raise ValueError(
                f"{self.family} models images of shape (height, width, channels). "
                f"Received: data_shape={shape}"
            )
        if self.ranks is not None and len(shape) not in self.ranks:
            kinds = {1: "vectors (D,)", 2: "matrices (H, W)", 3: "images (H, W, C)"}
            allowed = " or ".join(kinds[r] for r in self.ranks)
            raise ValueError(f"{self.family} models {allowed}. Received: data_shape={shape}")
        m = self.image_multiple
        if len(shape) == 3 and m > 1 and (shape[0] % m or shape[1] % m):
            raise ValueError(
                f"{self.family} needs image height and width that are multiples of {m} "
                f"(its networks halve them with strided layers). Received: data_shape={shape}"
            )

    def check_values(self, spec) -> None:
        """Raises :class:`genkeras.data.DataError` if the data's values do not suit the family.

        Called with the loaded :class:`genkeras.data.DataSpec` before training
        (default: every value is fine).
        """

    @classmethod
    def upgrade(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Maps a saved config (``config.json``, ``model.keras``) of an older version to today's.

        Only saved configs go through it: they hold every field of their
        version, so a missing field means "written before it existed".
        Default: unchanged.
        """
        return values


# -- VAE --------------------------------------------------------------------------------------
@dataclasses.dataclass
class VAEConfig(ModelConfig):
    """Hyperparameters of :class:`genkeras.models.vae.VAE` (each is a ``genkeras run vae`` option).

    Attributes:
        latent_dim: Dimension of ``z``. 2 gives the latent-manifold figures.
        architecture: The networks for images: ``light`` (an MLP encoder; a
            decoder of dense layers up to a full-resolution grid of
            ``hidden / 4`` features per pixel, then two 3×3 convolutions) or
            ``conv`` (two stride-2 convolution stages each way; height and
            width multiples of 4). Vectors always get MLPs.
        hidden: Width of the networks: the MLPs have ``4 · hidden`` units,
            the conv networks ``hidden`` and ``2 · hidden`` filters.
        output_kernel: Kernel size of the light decoder's last convolution,
            which turns each pixel's grid features into its likelihood
            parameters. 1 (the default) did better on digits over three seeds
            with a quarter fewer decoder multiply-adds, which the IWAE bound
            pays 1,000 times per example (``docs/results.md``).
        beta: Weight of the KL term (1 is the ELBO; β ≠ 1 is a β-VAE).
        kl_warmup_steps: Optimizer steps over which the KL weight ramps from 0
            to ``beta`` (0 disables warm-up). Warm-up lets the decoder learn to
            use ``z`` before the KL term pulls the posterior onto the prior,
            which avoids posterior collapse on small data.
        iwae_samples: Importance samples k of the IWAE bound in ``evaluate``.
    """

    #: Digits has 1,437 training images: small batches and a brisk rate give enough
    #: updates in a few epochs for the latent code to come alive (see ``kl_warmup_steps``).
    run_defaults: ClassVar[Mapping[str, Any]] = {
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 3e-3,
    }
    ranks: ClassVar[tuple[int, ...]] = (1, 3)

    latent_dim: int = option(2, "Dimension of the latent z (2 draws the manifold).", min=1)
    architecture: str = option(
        "light",
        "Networks for images: light (MLP encoder; dense-then-3x3-conv decoder) or conv "
        "(two stride-2 conv stages each way, genkeras 0.1.0's).",
        choices=("light", "conv"),
    )
    hidden: int = option(
        64, "Width: MLP units / 4, conv filters, decoder grid features x 4.", min=1
    )
    output_kernel: int = option(
        1,
        "Kernel of the light decoder's output convolution: 1 (each pixel's logits from its "
        "grid features) or 3.",
        choices=(1, 3),
    )
    beta: float = option(1.0, "KL weight (1 = ELBO; other values = beta-VAE).", min=0)
    kl_warmup_steps: int = option(200, "Steps to ramp the KL weight from 0 to beta.", min=0)
    iwae_samples: int = option(1000, "Importance samples k for the IWAE bound.", min=1)

    @property
    def image_multiple(self) -> int:
        """The conv networks halve height and width twice: multiples of 4 (MLP: any)."""
        return 4 if self.architecture == "conv" else 1

    @classmethod
    def upgrade(cls, values):
        """Configs saved before ``architecture`` existed used the conv networks, hidden 32;
        before ``output_kernel`` existed, the light decoder's last convolution was 3×3."""
        values = dict(values)
        values.setdefault("architecture", "conv")
        values.setdefault("hidden", 32)
        values.setdefault("output_kernel", 3)
        return values

    def check_values(self, spec) -> None:
        """Continuous images must lie in ``[0, 1]``, the continuous Bernoulli's support."""
        if spec.levels is not None or not spec.is_image:
            return
        from genkeras.data import DataError

        for what, x in (("x_train", spec.x_train), ("x_test", spec.x_test)):
            low, high = float(x.min()), float(x.max())
            if low < 0.0 or high > 1.0:
                raise DataError(
                    f"{spec.name}: {what} has values in [{low:g}, {high:g}]. The VAE models "
                    "continuous images with a continuous Bernoulli likelihood, defined on "
                    "[0, 1]: scale the images to [0, 1] (8-bit images: divide by 255), or "
                    "save them as integer levels."
                )


# -- GAN --------------------------------------------------------------------------------------
@dataclasses.dataclass
class GANConfig(ModelConfig):
    """Hyperparameters of :class:`genkeras.models.gan.GAN` (each is a ``genkeras run gan`` option).

    Attributes:
        latent_dim: Dimension of the noise ``z``.
        width: Units of each MLP hidden layer (vector data) and width of the
            image discriminator's feature layer.
        depth: Hidden layers of the MLPs (vector data).
        filters: Filters of the first conv stage (images); the second has twice.
        loss: Generator loss: ``non-saturating`` or ``minimax``.
        d_steps: Discriminator updates per generator update.
        beta_1: Adam's β₁ for both optimizers.
        stabilizers: Stabilizer specs, ``"name"`` or ``"name:key=value,..."``
            (list values in brackets: ``"name:sizes=[64,64]"``).
    """

    run_defaults: ClassVar[Mapping[str, Any]] = {"learning_rate": 2e-4}
    ranks: ClassVar[tuple[int, ...]] = (1, 3)
    image_multiple: ClassVar[int] = 4

    latent_dim: int = option(32, "Dimension of the generator's noise z.", min=1)
    width: int = option(128, "MLP hidden units / image discriminator feature width.", min=1)
    depth: int = option(3, "Hidden layers of the MLPs (2-D data).", min=1)
    filters: int = option(32, "Filters of the first conv stage (images).", min=1)
    loss: str = option("non-saturating", "Generator loss.", choices=GENERATOR_LOSSES)
    d_steps: int = option(1, "Discriminator updates per generator update.", min=1)
    beta_1: float = option(0.5, "Adam beta_1 of both optimizers.", min=0, max=1, max_open=True)
    stabilizers: tuple[str, ...] = option(
        (), "Stabilizer NAME or NAME:key=value,... (lists: key=[a,b]; genkeras list shows them)."
    )

    def __post_init__(self):
        super().__post_init__()
        from genkeras import registry

        names = []
        for spec in self.stabilizers:
            name, _ = parse_spec(spec)
            registry.stabilizers.entry(name)  # UnknownNameError (a ValueError) lists valid names
            if name in names:
                import warnings

                warnings.warn(
                    f"stabilizer {name!r} is given twice: both are applied, one after the other "
                    "(their adversarial weights multiply, their loss terms add; the second's "
                    f"metrics are named {name.replace('-', '_')}2_...). Received: "
                    f"stabilizers={list(self.stabilizers)}",
                    stacklevel=2,
                )
            names.append(name)

    def check_run(self, run) -> None:
        """Refuses a PacGAN pack larger than the batch (every pack would be empty).

        With ``m`` above the batch size the discriminator would see no input
        at all and every loss would be exactly 0 for the whole run.
        """
        for spec in self.stabilizers:
            name, values = parse_spec(spec)
            m = values.get("m") if name == "pacgan" else None
            if isinstance(m, int) and m > run.batch_size:
                raise ValueError(
                    f"--stabilizer {spec}: packs of m={m} examples do not fit in a batch of "
                    f"{run.batch_size} (the discriminator would see nothing and every loss "
                    f"would be 0). Use m <= --batch-size (PacGAN's paper uses 2-4)."
                )

    def check_data(self, shape, levels=None, num_classes=None):
        """Vectors, or images of discrete levels whose sides are multiples of 4."""
        super().check_data(shape, levels, num_classes)
        if len(tuple(shape)) == 3 and levels is None:
            raise ValueError(
                "The image GAN expects discrete levels (images arrive as integer "
                "levels). Received: levels=None"
            )


# -- autoregressive pixel models -------------------------------------------------------------
def _check_odd(config, *names):
    for name in names:
        if getattr(config, name) % 2 == 0:
            value = getattr(config, name)
            raise ValueError(f"{name} must be a positive odd integer. Received: {name}={value}")


def _check_multiple(config, value_name: str, divisor: int, shape) -> None:
    channels = int(tuple(shape)[-1])
    value = getattr(config, value_name)
    if value % (channels * divisor):
        raise ValueError(
            f"{value_name} must be a multiple of {channels * divisor} for "
            f"{channels}-channel images. Received: {value_name}={value}"
        )


@dataclasses.dataclass
class _PixelConfig(ModelConfig):
    """What the pixel models share: discrete images, odd kernel sizes."""

    requires_discrete: ClassVar[bool] = True
    requires_images: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        _check_odd(self, "first_kernel", "kernel_size")


@dataclasses.dataclass
class PixelCNNConfig(_PixelConfig):
    """Hyperparameters of :class:`genkeras.models.pixelcnn.PixelCNN`."""

    filters: int = option(
        64, "Features of the residual stream (a multiple of 2 * image channels).", min=1
    )
    num_blocks: int = option(5, "Residual blocks of masked type-B convolutions.", min=1)
    first_kernel: int = option(7, "Kernel size of the first (type-A) masked convolution.", min=1)
    kernel_size: int = option(3, "Kernel size of the type-B masked convolutions.", min=1)

    def check_data(self, shape, levels=None, num_classes=None):
        """Discrete images; ``filters`` a multiple of twice the channels."""
        super().check_data(shape, levels, num_classes)
        _check_multiple(self, "filters", 2, shape)


@dataclasses.dataclass
class GatedPixelCNNConfig(_PixelConfig):
    """Hyperparameters of :class:`genkeras.models.pixelcnn.GatedPixelCNN`."""

    filters: int = option(64, "Features per stack (a multiple of the image channels).", min=1)
    num_layers: int = option(5, "Gated layers (each has a vertical and a horizontal stack).", min=1)
    first_kernel: int = option(
        7, "Kernel size of the first layer (vertical k x k, horizontal 1 x k).", min=1
    )
    kernel_size: int = option(3, "Kernel size of the later layers.", min=1)
    conditional: bool = option(
        False, "Condition on the class label (training batches must carry labels)."
    )

    def check_data(self, shape, levels=None, num_classes=None):
        """Discrete images; labels when ``conditional``."""
        super().check_data(shape, levels, num_classes)
        _check_multiple(self, "filters", 1, shape)
        if self.conditional and not num_classes:
            raise ValueError(
                "conditional=True needs labelled data (num_classes). "
                f"Received: num_classes={num_classes}"
            )


@dataclasses.dataclass
class PixelRNNConfig(_PixelConfig):
    """Hyperparameters of :class:`genkeras.models.pixelrnn.PixelRNN`."""

    layer: str = option(
        "row",
        "Recurrent layer: row (Row LSTM) or diagonal (Diagonal BiLSTM).",
        choices=("row", "diagonal"),
    )
    filters: int = option(
        32, "Features of the residual stream and LSTM units (a multiple of the channels).", min=1
    )
    num_layers: int = option(2, "Recurrent layers (with residual connections).", min=1)
    first_kernel: int = option(7, "Kernel size of the first (type-A) masked convolution.", min=1)
    kernel_size: int = option(3, "Width of the Row LSTM's convolutions.", min=1)

    def check_data(self, shape, levels=None, num_classes=None):
        """Discrete images; ``filters`` a multiple of the channels."""
        super().check_data(shape, levels, num_classes)
        _check_multiple(self, "filters", 1, shape)


# -- Gaussian mixture --------------------------------------------------------------------------
@dataclasses.dataclass
class GMMConfig(ModelConfig):
    """Hyperparameters of ``genkeras run gmm`` (:class:`genkeras.models.gmm.GMM`).

    One epoch is one EM iteration over the whole training split, so ``--epochs``
    caps the iterations and ``--batch-size`` is the number of points per chunk
    of the streamed E-step (any chunk size gives the same fit).
    """

    run_defaults: ClassVar[Mapping[str, Any]] = {"epochs": 100, "batch_size": 4096}
    full_batches: ClassVar[bool] = False

    components: int = option(8, "Number of mixture components K.", min=1)
    covariance_type: str = option("full", "Covariance structure.", choices=COVARIANCE_TYPES)
    tol: float = option(
        1e-3, "Stop when the mean log-likelihood improves by less than this.", min=0
    )
    reg_covar: float = option(1e-6, "Added to every covariance diagonal.", min=0)
    init: str = option("kmeans", "Initialisation.", choices=INIT_METHODS)
    n_init: int = option(1, "Initialisations tried; the best after EM is trained.", min=1)
    precision: str = option(
        "float32", "Floating-point precision of EM.", choices=("float32", "float64")
    )

    @classmethod
    def upgrade(cls, values):
        """Maps the options of genkeras 0.1.0 runs: ``float64`` -> ``precision``.

        ``max_iter`` (now the run's ``epochs``) and ``batch_size_em`` (now the
        run's ``batch_size``) are dropped.
        """
        values = dict(values)
        if "float64" in values:
            values["precision"] = "float64" if values.pop("float64") else "float32"
        values.pop("max_iter", None)
        values.pop("batch_size_em", None)
        return values
