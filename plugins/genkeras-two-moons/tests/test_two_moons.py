"""Tests of the genkeras-two-moons plugin, as its own distribution would ship them."""

import doctest
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from genkeras_two_moons import moons
from genkeras_two_moons.moons import NOISE, arc_distance, moon_metrics, sample_moons, two_moons

from genkeras import data, registry


def test_entry_point_and_validated_loading():
    entry = registry.datasets.entry("two-moons")
    assert entry.distribution == "genkeras-two-moons"
    assert entry.load() is two_moons
    spec = data.load("two-moons")  # genkeras validates what the loader returns
    assert spec.shape == (2,) and spec.levels is None and spec.num_classes == 2
    assert (len(spec.x_train), len(spec.x_test)) == (20_000, 2_000)
    assert abs(spec.y_train.mean() - 0.5) < 0.02  # the moons are equally likely
    assert spec.evaluate_samples is moon_metrics


def test_docstring_examples_run():
    assert doctest.testmod(moons).failed == 0


def test_noise_free_points_lie_on_their_moon():
    t = np.linspace(0.0, np.pi, 50)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    for moon, points in ((0, upper), (1, lower)):
        distance, t_hat = arc_distance(points, moon)
        np.testing.assert_allclose(distance, 0.0, atol=1e-12)
        np.testing.assert_allclose(t_hat, t, atol=1e-9)
    # a point straight out from the upper moon's middle, at distance 0.3
    np.testing.assert_allclose(arc_distance(np.array([[0.0, 1.3]]), 0)[0], [0.3])
    # beyond an end of the arc, the distance is to that end: (2, 0) is 1 from (1, 0)
    np.testing.assert_allclose(arc_distance(np.array([[2.0, -1.0]]), 0)[0], [np.sqrt(2.0)])


def test_the_data_itself_scores_as_the_metrics_promise():
    x, _ = sample_moons(20_000, seed=5)
    metrics = moon_metrics(x)
    # the distance to the curve is about |N(0, σ²)|: 99.7 % within 3σ
    assert 0.99 < metrics["moons_on_support"] <= 1.0
    np.testing.assert_allclose(
        metrics["moons_mean_distance"], NOISE * np.sqrt(2 / np.pi), rtol=0.05
    )
    assert metrics["moons_bins_covered"] == metrics["moons_num_bins"] == 20
    assert metrics["moons_bin_kl"] < 0.01


def test_a_collapsed_or_lost_generator_scores_badly():
    point = np.array([[np.cos(np.pi / 4), np.sin(np.pi / 4)]])
    collapsed = moon_metrics(np.repeat(point, 500, axis=0))
    assert collapsed["moons_on_support"] == 1.0 and collapsed["moons_bins_covered"] == 1
    np.testing.assert_allclose(collapsed["moons_bin_kl"], np.log(20))
    lost = moon_metrics(np.full((100, 2), 5.0))
    assert lost["moons_on_support"] == 0.0 and lost["moons_bins_covered"] == 0
    with_nan = moon_metrics(np.array([[np.nan, 0.0], [1.0, 0.0]]))
    assert with_nan["moons_on_support"] == 0.5
    with pytest.raises(ValueError, match="samples must be"):
        moon_metrics(np.zeros((3, 3)))


def test_genkeras_run_gan_reports_the_moon_metrics(tmp_path):
    pytest.importorskip("tensorflow")
    from genkeras.cli import main

    out = tmp_path / "run"
    args = ["run", "gan", "--dataset", "two-moons", "--epochs", "1", "--batch-size", "2000"]
    args += ["--width", "8", "--depth", "1", "--latent-dim", "2", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["moons_num_bins"] == 20 and 0 <= metrics["moons_bins_covered"] <= 20
    assert 0.0 <= metrics["moons_on_support"] <= 1.0
    assert "modes_covered" not in metrics  # no centres: no mode coverage
    assert os.path.exists(out / "modes.png")


def test_a_family_for_discrete_data_refuses_it():
    from genkeras.cli import main

    result = CliRunner().invoke(main, ["run", "pixelcnn", "--dataset", "two-moons"])
    assert result.exit_code == 2 and "discrete" in result.output
