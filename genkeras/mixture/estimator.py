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

Initialisation follows scikit-learn's ``init_params`` -- ``kmeans``
(k-means++ seeding [4] and a few Lloyd iterations), ``k-means++`` (the seeds
only), ``random`` (random responsibilities) or ``random_from_data`` (K random
points) -- computed in TensorFlow on a random subsample of at most 100,000
points, followed by one M-step; ``weights_init``, ``means_init`` and
``precisions_init`` (or genkeras's ``covariances_init``) each replace their
part of that start. ``n_init`` restarts keep the best lower bound, as
scikit-learn does.

:class:`GaussianMixture` is a scikit-learn estimator (``BaseEstimator`` and
``DensityMixin``, like ``sklearn.mixture.GaussianMixture``): its constructor
only stores its parameters, they are validated by ``fit`` with scikit-learn's
``_parameter_constraints``, and ``clone``, ``Pipeline``, ``GridSearchCV`` and
``check_estimator`` accept it. Its attributes have scikit-learn's meaning: in
particular ``lower_bound_`` is the mean log-likelihood *before* the last
M-step and ``lower_bounds_`` those of every iteration; ``history_`` adds the
log-likelihood after the last M-step.

Collapsed components (scikit-learn issue 18216): with ``reg_covar=0`` a
component can shrink onto a single point. scikit-learn's float64 keeps a tiny
positive variance there; float32 rounds it to zero, whose log-density is
infinite. The M-step floors every variance at ``eps**2`` of the dtype
(``genkeras.mixture.em.variance_floor``), so such a fit returns (with the
collapsed component as sharp as the dtype can represent) instead of failing.

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
import time
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from genkeras.mixture.em import compiled_em, compiled_score, init_parameters
from genkeras.mixture.params import (
    COVARIANCE_TYPES,
    INIT_METHODS,
    check_means,
    check_weights,
    initial_covariances,
    precision_matrices,
    typed_covariances,
)

tfd = tfp.distributions

__all__ = [
    "COVARIANCE_TYPES",
    "ConvergenceWarning",
    "INIT_METHODS",
    "GaussianMixture",
    "NotFittedError",
]

#: Elements of the ``(K, chunk, D)`` working tensor one chunk may use (automatic chunking).
CHUNK_ELEMENTS = 2**22
#: Points used to initialise (k-means or random responsibilities).
INIT_POINTS = 100_000


# -- user-facing estimator ----------------------------------------------------------
class GaussianMixture(DensityMixin, BaseEstimator):
    """A Gaussian mixture fitted by EM in TensorFlow: a scikit-learn estimator, backed by TFP.

    The parameters and attributes are scikit-learn's
    (``sklearn.mixture.GaussianMixture``); the last three parameters are
    genkeras's own.

    Args:
        n_components: Number of mixture components ``K``.
        covariance_type: ``"full"`` (one matrix per component), ``"tied"``
            (one shared matrix), ``"diag"`` or ``"spherical"``.
        tol: Convergence threshold: EM stops when the lower bound (the mean
            log-likelihood) changes by less than ``tol``.
        reg_covar: Added to the diagonal of every covariance (keeps them
            positive definite).
        max_iter: Maximum number of EM iterations; ``0`` returns the start.
        n_init: Number of initialisations; the best lower bound wins.
        init_params: ``"kmeans"``, ``"k-means++"``, ``"random"`` or
            ``"random_from_data"``.
        weights_init: Optional initial weights ``(K,)``.
        means_init: Optional initial means ``(K, D)``.
        precisions_init: Optional initial precisions (inverse covariances) in
            scikit-learn's shape for ``covariance_type``.
        random_state: ``None``, an int or a ``numpy.random.RandomState``.
        warm_start: Start the next ``fit`` from this fit's parameters
            (``n_init`` is then ignored).
        verbose: ``0`` silent, ``1`` restarts, ``2`` also iterations (printed
            after the compiled loop returns).
        verbose_interval: Iterations between two printed lines.
        covariances_init: genkeras only: initial covariances in scikit-learn's
            shape (instead of ``precisions_init``; at most one of the two).
        dtype: genkeras only: ``"float32"``, ``"float64"``, or ``None`` for the
            input's dtype (float32 stays float32, anything else is float64).
        batch_size: genkeras only: points per chunk of the streamed E/M pass.
            ``None`` picks the largest chunk whose ``(K, chunk, D)`` work
            tensor has at most ``CHUNK_ELEMENTS`` elements. Any chunk size
            gives the same fit: the statistics are exact sums.

    Attributes:
        weights_: ``(K,)`` mixing proportions.
        means_: ``(K, D)``.
        covariances_: scikit-learn-shaped covariances.
        precisions_: Their inverses, same shape.
        precisions_cholesky_: Cholesky factors of the precisions (scikit-learn's).
        converged_: Whether ``tol`` was reached before ``max_iter``.
        n_iter_: Number of M-steps of the best initialisation.
        lower_bound_: Mean log-likelihood before the last M-step of the best
            initialisation (``-inf`` for ``max_iter=0``).
        lower_bounds_: The lower bound of every iteration.
        history_: ``lower_bounds_`` plus the log-likelihood after the last
            M-step (``n_iter_ + 1`` values, never decreasing).
        n_features_in_: Number of features seen by ``fit``.
        initial_parameters_: ``(weights, means, full covariances)`` the best
            initialisation started from.

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

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "covariances_init": ["array-like", None],
        "dtype": [StrOptions({"float32", "float64"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        covariances_init=None,
        dtype=None,
        batch_size=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.covariances_init = covariances_init
        self.dtype = dtype
        self.batch_size = batch_size

    # -- input checks ---------------------------------------------------------------
    def _compute_dtype(self, x_dtype) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if np.dtype(x_dtype) == np.float32 else "float64"

    def _check_x(self, x) -> np.ndarray:
        """Validates data for a fitted mixture (scikit-learn's checks and messages)."""
        check_is_fitted(self)
        if isinstance(x, tf.data.Dataset):
            raise TypeError(
                "Only fit() streams a tf.data.Dataset; pass an array here. "
                "Received: x=tf.data.Dataset"
            )
        x = validate_data(self, x, reset=False, dtype=[np.float64, np.float32])
        return x.astype(self._dtype_, copy=False)

    def _chunk(self, d: int, n: int | None) -> int:
        if self.batch_size is not None:
            return self.batch_size
        chunk = max(1024, CHUNK_ELEMENTS // (self.n_components * max(d, 1)))
        return chunk if n is None else max(1, min(n, chunk))

    # -- fitting ----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fits the mixture by EM (``n_init`` times; the best lower bound wins).

        Args:
            X: ``(N, D)`` array-like, or a ``tf.data.Dataset`` of ``(C, D)``
                batches for data that does not fit in memory (streamed every
                iteration; it must yield the same points on every pass; the
                first ``INIT_POINTS`` points initialise).
            y: Ignored (scikit-learn compatibility).

        Returns:
            ``self``.

        Raises:
            ValueError: For invalid parameters or data (scikit-learn's
                messages), initial parameters of the wrong shape or not
                positive definite, or covariances that stop being positive
                definite during EM (raise ``reg_covar``).
        """
        del y
        source, init_x, chunk, dtype = self._source(X)
        d = init_x.shape[1]
        start = self._user_start(d)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)
        best = None
        for restart in range(n_init):
            if self.verbose:
                print(f"Initialization {restart}")
            begin = time.time()
            if do_init:
                w0, m0, c0 = self._initial_parameters(init_x, start, rng, dtype)
                previous = -np.inf
            else:
                w0, m0, c0 = self.weights_, self.means_, self._full_covs
                previous = self.lower_bound_
            run = self._run_em(source, chunk, (w0, m0, c0), previous, dtype)
            self._print_restart(run, previous, time.time() - begin)
            lower = run["lower_bound"]
            if best is None or self.max_iter == 0 or lower > best["lower_bound"]:
                best = run
        if not best["converged"] and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._dtype_ = dtype
        self._set_params(*best["params"])
        self.n_features_in_ = d
        self.initial_parameters_ = best["start"]
        self.n_iter_ = best["n_iter"]
        self.converged_ = best["converged"]
        self.history_ = best["history"].tolist()
        self.lower_bounds_ = self.history_[: self.n_iter_]
        self.lower_bound_ = best["lower_bound"]
        return self

    def fit_predict(self, X, y=None):
        """Fits the mixture, then returns the most probable component of every point of ``X``.

        Args:
            X: ``(N, D)`` array-like.
            y: Ignored.

        Returns:
            ``(N,)`` int64 labels, equal to ``fit(X).predict(X)``.
        """
        return self.fit(X, y).predict(X)

    def _source(self, x):
        """``(what EM streams, the points that initialise, the chunk, the dtype)`` for ``fit``."""
        if not isinstance(x, tf.data.Dataset):
            x = validate_data(self, x, dtype=[np.float64, np.float32], ensure_min_samples=2)
            self._check_n_samples(x)
            dtype = self._compute_dtype(x.dtype)
            x = x.astype(dtype, copy=False)
            return tf.constant(x), x, self._chunk(x.shape[1], x.shape[0]), dtype
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
        from sklearn.utils import check_array

        head = check_array(head, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self._check_n_samples(head)
        dtype = self._compute_dtype(spec.dtype.as_numpy_dtype)
        # The dataset's batches are the chunks.
        return x, head.astype(dtype, copy=False), 1, dtype

    def _check_n_samples(self, x):
        if x.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {x.shape[0]}"
            )

    def _user_start(self, d):
        """The user's ``(weights, means, full covariances)`` (each ``None`` if not given)."""
        k = self.n_components
        weights = None if self.weights_init is None else check_weights(self.weights_init, k)
        means = None if self.means_init is None else check_means(self.means_init, k, d)
        covs = initial_covariances(
            self.precisions_init, self.covariances_init, self.covariance_type, k, d
        )
        return weights, means, covs

    def _run_em(self, source, chunk, start, previous, dtype):
        """One initialisation's EM, as a dict of NumPy results."""
        tf_dtype = tf.as_dtype(dtype)
        w0, m0, c0 = (tf.constant(np.asarray(v), tf_dtype) for v in start)
        em = compiled_em(self.covariance_type, tf_dtype, isinstance(source, tf.data.Dataset))
        try:
            w, m, c, n_iter, converged, history = em(
                source,
                tf.constant(chunk, tf.int32),
                w0,
                m0,
                c0,
                tf.constant(self.max_iter, tf.int32),
                tf.constant(self.tol, tf_dtype),
                tf.constant(self.reg_covar, tf_dtype),
                tf.constant(previous, tf_dtype),
            )
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError(self._failure_message(exc)) from None
        history = history.numpy().astype(np.float64)
        c = c.numpy()
        if not np.all(np.isfinite(history)) or not np.all(np.isfinite(c)):
            raise ValueError(self._failure_message("non-finite log-likelihood"))
        n_iter = int(n_iter)
        return {
            "params": (w.numpy(), m.numpy(), c),
            "n_iter": n_iter,
            "converged": bool(converged),
            "history": history,
            "lower_bound": float(history[n_iter - 1]) if n_iter else -np.inf,
            "start": tuple(np.asarray(v.numpy()) for v in (w0, m0, c0)),
        }

    def _print_restart(self, run, previous, seconds):
        """scikit-learn's verbose lines (iteration times are the restart's average)."""
        if not self.verbose:
            return
        lower = [previous] + run["history"][: run["n_iter"]].tolist()
        per_iter = seconds / max(run["n_iter"], 1)
        for it in range(1, run["n_iter"] + 1):
            if it % self.verbose_interval == 0:
                if self.verbose == 1:
                    print(f"  Iteration {it}")
                else:
                    change = lower[it] - lower[it - 1]
                    print(
                        f"  Iteration {it}\t time lapse "
                        f"{per_iter * self.verbose_interval:.5f}s\t ll change {change:.5f}"
                    )
        status = "converged" if run["converged"] else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        else:
            print(
                f"Initialization {status}. time lapse {seconds:.5f}s\t lower bound"
                f" {run['lower_bound']:.5f}."
            )

    def _failure_message(self, exc) -> str:
        return (
            "Fitting the mixture model failed because some components have "
            "ill-defined empirical covariance (for instance caused by singleton or "
            "collapsed samples). Try to decrease the number of components, increase "
            f"reg_covar, or scale the input data. Received: reg_covar={self.reg_covar} "
            f"(EM: {str(exc).splitlines()[0][:200]})"
        )

    def _initial_parameters(self, init_x, start, rng, dtype):
        """One initialisation: the user's parts of ``start``, the rest from ``init_params``."""
        weights, means, covs = start
        if weights is not None and means is not None and covs is not None:
            return weights, means, covs  # nothing to estimate (as scikit-learn)
        tf_dtype = tf.as_dtype(dtype)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        sub = init_x
        if len(sub) > INIT_POINTS:
            sub = sub[np.sort(rng.choice(len(sub), INIT_POINTS, replace=False))]
        w, m, c = init_parameters(
            tf.constant(sub, tf_dtype),
            self.n_components,
            self.init_params,
            tf.constant([seed, 0], tf.int32),
            tf.constant(self.reg_covar, tf_dtype),
            self.covariance_type,
        )
        return (
            w.numpy() if weights is None else weights,
            m.numpy() if means is None else means,
            c.numpy() if covs is None else covs,
        )

    def initial_parameters(self, x, restart: int = 0):
        """The parameters initialisation ``restart`` of :meth:`fit` would start EM from.

        Args:
            x: ``(N, D)`` array.
            restart: The initialisation's index.

        Returns:
            ``(weights (K,), means (K, D), covariances (K, D, D))`` NumPy arrays.
        """
        self._validate_params()
        if self.random_state is None:
            raise ValueError("initial_parameters needs a random_state. Received: None")
        _, init_x, _, dtype = self._source(x)
        start = self._user_start(init_x.shape[1])
        rng = check_random_state(self.random_state)
        for _ in range(restart):
            self._initial_parameters(init_x, start, rng, dtype)
        w, m, c = self._initial_parameters(init_x, start, rng, dtype)
        return tuple(np.asarray(v, dtype=dtype) for v in (w, m, c))

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
        gm._dtype_ = gm.dtype or "float64"
        gm._set_params(weights, means, covariances)
        gm.n_features_in_ = int(np.asarray(means).shape[1])
        gm.history_, gm.lower_bounds_, gm.lower_bound_ = [], [], -np.inf
        gm.n_iter_, gm.converged_ = 0, False
        return gm

    @property
    def full_covariances_(self) -> np.ndarray:
        """The ``(K, D, D)`` covariance matrices, whatever the covariance type."""
        check_is_fitted(self)
        return self._full_covs

    def _set_params(self, weights, means, full_covs):
        dtype = self._dtype_
        full64 = np.asarray(full_covs, dtype=np.float64)
        self.weights_ = np.asarray(weights, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self._full_covs = full64.astype(dtype)
        self.covariances_ = typed_covariances(full64, self.covariance_type).astype(dtype)
        precisions, cholesky = precision_matrices(full64, self.covariance_type)
        self.precisions_ = precisions.astype(dtype)
        self.precisions_cholesky_ = cholesky.astype(dtype)

    # -- inference ---------------------------------------------------------------------
    @property
    def distribution(self) -> tfd.MixtureSameFamily:
        """The fitted mixture as ``tfd.MixtureSameFamily(Categorical, MultivariateNormalTriL)``."""
        check_is_fitted(self)
        dtype = tf.as_dtype(self._dtype_)
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(probs=tf.constant(self.weights_, dtype)),
            components_distribution=tfd.MultivariateNormalTriL(
                loc=tf.constant(self.means_, dtype),
                scale_tril=tf.constant(
                    np.linalg.cholesky(self._full_covs.astype(np.float64)), dtype
                ),
            ),
        )

    def _e_step_arrays(self, x):
        """Returns ``(log p(x) (N,), responsibilities (N, K))`` chunk by chunk."""
        dtype = tf.as_dtype(self._dtype_)
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
        log_px = np.concatenate([o[0].numpy() for o in outs])
        resp = np.concatenate([o[1].numpy() for o in outs])
        return log_px, resp

    def score_samples(self, X) -> np.ndarray:
        """Log-density ``log p(x_i)`` of every point; shape ``(N,)``."""
        return self._e_step_arrays(self._check_x(X))[0]

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per point (scikit-learn's ``score``)."""
        del y
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities ``q(z=k | x_i)``; shape ``(N, K)``, rows sum to 1."""
        return self._e_step_arrays(self._check_x(X))[1]

    def predict(self, X) -> np.ndarray:
        """Most probable component of every point; shape ``(N,)``, int64."""
        return np.argmax(self.predict_proba(X), axis=1).astype(np.int64)

    def sample(self, n_samples=1):
        """Draws ``n_samples`` points, exactly as scikit-learn's ``GaussianMixture.sample``.

        The component counts are multinomial, then each component's points
        are drawn in order with NumPy from ``random_state`` (the same
        ``random_state`` and parameters give scikit-learn's points).

        Args:
            n_samples: Number of points (at least 1).

        Returns:
            ``(X (n_samples, D) float64, y (n_samples,) int64 component labels)``.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        rng = check_random_state(self.random_state)
        weights = self.weights_.astype(np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        means = self.means_.astype(np.float64)
        covs = self.covariances_.astype(np.float64)
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(n)) for m, c, n in zip(means, covs, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, covs, int(n)) for m, n in zip(means, counts)]
        else:
            d = means.shape[1]
            parts = [
                m + rng.standard_normal(size=(n, d)) * np.sqrt(c)
                for m, c, n in zip(means, covs, counts)
            ]
        labels = np.concatenate([np.full(int(n), i, dtype=np.int64) for i, n in enumerate(counts)])
        return np.vstack(parts), labels

    def _n_parameters(self) -> int:
        k, d = self.n_components, self.n_features_in_
        cov = {
            "full": k * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
            "diag": k * d,
            "spherical": k,
        }[self.covariance_type]
        return int(cov + k * d + k - 1)

    def bic(self, X) -> float:
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better)."""
        x = self._check_x(X)
        return float(-2.0 * self.score(x) * len(x) + self._n_parameters() * np.log(len(x)))

    def aic(self, X) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better)."""
        x = self._check_x(X)
        return float(-2.0 * self.score(x) * len(x) + 2 * self._n_parameters())

    # -- persistence -------------------------------------------------------------------
    def _json_params(self) -> dict[str, Any]:
        """The constructor arguments a JSON file can hold (no arrays, no RandomState)."""
        params = self.get_params()
        for name in ("weights_init", "means_init", "precisions_init", "covariances_init"):
            params.pop(name)
        if not (params["random_state"] is None or isinstance(params["random_state"], int)):
            params["random_state"] = None
        params["dtype"] = self._dtype_
        return params

    def save(self, path, extra: dict[str, Any] | None = None) -> str:
        """Saves the fitted parameters to an ``.npz`` file (no pickles).

        Args:
            path: File name (``.npz`` is appended by NumPy if missing).
            extra: Optional JSON-serialisable metadata stored alongside.

        Returns:
            The path written.
        """
        check_is_fitted(self)
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        meta = {
            "params": self._json_params(),
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
        """Loads a mixture written by :meth:`save` (also genkeras 0.1.0's files).

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
            params = dict(meta["params"])
            if "init" in params:  # genkeras 0.1.0's name for init_params
                params["init_params"] = params.pop("init")
            gm = cls(**params)
            gm._dtype_ = gm.dtype or "float64"
            gm._set_params(arrays["weights"], arrays["means"], arrays["covariances"])
            gm.n_features_in_ = int(arrays["means"].shape[1])
        except (KeyError, OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}: not a saved GaussianMixture ({exc}).") from None
        gm.history_ = arrays["history"].tolist()
        gm.n_iter_ = int(meta["n_iter"])
        gm.converged_ = bool(meta["converged"])
        gm.lower_bounds_ = gm.history_[: gm.n_iter_]
        gm.lower_bound_ = gm.lower_bounds_[-1] if gm.lower_bounds_ else -np.inf
        gm.saved_extra_ = meta.get("extra", {})
        return gm
