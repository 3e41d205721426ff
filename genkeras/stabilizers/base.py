"""The GAN stabilizer plugin API: :class:`Stabilizer`, :class:`StabilizerContext`, specs.

A *stabilizer* changes how :class:`genkeras.models.gan.GAN` trains without
touching the GAN's code. It is a ``keras.layers.Layer`` subclass (so any
variables it creates are tracked, saved in ``model.keras`` and restored by
``keras.saving.load_model``) that overrides any of the hooks below. Every hook
that runs inside the compiled ``train_step`` must be graph-safe and
XLA-compatible (no NumPy, no ``.numpy()``, no Python branching on tensors).

Construction hooks, called once while the GAN is built, in this order:

* ``discriminator_input_shape(shape)`` -- declares the shape of one
  discriminator input, given the shape the previous stabilizer declared
  (the data's shape for the first). The discriminator's trunk is built for
  the last one. A stabilizer
  that changes it (PacGAN's packing) also implements ``pack``.
* ``build_features(dim)`` -- with the width of the trunk's features this
  stabilizer receives; may create trainable weights; returns the width after
  :meth:`~Stabilizer.transform_features`.
* ``setup(gan)`` -- once every network (generator, trunk, head) and every
  stabilizer's feature weights exist; create state with ``self.add_weight``.
  The GAN marks the layer built afterwards (no need to set ``self.built``).

Hooks of every discriminator evaluation, on the real and the fake batch
separately (each stabilizer's in the order the stabilizers were given):

* ``discriminator_input(x, step, training)`` -- on batches of examples
  ``(n, *data_shape)`` in the model's range; returns what the discriminator
  sees (instance noise adds noise here). Must keep the shape.
* ``pack(x, training)`` -- after every ``discriminator_input``: maps a batch
  ``(n, *shape)`` to ``(n', *discriminator_input_shape(shape))`` (PacGAN:
  ``n' = n/m`` packs of ``m`` examples). The discriminator's logits are then
  one per pack.
* ``transform_features(features, training)`` -- between the trunk and the
  head: ``(n', F) -> (n', build_features(F))``.
* ``per_sample_features(features, training)`` -- the same transform for a
  gradient penalty: each row of the output must depend on the same row of the
  input only. The default calls ``transform_features``, which is right for a
  transform that acts on each row alone; a transform that compares the rows
  of a batch (minibatch discrimination) must override it and hold the other
  rows constant (``tf.stop_gradient``). See :meth:`StabilizerContext.discriminate`.

Loss hooks (a :class:`StabilizerContext` describes the batch):

* ``generator_sample_weights(ctx)`` -- in the generator's update only: a
  weight per generated sample ``(n',)``, or ``None``. The generator's
  adversarial loss becomes the weighted mean ``Σ_i w_i ℓ_i / Σ_i w_i`` of its
  per-sample losses ``ℓ_i``, with ``w`` the product of every stabilizer's
  weights; the loss hooks then see ``w`` as ``ctx.sample_weights`` (feature
  matching matches the weighted mean of the fake features), so a top-k
  update (``genkeras.stabilizers.top_k``) composes with the others.

* ``discriminator_loss(ctx)`` / ``generator_loss(ctx)`` -- a scalar term, or
  ``None``. The GAN multiplies it by the stabilizer's ``weight`` and adds it
  to that player's loss; the hook returns the *unweighted* term.
* ``discriminator_adversarial_weight`` / ``generator_adversarial_weight``
  (attributes, default 1) -- multiply that player's adversarial loss. The
  GAN uses the **product** over all stabilizers, so weights compose like
  independent scalings and a single 0 removes the adversarial loss (a WGAN
  critic sets 0 and adds its own loss as a term).

Update hooks: ``after_discriminator_step(gan)`` after each discriminator
update, ``after_step(gan)`` after each full step (every D update and the G
update). Reporting: ``tracked(ctx)`` returns scalars shown in the progress bar
(their keys listed in the class attribute ``tracked_keys``); it sees the
context of the generator's update (``ctx.player == "generator"``: after every
discriminator update of the step, fresh noise) or, in ``test_step``, the
evaluation context. ``evaluation_metrics(gan, spec, samples)`` (eager, after
training; NumPy allowed) returns numbers for ``metrics.json`` and
``genkeras evaluate``.

The order of the hooks inside one training step, the
:class:`~genkeras.stabilizers.stack.StabilizerStack` that calls them, and the
metric names are written out in the stack's module docstring and in
``docs/writing-a-plugin.md``.

Metric names: every loss term is tracked as ``<name>_d`` / ``<name>_g``
(``name`` is the registry name with dashes turned into underscores) -- one
tracker per loss hook the stabilizer *overrides*
(:meth:`Stabilizer.overrides`; override that method to say a hook is unused
for an instance's options) -- each :meth:`~Stabilizer.tracked` value as
``<name>_<key>``, each evaluation metric as ``<name>_<key>``. Trainable
weights of a stabilizer belong to the discriminator and are updated by its
optimizer (minibatch discrimination's tensor ``T``).

Stabilizers are chosen by *spec strings*: ``"name"`` or
``"name:key=value,key=value"`` (e.g. ``"minibatch-discrimination:kernels=50,dims=5"``),
with list values in brackets (``"name:sizes=[64,64]"``; see
:mod:`genkeras.stabilizers.spec`). The keys are the stabilizer's constructor
arguments. Every stabilizer accepts ``weight`` (the multiplier of its loss
terms; it has no effect on one that adds none).

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
    "PLAYERS",
    "Stabilizer",
    "StabilizerContext",
    "parse_spec",
    "build_stabilizer",
    "metric_prefix",
    "bce_with_logits",
]

#: The values of ``StabilizerContext.player``.
PLAYERS = ("discriminator", "generator", "evaluation")


def bce_with_logits(logits, target: float):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against a constant ``target``.

    ``BCE(l, t) = t·softplus(−l) + (1 − t)·softplus(l)``, computed stably.
    """
    return tf.reduce_mean(
        target * tf.nn.softplus(-logits) + (1.0 - target) * tf.nn.softplus(logits)
    )


@dataclasses.dataclass
class StabilizerContext:
    """What a stabilizer's loss and tracking hooks see about the current batch.

    All tensors are for one replica's batch. Inputs are in the model's range
    (images scaled to ``[-1, 1]``) and are exactly what the discriminator saw:
    after every stabilizer's :meth:`Stabilizer.discriminator_input` and
    :meth:`Stabilizer.pack` (so with PacGAN's packing of ``m`` examples,
    ``real`` holds ``n/m`` packs and the logits are one per pack).

    Attributes:
        real: Real discriminator inputs ``(n', *D's input shape)``.
        fake: Generated discriminator inputs ``(n', *D's input shape)``; in the
            generator's update they carry gradients to the generator.
        real_features: Trunk features of ``real``, ``(n', F)``, before any
            :meth:`Stabilizer.transform_features`.
        fake_features: Trunk features of ``fake``, ``(n', F)``.
        real_logits: Discriminator logits ``(n',)`` for ``real``.
        fake_logits: Discriminator logits ``(n',)`` for ``fake``.
        step: Completed training steps before this one (int64 scalar tensor);
            the same value in every hook of one training step.
        epoch: Completed epochs, ``step // steps_per_epoch`` (int64 scalar
            tensor), or ``None`` when the GAN was not compiled for a run.
        steps_per_epoch: Training steps per epoch (a Python int), or ``None``.
        sample_weights: In the generator's update, the product of the
            stabilizers' ``Stabilizer.generator_sample_weights`` ``(n',)``
            (``None``: every sample counts alike).
        training: Whether this is a training step (``False`` in ``test_step``).
        gan: The GAN (for its networks and :meth:`discriminate`).
        player: Whose update this context belongs to: ``"discriminator"``
            (one per discriminator update), ``"generator"`` (the generator's
            update, also what ``tracked`` sees) or ``"evaluation"`` (``test_step``).
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
    player: str = "generator"
    epoch: Any = None
    steps_per_epoch: int | None = None
    sample_weights: Any = None

    def discriminate(self, x):
        """The *per-sample* discriminator's logits ``(n',)`` for inputs ``x``.

        This is what a gradient penalty differentiates. ``x`` is in the
        discriminator's input space (like ``ctx.real``: model range, packed);
        no input transform is applied to it, so the penalty differentiates
        with respect to exactly ``x``. Feature transforms run in their
        per-sample form (:meth:`Stabilizer.per_sample_features`): logit ``i``
        is a function of ``x_i`` alone, the rest of the batch held fixed, so
        ``∇_x Σ_i l_i`` stacks the per-sample gradients ``∇_{x_i} l(x_i)``
        that R1 and WGAN-GP penalise -- even when minibatch discrimination
        makes ``l`` depend on the whole batch.
        """
        return self.gan.discriminate(x, training=self.training, per_sample=True)[1]


class Stabilizer(keras.layers.Layer):
    """Base class of GAN stabilizers: override the hooks you need (see the module docstring).

    Args:
        weight: Multiplier of the stabilizer's loss terms (applied by the GAN
            to what :meth:`discriminator_loss` / :meth:`generator_loss` return).
        **kwargs: Passed to ``keras.layers.Layer`` (``name``, ``dtype``).

    Attributes:
        registry_name: The name the stabilizer was looked up by (set by
            :func:`build_stabilizer`; used for metric names).
        discriminator_adversarial_weight: Multiplier of the discriminator's
            adversarial loss (WGAN-GP sets 0 to replace it).
        generator_adversarial_weight: Multiplier of the generator's adversarial
            loss (feature matching sets 0 to replace it).
    """

    discriminator_adversarial_weight: float = 1.0
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
    def discriminator_input_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Declares the shape of one discriminator input (default: ``shape`` unchanged).

        Called once, before the discriminator is built.

        Args:
            shape: The shape of one input as the previous stabilizer declared it
                (the data's shape for the first stabilizer).

        Returns:
            The shape of one input after this stabilizer's :meth:`pack`.
        """
        return tuple(shape)

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
        """Returns what the discriminator sees for examples ``x`` (default: ``x``).

        Args:
            x: ``(n, *data_shape)`` real or generated examples in the model range.
            step: Completed training steps (int64 scalar tensor).
            training: Whether this is a training step.
        """
        return x

    def pack(self, x, training: bool):
        """Maps a batch ``(n, *shape)`` to ``(n', *discriminator_input_shape(shape))``.

        The default returns ``x`` (no packing).
        """
        return x

    def transform_features(self, features, training: bool):
        """Maps trunk features ``(n', F)`` before the head (default: identity)."""
        return features

    def per_sample_features(self, features, training: bool):
        """:meth:`transform_features` with row ``i`` of the output a function of row ``i`` only.

        Used when a penalty differentiates the discriminator
        (:meth:`StabilizerContext.discriminate`). The default,
        :meth:`transform_features`, is right for transforms that act on each
        row alone; a transform that compares rows must override it.
        """
        return self.transform_features(features, training)

    # -- loss hooks -----------------------------------------------------------------------
    def generator_sample_weights(self, ctx: StabilizerContext):
        """Weights ``(n',)`` of the generated samples in G's adversarial loss (default: none).

        Called in the generator's update only, before the loss hooks. Return
        ``None`` to leave the weighting to the other stabilizers.
        """
        return None

    def discriminator_loss(self, ctx: StabilizerContext):
        """Returns a scalar the GAN adds, times ``weight``, to D's loss (default: none)."""
        return None

    def generator_loss(self, ctx: StabilizerContext):
        """Returns a scalar the GAN adds, times ``weight``, to G's loss (default: none)."""
        return None

    def tracked(self, ctx: StabilizerContext) -> dict[str, Any]:
        """Returns extra scalars to track, ``{key: tensor}`` (default: none)."""
        return {}

    # -- update hooks ---------------------------------------------------------------------
    def after_discriminator_step(self, gan) -> None:
        """Updates state after each discriminator update (default: nothing)."""

    def after_step(self, gan) -> None:
        """Updates state after each full training step (default: nothing)."""

    # -- evaluation -----------------------------------------------------------------------
    def evaluation_metrics(self, gan, spec, samples) -> dict[str, float]:
        """Numbers for ``metrics.json`` and ``genkeras evaluate`` (default: none).

        Called eagerly after training (NumPy is fine here). The GAN prefixes
        each key with the stabilizer's metric prefix (``wgan_gp_...``).

        Args:
            gan: The trained GAN.
            spec: The :class:`genkeras.data.DataSpec` (its test split).
            samples: The generated samples the GAN scores, NumPy
                ``(num_samples, *data_shape)`` in data units.

        Returns:
            A flat dict of floats.
        """
        return {}

    # -- introspection used by the GAN ------------------------------------------------------
    def overrides(self, hook: str) -> bool:
        """Whether this stabilizer implements the hook called ``hook``.

        The GAN creates a ``<name>_d`` / ``<name>_g`` tracker for each loss hook
        this returns ``True`` for. The default answers whether the class
        overrides the method; override ``overrides`` itself when an instance's
        options leave a hook unused (historical averaging of one player only).
        """
        return getattr(type(self), hook) is not getattr(Stabilizer, hook)

    def call(self, features, training=False):
        """Applies :meth:`transform_features` (so the layer is callable like any layer)."""
        return self.transform_features(features, training)

    def get_config(self):
        """Returns the constructor arguments (subclasses add their options)."""
        return {**super().get_config(), "weight": self.weight}


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _expected_type(parameter: inspect.Parameter | None) -> type | None:
    """The scalar type a constructor parameter takes, from its annotation or default.

    Returns ``None`` when neither says (lists, unions, no default): the
    constructor then checks the value itself.
    """
    if parameter is None:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, str):  # postponed annotations
        annotation = {"bool": bool, "int": int, "float": float, "str": str}.get(annotation)
    if annotation in _TYPE_WORDS:
        return annotation
    default = parameter.default
    if default is not inspect.Parameter.empty and default is not None:
        return type(default) if type(default) in _TYPE_WORDS else None
    return None


def _has_type(value: Any, expected: type) -> bool:
    """Whether a parsed spec value fits ``expected`` (an int fits a float option)."""
    if expected is bool or isinstance(value, bool):
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


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
    parameters = {}
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            break
        if "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.name not in ("self", "kwargs", "args"):
                    parameters.setdefault(p.name, p)
    unknown = sorted(set(options) - set(parameters) - {"name", "dtype"})
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for stabilizer {name!r}. "
            f"Valid options: {', '.join(sorted(parameters))}. Received: spec={spec!r}"
        )
    for key, value in options.items():
        expected = _expected_type(parameters.get(key))
        if expected is not None and not _has_type(value, expected):
            raise ValueError(
                f"Stabilizer {name!r} option {key!r} expects {_TYPE_WORDS[expected]}. "
                f"Received: {key}={value!r} in spec={spec!r}"
            )
    try:
        stabilizer = cls(**options, name=f"stabilizer_{index}_{metric_prefix(name)}")
    except (TypeError, ValueError) as err:
        raise ValueError(f"Stabilizer {name!r} refused its options: {err} (spec={spec!r})") from err
    stabilizer.registry_name = name
    check_hooks(stabilizer)
    return stabilizer


#: The methods the GAN and its stack call on a stabilizer.
HOOKS = (
    "discriminator_input_shape",
    "build_features",
    "setup",
    "discriminator_input",
    "pack",
    "transform_features",
    "per_sample_features",
    "generator_sample_weights",
    "discriminator_loss",
    "generator_loss",
    "tracked",
    "after_discriminator_step",
    "after_step",
    "evaluation_metrics",
    "overrides",
)


def check_hooks(stabilizer: Stabilizer) -> None:
    """Refuses a stabilizer whose instance attribute hides one of the hooks.

    ``self.pack = int(pack)`` in a plugin's ``__init__`` would replace the
    ``pack`` hook with a number, and the GAN would fail deep in its step.

    Raises:
        ValueError: Naming the class, where it comes from, the attribute and the hook.
    """
    cls = type(stabilizer)
    for hook in HOOKS:
        if hook in vars(stabilizer) and not callable(vars(stabilizer)[hook]):
            raise ValueError(
                f"stabilizer {stabilizer.registry_name!r} ({cls.__module__}.{cls.__qualname__}) "
                f"sets the attribute self.{hook} = {vars(stabilizer)[hook]!r}, which hides the "
                f"stabilizer hook {hook}() the GAN calls. Store the option under another name "
                f"(e.g. self.{hook}_option)."
            )
