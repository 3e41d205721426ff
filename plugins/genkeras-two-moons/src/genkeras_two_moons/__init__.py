"""genkeras-two-moons: the two-moons dataset, with metrics of how well samples trace it.

The ``genkeras.datasets`` entry point names :func:`two_moons`, a function with
no arguments that returns a :class:`genkeras.data.DataSpec`. This module
imports NumPy and :mod:`genkeras.data` only (no TensorFlow), so ``genkeras
list`` stays instant.
"""

from genkeras_two_moons.moons import (
    NOISE,
    NUM_BINS,
    arc_distance,
    moon_metrics,
    sample_moons,
    two_moons,
)

__version__ = "0.1.0"

__all__ = ["NOISE", "NUM_BINS", "arc_distance", "moon_metrics", "sample_moons", "two_moons"]
