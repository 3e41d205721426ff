"""Sample-quality metrics for implicit models: mode coverage and classifier coverage.

A GAN has no likelihood to report, so genkeras measures what the lecture's
mode-collapse picture shows: how many modes of the data the generator covers.

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

Classifier coverage on labelled images (digits, MNIST...): a small
convolutional classifier, trained in seconds on the training split and cached
in the run folder, labels the generated images; reported are the number of
classes that receive at least ``min_fraction`` of the samples (default 1 %,
a tenth of a uniform share for 10 classes) and ``KL(q ‖ u)`` of the predicted
class histogram to uniform.

References:

[1]: Srivastava, Valkov, Russell, Gutmann & Sutton. VEEGAN: Reducing Mode
     Collapse in GANs using Implicit Variational Learning. NeurIPS 2017.
     https://arxiv.org/abs/1705.07761
[2]: Lin, Khetan, Fanti & Oh. PacGAN: The power of two samples in generative
     adversarial networks. NeurIPS 2018. https://arxiv.org/abs/1712.04086
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

__all__ = [
    "active_units",
    "classify",
    "classifier_cache",
    "dataset_metrics",
    "merge_metrics",
    "mode_coverage",
    "histogram_kl_to_uniform",
    "classifier_coverage",
    "coverage_classifier",
    "CLASSIFIER_FILE",
]

CLASSIFIER_FILE = "coverage_classifier.keras"
# Classifiers loaded or trained in this process, by cache file and settings; the
# lock makes concurrent callers (the runner's metrics and figures) share one.
_LOADED: dict[tuple, object] = {}
_LOADED_LOCK = threading.Lock()


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


def classify(classifier, images, batch_size: int = 500) -> np.ndarray:
    """The classifier's logits for ``images`` (NumPy, already scaled), computed batch by batch.

    Calls the model directly instead of ``predict`` (which builds a ``tf.data``
    pipeline per call: slower for a few hundred images, and noisy in TF's logs).
    """
    images = np.asarray(images, dtype=np.float32)
    parts = [
        np.asarray(classifier(images[i : i + batch_size], training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def classifier_coverage(
    samples,
    classifier,
    levels: int | None,
    num_classes: int,
    min_fraction: float = 0.01,
    batch_size: int = 500,
) -> dict[str, float]:
    """Classes covered and KL to uniform of a classifier's labels for generated images.

    Args:
        samples: ``(n, H, W, C)`` images in data units (levels ``0..levels−1``).
        classifier: A model mapping images scaled to ``[0, 1]`` to class logits.
        levels: Discrete levels of the images (``None``: already in ``[0, 1]``).
        num_classes: Number of classes ``K``.
        min_fraction: A class is covered if it receives at least this fraction
            of the samples.
        batch_size: Images per classifier pass.

    Returns:
        ``{"classes_covered", "num_classes", "class_kl", "classifier_confidence"}``
        (``classifier_confidence`` is the mean top probability).
    """
    x = np.asarray(samples, dtype=np.float32)
    if levels is not None:
        x = x / float(levels - 1)
    logits = classify(classifier, x, batch_size)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = probs.argmax(axis=1)
    counts = np.bincount(labels, minlength=num_classes)
    return {
        "classes_covered": int(np.count_nonzero(counts >= min_fraction * len(x))),
        "num_classes": int(num_classes),
        "class_kl": histogram_kl_to_uniform(counts),
        "classifier_confidence": float(probs.max(axis=1).mean()),
    }


def coverage_classifier(
    spec, cache_dir: str | None = None, epochs: int = 8, max_train: int = 20_000, seed: int = 0
):
    """Returns a small image classifier for ``spec`` and its test accuracy, cached on disk.

    The classifier (two conv layers and a linear layer on images scaled to
    ``[0, 1]``) trains in seconds on at most ``max_train`` training images. If
    ``cache_dir`` is given it is saved there as ``coverage_classifier.keras``
    and reloaded on the next call; within a process it is loaded (or trained)
    once, even by concurrent callers.

    Args:
        spec: A labelled image :class:`genkeras.data.DataSpec`.
        cache_dir: Folder for the cached model (``None``: no caching).
        epochs: Training epochs.
        max_train: Cap on training images.
        seed: Seed of the weights and the training order.

    Returns:
        ``(classifier, test_accuracy)``.

    Raises:
        ValueError: If the data has no labels or is not images.
    """
    if spec.y_train is None or not spec.num_classes or not spec.is_image:
        raise ValueError(f"coverage_classifier needs labelled images. Received: {spec.name}")
    scale = 1.0 / float(spec.levels - 1) if spec.levels else 1.0
    x_test = spec.x_test.astype(np.float32) * scale
    path = os.path.join(cache_dir, CLASSIFIER_FILE) if cache_dir else None
    key = (os.path.abspath(path), epochs, max_train, seed) if path else None
    with _LOADED_LOCK:
        model = _LOADED.get(key) if key else None
        if model is None:
            model = _load_or_train(spec, path, epochs, max_train, seed, scale)
            if key:
                _LOADED[key] = model
    predictions = classify(model, x_test, 500).argmax(axis=1)
    accuracy = float(np.mean(predictions == spec.y_test))
    return model, accuracy


def _load_or_train(spec, path, epochs: int, max_train: int, seed: int, scale: float):
    """Loads the classifier saved at ``path``, or trains it (and saves it there if ``path``)."""
    import keras

    if path and os.path.exists(path):
        return keras.saving.load_model(path)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(spec.shape),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D() if spec.shape[0] > 16 else keras.layers.Flatten(),
            keras.layers.Dense(spec.num_classes),
        ],
        name="coverage_classifier",
    )
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = spec.x_train[:max_train].astype(np.float32) * scale
    model.fit(x, spec.y_train[:max_train], batch_size=64, epochs=epochs, verbose=0)
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path[: -len(".keras")] + ".tmp.keras"
        model.save(tmp)
        os.replace(tmp, path)
    return model


def classifier_cache(spec) -> str:
    """A per-user cache folder for the coverage classifier of ``spec``'s data.

    The classifier is a deterministic function of the labelled training split
    (seed 0), so it is trained once per machine and dataset and reused by
    every run: the folder is ``$GENKERAS_CACHE`` (default
    ``~/.cache/genkeras``) ``/classifiers/<fingerprint>``, the fingerprint a
    hash of the training images, labels and levels.
    """
    import hashlib

    digest = hashlib.sha1()
    for array in (spec.x_train, spec.y_train):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((spec.shape, spec.levels, spec.num_classes)).encode())
    root = os.environ.get("GENKERAS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "genkeras"
    )
    return os.path.join(root, "classifiers", digest.hexdigest()[:16])


def active_units(codes, threshold: float = 0.01) -> int:
    """Latent units in use, as Burda et al. (2016) count them.

    Unit ``u`` is active if ``Cov_x(E_{q(z|x)}[z_u]) > threshold``: the
    posterior mean moves with the input. A collapsed unit has a posterior
    equal to the prior whatever ``x`` is, so its mean does not vary.

    Args:
        codes: ``(n, d)`` posterior means ``E_q[z | x_i]`` of ``n`` examples.
        threshold: Variance above which a unit counts (0.01 in the paper).

    Returns:
        The number of active units, between 0 and ``d``.

    Example:

    >>> codes = np.stack([np.linspace(-1, 1, 50), np.full(50, 0.3)], axis=1)
    >>> active_units(codes)
    1
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be (n >= 2, d). Received: shape={codes.shape}")
    return int(np.count_nonzero(codes.var(axis=0) > threshold))
