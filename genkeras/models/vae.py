"""Variational autoencoder with a TFP posterior, analytic KL and an IWAE bound.

The VAE [1] models ``p(x) = ∫ p(x|z) p(z) dz`` with a standard normal prior
``p(z) = N(0, I)`` and a decoder ``p(x|z)``. The integral is intractable, so an
encoder ``q(z|x) = N(μ(x), diag σ(x)²)`` approximates the posterior and training
maximises the evidence lower bound

    log p(x) = ELBO(x) + KL(q(z|x) ‖ p(z|x)) ≥ ELBO(x)
    ELBO(x) = E_{z~q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ p(z)).

Mathematical details:

* Reparameterization trick: ``z = μ(x) + σ(x) ⊙ ε`` with ``ε ~ N(0, I)``.
  ``tfd.MultivariateNormalDiag`` is fully reparameterized, so ``q.sample()``
  carries gradients to μ and σ (``rsample`` semantics).
* The KL term between two Gaussians has a closed form,
  ``KL = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²)``; it is computed by
  ``tfd.kl_divergence(q, p)``, which implements exactly this.
* Likelihood ``p(x|z)``, chosen from the data:

  - binarized data (2 levels): independent ``tfd.Bernoulli`` per pixel;
  - grey levels (L > 2 levels, e.g. digits' 17 or 8-bit 256): independent
    ``tfd.Categorical`` over the L levels per pixel. It is an exact discrete
    likelihood (no dequantization), so nats and bits/dim are directly
    comparable with PixelCNN/PixelRNN on the same data, and it can express
    multi-modal pixel values that a Gaussian or continuous Bernoulli cannot;
  - continuous images (float pixels in ``[0, 1]``): independent
    ``tfd.ContinuousBernoulli`` per pixel [4], the normalised density on
    ``[0, 1]`` that the usual "Bernoulli on grey values" loss forgets to
    normalise; values outside ``[0, 1]`` are refused before training;
  - continuous vectors (2-D data): ``tfd.Normal`` with a learned per-dimension
    scale.

* β-VAE [3]: the loss is ``−E[log p(x|z)] + β_t KL`` where ``β_t`` ramps
  linearly from 0 to ``beta`` over ``kl_warmup_steps`` optimizer steps (KL
  warm-up); the reported ELBO always uses β = 1.
* Importance-weighted bound [2] with k samples:
  ``L_k(x) = log (1/k) Σ_i p(x, z_i) / q(z_i|x)``, ``z_i ~ q(z|x)``;
  ``ELBO = L_1 ≤ L_k ≤ log p(x)``, tightening as k grows.

References:

[1]: Kingma & Welling. Auto-Encoding Variational Bayes. ICLR 2014.
     https://arxiv.org/abs/1312.6114
[2]: Burda, Grosse & Salakhutdinov. Importance Weighted Autoencoders. ICLR 2016.
     https://arxiv.org/abs/1509.00519
[3]: Higgins et al. β-VAE: Learning Basic Visual Concepts with a Constrained
     Variational Framework. ICLR 2017. https://openreview.net/forum?id=Sy2fzU9gl
[4]: Loaiza-Ganem & Cunningham. The continuous Bernoulli: fixing a pervasive
     error in variational autoencoders. NeurIPS 2019. https://arxiv.org/abs/1907.06845
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.models.base import GenerativeModel
from genkeras.models.config import VAEConfig
from genkeras.models.distributions import Categorical

tfd = tfp.distributions

__all__ = [
    "IWAE_DECODES_PER_PASS",
    "VAE",
    "VAEConfig",
    "active_units",
    "build_networks",
    "parameters_per_dim",
]

#: Latent codes the IWAE bound decodes per pass (chunk · batch), see :meth:`VAE.iwae_bound`.
IWAE_DECODES_PER_PASS = 4096
#: The seed of the validation pass's noise (``test_step``).
VALIDATION_SEED = 7919


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


def parameters_per_dim(data_shape, levels: int | None) -> int:
    """How many numbers the decoder outputs per data dimension for the likelihood.

    ``levels`` logits (categorical), one logit (Bernoulli, continuous Bernoulli
    for continuous images) or a location and a raw scale (Normal, continuous
    vectors).
    """
    if levels is None:
        return 1 if len(data_shape) == 3 else 2
    return levels if levels > 2 else 1


def build_networks(cfg: VAEConfig, data_shape, levels: int | None):
    """The encoder and decoder, sized from the data.

    Vectors get MLPs. Images get, with ``architecture="light"`` (the default),
    an MLP encoder and a decoder of one dense layer, a dense layer up to a
    full-resolution grid of ``hidden / 4`` features per pixel, a 3×3
    convolution and an ``output_kernel`` × ``output_kernel`` one (1×1 by
    default); with ``architecture="conv"``, convolutional networks with two
    stride-2 stages (genkeras 0.1.0's). On 8×8 digits the light decoder needs
    about a fifth of the conv decoder's multiply-adds per image -- which counts
    1,000 times per example in the IWAE bound -- for a test ELBO within seed
    noise of it (``benchmarks/vae.py``). The decoder outputs
    :func:`parameters_per_dim` numbers per dimension.

    Returns:
        ``(encoder, decoder)``: ``keras.Sequential`` models ``x -> (μ, raw σ)``
        of width ``2 · latent_dim`` and ``z -> parameters``.
    """
    per_dim = parameters_per_dim(data_shape, levels)
    hidden, latent = cfg.hidden, cfg.latent_dim
    relu = "relu"
    if len(data_shape) == 1 or cfg.architecture == "light":
        d = int(np.prod(data_shape))
        flat = [keras.layers.Flatten()] if len(data_shape) > 1 else []
        mlp = [keras.layers.Dense(4 * hidden, activation=relu) for _ in range(2)]
        encoder = keras.Sequential(flat + mlp + [keras.layers.Dense(2 * latent)], name="encoder")
        mlp = [keras.layers.Dense(4 * hidden, activation=relu) for _ in range(2)]
        if len(data_shape) == 1:
            out = [keras.layers.Dense(d * per_dim)]  # (batch, D · parameters)
            return encoder, keras.Sequential(mlp + out, name="decoder")
        h, w, c = data_shape
        grid = max(1, hidden // 4)  # features per pixel of the decoder's full-resolution grid
        light = [
            keras.layers.Dense(h * w * grid, activation=relu),
            keras.layers.Reshape((h, w, grid)),  # (batch, h, w, grid)
            keras.layers.Conv2D(grid, 3, padding="same", activation=relu),
            keras.layers.Conv2D(c * per_dim, cfg.output_kernel, padding="same"),  # (batch, h, w, p)
        ]
        return encoder, keras.Sequential(mlp[:1] + light, name="decoder")
    h, w, c = data_shape
    out_channels = c * per_dim
    encoder = keras.Sequential(
        [
            keras.layers.Conv2D(hidden, 3, strides=2, padding="same", activation=relu),
            keras.layers.Conv2D(2 * hidden, 3, strides=2, padding="same", activation=relu),
            keras.layers.Flatten(),
            keras.layers.Dense(4 * hidden, activation=relu),
            keras.layers.Dense(2 * latent),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.layers.Dense(4 * hidden, activation=relu),
            keras.layers.Dense((h // 4) * (w // 4) * 2 * hidden, activation=relu),
            keras.layers.Reshape((h // 4, w // 4, 2 * hidden)),  # (batch, h/4, w/4, 2 hidden)
            keras.layers.Conv2DTranspose(2 * hidden, 3, strides=2, padding="same", activation=relu),
            keras.layers.Conv2DTranspose(hidden, 3, strides=2, padding="same", activation=relu),
            keras.layers.Conv2D(out_channels, 3, padding="same"),  # (batch, h, w, parameters)
        ],
        name="decoder",
    )
    return encoder, decoder


@keras.saving.register_keras_serializable(package="genkeras")
class VAE(GenerativeModel):
    """Variational autoencoder (Kingma & Welling 2014) sized from the data.

    Images get a convolutional encoder and decoder (two stride-2 stages, so the
    height and width must be multiples of 4: 8×8 digits, 28×28 MNIST, 32×32
    CIFAR); vectors get MLPs.

    Args:
        data_shape: Shape of one example.
        levels: Discrete levels per dimension, or ``None`` for continuous data.
        config: :class:`VAEConfig` or a dict of its fields.
        num_classes: Number of label classes (used only for figures).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: A batch ``(batch, *data_shape)`` of examples.

    Returns (of ``call``):
        The decoder's parameters for ``z = μ(x)``: logits
        ``(batch, *data_shape, levels)`` for categorical data, logits
        ``(batch, *data_shape)`` for Bernoulli, ``(batch, D, 2)`` location and
        raw scale for continuous data.

    Example:

    >>> import numpy as np
    >>> vae = VAE(data_shape=(8, 8, 1), levels=17, config={"latent_dim": 2})
    >>> vae.build_from_shape().elbo(np.zeros((3, 8, 8, 1), "float32")).shape
    TensorShape([3])
    """

    config_class = VAEConfig
    sample_options = {"mean": "Return the decoder mean E[x|z] instead of a draw of p(x|z)."}
    display_options = {"mean": True}

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(data_shape, levels, config, num_classes, **kwargs)
        self.is_image = len(self.data_shape) == 3
        self.encoder, self.decoder = build_networks(self.cfg, self.data_shape, self.levels)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.rec_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    # -- the probabilistic model ---------------------------------------------------
    def _scaled_input(self, x):
        if self.levels is None:
            return x
        return x / float(self.levels - 1)  # levels -> [0, 1]

    def posterior(self, x) -> tfd.Distribution:
        """Returns ``q(z|x)``, a ``tfd.MultivariateNormalDiag`` with batch shape ``(batch,)``."""
        params = tf.cast(self.encoder(self._scaled_input(x)), tf.float32)  # (batch, 2 * latent)
        loc, raw_scale = tf.split(params, 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + 1e-4
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)

    def prior(self) -> tfd.Distribution:
        """Returns ``p(z) = N(0, I)``."""
        zeros = tf.zeros((self.cfg.latent_dim,))
        return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))

    def likelihood(self, z) -> tfd.Distribution:
        """Returns ``p(x|z)`` with batch shape ``z.shape[:-1]`` and event shape ``data_shape``."""
        lead = tf.shape(z)[:-1]
        flat = tf.reshape(z, (-1, self.cfg.latent_dim))
        out = tf.cast(self.decoder(flat), tf.float32)  # distributions in float32
        ndims = len(self.data_shape)
        if self.levels is None and self.is_image:
            logits = tf.reshape(out, tf.concat([lead, self.data_shape], 0))
            base = tfd.ContinuousBernoulli(logits=logits)
        elif self.levels is None:
            params = tf.reshape(out, tf.concat([lead, self.data_shape, [2]], 0))
            base = tfd.Normal(loc=params[..., 0], scale=tf.nn.softplus(params[..., 1]) + 1e-3)
        elif self.levels == 2:
            logits = tf.reshape(out, tf.concat([lead, self.data_shape], 0))
            base = tfd.Bernoulli(logits=logits, dtype=tf.float32)
        else:
            logits = tf.reshape(out, tf.concat([lead, self.data_shape, [self.levels]], 0))
            base = Categorical(logits=logits, dtype=tf.float32)  # TFP's, cheaper log_prob
        return tfd.Independent(base, reinterpreted_batch_ndims=ndims)

    def call(self, x):
        """Decodes the posterior mean of ``x`` (see the class docstring for shapes)."""
        z = self.posterior(x).mean()
        params = self.decoder(z)
        per_dim = parameters_per_dim(self.data_shape, self.levels)
        extra = (per_dim,) if per_dim > 1 else ()
        return tf.reshape(params, (-1,) + self.data_shape + extra)

    def _terms(self, x, seed=None):
        """Returns per-example ``(reconstruction log-lik, KL)`` with one reparameterized z."""
        q = self.posterior(x)
        seed = tf.cast(self.seed_generator.next() if seed is None else seed, tf.int32)
        # Reparameterization: z = μ + σ ⊙ ε with ε ~ N(0, I). ``q`` is a TFP
        # TransformedDistribution, and ``q.bijector.forward(ε)`` is exactly how
        # ``q.sample()`` maps base noise to z, so gradients flow to μ and σ.
        eps = self.replica_normal(tf.shape(x)[0], (self.cfg.latent_dim,), seed)  # (batch, latent)
        z = q.bijector.forward(eps)  # (batch, latent)
        log_lik = self.likelihood(z).log_prob(x)  # (batch,)
        kl = tfd.kl_divergence(q, self.prior())  # (batch,), analytic
        return log_lik, kl

    def elbo(self, x, seed=None):
        """Single-sample ELBO per example, in nats, shape ``(batch,)``."""
        log_lik, kl = self._terms(tf.convert_to_tensor(x, tf.float32), seed)
        return log_lik - kl

    def kl_weight(self):
        """The current β_t (ramps to ``beta`` over ``kl_warmup_steps``)."""
        beta = tf.constant(self.cfg.beta, tf.float32)
        if self.cfg.kl_warmup_steps == 0 or self.optimizer is None:
            return beta
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return beta * tf.minimum(1.0, step / float(self.cfg.kl_warmup_steps))

    # -- training -----------------------------------------------------------------
    def _update(self, log_lik, kl):
        # Per-example values: the trackers average over examples, whatever the batches.
        self.loss_tracker.update_state(-log_lik + self.kl_weight() * kl)
        self.elbo_tracker.update_state(log_lik - kl)
        self.rec_tracker.update_state(-log_lik)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        """Trackers reset by ``fit`` each epoch: loss, ELBO, reconstruction NLL, KL."""
        return [self.loss_tracker, self.elbo_tracker, self.rec_tracker, self.kl_tracker]

    def train_step(self, data):
        """One gradient step on ``−E[log p(x|z)] + β_t KL`` for a batch."""
        x, _ = self.unpack(data)

        def loss():
            log_lik, kl = self._terms(x)
            return tf.reduce_mean(-log_lik + self.kl_weight() * kl), (log_lik, kl)

        _, (log_lik, kl) = self.optimize(loss)
        return self._update(log_lik, kl)

    def test_step(self, data):
        """Computes the same terms on a test batch without updating weights.

        Its noise comes from a fixed seed of its own, not from the training
        seed generator, so how often validation runs changes nothing in training.
        """
        x, _ = self.unpack(data)
        return self._update(*self._terms(x, seed=tf.constant([VALIDATION_SEED, 0], tf.int32)))

    # -- evaluation ------------------------------------------------------------------
    # ``autograph=False``: the loop is an explicit ``tf.while_loop``, and AutoGraph's
    # conversion of this code and TFP's was most of the trace (about 1 s of 1.4 s).
    @tf.function(reduce_retracing=True, autograph=False)
    def _iwae(self, x, k, chunk, seed):
        """``L_k`` per example: a running log-sum-exp over chunks of ``chunk`` samples of ``q``."""
        q = self.posterior(x)
        batch = tf.shape(x)[0]
        steps = (k + chunk - 1) // chunk

        def body(i, run_max, run_sum):
            z = q.sample(chunk, seed=tf.stack([seed, i]))  # (chunk, batch, latent)
            log_w = self.likelihood(z).log_prob(x) + self.prior().log_prob(z) - q.log_prob(z)
            valid = i * chunk + tf.range(chunk) < k  # the last chunk may be partly beyond k
            log_w = tf.where(valid[:, None], log_w, -np.inf)  # (chunk, batch)
            new_max = tf.maximum(run_max, tf.reduce_max(log_w, axis=0))
            run_sum = run_sum * tf.exp(run_max - new_max) + tf.reduce_sum(
                tf.exp(log_w - new_max), axis=0
            )
            return i + 1, new_max, run_sum

        start = (tf.constant(0), tf.fill([batch], -np.inf), tf.zeros([batch]))
        _, run_max, run_sum = tf.while_loop(lambda i, *_: i < steps, body, start)
        return run_max + tf.math.log(run_sum) - tf.math.log(tf.cast(k, tf.float32))

    def iwae_bound(self, x, k: int | None = None, seed: int = 0, chunk: int | None = None):
        """Importance-weighted bound ``L_k`` per example, in nats, shape ``(batch,)``.

        One compiled function, traced once for any batch size, draws the ``k``
        samples in chunks and keeps a running log-sum-exp of the weights. A
        chunk decodes about :data:`IWAE_DECODES_PER_PASS` latent codes: small
        enough for the decoder's activations to stay in the CPU's caches (a
        third faster here than chunks of 100 samples of a 256-example batch),
        large enough for the loop's overhead not to count.

        Args:
            x: A batch of examples.
            k: Number of importance samples (default ``config.iwae_samples``).
            seed: Seed of the samples (the bound is reproducible for a seed).
            chunk: Samples per example drawn per pass (default: about
                ``IWAE_DECODES_PER_PASS / batch``).

        Returns:
            ``log (1/k) Σ_i p(x, z_i)/q(z_i|x)`` for each example.
        """
        k = int(k or self.cfg.iwae_samples)
        if k < 1:
            raise ValueError(f"k must be at least 1. Received: k={k}")
        x = tf.convert_to_tensor(x, tf.float32)
        if chunk is None:
            chunk = IWAE_DECODES_PER_PASS // max(int(x.shape[0]), 1)
        chunk = max(1, min(int(chunk), k))
        scalar = tf.TensorSpec([], tf.int32)
        iwae = self._iwae.get_concrete_function(
            tf.TensorSpec((None, *self.data_shape), tf.float32), scalar, scalar, scalar
        )
        return iwae(x, tf.constant(k), tf.constant(chunk), tf.constant(int(seed), tf.int32))

    def evaluation_metrics(
        self, spec, batch_size: int = 256, k: int | None = None, seed: int = 0, **kwargs
    ) -> dict[str, float]:
        """Test-split ELBO and IWAE-k bound, their terms, and the active latent units.

        Args:
            spec: The :class:`genkeras.data.DataSpec`.
            batch_size: Examples per pass.
            k: Importance samples (default ``config.iwae_samples``).
            seed: Seed of the Monte Carlo estimates.
            **kwargs: Ignored (arguments a later genkeras may pass).

        Returns:
            ``elbo_nats``, ``iwae_nats`` (``iwae_k``), their ``*_bits_per_dim``
            (of the negative bounds: upper bounds on the NLL), ``kl_nats``,
            ``reconstruction_nats`` (ELBO = −reconstruction − KL), ``num_test``
            and ``active_units`` (Burda et al. 2016).
        """
        from genkeras.run.runtime import progress

        k = int(k or self.cfg.iwae_samples)
        elbos, iwaes, kls, codes = [], [], [], []
        x_test = spec.x_test.astype(np.float32)
        starts = range(0, len(x_test), batch_size)
        label = f"IWAE-{k} bound on the test split"
        for i, start in enumerate(progress(starts, len(starts), label)):
            x = tf.constant(x_test[start : start + batch_size])
            log_lik, kl = self._terms(x, seed=tf.constant([seed, 10_000 + i], tf.int32))
            elbos.append(log_lik - kl)
            kls.append(kl)
            iwaes.append(self.iwae_bound(x, k, seed=seed + 1 + i))
            codes.append(self.posterior(x).mean())
        elbo = float(tf.reduce_mean(tf.concat(elbos, 0)))
        iwae = float(tf.reduce_mean(tf.concat(iwaes, 0)))
        kl = float(tf.reduce_mean(tf.concat(kls, 0)))
        dims = int(np.prod(self.data_shape))
        return {
            "elbo_nats": elbo,
            "elbo_bits_per_dim": self.bits_per_dim(-elbo, dims),
            "iwae_nats": iwae,
            "iwae_bits_per_dim": self.bits_per_dim(-iwae, dims),
            "iwae_k": k,
            "kl_nats": kl,
            "reconstruction_nats": -elbo - kl,  # ELBO = E[log p(x|z)] - KL
            "num_test": int(len(spec.x_test)),
            "active_units": active_units(tf.concat(codes, 0).numpy()),
        }

    def _classifier(self, spec):
        """``images -> classes`` with the coverage classifier (labelled images), else ``None``."""
        if spec.y_train is None or not spec.num_classes:
            return None
        from genkeras.evaluation import classifier as classifier_lib

        model, _ = classifier_lib.coverage_classifier(
            spec, cache_dir=classifier_lib.classifier_cache(spec)
        )
        scale = 1.0 / (self.levels - 1) if self.levels else 1.0

        def classify(images):
            return classifier_lib.classify(model, np.asarray(images) * scale).argmax(axis=1)

        return classify

    def lesson_notes(self, metrics, history) -> list[str]:
        """Names posterior collapse (unused latent units) and samples that miss classes."""
        notes = []
        active = metrics.get("active_units")
        if active is not None and active < self.cfg.latent_dim:
            notes.append(
                f"only {active} of {self.cfg.latent_dim} latent units are in use (posterior "
                "collapse): the KL term pulled them onto the prior. Try a longer "
                "--kl-warmup-steps or more --epochs."
            )
        if "num_classes" in metrics and metrics["classes_covered"] < 0.9 * metrics["num_classes"]:
            notes.append(
                f"the decoder's samples cover {metrics['classes_covered']}/"
                f"{metrics['num_classes']} classes: train longer."
            )
        return notes

    # -- sampling and figures ---------------------------------------------------------
    def decode_mean(self, z):
        """Returns ``E[x|z]`` (in the data's units: levels or raw values)."""
        dist = self.likelihood(tf.convert_to_tensor(z, tf.float32))
        return (
            dist.mean()
            if self.levels is None or self.levels == 2
            else tf.reduce_sum(
                dist.distribution.probs_parameter() * tf.range(self.levels, dtype=tf.float32),
                axis=-1,
            )
        )

    def sample(self, n: int, seed: int | None = None, mean: bool = False):
        """Draws ``n`` examples: ``z ~ p(z)``, then ``x ~ p(x|z)`` (or ``E[x|z]`` if ``mean``).

        Args:
            n: Number of examples.
            seed: Integer seed (``None``: from the model's seed generator).
            mean: Return the decoder mean instead of a sample of ``p(x|z)``.

        Returns:
            Tensor ``(n, *data_shape)`` (integer levels as floats for discrete data).
        """
        n = self.sample_count(n)
        z_seed, x_seed = tfp.random.split_seed(self.seed_tensor(seed), 2)
        z = self.prior().sample(n, seed=z_seed)
        if mean:
            return self.decode_mean(z)
        return self.likelihood(z).sample(seed=x_seed)

    def describe_samples(self, mean: bool = False) -> str:
        """``"decoder means E[x|z], z ~ p(z)"`` or ``"draws x ~ p(x|z), z ~ p(z)"``."""
        return "decoder means E[x|z], z ~ p(z)" if mean else "draws x ~ p(x|z), z ~ p(z)"

    def write_figures(self, spec, out_dir) -> list[str]:
        """Writes ``reconstructions.png``; for a 2-D latent, ``manifold.png``, ``latent.png``."""
        from genkeras import plots

        written = []
        if self.is_image:
            x = spec.x_test[:16].astype(np.float32)
            recon = self.decode_mean(self.posterior(x).mean()).numpy()
            plots.image_grid(
                np.concatenate([x, recon]),
                os.path.join(out_dir, "reconstructions.png"),
                levels=self.levels,
                ncols=16,
                title="test images (top) and reconstructions E[x|z=μ(x)]",
            )
            written.append("reconstructions.png")
        if self.cfg.latent_dim == 2:
            if self.is_image:
                plots.latent_manifold(
                    self.decode_mean,
                    os.path.join(out_dir, "manifold.png"),
                    levels=self.levels,
                    classify=self._classifier(spec),
                )
                written.append("manifold.png")
            mu = self.posterior(spec.x_test.astype(np.float32)).mean().numpy()
            plots.latent_scatter(mu, os.path.join(out_dir, "latent.png"), labels=spec.y_test)
            written.append("latent.png")
        return written
