"""The GAN stabilizer plugin API: :class:`Stabilizer`, :class:`StabilizerContext`, specs.

A *stabilizer* changes how :class:`genkeras.models.gan.GAN` trains without
touching the GAN's code. It is a ``keras.layers.Layer`` subclass (so any
variables it creates are tracked, saved in ``model.keras`` and restored by
``keras.saving.load_model``) that overrides any of these hooks, all of which
run inside the compiled ``train_step`` and must be graph-safe and
XLA-compatible (no NumPy, no ``.numpy()``, no Python branching on tensors):

* ``build_features(dim)`` -- once, while the discriminator is built, with the
  width of the features it receives; may create trainable weights; returns
  the width after :meth:`~Stabilizer.transform_features`.
* ``setup(gan)`` -- once, after the generator, the discriminator trunk and head
  and every stabilizer's trainable weights are built; create state with
  ``self.add_weight`` here.
* ``discriminator_input(x, step, training)`` -- on every discriminator input
  (real and fake, already in the model's range); returns what the
  discriminator sees.
* ``transform_features(features, training)`` -- between the discriminator's
  feature trunk and its head, on real and fake batches separately; returns
  ``(batch, build_features(F))`` features.
* ``discriminator_loss(ctx)`` -- a scalar added to the discriminator's loss.
* ``generator_loss(ctx)`` -- a scalar added to the generator's loss.
* ``generator_adversarial_weight`` (attribute) -- multiplies the generator's
  adversarial loss (0 replaces it).
* ``after_discriminator_step(gan)`` -- after each discriminator update.
* ``after_step(gan)`` -- after each full step (D updates and the G update).
* ``tracked(ctx)`` -- extra scalars to show in the progress bar; their keys
  are listed in the class attribute ``tracked_keys``.

The GAN holds its stabilizers in a
:class:`~genkeras.stabilizers.stack.StabilizerStack`, which calls each hook on
every stabilizer in the order they were given and names their metrics.

Every loss term a stabilizer adds is tracked as a metric named
``<name>_d`` / ``<name>_g`` (``name`` is the registry name with dashes turned
into underscores), and every :meth:`~Stabilizer.tracked` value as
``<name>_<key>``, so users see what each stabilizer does during ``fit``.
Trainable weights of a stabilizer belong to the discriminator and are updated
by its optimizer (minibatch discrimination's tensor ``T``).

Stabilizers are chosen by *spec strings*: ``"name"`` or
``"name:key=value,key=value"`` (e.g. ``"minibatch-discrimination:kernels=50,dims=5"``).
The keys are the stabilizer's constructor arguments; values are parsed as
``bool`` (``true``/``false``), ``int``, ``float`` or left as strings. Every
stabilizer accepts ``weight`` (the multiplier of its loss terms).

Writing a plugin: subclass :class:`Stabilizer`, register it with
``@keras.saving.register_keras_serializable(package="your_package")``, give it
``get_config``, and point a ``genkeras.stabilizers`` entry point of your
distribution at a :class:`genkeras.registry.Lazy` handle that names the class
(so ``genkeras list`` stays instant). ``plugins/genkeras-spectral-norm`` is a
complete example.

Example:

>>> parse_spec("minibatch-discrimination:kernels=50,dims=5")
('minibatch-discrimination', {'kernels': 50, 'dims': 5})
>>> parse_spec("feature-matching")
('feature-matching', {})
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from genkeras.stabilizers.spec import metric_prefix, parse_spec

__all__ = [
    "Stabilizer",
    "StabilizerContext",
    "parse_spec",
    "build_stabilizer",
    "metric_prefix",
    "bce_with_logits",
]


def bce_with_logits(logits, target: float):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against a constant ``target``.

    ``BCE(l, t) = t·softplus(−l) + (1 − t)·softplus(l)``, computed stably.
    """
    return tf.reduce_mean(
        target * tf.nn.softplus(-logits) + (1.0 - target) * tf.nn.softplus(logits)
    )


@dataclasses.dataclass
class StabilizerContext:
    """What a stabilizer's loss hooks see about the current batch.

    All tensors are for one replica's batch. Inputs are in the model's range
    (images scaled to ``[-1, 1]``) and are what the discriminator saw (after
    every stabilizer's :meth:`Stabilizer.discriminator_input`).

    Attributes:
        real: Real inputs ``(batch, *data_shape)``.
        fake: Generated inputs ``(batch, *data_shape)`` (carry gradients to the
            generator in ``generator_loss``).
        real_features: Trunk features of ``real``, ``(batch, F)``, before
            :meth:`Stabilizer.transform_features`.
        fake_features: Trunk features of ``fake``, ``(batch, F)``.
        real_logits: Discriminator logits ``(batch,)`` for ``real``.
        fake_logits: Discriminator logits ``(batch,)`` for ``fake``.
        step: Completed training steps (int64 scalar tensor).
        training: Whether this is a training step (``False`` in ``test_step``).
        gan: The GAN (for its networks and :meth:`discriminate`).
    """

    real: Any
    fake: Any
    real_features: Any
    fake_features: Any
    real_logits: Any
    fake_logits: Any
    step: Any
    training: bool
    gan: Any

    def discriminate(self, x):
        """Returns the discriminator's logits ``(batch,)`` for inputs ``x`` (model range).

        Unlike the logits above, no input transform is applied, so a gradient
        penalty can differentiate with respect to exactly ``x``.
        """
        return self.gan.discriminate(x, training=self.training)[1]


class Stabilizer(keras.layers.Layer):
    """Base class of GAN stabilizers: override the hooks you need (see the module docstring).

    Args:
        weight: Multiplier of the stabilizer's loss terms.
        **kwargs: Passed to ``keras.layers.Layer`` (``name``, ``dtype``).

    Attributes:
        registry_name: The name the stabilizer was looked up by (set by
            :func:`build_stabilizer`; used for metric names).
        generator_adversarial_weight: Multiplier of the generator's adversarial
            loss (feature matching sets 0 to replace it).
    """

    generator_adversarial_weight: float = 1.0
    #: Keys of the dict :meth:`tracked` returns (trackers are created up front).
    tracked_keys: tuple[str, ...] = ()

    def __init__(self, weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        weight = float(weight)
        if not weight >= 0.0:
            raise ValueError(f"weight must be >= 0. Received: weight={weight}")
        self.weight = weight
        self.registry_name = self.name

    # -- construction hooks -------------------------------------------------------------
    def build_features(self, dim: int) -> int:
        """Creates the feature transform's weights for ``dim`` input features.

        Args:
            dim: Width of the features this stabilizer receives.

        Returns:
            The width after :meth:`transform_features` (default: ``dim``).
        """
        return dim

    def setup(self, gan) -> None:
        """Creates state once the GAN's networks are built (default: nothing)."""

    # -- forward hooks --------------------------------------------------------------------
    def discriminator_input(self, x, step, training: bool):
        """Returns what the discriminator sees for input ``x`` (default: ``x``)."""
        return x

    def transform_features(self, features, training: bool):
        """Maps trunk features ``(batch, F)`` before the head (default: identity)."""
        return features

    # -- loss hooks -----------------------------------------------------------------------
    def discriminator_loss(self, ctx: StabilizerContext):
        """Returns a scalar added to the discriminator's loss (default: none)."""
        return None

    def generator_loss(self, ctx: StabilizerContext):
        """Returns a scalar added to the generator's loss (default: none)."""
        return None

    def tracked(self, ctx: StabilizerContext) -> dict[str, Any]:
        """Returns extra scalars to track, ``{key: tensor}`` (default: none)."""
        return {}

    # -- update hooks ---------------------------------------------------------------------
    def after_discriminator_step(self, gan) -> None:
        """Updates state after each discriminator update (default: nothing)."""

    def after_step(self, gan) -> None:
        """Updates state after each full training step (default: nothing)."""

    # -- introspection used by the GAN ------------------------------------------------------
    def overrides(self, hook: str) -> bool:
        """Whether this stabilizer overrides the hook called ``hook``."""
        return getattr(type(self), hook) is not getattr(Stabilizer, hook)

    def call(self, features, training=False):
        """Applies :meth:`transform_features` (so the layer is callable like any layer)."""
        return self.transform_features(features, training)

    def get_config(self):
        """Returns the constructor arguments (subclasses add their options)."""
        return {**super().get_config(), "weight": self.weight}


def build_stabilizer(spec: str, index: int = 0, lookup: Callable[[str], Any] | None = None):
    """Builds a stabilizer from a spec string through the registry.

    Args:
        spec: ``"name"`` or ``"name:key=value,..."``.
        index: Position in the GAN's list (makes layer names unique).
        lookup: Maps a name to a stabilizer class (default:
            ``genkeras.registry.stabilizers.get``).

    Returns:
        A :class:`Stabilizer` instance.

    Raises:
        genkeras.registry.UnknownNameError: For an unregistered name.
        ValueError: For an unknown option or a bad value.
    """
    if lookup is None:
        from genkeras import registry

        lookup = registry.stabilizers.get
    name, options = parse_spec(spec)
    cls = lookup(name)
    if not (isinstance(cls, type) and issubclass(cls, Stabilizer)):
        raise ValueError(
            f"stabilizer {name!r} is registered as {cls!r}, which is not a "
            "genkeras.stabilizers.base.Stabilizer subclass."
        )
    accepted = set()
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            break
        if "__init__" in vars(klass):
            accepted |= {
                p
                for p in inspect.signature(klass.__init__).parameters
                if p not in ("self", "kwargs", "args")
            }
    unknown = sorted(set(options) - accepted - {"name", "dtype"})
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for stabilizer {name!r}. "
            f"Valid options: {', '.join(sorted(accepted))}. Received: spec={spec!r}"
        )
    stabilizer = cls(**options, name=f"stabilizer_{index}_{metric_prefix(name)}")
    stabilizer.registry_name = name
    return stabilizer
