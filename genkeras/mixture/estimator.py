"""Gaussian mixture models on TensorFlow Probability, fitted by expectation-maximisation.

A Gaussian mixture with ``K`` components models a point ``x`` in ``R^D`` as

    p(x) = sum_k pi_k N(x | mu_k, Sigma_k),

a latent-variable model: draw a component ``z ~ Categorical(pi)``, then
``x | z=k ~ N(mu_k, Sigma_k)``. :class:`GaussianMixture` keeps the fitted
parameters and exposes them as a TFP distribution
(``tfd.MixtureSameFamily`` of ``tfd.MultivariateNormalTriL``), with the
scikit-learn API users already know (``fit``, ``predict``, ``predict_proba``,
``score``, ``score_samples``, ``sample``, ``bic``, ``aic``).

Mathematical details

EM [1, 2] alternates two steps that never decrease the log-likelihood:

* E-step, the posterior over the latent component ("responsibilities"),
  computed in log space with a log-sum-exp so no density underflows::

      log q(z_i=k) = log pi_k + log N(x_i | mu_k, Sigma_k)
                     - logsumexp_l [log pi_l + log N(x_i | mu_l, Sigma_l)]

* M-step, the closed-form maximiser of the expected complete-data
  log-likelihood, with ``r_ik = q(z_i=k)`` and ``N_k = sum_i r_ik``::

      pi_k    = N_k / N
      mu_k    = sum_i r_ik x_i / N_k
      Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + reg_covar * I

  ``tied`` shares one covariance (the ``N_k``-weighted average), ``diag``
  keeps only the diagonal and ``spherical`` one variance per component
  (the mean of the diagonal), exactly as scikit-learn's ``GaussianMixture``.

Both steps only need the sufficient statistics ``N_k``, ``sum_i r_ik x_i`` and
``sum_i r_ik x_i x_i^T`` (summed over the data), so the data is streamed in
chunks: memory is bounded by the chunk, not by ``N`` [3]. To keep those sums
accurate in float32 they are accumulated around the current means
(``x_i - mu_k^old``), which turns the usual ``E[xx^T] - mu mu^T`` cancellation
into a small correction. The whole EM loop (E-step, statistics, M-step,
convergence test on the mean log-likelihood) runs inside one ``tf.function``
as a ``tf.while_loop``; a ``tf.data.Dataset`` can be streamed the same way
(``Dataset.reduce`` inside the loop).

Initialisation is ``kmeans`` (k-means++ seeding [4] and a few Lloyd
iterations in TensorFlow, on a random subsample of at most 100,000 points)
or ``random`` (random responsibilities, as scikit-learn's ``init_params="random"``),
followed by one M-step; ``n_init`` restarts keep the best final
log-likelihood.

For discrete data (integer pixel levels) the registry family
:class:`genkeras.models.gmm.GMM` fits the density of uniformly dequantized data
``x + u, u ~ U[0, 1)^D``; its log-likelihood is a lower bound on the discrete
log-likelihood [5], so its NLL in nats and bits per dimension are comparable
with the pixel models'.

References:

[1]: Dempster, Laird and Rubin. Maximum Likelihood from Incomplete Data via the
     EM Algorithm. Journal of the Royal Statistical Society B, 1977.
     https://doi.org/10.1111/j.2517-6161.1977.tb01600.x
[2]: Bishop. Pattern Recognition and Machine Learning, chapter 9.
     Springer 2006.
[3]: Neal and Hinton. A View of the EM Algorithm that Justifies Incremental,
     Sparse, and Other Variants. Learning in Graphical Models, 1998.
[4]: Arthur and Vassilvitskii. k-means++: The Advantages of Careful Seeding.
     SODA 2007.
[5]: Theis, van den Oord and Bethge. A note on the evaluation of generative
     models. ICLR 2016. https://arxiv.org/abs/1511.01844
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.mixture.em import compiled_em, compiled_score, init_parameters
from genkeras.mixture.params import (
    COVARIANCE_TYPES,
    INIT_METHODS,
    check_int,
    check_params,
    full_covariances,
    typed_covariances,
)

tfd = tfp.distributions

__all__ = ["COVARIANCE_TYPES", "INIT_METHODS", "GaussianMixture", "NotFittedError"]

#: Elements of the ``(K, chunk, D)`` working tensor one chunk may use (automatic chunking).
CHUNK_ELEMENTS = 2**22
#: Points used to initialise (k-means or random responsibilities).
INIT_POINTS = 100_000


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`GaussianMixture` is used before ``fit``."""


# -- user-facing estimator ----------------------------------------------------------
class GaussianMixture:
    """A Gaussian mixture fitted by EM, with the scikit-learn API, backed by TFP.

    Args:
        n_components: Number of mixture components ``K``.
        covariance_type: ``"full"`` (one matrix per component), ``"tied"``
            (one shared matrix), ``"diag"`` or ``"spherical"``.
        tol: Stop when the mean log-likelihood changes by less than ``tol``
            between iterations (``0`` runs exactly ``max_iter`` iterations).
        reg_covar: Added to the diagonal of every covariance (keeps them
            positive definite).
        max_iter: Maximum number of EM iterations (M-steps).
        n_init: Number of restarts (different seeds); the best final
            log-likelihood wins.
        init: ``"kmeans"`` or ``"random"``.
        weights_init: Optional initial weights ``(K,)`` (with ``means_init`` and
            ``covariances_init`` replaces ``init``).
        means_init: Optional initial means ``(K, D)``.
        covariances_init: Optional initial covariances in scikit-learn's shape
            for ``covariance_type``.
        random_state: Integer seed (``None``: a fresh random seed).
        dtype: ``"float32"`` or ``"float64"`` (scikit-learn computes in float64).
        batch_size: Points per chunk of the streamed E/M pass. ``None`` picks
            the largest chunk whose ``(K, chunk, D)`` work tensor has at most
            ``CHUNK_ELEMENTS`` elements (the whole data when it fits). Any
            chunk size gives the same fit: the statistics are exact sums.

    Attributes:
        weights_: ``(K,)`` mixing proportions (this and the following are set by ``fit``).
        means_: ``(K, D)``.
        covariances_: scikit-learn-shaped covariances.
        converged_: Whether ``tol`` was reached before ``max_iter``.
        n_iter_: Number of M-steps of the best restart.
        history_: Mean train log-likelihood before every M-step and after
            the last one (``n_iter_ + 1`` values, never decreasing).
        lower_bound_: The last value of ``history_``.
        initial_parameters_: ``(weights, means, full covariances)`` the best
            restart started from.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> gm = GaussianMixture(2, random_state=0).fit(x)
    >>> np.round(np.sort(gm.means_[:, 0])).tolist()
    [-3.0, 3.0]
    >>> gm.predict(np.array([[-3.0, -3.0], [3.0, 3.0]])).tolist() in ([0, 1], [1, 0])
    True
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init: str = "kmeans",
        weights_init=None,
        means_init=None,
        covariances_init=None,
        random_state: int | None = None,
        dtype: str = "float32",
        batch_size: int | None = None,
    ):
        check_params(locals())
        self.n_components = int(n_components)
        self.covariance_type = covariance_type
        self.tol = float(tol)
        self.reg_covar = float(reg_covar)
        self.max_iter = int(max_iter)
        self.n_init = int(n_init)
        self.init = init
        self.weights_init = weights_init
        self.means_init = means_init
        self.covariances_init = covariances_init
        self.random_state = random_state
        self.dtype = dtype
        self.batch_size = batch_size
        self._fitted = False

    # -- input checks ---------------------------------------------------------------
    def _check_x(self, x, fitting: bool) -> np.ndarray:
        if isinstance(x, tf.data.Dataset):
            raise TypeError(
                "Only fit() streams a tf.data.Dataset; pass an array here. "
                "Received: x=tf.data.Dataset"
            )
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
        if x.dtype == object or not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"x must be numeric. Received: x.dtype={x.dtype}")
        if np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"x must be real. Received: x.dtype={x.dtype}")
        if x.ndim != 2:
            raise ValueError(
                f"x must be a 2-D array (n_samples, n_features). Received: x.shape={x.shape}"
            )
        if x.shape[1] < 1:
            raise ValueError(f"x must have at least one feature. Received: x.shape={x.shape}")
        if not np.all(np.isfinite(x)):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(
                f"x contains {bad} NaN or infinite values. Received: x.shape={x.shape}"
            )
        if fitting and x.shape[0] < self.n_components:
            raise ValueError(
                f"x has {x.shape[0]} points, fewer than n_components="
                f"{self.n_components}. Received: x.shape={x.shape}"
            )
        if not fitting:
            self._check_fitted()
            if x.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"x has {x.shape[1]} features but the mixture was fitted on "
                    f"{self.n_features_in_}. Received: x.shape={x.shape}"
                )
        if x.shape[0] < 1:
            raise ValueError(f"x is empty. Received: x.shape={x.shape}")
        return x.astype(self.dtype, copy=False)

    def _check_fitted(self):
        if not self._fitted:
            raise NotFittedError("This GaussianMixture is not fitted yet; call fit(x) first.")

    def _chunk(self, d: int, n: int | None) -> int:
        if self.batch_size is not None:
            return self.batch_size
        chunk = max(1024, CHUNK_ELEMENTS // (self.n_components * max(d, 1)))
        return chunk if n is None else max(1, min(n, chunk))

    # -- fitting ----------------------------------------------------------------------
    def fit(self, x, y=None) -> GaussianMixture:
        """Fits the mixture by EM.

        Args:
            x: ``(N, D)`` array, or a ``tf.data.Dataset`` of ``(C, D)`` batches
                for data that does not fit in memory (streamed every
                iteration; it must yield the same points on every pass; the
                first ``INIT_POINTS`` points initialise).
            y: Ignored (scikit-learn compatibility).

        Returns:
            ``self``.

        Raises:
            ValueError: For NaN/inf, a wrong rank, fewer points than
                components, or covariances that stop being positive definite
                (raise ``reg_covar``).
        """
        del y
        source, init_x, chunk = self._source(x)
        seed = (
            self.random_state
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31 - 1))
        )
        runs = [self._run_em(source, chunk, init_x, seed, r) for r in range(self.n_init)]
        w, m, c, n_iter, converged, history, start = max(runs, key=lambda r: r[5][-1])
        self._set_params(w, m, c)
        self.initial_parameters_ = start
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.history_ = history.tolist()
        self.lower_bound_ = float(history[-1])
        return self

    def _source(self, x):
        """``(what EM streams, the points that initialise, the chunk size)`` for ``fit``."""
        if not isinstance(x, tf.data.Dataset):
            x = self._check_x(x, fitting=True)
            return tf.constant(x), x, self._chunk(x.shape[1], x.shape[0])
        spec = x.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 2 or spec.shape[-1] is None:
            raise ValueError(
                "A streamed dataset must yield (batch, n_features) tensors "
                f"with a known n_features. Received: element_spec={spec}"
            )
        head = np.concatenate(
            list(x.unbatch().take(INIT_POINTS).batch(INIT_POINTS).as_numpy_iterator())
            or [np.zeros((0, spec.shape[-1]))]
        )
        return x, self._check_x(head, fitting=True), 1  # the dataset's batches are the chunks

    def _run_em(self, source, chunk, init_x, seed, restart):
        """One restart: ``(w, m, c, n_iter, converged, history, initial parameters)``."""
        tf_dtype = tf.as_dtype(self.dtype)
        w0, m0, c0 = self._initial_parameters(init_x, init_x.shape[1], seed, restart)
        em = compiled_em(self.covariance_type, tf_dtype)
        try:
            w, m, c, n_iter, converged, history = em(
                source,
                tf.constant(chunk),
                w0,
                m0,
                c0,
                tf.constant(self.max_iter),
                tf.constant(self.tol, tf_dtype),
                tf.constant(self.reg_covar, tf_dtype),
            )
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError(self._failure_message(exc)) from None
        history = history.numpy().astype(np.float64)
        if not np.all(np.isfinite(history)) or not np.all(np.isfinite(c.numpy())):
            raise ValueError(self._failure_message("non-finite log-likelihood"))
        start = (w0.numpy(), m0.numpy(), c0.numpy())
        return w.numpy(), m.numpy(), c.numpy(), int(n_iter), bool(converged), history, start

    def _failure_message(self, exc) -> str:
        return (
            f"EM failed ({str(exc).splitlines()[0][:200]}): a covariance stopped being "
            f"positive definite or the data is not finite. Try a larger reg_covar. "
            f"Received: reg_covar={self.reg_covar}"
        )

    def _initial_parameters(self, init_x, d, seed, restart):
        tf_dtype = tf.as_dtype(self.dtype)
        k = self.n_components
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            m = np.asarray(self.means_init, dtype=np.float64)
            if w.shape != (k,) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
                raise ValueError(
                    f"weights_init must be {k} non-negative weights summing to 1. "
                    f"Received: weights_init={self.weights_init!r}"
                )
            if m.shape != (k, d):
                raise ValueError(
                    f"means_init must have shape {(k, d)}. Received: means_init.shape={m.shape}"
                )
            c = full_covariances(self.covariances_init, self.covariance_type, k, d)
            return (tf.constant(w, tf_dtype), tf.constant(m, tf_dtype), tf.constant(c, tf_dtype))
        rng = np.random.default_rng([seed, restart])
        sub = init_x
        if len(sub) > INIT_POINTS:
            sub = sub[np.sort(rng.choice(len(sub), INIT_POINTS, replace=False))]
        tf_seed = tf.constant([seed % (2**31 - 1), restart], tf.int32)
        return init_parameters(
            tf.constant(sub, tf_dtype),
            k,
            self.init,
            tf_seed,
            tf.constant(self.reg_covar, tf_dtype),
            self.covariance_type,
        )

    def initial_parameters(self, x, restart: int = 0):
        """The parameters restart ``restart`` of :meth:`fit` would start EM from.

        Args:
            x: ``(N, D)`` array.
            restart: The restart's index (the seed is ``(random_state, restart)``).

        Returns:
            ``(weights (K,), means (K, D), covariances (K, D, D))`` NumPy arrays.
        """
        x = self._check_x(x, fitting=True)
        if self.random_state is None:
            raise ValueError("initial_parameters needs a random_state. Received: None")
        w, m, c = self._initial_parameters(x, x.shape[1], self.random_state, restart)
        return w.numpy(), m.numpy(), c.numpy()

    @classmethod
    def from_parameters(cls, weights, means, covariances, **params) -> GaussianMixture:
        """A fitted mixture with the given parameters (no EM is run).

        Args:
            weights: ``(K,)`` mixing proportions.
            means: ``(K, D)``.
            covariances: ``(K, D, D)`` full matrices, whatever the covariance type.
            **params: Constructor arguments (``covariance_type``, ``dtype``...).
        """
        gm = cls(len(np.asarray(weights)), **params)
        gm._set_params(weights, means, covariances)
        gm.history_, gm.lower_bound_ = [], float("nan")
        gm.n_iter_, gm.converged_ = 0, False
        return gm

    @property
    def full_covariances_(self) -> np.ndarray:
        """The ``(K, D, D)`` covariance matrices, whatever the covariance type."""
        self._check_fitted()
        return self._full_covs

    def _set_params(self, weights, means, full_covs):
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.means_ = np.asarray(means, dtype=np.float64)
        self._full_covs = np.asarray(full_covs, dtype=np.float64)
        self.covariances_ = typed_covariances(self._full_covs, self.covariance_type)
        self.n_features_in_ = int(self.means_.shape[1])
        self._fitted = True

    # -- inference ---------------------------------------------------------------------
    @property
    def distribution(self) -> tfd.MixtureSameFamily:
        """The fitted mixture as ``tfd.MixtureSameFamily(Categorical, MultivariateNormalTriL)``."""
        self._check_fitted()
        dtype = tf.as_dtype(self.dtype)
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(probs=tf.constant(self.weights_, dtype)),
            components_distribution=tfd.MultivariateNormalTriL(
                loc=tf.constant(self.means_, dtype),
                scale_tril=tf.constant(np.linalg.cholesky(self._full_covs), dtype),
            ),
        )

    def _e_step_arrays(self, x):
        """Returns ``(log p(x) (N,), responsibilities (N, K))`` chunk by chunk."""
        dtype = tf.as_dtype(self.dtype)
        score_chunk = compiled_score(self.covariance_type, dtype)
        params = (
            tf.constant(self.weights_, dtype),
            tf.constant(self.means_, dtype),
            tf.constant(self._full_covs, dtype),
        )
        chunk = self._chunk(self.n_features_in_, None)
        outs = [
            score_chunk(tf.constant(x[i : i + chunk]), *params) for i in range(0, len(x), chunk)
        ]
        log_px = np.concatenate([o[0].numpy() for o in outs]).astype(np.float64)
        resp = np.concatenate([o[1].numpy() for o in outs]).astype(np.float64)
        return log_px, resp

    def score_samples(self, x) -> np.ndarray:
        """Log-density ``log p(x_i)`` of every point; shape ``(N,)``."""
        return self._e_step_arrays(self._check_x(x, fitting=False))[0]

    def score(self, x, y=None) -> float:
        """Mean log-likelihood per point (scikit-learn's ``score``)."""
        del y
        return float(np.mean(self.score_samples(x)))

    def predict_proba(self, x) -> np.ndarray:
        """Responsibilities ``q(z=k | x_i)``; shape ``(N, K)``, rows sum to 1."""
        return self._e_step_arrays(self._check_x(x, fitting=False))[1]

    def predict(self, x) -> np.ndarray:
        """Most probable component of every point; shape ``(N,)``, int."""
        return np.argmax(self.predict_proba(x), axis=1)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draws ``n`` points from the fitted mixture.

        Unlike scikit-learn (which returns ``(X, labels)``), this returns only
        the ``(n, D)`` points, matching every genkeras family's ``sample``.

        Args:
            n: Number of points.
            seed: Integer seed (the same seed gives the same points), or
                ``None`` for a fresh one.
        """
        self._check_fitted()
        check_int("n", n, 1)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        check_int("seed", seed, 0)
        stateless = tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)  # same seed, same draw
        return self.distribution.sample(int(n), seed=stateless).numpy().astype(np.float64)

    def _n_parameters(self) -> int:
        k, d = self.n_components, self.n_features_in_
        cov = {
            "full": k * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
            "diag": k * d,
            "spherical": k,
        }[self.covariance_type]
        return int(cov + k * d + k - 1)

    def bic(self, x) -> float:
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better)."""
        x = self._check_x(x, fitting=False)
        return float(-2.0 * self.score(x) * len(x) + self._n_parameters() * np.log(len(x)))

    def aic(self, x) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
        x = self._check_x(x, fitting=False)
        return float(-2.0 * self.score(x) * len(x) + 2 * self._n_parameters())

    # -- persistence -------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Returns the constructor arguments (without the ``*_init`` arrays)."""
        return {
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "tol": self.tol,
            "reg_covar": self.reg_covar,
            "max_iter": self.max_iter,
            "n_init": self.n_init,
            "init": self.init,
            "random_state": self.random_state,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
        }

    def save(self, path, extra: dict[str, Any] | None = None) -> str:
        """Saves the fitted parameters to an ``.npz`` file (no pickles).

        Args:
            path: File name (``.npz`` is appended by NumPy if missing).
            extra: Optional JSON-serialisable metadata stored alongside.

        Returns:
            The path written.
        """
        self._check_fitted()
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        meta = {
            "params": self.get_params(),
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "extra": extra or {},
        }
        tmp = path[:-4] + ".tmp.npz"
        np.savez(
            tmp,
            weights=self.weights_,
            means=self.means_,
            covariances=self._full_covs,
            history=np.asarray(self.history_, dtype=np.float64),
            meta=np.asarray(json.dumps(meta)),
        )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> GaussianMixture:
        """Loads a mixture written by :meth:`save`.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not a saved mixture.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file.")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            meta = json.loads(str(arrays["meta"]))
            gm = cls(**meta["params"])
            gm._set_params(arrays["weights"], arrays["means"], arrays["covariances"])
        except (KeyError, OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}: not a saved GaussianMixture ({exc}).") from None
        gm.history_ = arrays["history"].tolist()
        gm.lower_bound_ = gm.history_[-1] if gm.history_ else float("nan")
        gm.n_iter_ = int(meta["n_iter"])
        gm.converged_ = bool(meta["converged"])
        gm.saved_extra_ = meta.get("extra", {})
        return gm
