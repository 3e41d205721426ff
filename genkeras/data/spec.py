"""What a dataset is once loaded: :class:`DataSpec`, and the checks every dataset passes.

A :class:`DataSpec` holds the arrays of a fixed train/test split, the example
shape, the number of discrete levels, and builds the cached, shuffled,
batched and prefetched ``tf.data`` pipelines the runner trains on.
:func:`validate_arrays` is the one check every array goes through (shape,
dtype, NaN/inf, range) before any training; :func:`requantize` maps discrete
data to fewer levels (``--levels``, ``--binarize``).

This module does not import TensorFlow until a pipeline is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["DataError", "DataSpec", "requantize", "validate_arrays"]


class DataError(ValueError):
    """Raised for data that cannot be trained on; the message names source and problem."""


@dataclasses.dataclass
class DataSpec:
    """A dataset ready for training: fixed split, shape, levels and pipelines.

    Attributes:
        name: The name it was loaded by (``"digits"``, ``"npz:/path.npz"``).
        x_train: Training examples, shape ``(N, *shape)``.
        x_test: Test examples.
        y_train: Integer class labels for ``x_train``, or ``None``.
        y_test: Integer class labels for ``x_test``, or ``None``.
        levels: Number of discrete values per dimension (2 for binarized,
            17 for digits, 256 for 8-bit images), or ``None`` for continuous
            data.
        num_classes: Number of label classes, or ``None``.
        description: One line describing the data.
        extras: Dataset-specific facts, free-form (a dataset plugin may keep
            anything here for its own code). genkeras reads two keys:
            ``"centers"``, a ``(K, d)`` array, and ``"std"``, a float, saying
            the data is an equal-weight mixture of ``K`` isotropic Gaussians
            with these centres and standard deviation (``ring``, ``grid``).
            With them, models that sample report mode coverage
            (:func:`genkeras.evaluation.coverage.mode_coverage`: ``modes_covered``,
            ``num_modes``, ``high_quality_fraction``, ``reverse_kl``) and the
            GAN's 2-D figure marks the centres.
        evaluate_samples: ``None``, or a function ``samples -> {name: number}``
            that scores generated samples (NumPy ``(n, *shape)`` in data units)
            against what the dataset knows -- its density, its modes, its
            support. Families that sample (the GAN) add these numbers to
            ``metrics.json`` and ``genkeras evaluate``
            (:func:`genkeras.evaluation.coverage.dataset_metrics`); names must not clash
            with the family's own. Runs in eager Python after training (NumPy
            is fine).
        run_defaults: The run and model options a family should use on this
            data unless given explicitly, ``{family: {option: value}}`` (e.g.
            ``{"gan": {"batch_size": 256, "width": 64}}``): the settings at which
            the family shows its lesson here. Keys are
            :class:`~genkeras.run.config.RunConfig` fields or the family's config
            fields; ``config.json`` records the resolved values.
    """

    name: str
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    levels: int | None = None
    num_classes: int | None = None
    description: str = ""
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluate_samples: Callable[[np.ndarray], dict[str, float]] | None = None
    run_defaults: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example, e.g. ``(8, 8, 1)`` or ``(2,)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        """Whether examples are ``(height, width, channels)`` images."""
        return len(self.shape) == 3

    @property
    def num_dims(self) -> int:
        """Number of scalar dimensions per example (for bits per dimension)."""
        return int(np.prod(self.shape))

    def fingerprint(self) -> str:
        """A hash of the split's arrays and levels: ``--resume`` checks the data is unchanged."""
        digest = hashlib.sha1()
        for array in (self.x_train, self.x_test, self.y_train, self.y_test):
            if array is not None:
                digest.update(repr((array.dtype.str, array.shape)).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr(self.levels).encode())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Returns a JSON-friendly description of the dataset (with its :meth:`fingerprint`)."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "shape": list(self.shape),
            "levels": self.levels,
            "num_train": int(len(self.x_train)),
            "num_test": int(len(self.x_test)),
            "num_classes": self.num_classes,
        }

    def check_batch_size(self, batch_size: int) -> None:
        """Raises :class:`DataError` if the training split is smaller than one batch."""
        if batch_size < 1:
            raise DataError(f"batch size must be at least 1. Received: batch_size={batch_size}")
        if len(self.x_train) < batch_size:
            raise DataError(
                f"{self.name}: {len(self.x_train)} training examples are fewer than one "
                f"batch of {batch_size}; use a smaller --batch-size."
            )

    def steps_per_epoch(self, batch_size: int) -> int:
        """Number of full training batches per epoch (the remainder is dropped)."""
        return len(self.x_train) // batch_size

    def train_dataset(
        self,
        batch_size: int,
        seed: int,
        first_epoch: int = 0,
        last_epoch: int | None = None,
        with_labels: bool = False,
    ):
        """Builds the training pipeline for epochs ``first_epoch .. last_epoch - 1``.

        Each epoch's order is a stateless shuffle keyed by ``(seed, epoch)``, so
        a run resumed at epoch ``k`` sees exactly the batches an uninterrupted
        run sees from epoch ``k`` on. Batches are full (``drop_remainder``), which
        keeps shapes static for XLA and for ``tf.distribute``.

        Args:
            batch_size: Global batch size.
            seed: Shuffle seed.
            first_epoch: First epoch to produce.
            last_epoch: One past the last epoch; ``None`` repeats forever.
            with_labels: Yield ``(x, y)`` batches (for class-conditional models),
                the labels gathered with the same shuffle.

        Returns:
            A ``tf.data.Dataset`` of ``float32`` batches, or ``(x, y)`` pairs.
        """
        import tensorflow as tf

        self.check_batch_size(batch_size)
        n = len(self.x_train)
        if with_labels and self.y_train is None:
            raise DataError(f"{self.name} has no labels; a class-conditional model needs them.")
        arrays = (self.x_train.astype(np.float32),)
        if with_labels:
            arrays += (self.y_train.astype(np.int32),)
        x = tf.data.Dataset.from_tensors(arrays).cache()
        if last_epoch is None:
            epochs = tf.data.Dataset.range(first_epoch, 2**62)
        else:
            epochs = tf.data.Dataset.range(first_epoch, last_epoch)

        steps = n // batch_size

        def epoch_batches(epoch, data):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(n), seed=tf.stack([tf.cast(seed, tf.int64), epoch])
            )
            order = order[: steps * batch_size]
            xs = tf.reshape(tf.gather(data[0], order), (steps, batch_size) + self.shape)
            if not with_labels:
                return tf.data.Dataset.from_tensor_slices(xs)
            ys = tf.reshape(tf.gather(data[1], order), (steps, batch_size))
            return tf.data.Dataset.from_tensor_slices((xs, ys))

        ds = tf.data.Dataset.zip(epochs, x.repeat()).flat_map(epoch_batches)
        return ds.prefetch(tf.data.AUTOTUNE)

    def test_dataset(self, batch_size: int, with_labels: bool = False):
        """Builds the (unshuffled, cached) test pipeline, keeping the last partial batch.

        Args:
            batch_size: Batch size.
            with_labels: Yield ``(x, y)`` pairs instead of ``x`` (needs labels).

        Returns:
            A ``tf.data.Dataset``.
        """
        import tensorflow as tf

        x = self.x_test.astype(np.float32)
        if with_labels:
            if self.y_test is None:
                raise DataError(f"{self.name} has no labels.")
            ds = tf.data.Dataset.from_tensor_slices((x, self.y_test.astype(np.int32)))
        else:
            ds = tf.data.Dataset.from_tensor_slices(x)
        return ds.cache().batch(batch_size).prefetch(tf.data.AUTOTUNE)


# -- validation ---------------------------------------------------------------
def validate_arrays(source: str, x: Any, what: str = "x", levels: int | None = None) -> np.ndarray:
    """Checks one array of examples and returns it in canonical form.

    Canonical form: ``(N, D)`` float32 vectors, or ``(N, H, W, C)`` images
    (integer levels as ``int32``, or float32 for continuous images).

    Args:
        source: Where the data came from, used in messages.
        x: The array.
        what: Its name in the source (``"x_train"``).
        levels: For integer data, the number of levels the values must fit in.

    Returns:
        The validated array.

    Raises:
        DataError: naming ``source``, ``what`` and the problem.
    """
    x = np.asarray(x)
    where = f"{source}: {what}"
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where} has dtype {x.dtype}; expected integers or floats.")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{where} has complex dtype {x.dtype}; expected real numbers.")
    if x.ndim not in (2, 3, 4):
        raise DataError(
            f"{where} has shape {x.shape}; expected (N, D) vectors, (N, H, W) or "
            "(N, H, W, C) images."
        )
    if x.shape[0] == 0 or x.size == 0:
        raise DataError(f"{where} is empty (shape {x.shape}).")
    if x.ndim == 3:
        x = x[..., None]
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            raise DataError(f"{where} contains {bad} NaN or infinite values.")
        limit = float(np.finfo(np.float32).max)
        if np.abs(x).max() > limit:
            raise DataError(
                f"{where} has values up to {np.abs(x).max():.4g} in magnitude; float32 "
                f"(what the models compute in) holds at most {limit:.4g}."
            )
        return x.astype(np.float32)
    top = np.iinfo(np.int32).max
    if x.max() > top:
        raise DataError(
            f"{where} has integer value {x.max()}; discrete levels must fit in int32 "
            f"(at most {top})."
        )
    x = x.astype(np.int64)
    if x.min() < 0:
        raise DataError(
            f"{where} has negative integer values (min {x.min()}); "
            "discrete data must be levels 0..L-1."
        )
    if levels is not None and x.max() >= levels:
        raise DataError(f"{where} has value {x.max()} but levels={levels}.")
    return x.astype(np.int32)


def requantize(
    x: np.ndarray, levels: int, new_levels: int | None, binarize: bool, source: str
) -> tuple[np.ndarray, int]:
    """Maps integer data with ``levels`` values to ``new_levels`` (or 2 if binarizing)."""
    if binarize:
        new_levels = 2
    if new_levels is None or new_levels == levels:
        return x, levels
    if new_levels < 2 or new_levels > levels:
        raise DataError(
            f"{source}: levels must be between 2 and {levels}. Received: levels={new_levels}"
        )
    if new_levels == 2:
        return (x >= (levels / 2)).astype(np.int32), 2
    return (x.astype(np.int64) * new_levels // levels).astype(np.int32), new_levels
