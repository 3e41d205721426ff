"""
KL is not symmetric: forward KL covers both modes, reverse KL picks one
=======================================================================

Fit one Gaussian to a bimodal TFP mixture by minimising KL(p||q) and KL(q||p) with
reparameterized Monte Carlo gradients, and connect the result to VAEs and GANs.

:Author: the genkeras developers
:Date created: 2026/11/25
:Last modified: 2026/11/25
:Accelerator: None (CPU, about ten seconds; ``GENKERAS_EXAMPLE_QUICK=1`` takes a few)
"""

# %%
# Introduction
# ------------
#
# The KL divergence ``KL(a ‖ b) = E_a[log a(x) − log b(x)]`` is not symmetric, and
# which way round you minimise it decides what an approximation looks like [1].
# Take a target ``p`` with two separated modes and a single Gaussian
# ``q = N(μ, σ²)`` that cannot represent both:
#
# * **Forward KL** ``KL(p ‖ q)`` averages over ``p``. Wherever ``p`` has mass and ``q``
#   is tiny, ``log p − log q`` explodes, so ``q`` must spread over *both* modes
#   ("mass-covering"). Minimising it over Gaussians is moment matching, and it is
#   what maximum likelihood does: ``E_p[−log q]`` is the negative log-likelihood of
#   data from ``p``.
# * **Reverse KL** ``KL(q ‖ p)`` averages over ``q``. It is cheap to ignore a mode of
#   ``p`` entirely, but expensive to put ``q``'s mass where ``p`` has none, so ``q``
#   settles on *one* mode ("mode-seeking"). This is the direction variational
#   inference minimises (the VAE's ELBO gap is ``KL(q(z|x) ‖ p(z|x))``), and the
#   intuition the lecture gives for GAN mode collapse [2].
#
# **References**
#
# * [1] Bishop. Pattern Recognition and Machine Learning, section 10.1.2, figure 10.3.
#   Springer 2006.
# * [2] Goodfellow. NIPS 2016 Tutorial: Generative Adversarial Networks, section 3.2.5.
#   https://arxiv.org/abs/1701.00160

# %%
# Setup
# -----

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import math

import numpy as np
import tensorflow as tf

from genkeras import plots
from genkeras.divergence import bimodal_target, fit_gaussian, tfd

QUICK = os.environ.get("GENKERAS_EXAMPLE_QUICK", "") not in ("", "0")
OUT = os.environ.get("GENKERAS_EXAMPLE_OUT", ".")
os.makedirs(OUT, exist_ok=True)
STEPS = 250 if QUICK else 600

# %%
# The target
# ----------
#
# An equal mixture of ``N(−2, 0.5²)`` and ``N(2, 0.5²)``, as a TFP
# ``MixtureSameFamily``. Its mean is 0 and its variance ``0.5² + 2² = 4.25``.

p = bimodal_target(locs=(-2.0, 2.0), scales=(0.5, 0.5), weights=(0.5, 0.5), dtype="float64")
print(f"target mean {float(p.mean()):.3f}, std {float(p.stddev()):.3f}")

# %%
# Two fits
# --------
#
# ``fit_gaussian`` runs Adam inside one ``tf.function``. The forward loss is
# ``−mean log q(x_s)`` over samples ``x_s ~ p`` (the density of ``p`` does not depend on
# ``q``, so no gradient has to flow through its samples). The reverse loss samples
# ``q`` itself, so it uses the reparameterization ``z = μ + σ ε, ε ~ N(0, 1)`` -- the
# same trick that trains a VAE's encoder.

forward = fit_gaussian(p, "forward", steps=STEPS, seed=0)
reverse = fit_gaussian(p, "reverse", steps=STEPS, seed=0, init_loc=0.5)
reverse_other = fit_gaussian(p, "reverse", steps=STEPS, seed=0, init_loc=-0.5)
for fit in (forward, reverse, reverse_other):
    print(f"{fit.direction:>8} KL fit: mu = {fit.loc:+.3f}, sigma = {fit.scale:.3f}")
print(f"moment matching (the exact forward-KL optimum): mu = 0, sigma = {math.sqrt(4.25):.3f}")

# %%
# Reverse KL lands on whichever mode the start is closer to: the objective has
# two equally good minima (and, for a symmetric target, a poor stationary point in
# between). Forward KL has one optimum.
#
# Scoring each fit in both directions
# -----------------------------------
#
# With many fresh samples we estimate both divergences for both fits. Each fit is
# best in the direction it was trained on, and bad in the other: the forward fit
# wastes mass between the modes (large reverse KL); the reverse fit misses half
# of ``p`` (large forward KL).


def kl(a, b, n=200_000 if not QUICK else 20_000, seed=1):
    """Monte Carlo KL(a || b)."""
    x = a.sample(n, seed=tf.constant([seed, 0], tf.int32))
    return float(tf.reduce_mean(a.log_prob(x) - b.log_prob(x)))


q_forward = tfd.Normal(tf.constant(forward.loc, tf.float64), tf.constant(forward.scale, tf.float64))
q_reverse = tfd.Normal(tf.constant(reverse.loc, tf.float64), tf.constant(reverse.scale, tf.float64))
print("\n| fit | KL(p‖q) nats | KL(q‖p) nats |")
print("| --- | ---: | ---: |")
for name, q in (("forward-KL fit", q_forward), ("reverse-KL fit", q_reverse)):
    print(f"| {name} | {kl(p, q):.3f} | {kl(q, p):.3f} |")
print(f"(a q equal to one mode has KL(q‖p) = log 2 = {math.log(2):.3f})")

# %%
# The figure
# ----------

grid = np.linspace(-6.0, 6.0, 400)
path = plots.kl_fits(
    grid,
    p.prob(grid).numpy(),
    {
        f"forward KL(p‖q): μ={forward.loc:+.2f}, σ={forward.scale:.2f}": q_forward.prob(
            grid
        ).numpy(),
        f"reverse KL(q‖p): μ={reverse.loc:+.2f}, σ={reverse.scale:.2f}": q_reverse.prob(
            grid
        ).numpy(),
    },
    os.path.join(OUT, "kl_fits.png"),
    title="One Gaussian fitted to a bimodal p: KL is not symmetric",
)
print(f"wrote {path}")

# %%
# From here to GANs
# -----------------
#
# A GAN's generator, trained against an optimal discriminator, minimises the
# Jensen-Shannon divergence, which sits between the two KLs; in practice the
# generator's updates behave much like the reverse direction -- producing one
# convincing mode costs little, so a generator can drop the others. That is the
# mode collapse the ``mode_collapse`` example measures on the 8-Gaussian ring. A
# likelihood model (PixelCNN, a mixture fitted by EM) minimises the forward
# direction instead, and pays for every mode it misses.
