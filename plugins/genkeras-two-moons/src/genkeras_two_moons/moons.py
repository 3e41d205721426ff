"""Two interleaved half circles with Gaussian noise, and how well samples trace them.

The two moons (as in scikit-learn's ``make_moons``): the upper moon is the
half circle of radius 1 around ``(0, 0)``, the lower one the half circle of
radius 1 around ``(1, 0.5)`` opening the other way,

    upper(t) = (cos t, sin t),        lower(t) = (1 − cos t, 0.5 − sin t),   t ∈ [0, π],

with ``t ~ U[0, π]``, each moon drawn with probability 1/2, and isotropic
Gaussian noise of standard deviation ``σ = 0.05`` added. 20,000 training and
2,000 test points, NumPy seed 0. Labels say which moon (0 upper, 1 lower).

Unlike the ring and the grid, the two moons have no finite set of modes: the
data lies near two curves. :func:`moon_metrics` scores generated samples the
way mode coverage scores them on a mixture, with the curves in place of the
centres:

* ``moons_on_support`` -- the fraction of samples within ``3σ`` of a moon
  (the analogue of high-quality samples; about 0.997 for the data itself);
* ``moons_mean_distance`` -- the mean distance of a sample to its nearest moon;
* ``moons_bins_covered`` (of ``moons_num_bins`` = 20) -- each moon is cut
  into 10 arcs of equal length; an arc is covered if at least one on-support
  sample lies on it (the analogue of modes covered);
* ``moons_bin_kl`` -- ``KL(q ‖ uniform)`` of the on-support samples' histogram
  over the 20 arcs (the data is uniform over them: 0 is perfect, ``log 20``
  the worst).

The loader hands :func:`moon_metrics` to genkeras as the dataset's
``DataSpec.evaluate_samples``, so ``genkeras run gan --dataset two-moons``
reports these in ``metrics.json`` and ``genkeras evaluate``.
"""

from __future__ import annotations

import numpy as np

from genkeras.data import DataSpec
from genkeras.evaluation.coverage import histogram_kl_to_uniform

__all__ = ["NOISE", "NUM_BINS", "arc_distance", "moon_metrics", "sample_moons", "two_moons"]

#: Standard deviation of the Gaussian noise.
NOISE = 0.05
#: Arcs per moon for coverage.
NUM_BINS = 10
NUM_TRAIN = 20_000
NUM_TEST = 2_000
#: Each moon: (centre, +1 for the upper half circle, -1 for the lower one).
MOONS = ((np.array([0.0, 0.0]), 1.0), (np.array([1.0, 0.5]), -1.0))


def sample_moons(n: int, noise: float = NOISE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``n`` points of the two moons.

    Args:
        n: Number of points.
        noise: Standard deviation of the Gaussian noise.
        seed: NumPy seed.

    Returns:
        ``(points, labels)``: ``(n, 2)`` float32 and ``(n,)`` int32 (0 upper, 1 lower).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int32)


def arc_distance(points, moon: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each point to one moon, and the curve parameter of its nearest point.

    Args:
        points: ``(n, 2)``.
        moon: 0 (upper) or 1 (lower).

    Returns:
        ``(distance, t)``, each ``(n,)``; ``t ∈ [0, π]`` locates the nearest
        point of the moon (``upper(t)`` or ``lower(t)``).

    Example:

    >>> d, t = arc_distance(np.array([[0.0, 2.0], [1.0, 0.0], [0.0, -1.0]]), 0)
    >>> np.round(d, 3).tolist(), np.round(t, 3).tolist()
    ([1.0, 0.0, 1.414], [1.571, 0.0, 0.0])
    """
    centre, side = MOONS[moon]
    q = np.asarray(points, dtype=np.float64) - centre  # (n, 2), relative to the centre
    # In the moon's own frame the half circle is (cos t, sin t), t in [0, pi].
    qx, qy = side * q[:, 0], side * q[:, 1]
    radius = np.hypot(qx, qy)
    inside = qy >= 0  # the nearest point is inside the arc
    t = np.where(inside, np.arctan2(qy, qx), np.where(qx >= 0, 0.0, np.pi))
    to_arc = np.abs(radius - 1.0)
    to_end = np.minimum(np.hypot(qx - 1.0, qy), np.hypot(qx + 1.0, qy))  # endpoints t = 0, pi
    return np.where(inside, to_arc, to_end), np.clip(t, 0.0, np.pi)


def moon_metrics(samples, noise: float = NOISE) -> dict[str, float]:
    """How well 2-D samples trace the two moons (see the module docstring).

    Args:
        samples: ``(n, 2)`` generated points.
        noise: The data's noise ``σ`` (on support: within ``3σ``).

    Returns:
        ``{"moons_on_support", "moons_mean_distance", "moons_bins_covered",
        "moons_num_bins", "moons_bin_kl"}``.

    Raises:
        ValueError: If ``samples`` is not ``(n, 2)``.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(f"samples must be (n, 2). Received: shape={samples.shape}")
    finite = np.all(np.isfinite(samples), axis=1)
    samples = np.where(finite[:, None], samples, 1e6)  # far from both moons
    (d0, t0), (d1, t1) = arc_distance(samples, 0), arc_distance(samples, 1)
    moon = (d1 < d0).astype(int)
    distance = np.minimum(d0, d1)
    t = np.where(moon == 0, t0, t1)
    on_support = distance <= 3.0 * noise
    arc = np.minimum((t / np.pi * NUM_BINS).astype(int), NUM_BINS - 1)
    counts = np.bincount((moon * NUM_BINS + arc)[on_support], minlength=2 * NUM_BINS)
    return {
        "moons_on_support": float(on_support.mean()),
        "moons_mean_distance": float(np.mean(np.minimum(distance, 1e6))),
        "moons_bins_covered": float(np.count_nonzero(counts)),
        "moons_num_bins": float(2 * NUM_BINS),
        "moons_bin_kl": histogram_kl_to_uniform(counts),
    }


def two_moons() -> DataSpec:
    """Two moons, noise 0.05: 20,000 train / 2,000 test 2-D points (continuous)."""
    x_train, y_train = sample_moons(NUM_TRAIN, seed=0)
    x_test, y_test = sample_moons(NUM_TEST, seed=1)
    return DataSpec(
        "two-moons",
        x_train,
        x_test,
        y_train,
        y_test,
        levels=None,
        num_classes=2,
        description="two moons (half circles of radius 1), Gaussian noise 0.05",
        extras={"noise": NOISE},
        evaluate_samples=moon_metrics,
    )
