"""The stabilizers of one GAN, in order: :class:`StabilizerStack`.

The GAN's ``train_step`` is the game; everything about its stabilizers --
building them from their specs, calling each hook on every stabilizer in
order, combining what they return, naming their metrics and tracking them --
lives here, so the GAN calls one method per hook.

Order: stabilizers apply in the order they were given (``--stabilizer a
--stabilizer b``): ``a``'s input transform, packing and feature transform run
before ``b``'s, their loss terms are added and their update hooks called in
that order.

One training step of :class:`genkeras.models.gan.GAN` calls the hooks in this
order (``stack.method`` calls that hook on every stabilizer, in order)::

    repeat d_steps times:                              # the discriminator's updates
        fake = G(z)                                    # fresh noise each time
        real', fake' = discriminator_input(...)        # each batch, every stabilizer
        real', fake' = pack(...)                       # each batch, every stabilizer
        f = trunk(.);  f' = transform_features(f);  l = head(f')
        loss_D = adversarial_D · Π discriminator_adversarial_weight
                 + Σ weight · discriminator_loss(ctx)  # ctx.player == "discriminator"
        update D;  after_discriminator_step(gan)
    fake = G(z)                                        # the generator's update, fresh noise
    (the same forward pass, ctx.player == "generator")
    ctx.sample_weights = Π generator_sample_weights(ctx)   # None if no stabilizer gives any
    loss_G = adversarial_G · Π generator_adversarial_weight + Σ weight · generator_loss(ctx)
    tracked(ctx)                                       # the generator's ctx, before its update
    update G;  after_step(gan);  step += 1
    trackers: loss terms of both updates, the tracked values

A penalty that calls :meth:`~genkeras.stabilizers.base.StabilizerContext.discriminate`
runs the trunk, every stabilizer's ``per_sample_features`` and the head on
its input.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras

from genkeras.stabilizers.base import StabilizerContext, build_stabilizer
from genkeras.stabilizers.spec import metric_prefix

__all__ = ["StabilizerStack"]


class StabilizerStack:
    """Builds a GAN's stabilizers from specs and chains their hooks.

    The stabilizer layers themselves are also assigned to the GAN (so Keras
    saves their weights with the model); this object only orders and
    combines them.

    Args:
        specs: Stabilizer spec strings, ``"name"`` or ``"name:key=value,..."``.
        lookup: Maps a name to a stabilizer class (default: the registry).

    Attributes:
        layers: The :class:`~genkeras.stabilizers.base.Stabilizer` instances, in order.
        prefixes: Each one's metric prefix (its registry name with ``_``;
            ``name2``, ``name3``... for repeats).
        trackers: A ``keras.metrics.Mean`` per tracked value (see :meth:`metric_names`).
    """

    def __init__(self, specs: Sequence[str] = (), lookup: Callable[[str], Any] | None = None):
        self.layers = [build_stabilizer(s, i, lookup) for i, s in enumerate(specs)]
        self.prefixes = []
        seen: dict[str, int] = {}
        for stab in self.layers:
            prefix = metric_prefix(stab.registry_name)
            seen[prefix] = seen.get(prefix, 0) + 1
            self.prefixes.append(prefix if seen[prefix] == 1 else f"{prefix}{seen[prefix]}")
        self.trackers = [keras.metrics.Mean(name=n) for n in self.metric_names()]
        self._tracker_index = {t.name: t for t in self.trackers}

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def _named(self):
        return zip(self.layers, self.prefixes)

    def metric_names(self) -> list[str]:
        """``<prefix>_d`` / ``<prefix>_g`` per overridden loss hook, then ``<prefix>_<key>``."""
        names = []
        for stab, prefix in self._named():
            if stab.overrides("discriminator_loss"):
                names.append(f"{prefix}_d")
            if stab.overrides("generator_loss"):
                names.append(f"{prefix}_g")
            names += [f"{prefix}_{key}" for key in stab.tracked_keys]
        return names

    # -- construction ---------------------------------------------------------------------
    def discriminator_input_shape(self, shape) -> tuple[int, ...]:
        """Chains every ``discriminator_input_shape``: the shape D's trunk is built for."""
        shape = tuple(int(d) for d in shape)
        for stab in self.layers:
            new = stab.discriminator_input_shape(shape)
            try:
                shape = tuple(int(d) for d in new)
            except TypeError:
                raise ValueError(
                    f"{type(stab).__name__}.discriminator_input_shape must return a tuple of "
                    f"ints. Received: {new!r}"
                ) from None
        return shape

    def build_features(self, dim: int) -> int:
        """Builds each feature transform in turn; returns the width the head receives."""
        for stab in self.layers:
            dim = int(stab.build_features(dim))
        return dim

    def setup(self, gan) -> None:
        """Calls every stabilizer's ``setup(gan)`` once the networks exist, then marks it built."""
        for stab in self.layers:
            stab.setup(gan)
            stab.built = True

    @property
    def trainable_weights(self) -> list:
        """The stabilizers' trainable weights (they belong to the discriminator)."""
        return [w for stab in self.layers for w in stab.trainable_weights]

    # -- forward hooks --------------------------------------------------------------------
    def discriminator_input(self, x, step, training: bool):
        """Applies every ``discriminator_input`` in order (examples keep their shape)."""
        for stab in self.layers:
            x = stab.discriminator_input(x, step, training)
        return x

    def pack(self, x, training: bool):
        """Applies every ``pack`` in order: ``(n, *data_shape) -> (n', *D's input shape)``."""
        for stab in self.layers:
            x = stab.pack(x, training)
        return x

    def transform_features(self, features, training: bool, per_sample: bool = False):
        """Applies every feature transform in order: ``(n', F) -> (n', F')``.

        Args:
            features: The trunk's features.
            training: Whether this is a training step.
            per_sample: Use each stabilizer's ``per_sample_features`` (row ``i``
                of the output depends on row ``i`` of the input only).
        """
        for stab in self.layers:
            if per_sample:
                features = stab.per_sample_features(features, training)
            else:
                features = stab.transform_features(features, training)
        return features

    # -- losses -----------------------------------------------------------------------------
    def generator_sample_weights(self, ctx: StabilizerContext):
        """The product of the stabilizers' per-sample weights ``(n',)``, or ``None``."""
        weights = None
        for stab in self.layers:
            if stab.overrides("generator_sample_weights"):
                w = stab.generator_sample_weights(ctx)
                if w is not None:
                    weights = w if weights is None else weights * w
        return weights

    def _product(self, attribute: str) -> float:
        weight = 1.0
        for stab in self.layers:
            weight *= float(getattr(stab, attribute))
        return weight

    @property
    def discriminator_adversarial_weight(self) -> float:
        """The product of the stabilizers' ``discriminator_adversarial_weight``."""
        return self._product("discriminator_adversarial_weight")

    @property
    def generator_adversarial_weight(self) -> float:
        """The product of the stabilizers' ``generator_adversarial_weight``."""
        return self._product("generator_adversarial_weight")

    def add_terms(self, loss, ctx: StabilizerContext, hook: str, suffix: str):
        """Adds each stabilizer's ``weight · hook(ctx)`` to ``loss``.

        Args:
            loss: The player's loss so far.
            ctx: The batch's context.
            hook: ``"discriminator_loss"`` or ``"generator_loss"``.
            suffix: ``"d"`` or ``"g"`` (the metric name's suffix).

        Returns:
            ``(loss, {metric name: weighted term})``.
        """
        terms = {}
        for stab, prefix in self._named():
            if stab.overrides(hook):
                term = getattr(stab, hook)(ctx)
                if term is not None:
                    term = stab.weight * term
                    terms[f"{prefix}_{suffix}"] = term
                    loss = loss + term
        return loss, terms

    # -- updates and metrics ------------------------------------------------------------------
    def after_discriminator_step(self, gan) -> None:
        """Calls every ``after_discriminator_step(gan)``."""
        for stab in self.layers:
            stab.after_discriminator_step(gan)

    def after_step(self, gan) -> None:
        """Calls every ``after_step(gan)``."""
        for stab in self.layers:
            stab.after_step(gan)

    def tracked_values(self, ctx: StabilizerContext, terms: dict[str, Any]) -> dict[str, Any]:
        """The loss ``terms`` and every stabilizer's ``tracked(ctx)``, by tracker name.

        Args:
            ctx: The context of the generator's update (or of ``test_step``).
            terms: The weighted loss terms, ``{metric name: scalar}``.

        Returns:
            ``{tracker name: scalar}`` for the trackers the stack owns.

        Raises:
            ValueError: If ``tracked`` returns a key missing from ``tracked_keys``.
        """
        values = dict(terms)
        for stab, prefix in self._named():
            for key, value in stab.tracked(ctx).items():
                if key not in stab.tracked_keys:
                    raise ValueError(
                        f"{type(stab).__name__}.tracked returned {key!r}, which is not in its "
                        f"tracked_keys {tuple(stab.tracked_keys)} (trackers are created up "
                        "front from tracked_keys)."
                    )
                values[f"{prefix}_{key}"] = value
        return {name: value for name, value in values.items() if name in self._tracker_index}

    def evaluation_metrics(self, gan, spec, samples) -> dict[str, float]:
        """Every stabilizer's ``evaluation_metrics``, keys prefixed ``<prefix>_``.

        A stabilizer whose evaluation fails is reported with a warning and
        skipped: the GAN's own metrics never depend on a plugin.
        """
        result: dict[str, float] = {}
        for stab, prefix in self._named():
            if not stab.overrides("evaluation_metrics"):
                continue
            try:
                values = stab.evaluation_metrics(gan, spec, samples)
            except Exception as exc:  # noqa: BLE001 - one plugin must not hide the rest
                warnings.warn(
                    f"stabilizer {stab.registry_name!r}: evaluation_metrics failed "
                    f"({type(exc).__name__}: {exc}); its metrics are left out.",
                    stacklevel=2,
                )
                continue
            for key, value in (values or {}).items():
                result[f"{prefix}_{key}"] = float(value)
        return result
