"""Tests for genkeras.divergence: forward KL covers both modes, reverse KL picks one."""

import math

import numpy as np
import pytest
import tensorflow as tf

from genkeras import plots
from genkeras.divergence import bimodal_target, fit_gaussian

LOCS, SCALE = (-2.0, 2.0), 0.5


@pytest.fixture(scope="module")
def target():
    return bimodal_target(LOCS, (SCALE, SCALE), (0.5, 0.5), dtype="float64")


@pytest.fixture(scope="module")
def fits(target):
    return (
        fit_gaussian(target, "forward", seed=0),
        fit_gaussian(target, "reverse", seed=0),
        fit_gaussian(target, "reverse", seed=1, init_loc=-0.5),
    )


def tfd_normal(dist):
    """The same Gaussian in float64 (to compare with the float64 target)."""
    from genkeras.divergence import tfd

    return tfd.Normal(
        tf.constant(float(dist.loc), tf.float64), tf.constant(float(dist.scale), tf.float64)
    )


def mc_kl(p, q, n=200_000, seed=7):
    """Monte Carlo KL(p || q) with many samples (independent of the fits' samples)."""
    x = p.sample(n, seed=tf.constant([seed, 1], tf.int32))
    return float(tf.reduce_mean(p.log_prob(x) - q.log_prob(tf.cast(x, q.dtype))))


def test_forward_kl_covers_both_modes(target, fits):
    forward = fits[0]
    # Wider than either mode, centred between them ...
    assert forward.scale > SCALE and forward.scale > 3 * SCALE
    assert abs(forward.loc) < 0.3
    # ... and equal to moment matching, the exact forward-KL minimiser for a Gaussian q.
    var_p = SCALE**2 + np.mean(np.square(LOCS))
    assert forward.scale == pytest.approx(math.sqrt(var_p), rel=0.08)
    assert forward.history[-1] < forward.history[0]


def test_reverse_kl_locks_onto_one_mode(fits):
    for fit, mode in ((fits[1], 2.0), (fits[2], -2.0)):
        assert abs(fit.loc - mode) < SCALE  # within one mode's std of a mode centre
        assert fit.scale == pytest.approx(SCALE, rel=0.2)
        # KL(q || p) of q = one of two equal modes is log 2.
        assert np.mean(fit.history[-50:]) == pytest.approx(math.log(2.0), abs=0.08)


def test_each_fit_wins_only_its_own_direction(target, fits):
    forward, reverse = fits[0].distribution, fits[1].distribution
    p = target
    q_f = tfd_normal(forward)
    q_r = tfd_normal(reverse)
    # Forward KL(p||q): the covering fit is far better; the mode-seeker pays for the lost mode.
    assert mc_kl(p, q_f) + 1.0 < mc_kl(p, q_r)
    # Reverse KL(q||p): the mode-seeker is better than the covering fit.
    assert mc_kl(q_r, p) + 0.3 < mc_kl(q_f, p)


def test_fits_are_reproducible(target):
    a = fit_gaussian(target, "reverse", steps=50, seed=3)
    b = fit_gaussian(target, "reverse", steps=50, seed=3)
    assert a.loc == b.loc and a.history == b.history
    assert len(a.history) == 50


def test_bad_arguments(target):
    with pytest.raises(ValueError, match="direction"):
        fit_gaussian(target, "sideways")
    with pytest.raises(ValueError, match="steps"):
        fit_gaussian(target, steps=0)
    with pytest.raises(ValueError, match="init_scale"):
        fit_gaussian(target, init_scale=-1.0)
    with pytest.raises(ValueError, match="scales"):
        bimodal_target(scales=(0.5, -0.5))
    with pytest.raises(ValueError, match="weights"):
        bimodal_target(weights=(0.7, 0.7))
    with pytest.raises(ValueError, match="same length"):
        bimodal_target(locs=(0.0,))


def test_kl_figure_is_written(tmp_path, target, fits):
    grid = np.linspace(-6, 6, 200)
    dens = {f"{f.direction} KL": f.distribution.prob(grid).numpy() for f in fits[:2]}
    path = plots.kl_fits(grid, target.prob(grid).numpy(), dens, tmp_path / "kl.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
