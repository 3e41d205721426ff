"""
A variational autoencoder on digits: the ELBO, reconstructions and the latent manifold
======================================================================================

Train a VAE with a 2-D latent space, split its ELBO into its terms, check the
reparameterization trick and the analytic KL, and draw the Kingma & Welling manifold.

:Author: the genkeras developers
:Date created: 2026/11/25
:Last modified: 2026/11/25
:Accelerator: None (CPU, about two minutes; ``GENKERAS_EXAMPLE_QUICK=1`` takes seconds)
"""

# %%
# Introduction
# ------------
#
# A variational autoencoder [1] is a latent-variable model
# ``p(x) = ∫ p(x|z) p(z) dz`` with a standard normal prior ``p(z) = N(0, I)`` and a
# neural decoder ``p(x|z)``. The integral has no closed form, so an encoder
# ``q(z|x) = N(μ(x), diag σ(x)²)`` approximates the posterior ``p(z|x)``, and training
# maximises the *evidence lower bound* (ELBO):
#
# .. math::
#
#    \log p(x) &= \mathrm{ELBO}(x) + \mathrm{KL}\big(q(z \mid x) \,\|\, p(z \mid x)\big)
#    \qquad (1) \\
#    \mathrm{ELBO}(x) &= \mathbb E_{z \sim q(z \mid x)}[\log p(x \mid z)]
#    - \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big) \qquad (2)
#
# Equation (1) says the bound is tight exactly when the encoder is the true
# posterior; equation (2) is what we can compute: a *reconstruction* term and a
# KL term that has a closed form for two Gaussians.
#
# This example trains ``genkeras.models.vae.VAE`` on scikit-learn's bundled 8×8
# digits (no download) through ``genkeras.run.lifecycle.run`` -- exactly what
# ``genkeras run vae --latent-dim 2`` does -- and then looks inside:
#
# 1. the ELBO's two terms during training, and the gap of equation (1) measured
#    with importance-weighted bounds [2];
# 2. the reparameterization trick ``z = μ + σ ⊙ ε`` and the analytic KL;
# 3. reconstructions, samples (and why the *mean* of ``p(x|z)`` looks blurry);
# 4. the 2-D latent manifold, the figure of Kingma & Welling.
#
# **References**
#
# * [1] Kingma & Welling. Auto-Encoding Variational Bayes. ICLR 2014.
#   https://arxiv.org/abs/1312.6114
# * [2] Burda, Grosse & Salakhutdinov. Importance Weighted Autoencoders. ICLR 2016.
#   https://arxiv.org/abs/1509.00519

# %%
# Setup
# -----
#
# ``GENKERAS_EXAMPLE_QUICK=1`` shrinks the run so the test suite can execute this
# file in seconds; ``GENKERAS_EXAMPLE_OUT`` is the folder the figures go to.

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras import data, plots
from genkeras.run import lifecycle

tfd = tfp.distributions

QUICK = os.environ.get("GENKERAS_EXAMPLE_QUICK", "") not in ("", "0")
OUT = os.environ.get("GENKERAS_EXAMPLE_OUT", ".")
os.makedirs(OUT, exist_ok=True)

EPOCHS = 2 if QUICK else 30
IWAE_KS = (1, 10) if QUICK else (1, 10, 100, 1000)
SEED = 0

# %%
# Train
# -----
#
# ``lifecycle.run`` is the one training path of genkeras: it validates the options,
# seeds everything, fits with Keras's ``fit()`` and the VAE's custom ``train_step``,
# and writes a run folder. We keep that folder in a temporary directory and draw
# our own figures from the trained model it returns.
#
# ``latent_dim=2`` is what makes the manifold figure possible; the KL weight warms
# up from 0 to 1 over the first 200 optimizer steps so the decoder learns to use
# ``z`` before the KL term pulls the posterior towards the prior.

spec = data.load("digits")
print(
    f"digits: {len(spec.x_train)} train / {len(spec.x_test)} test images, "
    f"shape {spec.shape}, {spec.levels} grey levels"
)

run_root = tempfile.mkdtemp(prefix="vae_digits_")
result = lifecycle.run(
    "vae",
    dataset="digits",
    epochs=EPOCHS,
    seed=SEED,
    out=os.path.join(run_root, "run"),
    options={"latent_dim": 2, "iwae_samples": max(IWAE_KS)},
    verbose=0 if QUICK else 2,
)
vae = result.model
x_test = spec.x_test.astype(np.float32)  # (360, 8, 8, 1) integer levels 0..16

# %%
# The ELBO, term by term
# ----------------------
#
# The VAE's ``train_step`` tracks the two terms of equation (2) separately: the
# reconstruction negative log-likelihood ``−E_q[log p(x|z)]`` and ``KL(q(z|x) ‖ p(z))``.
# Their sum is the negative ELBO. Early in training the KL term is cheap (the
# posterior sits on the prior, ``z`` carries no information); as the decoder learns
# to use ``z`` the reconstruction term drops and the KL rises: the KL is the price,
# in nats, of the information ``z`` carries about ``x``.

history = result.history
epochs_axis = np.arange(1, len(history["elbo"]) + 1)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(epochs_axis, [-v for v in history["val_elbo"]], label="−ELBO (test)", color="k")
axes[0].plot(epochs_axis, history["val_reconstruction"], label="reconstruction −E[log p(x|z)]")
axes[0].plot(epochs_axis, history["val_kl"], label="KL(q(z|x) ‖ p(z))")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("nats per image")
axes[0].set_title("−ELBO = reconstruction + KL")
axes[0].legend(fontsize=8)

# %%
# Equation (1) tells us the gap between the ELBO and ``log p(x)`` is
# ``KL(q(z|x) ‖ p(z|x))``. We cannot compute ``log p(x)`` exactly, but the
# importance-weighted bound ``L_k = E log (1/k) Σ_i p(x, z_i)/q(z_i|x)`` climbs from
# ``L_1 = ELBO`` towards ``log p(x)`` as ``k`` grows, so ``L_k − ELBO`` is a lower bound
# on that gap that tightens with ``k``. (``L_1`` and the ELBO are the same quantity;
# their printed values differ only by Monte Carlo noise, as they use different
# samples of ``z``.)

elbo = float(tf.reduce_mean(vae.elbo(x_test, seed=tf.constant([SEED, 1]))))
bounds = {k: float(tf.reduce_mean(vae.iwae_bound(x_test, k, seed=SEED))) for k in IWAE_KS}
print("\n| bound | nats per image | bits per dim |")
print("| --- | ---: | ---: |")
print(f"| ELBO (1 sample) | {elbo:.2f} | {vae.bits_per_dim(-elbo, 64):.3f} |")
for k, value in bounds.items():
    print(f"| IWAE k={k} | {value:.2f} | {vae.bits_per_dim(-value, 64):.3f} |")
gap = bounds[max(IWAE_KS)] - bounds[1]
print(f"\nKL(q(z|x) ‖ p(z|x)) is at least L_{max(IWAE_KS)} − L_1 = {gap:.2f} nats per image.")

ks = list(bounds)
axes[1].semilogx(ks, [bounds[k] for k in ks], "o-", label="IWAE bound L_k")
axes[1].axhline(elbo, color="k", ls="--", label="ELBO")
axes[1].set_xlabel("importance samples k")
axes[1].set_ylabel("nats per image (test)")
axes[1].set_title("L_k tightens towards log p(x)")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "vae_elbo.png"), dpi=80)
plt.close(fig)

# %%
# The reparameterization trick and the analytic KL
# ------------------------------------------------
#
# The encoder returns a ``tfd.MultivariateNormalDiag``. Sampling it as
# ``z = μ + σ ⊙ ε`` with ``ε ~ N(0, I)`` moves the randomness into ``ε``, so ``z`` is a
# differentiable function of the encoder's outputs and the gradient of the ELBO
# reaches the encoder. TFP's bijector is that affine map; we check it against
# the formula and check that gradients do flow to every encoder weight.

q = vae.posterior(x_test[:64])
eps = tf.random.stateless_normal((64, 2), seed=[SEED, 2])
z_formula = q.mean() + q.stddev() * eps
z_tfp = q.bijector.forward(eps)
print(f"max |μ + σ·ε − bijector(ε)| = {float(tf.reduce_max(tf.abs(z_formula - z_tfp))):.2e}")

with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(vae.elbo(x_test[:64], seed=tf.constant([SEED, 3])))
grads = tape.gradient(loss, vae.encoder.trainable_variables)
print(f"encoder weights receiving a gradient: {sum(g is not None for g in grads)} of {len(grads)}")

# %%
# For ``q = N(μ, diag σ²)`` and ``p = N(0, I)`` the KL has the closed form
# ``½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²)``; ``tfd.kl_divergence(q, p)`` implements it.

mu, sigma = q.mean(), q.stddev()
kl_closed = 0.5 * tf.reduce_sum(sigma**2 + mu**2 - 1.0 - 2.0 * tf.math.log(sigma), axis=-1)
kl_tfp = tfd.kl_divergence(q, vae.prior())
print(
    f"max |closed-form KL − tfd.kl_divergence| = "
    f"{float(tf.reduce_max(tf.abs(kl_closed - kl_tfp))):.2e} nats"
)

# %%
# Reconstructions and samples
# ---------------------------
#
# Top row: test digits. Bottom row: the decoder's mean ``E[x|z]`` at ``z = μ(x)``.
# With only two latent dimensions the reconstructions keep the digit's identity
# and rough shape but lose detail.

recon = vae.decode_mean(vae.posterior(x_test[:16]).mean()).numpy()
plots.image_grid(
    np.concatenate([x_test[:16], recon]),
    os.path.join(OUT, "vae_reconstructions.png"),
    levels=spec.levels,
    ncols=16,
    title="test digits (top) and reconstructions E[x|z=μ(x)] (bottom)",
)

# %%
# Samples come from ancestral sampling: ``z ~ p(z)``, then ``x ~ p(x|z)``. The
# decoder's *mean* ``E[x|z]`` averages over every digit the decoder is unsure
# between, which is the famous blurriness of VAE samples; a *sample* of
# ``p(x|z)`` instead draws each pixel independently, which is sharp but speckled
# because the pixels are conditionally independent given ``z``.

means = vae.sample(32, seed=SEED, mean=True).numpy()
draws = vae.sample(32, seed=SEED).numpy()
plots.image_grid(
    np.concatenate([means, draws]),
    os.path.join(OUT, "vae_samples.png"),
    levels=spec.levels,
    ncols=16,
    title="z ~ p(z): decoder means E[x|z] (top two rows), samples x ~ p(x|z) (bottom)",
)

# %%
# The latent manifold
# -------------------
#
# With ``latent_dim=2`` we can decode a grid over the latent plane. The grid
# points are normal quantiles, so equal steps carry equal prior mass, and the
# figure shows how smoothly the decoder morphs one digit into another -- Figure 4
# of Kingma & Welling. Next to it, the test set's posterior means coloured by
# digit class: the classes occupy regions of the plane although the VAE never
# saw a label.

plots.latent_manifold(
    vae.decode_mean,
    os.path.join(OUT, "vae_manifold.png"),
    levels=spec.levels,
    n=12 if QUICK else 15,
    title="decoded E[x|z] over the latent plane",
)
codes = vae.posterior(x_test).mean().numpy()  # (360, 2)
plots.latent_scatter(
    codes,
    os.path.join(OUT, "vae_latent.png"),
    labels=spec.y_test,
    title="test digits at their posterior means μ(x)",
)

shutil.rmtree(run_root, ignore_errors=True)  # the run folder has served its purpose
print(
    f"\nfigures written to {os.path.abspath(OUT)}: vae_elbo.png, vae_reconstructions.png, "
    "vae_samples.png, vae_manifold.png, vae_latent.png"
)

# %%
# What to try next
# ----------------
#
# * ``genkeras run vae --latent-dim 16 --epochs 30 --out runs/vae16``: a tighter
#   ELBO, no manifold.
# * ``--beta 4`` (a β-VAE): a smaller KL, blurrier reconstructions.
# * ``--binarize``: a Bernoulli decoder on binarized digits.
# * ``genkeras evaluate runs/vae16`` recomputes that run's ELBO and IWAE-1000 bound.
