"""Mode coverage on hand-made samples (genkeras.evaluation.coverage)."""

import math

import numpy as np
import pytest

from genkeras import data
from genkeras.evaluation.coverage import histogram_kl_to_uniform, mode_coverage


def test_histogram_kl_to_uniform():
    assert histogram_kl_to_uniform([3, 3, 3]) == pytest.approx(0.0)
    assert histogram_kl_to_uniform([0, 9, 0]) == pytest.approx(math.log(3))
    assert histogram_kl_to_uniform([0, 0]) == pytest.approx(math.log(2))
    # q = (3/4, 1/4): 3/4 log(3/2) + 1/4 log(1/2)
    assert histogram_kl_to_uniform([3, 1]) == pytest.approx(
        0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    )
    with pytest.raises(ValueError, match="Received: counts"):
        histogram_kl_to_uniform([-1, 2])


def test_mode_coverage_on_hand_made_samples():
    centers = data.ring_centers()  # 8 modes on the unit circle
    std = 0.01
    rng = np.random.default_rng(0)
    # all 8 modes, 100 points each, well within 3 std
    full = np.concatenate([c + 0.5 * std * rng.standard_normal((100, 2)) for c in centers])
    r = mode_coverage(full, centers, std)
    assert r["modes_covered"] == 8 and r["num_modes"] == 8
    assert r["high_quality_fraction"] == 1.0
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    # collapse onto mode 0, plus 100 off-mode points (at the origin: 1 away from every centre)
    collapsed = np.concatenate([np.repeat(centers[:1], 300, axis=0), np.zeros((100, 2))])
    r = mode_coverage(collapsed, centers, std)
    assert r["modes_covered"] == 1
    assert r["high_quality_fraction"] == pytest.approx(0.75)
    assert r["reverse_kl"] == pytest.approx(math.log(8))
    # a sample 4 std away is not high quality and covers nothing
    r = mode_coverage(centers[:2] + [[4 * std, 0.0], [2.9 * std, 0.0]], centers, std)
    assert r["modes_covered"] == 1 and r["high_quality_fraction"] == 0.5
    # non-finite samples are never high quality
    r = mode_coverage(np.array([[np.nan, 0.0], [1.0, 0.0]]), centers, std)
    assert r["modes_covered"] == 1 and r["high_quality_fraction"] == 0.5
    with pytest.raises(ValueError, match="Received: samples.shape"):
        mode_coverage(np.zeros((3, 3)), centers, std)


def test_grid_two_modes_half_and_half():
    centers = data.grid_centers()
    samples = np.concatenate([np.repeat(centers[[3]], 10, 0), np.repeat(centers[[7]], 10, 0)])
    r = mode_coverage(samples, centers, 0.05)
    assert r["modes_covered"] == 2 and r["num_modes"] == 25
    assert r["reverse_kl"] == pytest.approx(math.log(25 / 2))
