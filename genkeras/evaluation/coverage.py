"""Mode coverage: what the lecture's mode-collapse picture shows, as numbers.

Mode coverage on 2-D mixtures (the VEEGAN [1] / PacGAN [2] protocol): draw
2,500 samples; a sample is *high quality* if it lies within 3 standard
deviations of its nearest mode centre; a mode is *covered* if it is the
nearest centre of at least one high-quality sample. Also reported: the
fraction of high-quality samples and the reverse KL divergence

    KL(q ‖ u) = Σ_k q_k log(q_k K)

between the histogram ``q`` of the high-quality samples over the ``K`` modes
and the uniform distribution ``u`` over modes (0 when every mode gets the same
share, ``log K`` when a single mode gets everything; ``log K`` also when no
sample is of high quality).

Datasets contribute their own metrics (:func:`dataset_metrics`): mode coverage
when ``DataSpec.extras`` holds the mixture's ``centers`` and ``std``, and
whatever the dataset's ``DataSpec.evaluate_samples`` function computes from
generated samples.

References:

[1]: Srivastava, Valkov, Russell, Gutmann & Sutton. VEEGAN: Reducing Mode
     Collapse in GANs using Implicit Variational Learning. NeurIPS 2017.
     https://arxiv.org/abs/1705.07761
[2]: Lin, Khetan, Fanti & Oh. PacGAN: The power of two samples in generative
     adversarial networks. NeurIPS 2018. https://arxiv.org/abs/1712.04086
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dataset_metrics", "histogram_kl_to_uniform", "merge_metrics", "mode_coverage"]


def histogram_kl_to_uniform(counts) -> float:
    """``KL(q ‖ uniform)`` in nats for a histogram of counts over ``K`` bins.

    Args:
        counts: ``(K,)`` non-negative counts.

    Returns:
        ``Σ_k q_k log(q_k K)`` with ``q = counts / counts.sum()``; ``log K`` for
        an all-zero histogram (no mass on any bin is treated like the worst case).

    Example:

    >>> round(histogram_kl_to_uniform([5, 5, 5, 5]), 6)
    0.0
    >>> bool(abs(histogram_kl_to_uniform([7, 0, 0, 0]) - np.log(4)) < 1e-12)
    True
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts < 0):
        raise ValueError(
            f"counts must be a non-empty 1-D array of counts >= 0. Received: counts={counts}"
        )
    k = counts.size
    total = counts.sum()
    if total == 0:
        return float(math.log(k))
    q = counts / total
    nz = q > 0
    return float(np.sum(q[nz] * np.log(q[nz] * k)))


def mode_coverage(samples, centers, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes covered, high-quality fraction and reverse KL of 2-D samples (VEEGAN protocol).

    Args:
        samples: ``(n, d)`` generated points.
        centers: ``(K, d)`` mode centres.
        std: Standard deviation of each mode.
        threshold: A sample within ``threshold · std`` of its nearest centre is
            high quality.

    Returns:
        ``{"modes_covered", "num_modes", "high_quality_fraction", "reverse_kl"}``.

    Example:

    >>> centers = np.array([[0.0, 0.0], [10.0, 0.0]])
    >>> samples = np.array([[0.0, 0.1], [0.2, 0.0], [5.0, 5.0]])
    >>> r = mode_coverage(samples, centers, std=0.1)
    >>> r["modes_covered"], round(r["high_quality_fraction"], 3), round(r["reverse_kl"], 3)
    (1, 0.667, 0.693)
    """
    samples = np.asarray(samples, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"samples (n, d) and centers (K, d) must agree. Received: "
            f"samples.shape={samples.shape}, centers.shape={centers.shape}"
        )
    if not std > 0:
        raise ValueError(f"std must be positive. Received: std={std}")
    k = len(centers)
    finite = np.all(np.isfinite(samples), axis=1)
    dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)  # (n, K)
    dist[~finite] = np.inf
    nearest = np.argmin(dist, axis=1)  # (n,)
    high_quality = dist[np.arange(len(samples)), nearest] <= threshold * std  # (n,)
    counts = np.bincount(nearest[high_quality], minlength=k)  # (K,)
    return {
        "modes_covered": int(np.count_nonzero(counts)),
        "num_modes": int(k),
        "high_quality_fraction": float(high_quality.mean()) if len(samples) else 0.0,
        "reverse_kl": histogram_kl_to_uniform(counts),
    }


def dataset_metrics(spec, samples) -> dict[str, float]:
    """What the dataset itself says about generated samples.

    Two declared sources, both on :class:`genkeras.data.DataSpec`:

    * ``extras["centers"]`` ``(K, d)`` and ``extras["std"]``: the data is a
      mixture of ``K`` isotropic Gaussians, and :func:`mode_coverage` of the
      samples is reported (``modes_covered``, ``num_modes``,
      ``high_quality_fraction``, ``reverse_kl``);
    * ``evaluate_samples``: a function ``samples -> {name: number}`` the
      dataset provides (e.g. the distance of samples to the two moons).

    Args:
        spec: The dataset.
        samples: Generated samples, NumPy ``(n, *spec.shape)`` in data units.

    Returns:
        A flat dict of floats (empty when the dataset declares neither).

    Raises:
        ValueError: If ``evaluate_samples`` does not return a dict of numbers.
    """
    samples = np.asarray(samples)
    result: dict[str, float] = {}
    centers = spec.extras.get("centers")
    if centers is not None and "std" in spec.extras:
        centers = np.asarray(centers)
        if samples.ndim == 2 and centers.ndim == 2 and samples.shape[1] == centers.shape[1]:
            result.update(mode_coverage(samples, centers, spec.extras["std"]))
    if spec.evaluate_samples is not None:
        values = spec.evaluate_samples(samples)
        if not isinstance(values, dict):
            raise ValueError(
                f"dataset {spec.name!r}: evaluate_samples must return a dict of numbers. "
                f"Received: {type(values).__name__}"
            )
        merge_metrics(result, {k: float(v) for k, v in values.items()}, f"dataset {spec.name!r}")
    return result


def merge_metrics(result: dict, new: dict, source: str) -> dict:
    """Adds ``new`` to ``result`` in place, refusing a key that is already there.

    Args:
        result: The metrics so far.
        new: Metrics to add.
        source: Who produced ``new`` (for the error message).

    Returns:
        ``result``.

    Raises:
        ValueError: If a key of ``new`` is already in ``result``.
    """
    clash = sorted(set(result) & set(new))
    if clash:
        raise ValueError(
            f"{source} metrics {clash} clash with metrics already reported; rename them."
        )
    result.update(new)
    return result
