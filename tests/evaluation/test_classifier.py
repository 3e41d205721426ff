"""The project's image classifier and its class coverage (genkeras.evaluation.classifier)."""

import math
import os

import numpy as np
import pytest

from genkeras import data
from genkeras.evaluation import classifier as classifier_lib
from genkeras.evaluation.classifier import CLASSIFIER_FILE, classifier_coverage, coverage_classifier


def test_classifier_coverage_counts_classes_and_caches(tmp_path):
    pytest.importorskip("tensorflow")
    spec = data.load("digits")
    classifier, accuracy = coverage_classifier(spec, cache_dir=str(tmp_path), epochs=5)
    assert accuracy > 0.85  # a trustworthy judge of which digit was drawn
    assert os.path.exists(tmp_path / CLASSIFIER_FILE)
    # real test digits of every class cover all ten classes, nearly uniformly
    r = classifier_coverage(spec.x_test, classifier, spec.levels, 10)
    assert r["classes_covered"] == 10 and r["class_kl"] < 0.05
    # only zeros and ones: two classes covered, KL near log(10/2)
    two = spec.x_test[np.isin(spec.y_test, [0, 1])]
    r = classifier_coverage(two, classifier, spec.levels, 10, min_fraction=0.05)
    assert r["classes_covered"] == 2  # (a stray misclassification is < 5 % of ~70 images)
    assert r["class_kl"] == pytest.approx(math.log(5), abs=0.15)
    # the same process gets the same model back; another reloads it from the cache
    assert coverage_classifier(spec, cache_dir=str(tmp_path), epochs=5)[0] is classifier
    classifier_lib._LOADED.clear()  # as in a new process
    again, accuracy2 = coverage_classifier(spec, cache_dir=str(tmp_path), epochs=5)
    assert again is not classifier
    assert accuracy2 == accuracy
    np.testing.assert_allclose(
        again.predict(two[:5] / 16.0, verbose=0),
        classifier.predict(two[:5] / 16.0, verbose=0),
        rtol=1e-5,
    )
