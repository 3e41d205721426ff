"""Named datasets and their ``tf.data`` pipelines.

:func:`load` turns a dataset name into a :class:`DataSpec`: the arrays of a
fixed train/test split, the example shape, the number of discrete levels, and
methods that build cached, shuffled, batched and prefetched ``tf.data``
pipelines.

Built-in datasets (registered through the ``genkeras.datasets`` entry-point
group, like any plugin):

============= ============================================================ =========
name          what                                                          levels
============= ============================================================ =========
digits        scikit-learn's bundled 1,797 handwritten 8x8 digits (UCI).    17
              Offline. Split: a permutation with NumPy seed 0; the first
              1,437 images train, the last 360 test.
mnist         ``keras.datasets.mnist`` (60k/10k official split), 28x28.     256
fashion_mnist ``keras.datasets.fashion_mnist`` (60k/10k), 28x28.            256
cifar10       ``keras.datasets.cifar10`` (50k/10k), 32x32x3.                256
ring          8 Gaussians on a circle of radius 1, std 0.01 (VEEGAN /       none
              PacGAN protocol); 25,000 train / 2,500 test, seed 0.
grid          25 Gaussians at {-4,-2,0,2,4}^2, std 0.05; same sizes.        none
============= ============================================================ =========

``npz:PATH`` loads a user's own arrays: keys ``x`` (split 80/20 by a seeded
permutation) or ``x_train`` and ``x_test``; optional ``y``/``y_train``/``y_test``
labels and ``levels``. Integer arrays are discrete data with ``levels`` grey
levels (default ``max + 1``); float arrays are continuous data. Shapes:
``(N, D)`` vectors, ``(N, H, W)`` or ``(N, H, W, C)`` images.

Every dataset is validated before any training: a missing file, a wrong shape
or dtype, NaN or infinite values, an empty split or fewer examples than one
batch raise :class:`DataError` naming the source and the problem.

Discrete data is kept as integer levels ``0 .. levels-1`` (the pipelines yield
them as ``float32``), so likelihood models score exactly the discrete values.

This module does not import TensorFlow until a pipeline is built, so listing
datasets stays instant.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from genkeras import registry

__all__ = ["DataError", "DataSpec", "load", "validate_arrays"]

DIGITS_SPLIT_SEED = 0
DIGITS_NUM_TEST = 360
SYNTHETIC_TRAIN = 25_000
SYNTHETIC_TEST = 2_500


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
            (:func:`genkeras.metrics.mode_coverage`: ``modes_covered``,
            ``num_modes``, ``high_quality_fraction``, ``reverse_kl``) and the
            GAN's 2-D figure marks the centres.
        evaluate_samples: ``None``, or a function ``samples -> {name: number}``
            that scores generated samples (NumPy ``(n, *shape)`` in data units)
            against what the dataset knows -- its density, its modes, its
            support. Families that sample (the GAN) add these numbers to
            ``metrics.json`` and ``genkeras evaluate``
            (:func:`genkeras.metrics.dataset_metrics`); names must not clash
            with the family's own. Runs in eager Python after training (NumPy
            is fine).
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

    def summary(self) -> dict[str, Any]:
        """Returns a JSON-friendly description of the dataset."""
        return {
            "name": self.name,
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
    x = x.astype(np.int64)
    if x.min() < 0:
        raise DataError(
            f"{where} has negative integer values (min {x.min()}); "
            "discrete data must be levels 0..L-1."
        )
    if levels is not None and x.max() >= levels:
        raise DataError(f"{where} has value {x.max()} but levels={levels}.")
    return x.astype(np.int32)


def _requantize(
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


# -- loaders --------------------------------------------------------------------
def _split(n: int, num_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n - num_test], order[n - num_test :]


def digits() -> DataSpec:
    """scikit-learn's bundled 8x8 handwritten digits (17 grey levels, offline)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.int32)[..., None]  # (1797, 8, 8, 1), values 0..16
    y = bunch.target.astype(np.int32)
    train, test = _split(len(x), DIGITS_NUM_TEST, DIGITS_SPLIT_SEED)
    return DataSpec(
        "digits",
        x[train],
        x[test],
        y[train],
        y[test],
        levels=17,
        num_classes=10,
        description="1,797 handwritten 8x8 digits from scikit-learn, 17 levels",
    )


def _keras_images(name: str, module: str, num_classes: int, description: str) -> DataSpec:
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, module).load_data()
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return DataSpec(
        name,
        x_train.astype(np.int32),
        x_test.astype(np.int32),
        y_train.reshape(-1).astype(np.int32),
        y_test.reshape(-1).astype(np.int32),
        levels=256,
        num_classes=num_classes,
        description=description,
    )


def mnist() -> DataSpec:
    """MNIST 28x28 handwritten digits via keras.datasets (downloads once)."""
    return _keras_images("mnist", "mnist", 10, "MNIST 28x28 digits, 256 levels")


def fashion_mnist() -> DataSpec:
    """Fashion-MNIST 28x28 clothing images via keras.datasets (downloads once)."""
    return _keras_images("fashion_mnist", "fashion_mnist", 10, "Fashion-MNIST 28x28, 256 levels")


def cifar10() -> DataSpec:
    """CIFAR-10 32x32 colour images via keras.datasets (downloads once)."""
    return _keras_images("cifar10", "cifar10", 10, "CIFAR-10 32x32x3, 256 levels")


def _gaussian_mixture_2d(
    name: str, centers: np.ndarray, std: float, description: str, seed: int = 0
) -> DataSpec:
    rng = np.random.default_rng(seed)
    k = len(centers)

    def draw(n):
        labels = rng.integers(0, k, size=n)
        points = centers[labels] + std * rng.standard_normal((n, 2))
        return points.astype(np.float32), labels.astype(np.int32)

    x_train, y_train = draw(SYNTHETIC_TRAIN)
    x_test, y_test = draw(SYNTHETIC_TEST)
    return DataSpec(
        name,
        x_train,
        x_test,
        y_train,
        y_test,
        levels=None,
        num_classes=k,
        description=description,
        extras={"centers": centers.astype(np.float32), "std": std},
    )


def ring_centers(radius: float = 1.0, modes: int = 8) -> np.ndarray:
    """Returns the ``(modes, 2)`` centres of the ring mixture."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centers() -> np.ndarray:
    """Returns the ``(25, 2)`` centres of the grid mixture, {-4,-2,0,2,4}^2."""
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(a, b) for a in ticks for b in ticks])


def ring() -> DataSpec:
    """8 Gaussians on a circle of radius 1, std 0.01 (2-D, continuous)."""
    return _gaussian_mixture_2d(
        "ring", ring_centers(), 0.01, "8 Gaussians on a ring, radius 1, std 0.01"
    )


def grid() -> DataSpec:
    """25 Gaussians on a 5x5 grid at {-4,-2,0,2,4}, std 0.05 (2-D, continuous)."""
    return _gaussian_mixture_2d(
        "grid", grid_centers(), 0.05, "25 Gaussians on a 5x5 grid, std 0.05"
    )


def _npz_labels(source, y_train, y_test, x_train, x_test):
    """Validates optional labels; returns ``(y_train, y_test, num_classes)``."""
    labels = []
    for what, y, x in (("y_train", y_train, x_train), ("y_test", y_test, x_test)):
        if y is None:
            labels.append(None)
            continue
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{source}: {what} must be {len(x)} integer labels; "
                f"got dtype {y.dtype}, shape {y.shape}."
            )
        labels.append(y.astype(np.int32))
    y_train, y_test = labels
    num_classes = None
    if y_train is not None:
        num_classes = int(max(y_train.max(), -1 if y_test is None else y_test.max())) + 1
    return y_train, y_test, num_classes


def load_npz(path: str) -> DataSpec:
    """Loads a user's arrays from an ``.npz`` file (see the module docstring)."""
    source = f"npz:{path}"
    if not os.path.exists(path):
        raise DataError(f"{source}: file not found.")
    if os.path.isdir(path):
        raise DataError(f"{source}: is a directory, not an .npz file.")
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{source}: not a valid .npz file (an .npz is a zip archive of arrays, as "
            "numpy.savez writes it)."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a DataError
        raise DataError(
            f"{source}: not a readable .npz file ({type(exc).__name__}: {exc})."
        ) from None
    levels = None
    if "levels" in arrays:
        try:
            levels = int(arrays.pop("levels"))
        except (TypeError, ValueError):
            raise DataError(f"{source}: 'levels' must be a single integer.") from None
        if levels < 2:
            raise DataError(f"{source}: levels must be at least 2. Received: levels={levels}")
    if "x_train" in arrays and "x_test" in arrays:
        x_train = validate_arrays(source, arrays["x_train"], "x_train", levels)
        x_test = validate_arrays(source, arrays["x_test"], "x_test", levels)
        y_train, y_test = arrays.get("y_train"), arrays.get("y_test")
    elif "x" in arrays:
        x = validate_arrays(source, arrays["x"], "x", levels)
        if len(x) < 2:
            raise DataError(f"{source}: x has {len(x)} example; need at least 2 to split.")
        train, test = _split(len(x), max(1, len(x) // 5), 0)
        x_train, x_test = x[train], x[test]
        y = arrays.get("y")
        y_train, y_test = (None, None) if y is None else (np.asarray(y)[train], np.asarray(y)[test])
    else:
        raise DataError(
            f"{source}: expected an array 'x' or both 'x_train' and 'x_test'; "
            f"found keys {sorted(arrays) or '(none)'}."
        )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{source}: x_train examples have shape {x_train.shape[1:]} but "
            f"x_test examples have shape {x_test.shape[1:]}."
        )
    if (x_train.dtype == np.int32) != (x_test.dtype == np.int32):
        raise DataError(f"{source}: x_train and x_test must both be integers or both floats.")
    y_train, y_test, num_classes = _npz_labels(source, y_train, y_test, x_train, x_test)
    if x_train.dtype == np.int32:
        levels = levels or int(max(x_train.max(), x_test.max())) + 1
        levels = max(levels, 2)
    return DataSpec(
        source,
        x_train,
        x_test,
        y_train,
        y_test,
        levels=levels,
        num_classes=num_classes,
        description=f"user arrays from {path}",
    )


# -- entry point ----------------------------------------------------------------
def load(name: str = "digits", *, levels: int | None = None, binarize: bool = False) -> DataSpec:
    """Loads a dataset by name and validates it.

    Args:
        name: A registered dataset name (``genkeras list`` shows them) or
            ``"npz:PATH"``.
        levels: Requantize discrete data to this many levels (2..original).
        binarize: Threshold discrete data at half its range (levels = 2).

    Returns:
        A validated :class:`DataSpec`.

    Raises:
        genkeras.registry.UnknownNameError: For an unknown name.
        DataError: For data that cannot be trained on.

    Example:

    >>> spec = load("digits")
    >>> spec.shape, spec.levels, len(spec.x_train), len(spec.x_test)
    ((8, 8, 1), 17, 1437, 360)
    >>> load("digits", binarize=True).levels
    2
    """
    if name.startswith("npz:"):
        spec = load_npz(name[4:])
    else:
        loader = registry.datasets.get(name)
        spec = loader()
        if not isinstance(spec, DataSpec):
            raise DataError(
                f"dataset {name!r}: its loader returned {type(spec).__name__}, "
                "expected genkeras.data.DataSpec."
            )
        spec.x_train = validate_arrays(name, spec.x_train, "x_train", spec.levels)
        spec.x_test = validate_arrays(name, spec.x_test, "x_test", spec.levels)
    if levels is not None or binarize:
        if spec.levels is None:
            raise DataError(
                f"{spec.name}: continuous data has no levels to requantize "
                "(drop --levels/--binarize)."
            )
        old = spec.levels
        spec.x_train, spec.levels = _requantize(spec.x_train, old, levels, binarize, spec.name)
        spec.x_test, _ = _requantize(spec.x_test, old, levels, binarize, spec.name)
    return spec
