"""The contract every genkeras model family implements.

A family is a :class:`GenerativeModel` (a ``keras.Model`` subclass) paired with
a hyperparameter dataclass (its ``config_class``). ``training.run`` and the CLI
only talk to this interface:

* ``Model.from_data(spec, config)`` builds a model sized from a
  :class:`genkeras.data.DataSpec` (shape, levels, classes);
* ``compile_for_training(learning_rate, jit_compile)`` compiles it (a GAN
  overrides this to create two optimizers);
* ``fit`` drives the family's custom ``train_step`` / ``test_step``; trackers are
  built in ``__init__`` and listed in the ``metrics`` property;
* ``sample(n, seed)`` draws examples; ``evaluation_metrics(spec)`` computes the
  family's test metrics (NLL in nats and bits/dim, ELBO/IWAE, coverage...);
* ``write_figures(spec, out_dir)`` draws the family's own figures;
* ``optimizer_slots()`` names every optimizer and the variables it updates so
  checkpoints save and restore each optimizer's state exactly.

Config dataclasses double as the CLI: each field becomes a ``--field-name``
option of ``genkeras run MODEL``; ``metadata={"help": ..., "choices": [...]}``
documents it. An unknown key is an error, never ignored.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

import keras

__all__ = ["GenerativeModel", "config_from_dict", "config_fields"]

LN2 = math.log(2.0)


def config_fields(config_class) -> list[dataclasses.Field]:
    """Returns the dataclass fields of a model config, in declaration order."""
    return list(dataclasses.fields(config_class))


def _coerce(field: dataclasses.Field, value: Any, hints: dict[str, Any]) -> Any:
    hint = hints.get(field.name, field.type)
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if origin is typing.Union and len(args) == 1 else hint
    if value is None:
        return None
    if base is bool and not isinstance(value, bool):
        raise ValueError(f"{field.name} must be true or false. Received: {field.name}={value!r}")
    if base is int:
        if isinstance(value, bool) or not float(value).is_integer():
            raise ValueError(f"{field.name} must be an integer. Received: {field.name}={value!r}")
        value = int(value)
    elif base is float:
        value = float(value)
    elif base is str:
        value = str(value)
    choices = field.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(
            f"{field.name} must be one of {', '.join(map(str, choices))}. "
            f"Received: {field.name}={value!r}"
        )
    return value


def config_from_dict(config_class, values: dict[str, Any] | None):
    """Builds a config dataclass from a dict, refusing unknown keys.

    Args:
        config_class: The family's config dataclass.
        values: Field values (missing fields take their defaults).

    Returns:
        An instance of ``config_class``.

    Raises:
        ValueError: For an unknown key or a value of the wrong type or outside
            its choices (the dataclass's ``__post_init__`` may check more).
    """
    if isinstance(values, config_class):
        return values
    values = dict(values or {})
    known = {f.name: f for f in config_fields(config_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown {config_class.__name__} option(s): {', '.join(unknown)}. "
            f"Valid options: {', '.join(known)}."
        )
    hints = typing.get_type_hints(config_class)
    coerced = {k: _coerce(known[k], v, hints) for k, v in values.items()}
    return config_class(**coerced)


class GenerativeModel(keras.Model):
    """Base class of the genkeras model families.

    Args:
        data_shape: Shape of one example, e.g. ``(8, 8, 1)`` or ``(2,)``.
        levels: Discrete levels per dimension, or ``None`` for continuous data.
        config: The family's config dataclass, or a dict of its fields.
        num_classes: Number of label classes in the data (for conditioning or
            coverage metrics), or ``None``.
        **kwargs: Passed to ``keras.Model`` (``name``, ``dtype``...).
    """

    #: The family's hyperparameter dataclass; subclasses set it.
    config_class: type = None
    #: Whether the family needs discrete data (``levels`` not ``None``).
    requires_discrete: bool = False
    #: Whether the family needs images ``(H, W, C)``.
    requires_images: bool = False

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if self.config_class is None:
            raise TypeError(f"{type(self).__name__} must set config_class.")
        self.data_shape = tuple(int(d) for d in data_shape)
        if any(d < 1 for d in self.data_shape) or not self.data_shape:
            raise ValueError(f"data_shape must be positive. Received: data_shape={data_shape}")
        self.levels = None if levels is None else int(levels)
        if self.levels is not None and self.levels < 2:
            raise ValueError(f"levels must be at least 2. Received: levels={levels}")
        if self.requires_discrete and self.levels is None:
            raise ValueError(
                f"{type(self).__name__} models discrete data; this data is continuous "
                "(levels=None). Use an image dataset such as digits or mnist."
            )
        if self.requires_images and len(self.data_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} models images of shape (height, width, channels). "
                f"Received: data_shape={self.data_shape}"
            )
        self.num_classes = None if num_classes is None else int(num_classes)
        self.cfg = config_from_dict(self.config_class, config)

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_data(cls, spec, config=None, **kwargs):
        """Builds a model sized from a :class:`genkeras.data.DataSpec`.

        Args:
            spec: The dataset.
            config: The family's config dataclass or dict of fields.
            **kwargs: Passed to the constructor.

        Returns:
            The model (not yet built).
        """
        return cls(
            data_shape=spec.shape,
            levels=spec.levels,
            config=config,
            num_classes=spec.num_classes,
            **kwargs,
        )

    def get_config(self):
        """Returns the constructor arguments (data shape, levels, config fields)."""
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "levels": self.levels,
            "num_classes": self.num_classes,
            "config": dataclasses.asdict(self.cfg),
        }

    @classmethod
    def from_config(cls, config):
        """Recreates the model from :meth:`get_config`'s output."""
        config = dict(config)
        # keras.Model.get_config adds these; the constructor passes them on.
        config.pop("trainable", None)
        return cls(**config)

    def build_from_shape(self):
        """Builds every weight by calling the model on a batch of zeros."""
        zeros = keras.ops.zeros((2,) + self.data_shape, dtype="float32")
        self(zeros)
        return self

    # -- training ---------------------------------------------------------------
    def compile_for_training(
        self, learning_rate=1e-3, jit_compile: bool = False, steps_per_execution: int = 1
    ):
        """Compiles with Adam at ``learning_rate`` (families with more optimizers override).

        Args:
            learning_rate: The learning rate: a float or a
                ``keras.optimizers.schedules.LearningRateSchedule`` of the
                optimizer's step (see :func:`genkeras.training.learning_rate_schedule`).
            jit_compile: Compile ``train_step``/``test_step`` with XLA.
            steps_per_execution: Training steps per call of the compiled function.
        """
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def optimizer_slots(self) -> list[tuple[str, Any, list]]:
        """Returns ``(name, optimizer, variables)`` for each optimizer of the model.

        Checkpoints use this to build and restore every optimizer's state.
        """
        return [("optimizer", self.optimizer, self.trainable_variables)]

    @staticmethod
    def replica_scale(loss):
        """Divides a per-replica mean loss by the number of replicas in sync.

        Under ``tf.distribute`` gradients are summed across replicas, so each
        replica must contribute ``loss / replicas`` for the update to equal the
        one-device update on the same global batch.
        """
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas == 1:
            return loss
        return loss / tf.cast(replicas, loss.dtype)

    # -- the family's own behaviour ----------------------------------------------
    def sample(self, n: int, seed: int | None = None):
        """Draws ``n`` examples; returns a tensor of shape ``(n, *data_shape)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample().")

    def evaluation_metrics(self, spec, batch_size: int = 256) -> dict[str, float]:
        """Computes the family's test-split metrics as a flat dict of floats."""
        raise NotImplementedError(f"{type(self).__name__} must implement evaluation_metrics().")

    def write_figures(self, spec, out_dir) -> list[str]:
        """Writes family-specific figures into ``out_dir``; returns the file names."""
        return []

    @staticmethod
    def bits_per_dim(nats_per_example: float, num_dims: int) -> float:
        """Converts an NLL in nats per example to bits per dimension."""
        return float(nats_per_example) / (num_dims * LN2)
