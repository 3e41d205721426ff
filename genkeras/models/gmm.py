"""Gaussian mixture fitted by EM, as a model family that trains like the others.

``genkeras run gmm`` fits a mixture of ``K`` Gaussians by
expectation-maximisation [1] (see :mod:`genkeras.mixture` for the E- and
M-steps). :class:`GMM` is a ``keras.Model`` whose state is three
non-trainable variables -- the weights ``π``, means ``μ`` and covariances
``Σ`` -- and whose ``train_step`` is **one EM iteration over the whole
training split**: an E-step streamed over chunks of ``batch_size`` points,
then the closed-form M-step. So one epoch is one EM iteration, and the run
gets what every family gets from :func:`genkeras.run.lifecycle.run`: a history row
per iteration (``loglik``, the mean train log-likelihood before the M-step,
which EM never decreases, and ``val_loglik`` on the test split), checkpoints
and exact ``--resume``, ``model.keras``, sample grids and curves.

* ``--epochs`` caps the EM iterations; EM stops earlier once ``loglik``
  improves by less than ``tol`` (:class:`EMConvergence`).
* :meth:`GMM.prepare` initialises the components before the first epoch
  (k-means++ and Lloyd iterations, or random responsibilities, as
  :class:`genkeras.mixture.GaussianMixture`); with ``n_init > 1`` each
  initialisation is first run through EM and the one that ends best is trained.
* Images are flattened to vectors. Discrete levels are uniformly dequantized,
  ``x + u`` with ``u ~ U[0, 1)^D`` drawn once per run, so the density's NLL
  upper-bounds the discrete NLL and bits per dimension are comparable with the
  pixel models' [2]. Samples of discrete data are floored and clipped back to
  levels.

References:

[1]: Dempster, Laird and Rubin. Maximum Likelihood from Incomplete Data via the
     EM Algorithm. Journal of the Royal Statistical Society B, 1977.
     https://doi.org/10.1111/j.2517-6161.1977.tb01600.x
[2]: Theis, van den Oord and Bethge. A note on the evaluation of generative
     models. ICLR 2016. https://arxiv.org/abs/1511.01844
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.errors import TrainingDivergedError
from genkeras.mixture import em
from genkeras.mixture.estimator import GaussianMixture
from genkeras.models.base import GenerativeModel
from genkeras.models.config import GMMConfig, config_from_dict

tfd = tfp.distributions

__all__ = ["EMConvergence", "GMM", "GMMConfig"]

#: The file genkeras 0.1.0 saved a fitted mixture in (still read by :meth:`GMM.load_saved`).
LEGACY_MODEL_FILE = "model.npz"


@keras.saving.register_keras_serializable(package="genkeras")
class GMM(GenerativeModel):
    """Gaussian mixture (Dempster et al. 1977) whose ``train_step`` is one EM iteration.

    Args:
        data_shape: Shape of one example (images are flattened).
        levels: Discrete levels (dequantized for the density), or ``None``.
        config: :class:`~genkeras.models.config.GMMConfig` or a dict of its fields.
        num_classes: Unused (accepted for the family contract).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: ``(batch, *data_shape)`` examples.

    Returns (of ``call``):
        ``log p(x)`` per example, shape ``(batch,)``.

    Example:

    >>> gmm = GMM((2,), config={"components": 3})
    >>> gmm.sample(4, seed=0).shape
    TensorShape([4, 2])
    """

    config_class = GMMConfig

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        # EM computes in its own ``precision``, whatever Keras's dtype policy (a mixed
        # policy would cast the parameters to 16 bits inside ``call``).
        kwargs["dtype"] = config_from_dict(GMMConfig, config).precision
        super().__init__(data_shape, levels, config, num_classes, **kwargs)
        k, d = self.cfg.components, self.num_dims
        dtype = self.cfg.precision
        state = {
            "weights": ((k,), keras.initializers.Constant(1.0 / k), dtype),
            "means": ((k, d), "zeros", dtype),
            "covariances": ((k, d, d), _eye(k, d), dtype),
            "last_loglik": ((), "zeros", dtype),  # the previous iteration's, for convergence
            "em_iterations": ((), "zeros", "int64"),
            "converged": ((), "zeros", "bool"),
        }
        for name, (shape, init, kind) in state.items():
            variable = self.add_weight(
                shape=shape, initializer=init, trainable=False, dtype=kind, name=name
            )
            setattr(self, "mix_weights" if name == "weights" else name, variable)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loglik_tracker = keras.metrics.Mean(name="loglik")
        self._chunk = None  # points per chunk of the E-step (the run's batch size)
        self.built = True

    @property
    def num_dims(self) -> int:
        """Scalar dimensions per example (the mixture's ``D``)."""
        return int(np.prod(self.data_shape))

    # -- the density ---------------------------------------------------------------------
    def distribution(self) -> tfd.MixtureSameFamily:
        """The mixture as ``tfd.MixtureSameFamily(Categorical, MultivariateNormalTriL)``."""
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(probs=self.mix_weights),
            components_distribution=tfd.MultivariateNormalTriL(
                loc=self.means, scale_tril=tf.linalg.cholesky(self.covariances)
            ),
        )

    def call(self, x, training=False):
        """``log p(x)`` of flattened examples (no dequantization), shape ``(batch,)``."""
        x = tf.reshape(tf.cast(x, self.means.dtype), (-1, self.num_dims))
        return self.distribution().log_prob(x)

    def mixture(self) -> GaussianMixture:
        """The current parameters as a fitted :class:`~genkeras.mixture.GaussianMixture`."""
        return GaussianMixture.from_parameters(
            self.mix_weights.numpy(),
            self.means.numpy(),
            self.covariances.numpy(),
            covariance_type=self.cfg.covariance_type,
            reg_covar=self.cfg.reg_covar,
            dtype=self.cfg.precision,
        )

    # -- data --------------------------------------------------------------------------------
    def vectors(self, x, seed: int) -> np.ndarray:
        """Flattens examples to ``(N, D)``; dequantizes discrete levels with ``U[0, 1)(seed)``."""
        x = np.asarray(x).reshape(len(x), -1).astype(np.float64)
        if self.levels is not None:
            x = x + np.random.default_rng(seed).random(x.shape)
        return x.astype(self.cfg.precision)

    def train_dataset(self, spec, batch_size, seed, first_epoch, last_epoch):
        """The whole dequantized training split, once per epoch; ``batch_size`` is the chunk."""
        self._chunk = int(batch_size)
        x = self.vectors(spec.x_train, seed)
        return tf.data.Dataset.from_tensors(x).repeat(max(int(last_epoch) - int(first_epoch), 1))

    def test_dataset(self, spec, batch_size):
        """The whole dequantized test split as one element (EM scores it in chunks)."""
        self._chunk = self._chunk or int(batch_size)
        return tf.data.Dataset.from_tensors(self.vectors(spec.x_test, 1))

    def steps_per_epoch(self, spec, batch_size: int) -> int:
        """One: an epoch is one EM iteration over the whole split."""
        return 1

    # -- training ---------------------------------------------------------------------------------
    def compile_for_training(self, settings):
        """Compiles the EM step (no optimizer: the M-step is closed-form).

        The run's learning rate and its decay do not apply (EM takes no steps
        along a gradient).

        Raises:
            ValueError: For ``jit`` (the streamed pass has data-dependent chunk
                shapes), ``grad_clip`` (EM has no gradient) or a strategy with
                several replicas (EM needs the statistics of the whole split in
                one place).
        """
        if settings.grad_clip is not None:
            raise ValueError(
                "gmm has no gradients to clip: EM's M-step is closed-form. Drop --grad-clip."
            )
        if settings.jit:
            raise ValueError(
                "gmm does not support --jit: its streamed E-step slices the data into "
                "chunks of data-dependent size, which XLA cannot compile."
            )
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            raise ValueError("gmm trains on one device; use --strategy default.")
        self.compile(jit_compile=False, steps_per_execution=1)

    def optimizer_slots(self):
        """None: EM has no optimizer state (the parameters are model variables)."""
        return []

    def prepare(self, spec, seed: int) -> None:
        """Initialises the components from the training data (k-means or random)."""
        cfg = self.cfg
        estimator = GaussianMixture(
            cfg.components,
            covariance_type=cfg.covariance_type,
            tol=cfg.tol,
            reg_covar=cfg.reg_covar,
            n_init=cfg.n_init,
            init_params=cfg.init,
            random_state=int(seed),
            dtype=cfg.precision,
        )
        x = self.vectors(spec.x_train, seed)
        if cfg.n_init == 1:
            start = estimator.initial_parameters(x)
        else:
            start = estimator.fit(x).initial_parameters_
        for variable, value in zip((self.mix_weights, self.means, self.covariances), start):
            variable.assign(value)

    def callbacks(self, run_dir: str | None, spec=None, **kwargs) -> list:
        """:class:`EMConvergence`: stop when ``train_step`` found EM converged."""
        return [EMConvergence()]

    def _parameters(self):
        """``(weights, means, covariances)`` as tensors."""
        return tuple(
            tf.convert_to_tensor(v) for v in (self.mix_weights, self.means, self.covariances)
        )

    def _pass(self, x, with_stats=True):
        """One streamed E-step pass: ``(summed loglik, count, N_k, S1, S2)``."""
        weights, means, covariances = self._parameters()
        x = tf.reshape(tf.cast(x, means.dtype), (-1, self.num_dims))
        cov_type = self.cfg.covariance_type
        prepared = em.prepare_parameters(weights, means, covariances, cov_type)
        chunk = tf.constant(self._chunk or 4096)
        return em.data_pass(x, chunk, prepared, means, cov_type, x.dtype, with_stats)

    @property
    def metrics(self):
        """``loglik``: mean log-likelihood per example (before the M-step in training)."""
        return [self.loglik_tracker]

    def train_step(self, data):
        """One EM iteration: streamed E-step statistics, then the closed-form M-step."""
        x, _ = self.unpack(data)
        ll, count, nk, s1, s2 = self._pass(x)
        means = tf.convert_to_tensor(self.means)
        reg = tf.constant(self.cfg.reg_covar, means.dtype)
        w, m, c = em.m_step(nk, s1, s2, means, reg, self.cfg.covariance_type)
        self.mix_weights.assign(w)
        self.means.assign(m)
        self.covariances.assign(c)
        mean_ll = ll / count  # before this M-step
        tol = tf.constant(self.cfg.tol, mean_ll.dtype)
        started = self.em_iterations > 0
        change = tf.abs(mean_ll - tf.convert_to_tensor(self.last_loglik))
        self.converged.assign(tf.logical_and(started, change < tol))
        self.last_loglik.assign(mean_ll)
        self.em_iterations.assign_add(1)
        self.loglik_tracker.update_state(tf.cast(mean_ll, tf.float32))
        return {"loglik": self.loglik_tracker.result()}

    def test_step(self, data):
        """Mean log-likelihood of the test split under the current parameters."""
        x, _ = self.unpack(data)
        ll, count, *_ = self._pass(x, with_stats=False)
        self.loglik_tracker.update_state(tf.cast(ll / count, tf.float32))
        return {"loglik": self.loglik_tracker.result()}

    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; a covariance no longer positive definite: a diverged run."""
        try:
            return super().fit(*args, **kwargs)
        except tf.errors.InvalidArgumentError as exc:
            raise TrainingDivergedError(
                f"EM failed ({str(exc).splitlines()[0][:200]}): a covariance stopped being "
                "positive definite. Try a larger --reg-covar. "
                f"Received: reg_covar={self.cfg.reg_covar}"
            ) from None

    # -- sampling, evaluation, figures ------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None):
        """Draws ``n`` examples of shape ``(n, *data_shape)`` (levels for discrete data)."""
        n = self.sample_count(n)
        x = self.distribution().sample(n, seed=self.seed_tensor(seed))
        x = tf.cast(x, tf.float32)
        if self.levels is not None:
            x = tf.clip_by_value(tf.floor(x), 0.0, float(self.levels - 1))
        return tf.reshape(x, (n,) + self.data_shape)

    def evaluation_metrics(self, spec, batch_size: int = 256, **kwargs):
        """Test and train mean log-likelihood, NLL, BIC, AIC and EM iterations.

        ``nll_nats`` is ``-test_loglik`` (nats per example). For discrete data
        it is the dequantized bound and ``bits_per_dim`` is added; for
        continuous data bits per dimension of a density is not reported.
        """
        mixture = self.mixture()
        x_test = self.vectors(spec.x_test, 1)
        x_train = self.vectors(spec.x_train, 2)
        test_ll = mixture.score(x_test)
        metrics = {
            "test_loglik": test_ll,
            "nll_nats": -test_ll,
            "train_loglik": mixture.score(x_train),
            "bic": mixture.bic(x_train),
            "aic": mixture.aic(x_train),
            "em_iterations": int(self.em_iterations.numpy()),
            "converged": bool(self.converged.numpy()),
        }
        if self.levels is not None:
            metrics["bits_per_dim"] = self.bits_per_dim(-test_ll, self.num_dims)
        return metrics

    def write_figures(self, spec, out_dir) -> list[str]:
        """Draws the fitted ellipses over the test data (continuous 2-D data only)."""
        from genkeras import plots

        if self.num_dims != 2 or self.levels is not None:
            return []
        plots.gmm_ellipses(
            spec.x_test,
            self.mix_weights.numpy(),
            self.means.numpy(),
            self.covariances.numpy(),
            os.path.join(out_dir, "ellipses.png"),
            centers=spec.extras.get("centers"),
            title=f"{self.cfg.components}-component GMM on {spec.name}",
        )
        return ["ellipses.png"]

    @classmethod
    def load_saved(cls, run_dir: str):
        """Loads ``model.keras``, or the ``model.npz`` of a run written by genkeras 0.1.0."""
        legacy = os.path.join(run_dir, LEGACY_MODEL_FILE)
        if os.path.exists(os.path.join(run_dir, "model.keras")) or not os.path.exists(legacy):
            return super().load_saved(run_dir)
        mixture = GaussianMixture.load(legacy)
        extra = mixture.saved_extra_
        config = config_from_dict(GMMConfig, GMMConfig.upgrade(extra["config"]))
        model = cls(extra["data_shape"], extra["levels"], config, extra["num_classes"])
        model.mix_weights.assign(mixture.weights_)
        model.means.assign(mixture.means_)
        model.covariances.assign(mixture.full_covariances_)
        model.em_iterations.assign(mixture.n_iter_)
        model.converged.assign(mixture.converged_)
        return model


def _eye(k: int, d: int):
    def init(shape, dtype=None):
        return keras.ops.broadcast_to(keras.ops.eye(d, dtype=dtype), (k, d, d))

    return init


class EMConvergence(keras.callbacks.Callback):
    """Stops training after the EM iteration that converged.

    :meth:`GMM.train_step` applies the rule of
    :class:`genkeras.mixture.GaussianMixture` (and scikit-learn): after
    iteration ``t > 0``, EM has converged if ``|loglik_t - loglik_{t-1}| < tol``.
    The flag and the previous log-likelihood are model variables, so a resumed
    run stops exactly where an uninterrupted one does.
    """

    def on_epoch_end(self, epoch, logs=None):
        """Stops ``fit`` once the model's ``converged`` flag is set."""
        if bool(self.model.converged.numpy()):
            self.model.stop_training = True
