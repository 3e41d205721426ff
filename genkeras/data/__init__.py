"""Named datasets, loaded by :func:`load` into a validated :class:`DataSpec`.

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

A dataset name may carry an argument, ``NAME:ARG``, for loaders that take
one (:class:`Loader`): ``npz:PATH`` loads a user's own arrays: keys ``x`` (split 80/20 by a seeded
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
from collections.abc import Callable

from genkeras import registry
from genkeras.data.builtin import (
    cifar10,
    digits,
    fashion_mnist,
    grid,
    grid_centers,
    load_npz,
    mnist,
    ring,
    ring_centers,
)
from genkeras.data.spec import DataError, DataSpec, requantize, validate_arrays

__all__ = [
    "DataError",
    "DataSpec",
    "Loader",
    "cifar10",
    "digits",
    "fashion_mnist",
    "grid",
    "grid_centers",
    "load",
    "mnist",
    "npz",
    "ring",
    "ring_centers",
    "split_name",
    "validate_arrays",
]


@dataclasses.dataclass(frozen=True)
class Loader:
    """A dataset whose loader takes an argument: ``NAME:ARG`` on the command line.

    A dataset entry point names either a plain function ``() -> DataSpec``
    (the dataset takes no argument) or a ``Loader``. ``genkeras run ...
    --dataset NAME:ARG`` calls ``load(ARG)``.

    Args:
        load: ``ARG -> DataSpec``.
        argument: What ``ARG`` is, for messages and ``genkeras list`` (``"PATH"``).
        summary: One line for ``genkeras list``.

    Example:

    >>> loader = Loader(lambda arg: arg.upper(), "WORD", "Shouts.")
    >>> loader.load("hi")
    'HI'
    """

    load: Callable[[str], DataSpec]
    argument: str
    summary: str = ""

    def __post_init__(self):
        object.__setattr__(self, "__doc__", self.summary)  # what genkeras list shows


#: ``npz:PATH``: a user's own arrays (see the module docstring).
npz = Loader(load_npz, "PATH", "A user's own arrays from an .npz file: npz:PATH.")


def split_name(name: str) -> tuple[str, str | None]:
    """``"npz:runs/x.npz"`` -> ``("npz", "runs/x.npz")``; ``"digits"`` -> ``("digits", None)``."""
    base, sep, arg = name.partition(":")
    return base, (arg if sep else None)


def _loaded(name: str) -> DataSpec:
    base, arg = split_name(name)
    loader = registry.datasets.get(base)
    if isinstance(loader, Loader):
        if not arg:
            raise DataError(
                f"dataset {base!r} takes an argument: --dataset {base}:{loader.argument}."
            )
        return loader.load(arg)
    if arg is not None:
        raise DataError(f"dataset {base!r} takes no argument. Received: --dataset {name}")
    return loader()


# -- entry point ----------------------------------------------------------------
def load(name: str = "digits", *, levels: int | None = None, binarize: bool = False) -> DataSpec:
    """Loads a dataset by name and validates it.

    Args:
        name: A registered dataset name (``genkeras list`` shows them),
            ``NAME:ARG`` for a dataset that takes an argument (``npz:PATH``).
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
    spec = _loaded(name)
    if not isinstance(spec, DataSpec):
        raise DataError(
            f"dataset {name!r}: its loader returned {type(spec).__name__}, "
            "expected genkeras.data.DataSpec."
        )
    spec.x_train = validate_arrays(spec.name, spec.x_train, "x_train", spec.levels)
    spec.x_test = validate_arrays(spec.name, spec.x_test, "x_test", spec.levels)
    if levels is not None or binarize:
        if spec.levels is None:
            raise DataError(
                f"{spec.name}: continuous data has no levels to requantize "
                "(drop --levels/--binarize)."
            )
        old = spec.levels
        spec.x_train, spec.levels = requantize(spec.x_train, old, levels, binarize, spec.name)
        spec.x_test, _ = requantize(spec.x_test, old, levels, binarize, spec.name)
    return spec
