"""
Gaussian mixtures and EM: responsibilities, closed-form updates, monotone likelihood
====================================================================================

Write one EM iteration from the lecture's equations with TFP, check it against
genkeras.mixture.GaussianMixture, watch the ellipses converge, and pick K by BIC.

:Author: the genkeras developers
:Date created: 2026/11/25
:Last modified: 2026/11/25
:Accelerator: None (CPU, under a minute; ``GENKERAS_EXAMPLE_QUICK=1`` takes seconds)
"""

# %%
# Introduction
# ------------
#
# A Gaussian mixture is the simplest latent-variable model: pick a component
# ``z ~ Categorical(π)``, then draw ``x | z=k ~ N(μ_k, Σ_k)``, so
#
# .. math::
#
#    p(x) = \sum_k \pi_k\, \mathcal N(x \mid \mu_k, \Sigma_k).
#
# Maximising ``Σ_i log p(x_i)`` directly is awkward (a log of a sum), but if we
# knew each point's component it would be easy. Expectation-maximisation [1]
# alternates between guessing the components softly (the E-step, (1)) and
# refitting (the M-step, (2)):
#
# .. math::
#
#    \begin{aligned}
#    r_{ik} &= q(z_i = k) \qquad (1)
#    \\
#    &= \frac{\pi_k \mathcal N(x_i \mid \mu_k, \Sigma_k)}
#    {\sum_l \pi_l \mathcal N(x_i \mid \mu_l, \Sigma_l)}
#    \end{aligned}
#
# .. math::
#
#    \begin{aligned}
#    N_k &= \sum_i r_{ik}, \qquad \pi_k = \frac{N_k}{N} \qquad (2)
#    \\
#    \mu_k &= \frac{1}{N_k} \sum_i r_{ik}\, x_i,
#    \\
#    \Sigma_k &= \frac{1}{N_k} \sum_i r_{ik}\, (x_i - \mu_k)(x_i - \mu_k)^\top
#    \end{aligned}
#
# Each iteration maximises a lower bound on the log-likelihood that touches it
# at the current parameters (the E-step makes ``q`` the exact posterior, so the
# ELBO's KL gap is zero), hence the log-likelihood can never decrease. The VAE
# uses the same bound with a continuous ``z`` and an *approximate* posterior.
#
# ``genkeras.mixture.GaussianMixture`` runs (1)–(2) in log space inside one
# compiled ``tf.while_loop``, and gives back the fit as a TFP
# ``MixtureSameFamily`` of ``MultivariateNormalTriL``.
# ``genkeras run gmm --dataset ring --components 8`` does the same from the command line.
#
# **References**
#
# * [1] Dempster, Laird & Rubin. Maximum Likelihood from Incomplete Data via the EM
#   Algorithm. JRSS-B 1977.
# * [2] Bishop. Pattern Recognition and Machine Learning, chapter 9. Springer 2006.
# * [3] Schwarz. Estimating the dimension of a model. Annals of Statistics 1978.

# %%
# Setup
# -----
#
# ``GENKERAS_EXAMPLE_QUICK=1`` shrinks the run so the test suite can execute this
# file in seconds; ``GENKERAS_EXAMPLE_OUT`` is the folder the figures go to.

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from matplotlib.patches import Ellipse

from genkeras import data, plots
from genkeras.mixture import GaussianMixture

tfd = tfp.distributions

QUICK = os.environ.get("GENKERAS_EXAMPLE_QUICK", "") not in ("", "0")
OUT = os.environ.get("GENKERAS_EXAMPLE_OUT", ".")
os.makedirs(OUT, exist_ok=True)
SEED = 0

# %%
# Data
# ----
#
# Three elongated, overlapping clusters in 2-D: round-ish k-means clusters would
# fit them badly, a full-covariance mixture should not.

rng = np.random.default_rng(SEED)
true_means = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
true_covs = np.array(
    [[[1.5, 0.9], [0.9, 0.8]], [[0.6, -0.5], [-0.5, 1.2]], [[1.0, 0.0], [0.0, 0.15]]]
)
true_weights = np.array([0.45, 0.35, 0.2])
n = 600 if QUICK else 3000
labels = rng.choice(3, size=n, p=true_weights)
x = np.stack([rng.multivariate_normal(true_means[k], true_covs[k]) for k in labels])
x_test = np.stack(
    [
        rng.multivariate_normal(true_means[k], true_covs[k])
        for k in rng.choice(3, size=n // 2, p=true_weights)
    ]
)
print(f"{n} training points in {x.shape[1]}-D from 3 components")

# %%
# One EM iteration, by hand
# -------------------------
#
# Start from a deliberately poor guess, build the mixture with TFP and write
# equations (1) and (2) directly. The E-step works with log-densities and a
# log-sum-exp, so no density underflows even far from every component.

w0 = np.full(3, 1 / 3)
m0 = np.array([[-1.0, -1.0], [1.0, -1.0], [0.0, 1.0]])
c0 = np.stack([np.eye(2)] * 3)


def e_step(weights, means, covs, x):
    """Equation (1) in log space; returns responsibilities (N, K) and mean log p(x)."""
    components = tfd.MultivariateNormalTriL(loc=means, scale_tril=tf.linalg.cholesky(covs))
    log_joint = tf.math.log(weights) + components.log_prob(x[:, None, :])  # (N, K)
    log_px = tf.reduce_logsumexp(log_joint, axis=1, keepdims=True)  # (N, 1)
    return tf.exp(log_joint - log_px), tf.reduce_mean(log_px)


def m_step(resp, x):
    """Equation (2): closed-form weights, means and covariances."""
    nk = tf.reduce_sum(resp, axis=0)  # (K,)
    means = tf.transpose(resp) @ x / nk[:, None]  # (K, D)
    diff = x[None, :, :] - means[:, None, :]  # (K, N, D)
    covs = tf.einsum("nk,knd,kne->kde", resp, diff, diff) / nk[:, None, None]
    return nk / tf.reduce_sum(nk), means, covs + 1e-6 * tf.eye(2, dtype=x.dtype)


resp, ll0 = e_step(w0, m0, c0, x)
w1, m1, c1 = m_step(resp, x)
_, ll1 = e_step(w1, m1, c1, x)
print(f"mean log-likelihood: {float(ll0):.4f} -> {float(ll1):.4f} after one iteration")

# %%
# The library's compiled loop must land on exactly the same parameters after one
# iteration from the same start (it streams the sufficient statistics in chunks
# and accumulates them around the current means, but the algebra is the same).

one = GaussianMixture(
    3, max_iter=1, tol=0.0, weights_init=w0, means_init=m0, covariances_init=c0, dtype="float64"
).fit(x)
print(
    f"max |μ_hand − μ_genkeras| = {np.max(np.abs(m1.numpy() - one.means_)):.2e}, "
    f"max |Σ_hand − Σ_genkeras| = {np.max(np.abs(c1.numpy() - one.covariances_)):.2e}"
)

# %%
# Watching EM converge, and a log-likelihood that never falls
# -----------------------------------------------------------
#
# The same start, stopped after 0, 1, 3, ... iterations: the ellipses (1 and 2
# Mahalanobis units) drift, stretch and rotate onto the clusters. A run to
# convergence records ``history_``, the mean training log-likelihood before every
# M-step and after the last. EM's guarantee is that this sequence never
# decreases; we check it rather than trust it.

gm = GaussianMixture(
    3, max_iter=100, tol=1e-8, weights_init=w0, means_init=m0, covariances_init=c0, dtype="float64"
).fit(x)
steps = np.diff(gm.history_)
print(
    f"{gm.n_iter_} iterations, converged={gm.converged_}; "
    f"smallest change between iterations: {steps.min():.2e}"
)
if steps.min() < -1e-10:
    raise RuntimeError("EM decreased the log-likelihood -- this should never happen")

stops = [0, 1, 3, 10] if QUICK else [0, 1, 3, 10, 30]
# Two rows of three panels, so that at the docs' column width (about 800 px) each
# panel, and its title, is large enough to read; the log-likelihood takes the last.
# In quick mode (four stops) the sixth axes stays empty.
fig, grid = plt.subplots(2, 3, figsize=(9.6, 6.2))
axes = list(grid.flat)
curve_ax = axes[-1]
for ax in axes[len(stops) : -1]:
    ax.set_axis_off()
for ax, it in zip(axes, stops):
    if it == 0:
        params = (w0, m0, c0)
    else:
        g = GaussianMixture(
            3,
            max_iter=it,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            covariances_init=c0,
            dtype="float64",
        ).fit(x)
        params = (g.weights_, g.means_, g.covariances_)
    ax.scatter(x[:, 0], x[:, 1], s=2, c="0.7")
    for k, (w, mu, cov) in enumerate(zip(*params)):
        vals, vecs = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        for r in (1, 2):
            ax.add_patch(
                Ellipse(
                    mu,
                    2 * r * np.sqrt(vals[1]),
                    2 * r * np.sqrt(vals[0]),
                    angle=angle,
                    fill=False,
                    color=f"C{k}",
                    lw=1 + 2 * w,
                )
            )
    ax.set_title(f"after {it} iteration{'s' if it != 1 else ''}", fontsize=12)
    ax.set_xlim(-6, 6)
    ax.set_ylim(-3.5, 5.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
curve_ax.plot(np.arange(len(gm.history_)), gm.history_, marker="o", markersize=2)
for it in stops:
    curve_ax.axvline(it, color="0.8", lw=0.8, zorder=0)
curve_ax.set_xlabel("EM iteration", fontsize=11)
curve_ax.set_ylabel("mean log-likelihood", fontsize=11)
curve_ax.set_title("log-likelihood never decreases", fontsize=12)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "em_steps.png"), dpi=80)
plt.close(fig)
plots.gmm_ellipses(
    x,
    gm.weights_,
    gm.means_,
    gm.covariances_,
    os.path.join(OUT, "em_fit.png"),
    centers=true_means,
    title="fitted mixture (ellipses at 1 and 2 Mahalanobis units)",
)

# %%
# The fitted model is a TFP distribution: its ``log_prob`` is the same number the
# library's compiled E-step reports, and it can sample.

dist = gm.distribution
print(
    f"test mean log-likelihood: library {gm.score(x_test):.4f}, "
    f"TFP log_prob {float(tf.reduce_mean(dist.log_prob(x_test))):.4f}"
)
print("true weights   ", np.round(true_weights, 3))
print("fitted weights ", np.round(np.sort(gm.weights_)[::-1], 3))

# %%
# Covariance structure and the number of components
# -------------------------------------------------
#
# scikit-learn's four covariance types are all here: ``full`` (a matrix per
# component), ``tied`` (one shared matrix), ``diag`` (axis-aligned) and ``spherical``
# (one variance per component). The Bayesian information criterion
# ``BIC = −2 log L + p log N`` [3] trades the fit against the number of free
# parameters ``p``; lower is better. On the 8-Gaussian ring, BIC should point at 8.
# Past 8 it rises only by tens (an extra full-covariance component in 2-D adds 6
# parameters, ``6 log N ≈ 55`` at N = 10,000, and buys almost no likelihood) while
# below 8 it falls by tens of thousands, so the figure's right panel zooms onto
# ``BIC − min BIC`` around the minimum.

print("\n| covariance | test log-lik | BIC (train) |")
print("| --- | ---: | ---: |")
for cov_type in ("full", "tied", "diag", "spherical"):
    g = GaussianMixture(3, covariance_type=cov_type, random_state=SEED, n_init=2).fit(x)
    print(f"| {cov_type} | {g.score(x_test):.4f} | {g.bic(x):.1f} |")

ring = data.load("ring")
ring_x = ring.x_train[: 2000 if QUICK else 10000]
ks = [4, 8, 12] if QUICK else list(range(2, 15))
bics = [
    GaussianMixture(k, random_state=SEED, n_init=1 if QUICK else 3).fit(ring_x).bic(ring_x)
    for k in ks
]
best_k = ks[int(np.argmin(bics))]
delta = np.asarray(bics) - min(bics)
print(f"\nring: BIC is lowest at K={best_k}")
print("K:          ", "  ".join(f"{k:>6d}" for k in ks))
print("BIC − min:  ", "  ".join(f"{d:>6.0f}" for d in delta))
# Past the minimum the BIC moves by tens (each extra component costs its 6 free
# parameters times log N and buys little likelihood), below it by tens of thousands,
# so one axis cannot show both. The left panel shows the fall; the right one zooms
# onto BIC − min BIC around the minimum, with the points below it off the top.
best_i = ks.index(best_k)
after = delta[best_i + 1 :]
top = 1.3 * after.max() if after.size and after.max() > 0 else 1.0
fig, (ax, zoom) = plt.subplots(1, 2, figsize=(8.4, 3.4))
ax.plot(ks, np.asarray(bics) / 1000, "o-")
ax.axvline(8, color="red", ls="--", lw=1, label="true K = 8")
ax.set_xlabel("components K")
ax.set_ylabel("BIC / 1000 (lower is better)")
ax.set_title("BIC on the 8-Gaussian ring", fontsize=11)
ax.legend(fontsize=9)
near = list(range(max(best_i - 1, 0), len(ks)))
shown = [min(delta[i], 0.97 * top) for i in near]
zoom.plot([ks[i] for i in near], shown, "-", color="C0")
inside = [i for i in near if delta[i] <= top]
zoom.plot([ks[i] for i in inside], delta[inside], "o", color="C0")
for i in near:
    if delta[i] > top:  # off the zoomed axis: an arrow at the top and its value
        zoom.plot([ks[i]], [0.97 * top], "^", color="C0", markersize=9)
        zoom.annotate(
            f"{delta[i]:,.0f} (off the axis)",
            (ks[i], 0.97 * top),
            xytext=(10, -2),
            textcoords="offset points",
            fontsize=9,
            va="top",
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none"),
            zorder=5,
        )
zoom.plot(
    [best_k],
    [0.0],
    "o",
    color="red",
    markersize=10,
    fillstyle="none",
    mew=2,
    label=f"lowest BIC: K = {best_k}",
)
zoom.axvline(8, color="red", ls="--", lw=1)
zoom.set_ylim(-0.08 * top, top)
zoom.set_xlabel("components K")
zoom.set_ylabel("BIC − min BIC")
zoom.set_title("zoomed onto the minimum", fontsize=11)
zoom.legend(fontsize=9, loc="lower right")
ax.set_xticks(ks)
zoom.set_xticks([ks[i] for i in near])
fig.tight_layout()
fig.savefig(os.path.join(OUT, "bic.png"), dpi=80)
plt.close(fig)

# %%
# Takeaways
# ---------
#
# * The E-step is Bayes' rule for the latent component; in log space it is a
#   log-sum-exp. The M-step is a weighted maximum-likelihood fit.
# * EM never lowers the log-likelihood: each step maximises a bound that is tight
#   at the current parameters. It can still stop in a local optimum -- hence
#   k-means initialisation and ``n_init`` restarts.
# * The VAE keeps the same bound but replaces the exact posterior with an
#   encoder, because for a neural decoder the E-step has no closed form.
