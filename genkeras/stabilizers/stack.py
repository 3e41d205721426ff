"""The stabilizers of one GAN, in order: :class:`StabilizerStack`.

The GAN's ``train_step`` is the game; everything about its stabilizers --
building them from their specs, calling each hook on every stabilizer in
order, combining what they return, naming their metrics and tracking them --
lives here, so the GAN calls one method per hook.

Order: stabilizers apply in the order they were given (``--stabilizer a
--stabilizer b``): ``a``'s input and feature transforms run before ``b``'s,
and their loss terms are added in that order.
"""

from __future__ import annotations

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
    def build_features(self, dim: int) -> int:
        """Builds each feature transform in turn; returns the width the head receives."""
        for stab in self.layers:
            dim = int(stab.build_features(dim))
        return dim

    def setup(self, gan) -> None:
        """Calls every stabilizer's ``setup(gan)`` once the networks exist."""
        for stab in self.layers:
            stab.setup(gan)
            stab.built = True

    @property
    def trainable_weights(self) -> list:
        """The stabilizers' trainable weights (they belong to the discriminator)."""
        return [w for stab in self.layers for w in stab.trainable_weights]

    # -- forward hooks --------------------------------------------------------------------
    def discriminator_input(self, x, step, training: bool):
        """Applies every ``discriminator_input`` in order."""
        for stab in self.layers:
            x = stab.discriminator_input(x, step, training)
        return x

    def transform_features(self, features, training: bool):
        """Applies every ``transform_features`` in order: ``(batch, F) -> (batch, F')``."""
        for stab in self.layers:
            features = stab.transform_features(features, training)
        return features

    # -- losses -----------------------------------------------------------------------------
    @property
    def generator_adversarial_weight(self) -> float:
        """The product of the stabilizers' ``generator_adversarial_weight``."""
        weight = 1.0
        for stab in self.layers:
            weight *= float(stab.generator_adversarial_weight)
        return weight

    def add_terms(self, loss, ctx: StabilizerContext, hook: str, suffix: str):
        """Adds each stabilizer's ``hook`` term to ``loss``.

        Args:
            loss: The player's loss so far.
            ctx: The batch's context.
            hook: ``"discriminator_loss"`` or ``"generator_loss"``.
            suffix: ``"d"`` or ``"g"`` (the metric name's suffix).

        Returns:
            ``(loss, {metric name: term})``.
        """
        terms = {}
        for stab, prefix in self._named():
            if stab.overrides(hook):
                term = getattr(stab, hook)(ctx)
                if term is not None:
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

    def update_trackers(self, ctx: StabilizerContext, terms: dict[str, Any]) -> None:
        """Updates the trackers with the loss ``terms`` and every ``tracked(ctx)`` value."""
        values = dict(terms)
        for stab, prefix in self._named():
            for key, value in stab.tracked(ctx).items():
                values[f"{prefix}_{key}"] = value
        for name, value in values.items():
            if name in self._tracker_index:
                self._tracker_index[name].update_state(value)
