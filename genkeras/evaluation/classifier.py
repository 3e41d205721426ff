"""The project's own per-dataset image classifier, and what it says of generated images.

Classifier coverage on labelled images (digits, MNIST...): a small
convolutional classifier, trained in seconds on the training split and cached
per user (:func:`classifier_cache`, outside any run folder), labels the
generated images; reported are the number of classes that receive at least
``min_fraction`` of the samples and ``KL(q ‖ u)`` of the predicted class
histogram to uniform (:func:`classifier_coverage`).
"""

from __future__ import annotations

import os

import numpy as np

from genkeras.evaluation.coverage import histogram_kl_to_uniform

__all__ = [
    "CLASSIFIER_FILE",
    "classifier_cache",
    "classifier_coverage",
    "classify",
    "coverage_classifier",
]

CLASSIFIER_FILE = "coverage_classifier.keras"
# Classifiers loaded or trained in this process, by cache file and settings.
_LOADED: dict[tuple, object] = {}


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
    once.

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
