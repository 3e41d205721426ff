"""Historical averaging: each player is pulled towards the running mean of its past parameters.

Salimans et al. [1], Section 3.3: each player's cost gets the term

    L_HA = ‖θ − (1/t) Σ_{i=1}^{t} θ_i‖²

where ``θ_i`` is the value of the player's parameters at past time ``i``. The
average is updated online after every training step (``θ̄ ← θ̄ + (θ − θ̄)/t``) in
non-trainable variables that are saved with the model. It penalises the
oscillations of gradient descent in games without a stable equilibrium, the
fictitious-play idea of playing against the history of the opponent.

Here the history starts with the initial parameters (``θ_1``) and gets one
entry after every step, so after ``k`` steps the average is the mean of
``k + 1`` parameter values. The squared norm is summed over every parameter of
the player. Tracked as ``historical_averaging_d`` / ``historical_averaging_g``
(only the averaged player's with ``player=discriminator`` or ``generator``).

Options: ``weight`` (default 0.01), ``player`` (``both`` (default),
``discriminator`` or ``generator``).

References:

[1]: Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
     https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkeras.stabilizers.base import Stabilizer

__all__ = ["HistoricalAveraging"]

PLAYERS = ("both", "discriminator", "generator")


class _Refs:
    """Plain holder, so Keras does not track the players' variables as this layer's own."""

    def __init__(self):
        self.params = {"discriminator": [], "generator": []}
        self.averages = {"discriminator": [], "generator": []}


@keras.saving.register_keras_serializable(package="genkeras")
class HistoricalAveraging(Stabilizer):
    """Adds ``weight · ‖θ − mean of past θ‖²`` to the chosen players' losses.

    Args:
        weight: Multiplier of the term.
        player: ``"both"``, ``"discriminator"`` or ``"generator"``.
        **kwargs: Passed to :class:`~genkeras.stabilizers.base.Stabilizer`.
    """

    def __init__(self, weight: float = 0.01, player: str = "both", **kwargs):
        super().__init__(weight=weight, **kwargs)
        if player not in PLAYERS:
            raise ValueError(
                f"player must be one of {', '.join(PLAYERS)}. Received: player={player!r}"
            )
        self.player = player
        self._refs = _Refs()
        self.count = None

    def _players(self):
        return ("discriminator", "generator") if self.player == "both" else (self.player,)

    def setup(self, gan):
        """Creates one average per parameter, initialised to the current values."""
        variables = {
            "discriminator": gan.discriminator_variables,
            "generator": gan.generator_variables,
        }
        for player in self._players():
            params = list(variables[player])
            self._refs.params[player] = params
            self._refs.averages[player] = [
                self.add_weight(
                    shape=tuple(v.shape),
                    initializer="zeros",
                    trainable=False,
                    aggregation="only_first_replica",  # replicas hold equal copies
                    name=f"avg_{player[0]}_{i}",
                )
                for i, v in enumerate(params)
            ]
            for avg, v in zip(self._refs.averages[player], params):
                avg.assign(v)
        # t: how many parameter values the averages hold
        self.count = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            aggregation="only_first_replica",
            name="count",
        )
        self.built = True

    def averages(self, player: str) -> list:
        """The running averages of ``player``'s parameters (same order as its variables)."""
        return list(self._refs.averages[player])

    def distance(self, player: str):
        """``Σ_v ‖v − v̄‖²`` over the player's parameters (0 if the player is not averaged)."""
        total = tf.constant(0.0)
        for avg, v in zip(self._refs.averages[player], self._refs.params[player]):
            total += tf.reduce_sum(tf.square(v - tf.stop_gradient(avg)))
        return total

    def discriminator_loss(self, ctx):
        """``‖θ_D − θ̄_D‖²`` (the GAN multiplies it by ``weight``)."""
        return self.distance("discriminator")

    def generator_loss(self, ctx):
        """``‖θ_G − θ̄_G‖²`` (the GAN multiplies it by ``weight``)."""
        return self.distance("generator")

    def overrides(self, hook):
        """Only the averaged players' loss hooks count (one tracker each)."""
        if hook == "discriminator_loss":
            return "discriminator" in self._players()
        if hook == "generator_loss":
            return "generator" in self._players()
        return super().overrides(hook)

    def after_step(self, gan):
        """Folds the current parameters into the running averages."""
        t = self.count + 1.0
        for player in self._players():
            for avg, v in zip(self._refs.averages[player], self._refs.params[player]):
                avg.assign(avg + (v - avg) / t)
        self.count.assign(t)

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "player": self.player}
