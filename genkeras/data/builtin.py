"""The built-in datasets' loaders (see :mod:`genkeras.data` for the table).

Each is registered through the ``genkeras.datasets`` entry-point group in
genkeras's ``setup.cfg``, exactly as a plugin's dataset would be; ``npz`` is a
:class:`~genkeras.data.Loader` that takes an argument (``npz:PATH``).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from genkeras.data.spec import DataError, DataSpec, validate_arrays

__all__ = [
    "cifar10",
    "digits",
    "fashion_mnist",
    "grid",
    "grid_centers",
    "load_npz",
    "mnist",
    "ring",
    "ring_centers",
]

DIGITS_SPLIT_SEED = 0
DIGITS_NUM_TEST = 360
SYNTHETIC_TRAIN = 25_000
SYNTHETIC_TEST = 2_500


# -- loaders --------------------------------------------------------------------
def _split(n: int, num_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n - num_test], order[n - num_test :]


#: The GAN's defaults on digits: 100 epochs of 22 batches, Adam at 4e-4 -- every class
#: or all but one, sharp enough for the classifier (``benchmarks/gan_lessons.py``).
DIGITS_GAN_DEFAULTS = {"epochs": 100, "learning_rate": 4e-4}


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
        run_defaults={"gan": DIGITS_GAN_DEFAULTS},
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


#: The GAN's defaults on the ring, where it shows the lecture's lesson (``docs/gans.md``):
#: without a stabilizer it collapses onto a few modes (or none); with feature matching it
#: covers all eight, most samples near a centre. 150 epochs of 48 batches of 512, Adam at
#: 5e-4 decayed to 1 % (``benchmarks/gan_lessons.py`` measures both over 5 seeds).
RING_GAN_DEFAULTS = {"batch_size": 512, "learning_rate": 5e-4, "lr_decay": 0.01, "epochs": 150}


def _gaussian_mixture_2d(
    name: str,
    centers: np.ndarray,
    std: float,
    description: str,
    seed: int = 0,
    run_defaults: dict | None = None,
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
        run_defaults=run_defaults or {},
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
        "ring",
        ring_centers(),
        0.01,
        "8 Gaussians on a ring, radius 1, std 0.01",
        run_defaults={"gan": RING_GAN_DEFAULTS},
    )


def grid() -> DataSpec:
    """25 Gaussians on a 5x5 grid at {-4,-2,0,2,4}, std 0.05 (2-D, continuous)."""
    return _gaussian_mixture_2d(
        "grid", grid_centers(), 0.05, "25 Gaussians on a 5x5 grid, std 0.05"
    )


def _check_labels(source: str, what: str, y, n: int) -> np.ndarray:
    """``n`` non-negative integer labels as ``int32``, or a DataError naming ``what``."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != n:
        raise DataError(
            f"{source}: {what} must be {n} integer labels (one per example); "
            f"got dtype {y.dtype}, shape {y.shape}."
        )
    if len(y) and y.min() < 0:
        raise DataError(
            f"{source}: {what} has a negative label ({y.min()}); class ids must be 0..K-1."
        )
    if len(y) and y.max() > np.iinfo(np.int32).max:
        raise DataError(f"{source}: {what} has label {y.max()}, beyond int32.")
    return y.astype(np.int32)


def _npz_labels(source, y_train, y_test, x_train, x_test):
    """Validates optional labels; returns ``(y_train, y_test, num_classes)``.

    Class ids must be ``0..K-1`` with most of them used: ids coded sparsely
    (one class numbered 100000) would make a 100,001-class problem, so they
    are refused with the way to renumber them.
    """
    labels = [
        None if y is None else _check_labels(source, what, y, len(x))
        for what, y, x in (("y_train", y_train, x_train), ("y_test", y_test, x_test))
    ]
    y_train, y_test = labels
    num_classes = None
    if y_train is not None:
        present = np.unique(np.concatenate([y for y in labels if y is not None]))
        num_classes = int(present.max()) + 1
        if len(present) < max(2, num_classes // 2):
            raise DataError(
                f"{source}: the labels use only {len(present)} of the class ids "
                f"0..{num_classes - 1}; class ids must be 0..K-1 (renumber them with "
                "numpy.unique(y, return_inverse=True))."
            )
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
        if y is not None:
            y = _check_labels(source, "y", y, len(x))
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
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
