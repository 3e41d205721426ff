"""Sample quality for every family that samples, computed once by the runner.

:func:`sample_quality` draws samples as a run's ``samples.png`` shows them
(``model.sample(n, seed, **model.display_options)``) and scores them with the
same metric names whatever the family -- VAE, GAN, PixelCNN, PixelRNN, GMM or a
plugin's model:

* what the dataset itself knows (:func:`genkeras.evaluation.coverage.dataset_metrics`):
  ``modes_covered``, ``num_modes``, ``high_quality_fraction`` and ``reverse_kl``
  on the 2-D mixtures (``ring``, ``grid``), and a dataset's own
  ``evaluate_samples``;
* on labelled images, what the project's classifier says of them
  (:func:`genkeras.evaluation.classifier.classifier_coverage`):
  ``classes_covered``, ``num_classes``, ``class_kl``,
  ``classifier_confidence`` and ``classifier_test_accuracy``.
"""

from __future__ import annotations

import numpy as np

from genkeras.evaluation.classifier import (
    classifier_cache,
    classifier_coverage,
    coverage_classifier,
)
from genkeras.evaluation.coverage import dataset_metrics, merge_metrics

__all__ = ["IMAGE_SAMPLES", "MIN_CLASS_FRACTION", "POINT_SAMPLES", "sample_quality"]

#: Samples scored on images.
IMAGE_SAMPLES = 1000
#: Samples scored on vectors (the VEEGAN protocol's 2,500).
POINT_SAMPLES = 2500
#: A class is covered if it receives at least this fraction of the samples (20 of
#: 1,000: a fifth of a uniform share over 10 classes).
MIN_CLASS_FRACTION = 0.02


def sample_quality(model, spec, num_samples: int | None = None, seed: int = 0) -> dict:
    """Scores ``num_samples`` samples of ``model`` on ``spec``'s terms (see the module).

    Args:
        model: A :class:`~genkeras.models.base.GenerativeModel`.
        spec: Its :class:`~genkeras.data.DataSpec`.
        num_samples: How many to draw (default :data:`IMAGE_SAMPLES` for
            images, :data:`POINT_SAMPLES` otherwise).
        seed: The samples' seed.

    Returns:
        A flat dict of numbers (``num_samples`` and whatever applies to the data).
    """
    n = int(num_samples or (IMAGE_SAMPLES if spec.is_image else POINT_SAMPLES))
    samples = np.asarray(model.sample(n, seed=seed, **model.display_options))
    result: dict = {"num_samples": n}
    merge_metrics(result, dataset_metrics(spec, samples), f"dataset {spec.name!r}")
    if spec.is_image and spec.y_train is not None and spec.num_classes:
        classifier, accuracy = coverage_classifier(spec, cache_dir=classifier_cache(spec))
        coverage = classifier_coverage(
            samples, classifier, spec.levels, spec.num_classes, MIN_CLASS_FRACTION
        )
        merge_metrics(result, coverage, "classifier")
        result["classifier_test_accuracy"] = accuracy
    return result
