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
:class:`GMMFamily` fits the density of uniformly dequantized data
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

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras.models.base import config_from_dict

tfd = tfp.distributions

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "GMMConfig",
    "GMMFamily",
    "GaussianMixture",
    "NotFittedError",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("kmeans", "random")
#: Elements of the ``(K, chunk, D)`` working tensor one chunk may use (automatic chunking).
CHUNK_ELEMENTS = 2**22
#: Points used to initialise (k-means or random responsibilities).
INIT_POINTS = 100_000
#: Lloyd iterations of the k-means initialisation.
KMEANS_ITERS = 10
LOG_2PI = math.log(2.0 * math.pi)


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`GaussianMixture` is used before ``fit``."""


# -- graph-side building blocks ------------------------------------------------------
def _prepare(weights, means, covs, cov_type):
    """Turns ``(weights, means, covariances)`` into what the E-step needs.

    Returns ``(log_weights (K,), means (K, D), whiten, log_det (K,))`` where
    ``whiten`` is ``L^{-1}`` (``(K, D, D)``, ``Sigma = L L^T``) for full/tied
    covariances and ``1/sqrt(diag Sigma)`` (``(K, D)``) for diag/spherical.
    """
    dtype = means.dtype
    if cov_type in ("diag", "spherical"):
        var = tf.linalg.diag_part(covs)  # (K, D)
        whiten = tf.math.rsqrt(var)  # (K, D)
        log_det = 0.5 * tf.reduce_sum(tf.math.log(var), axis=-1)  # (K,) = log|L|
    else:
        chol = tf.linalg.cholesky(covs)  # (K, D, D)
        eye = tf.eye(tf.shape(covs)[-1], batch_shape=tf.shape(covs)[:1], dtype=dtype)
        whiten = tf.linalg.triangular_solve(chol, eye, lower=True)  # (K, D, D) = L^-1
        log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)), axis=-1)
    return tf.math.log(weights), means, whiten, log_det


def _e_step(x, prepared, cov_type):
    """E-step on one chunk ``x`` of shape ``(C, D)``.

    Returns ``(log_px (C,), resp (K, C), diff (K, C, D))`` with
    ``diff = x - mu_k`` reused by the M-step statistics.
    """
    log_w, means, whiten, log_det = prepared
    dim = tf.cast(tf.shape(x)[-1], x.dtype)
    diff = x[None, :, :] - means[:, None, :]  # (K, C, D)
    if cov_type in ("diag", "spherical"):
        y = diff * whiten[:, None, :]  # (K, C, D)
    else:
        y = tf.matmul(diff, whiten, transpose_b=True)  # (K, C, D) = L^-1 (x - mu)
    maha = tf.reduce_sum(tf.square(y), axis=-1)  # (K, C)
    log_joint = (
        log_w[:, None] - 0.5 * dim * LOG_2PI - log_det[:, None] - 0.5 * maha
    )  # (K, C) log pi_k N(x|k)
    log_px = tf.reduce_logsumexp(log_joint, axis=0)  # (C,)
    resp = tf.exp(log_joint - log_px[None, :])  # (K, C) q(z=k | x)
    return log_px, resp, diff


def _stats_from_resp(resp, diff, cov_type):
    """Sufficient statistics of one chunk around the centres ``diff`` was taken from.

    Returns ``(N_k (K,), S1 (K, D), S2 (K, D, D) or (K, D))``.
    """
    nk = tf.reduce_sum(resp, axis=1)  # (K,)
    rd = resp[:, :, None] * diff  # (K, C, D)
    s1 = tf.reduce_sum(rd, axis=1)  # (K, D)
    if cov_type in ("diag", "spherical"):
        s2 = tf.reduce_sum(rd * diff, axis=1)  # (K, D)
    else:
        s2 = tf.matmul(rd, diff, transpose_a=True)  # (K, D, D)
    return nk, s1, s2


def _m_step(nk_raw, s1, s2, centers, reg_covar, cov_type):
    """Closed-form M-step from statistics accumulated around ``centers`` (K, D).

    Mirrors scikit-learn: ``N_k`` gets ``10 * eps`` so an empty component
    does not divide by zero, and ``reg_covar`` is added to every variance.
    """
    dtype = centers.dtype
    nk = nk_raw + 10.0 * np.finfo(dtype.as_numpy_dtype).eps  # (K,)
    weights = nk / tf.reduce_sum(nk)  # (K,)
    shift = s1 / nk[:, None]  # (K, D) mu_new - center
    means = centers + shift  # (K, D)
    k = tf.shape(centers)[0]
    d = tf.shape(centers)[1]
    eye = tf.eye(d, dtype=dtype)
    if cov_type == "full":
        cov = s2 / nk[:, None, None] - shift[:, :, None] * shift[:, None, :]
        cov = 0.5 * (cov + tf.linalg.matrix_transpose(cov)) + reg_covar * eye
    elif cov_type == "tied":
        scatter = s2 - nk[:, None, None] * shift[:, :, None] * shift[:, None, :]
        tied = tf.reduce_sum(scatter, axis=0) / tf.reduce_sum(nk)  # (D, D)
        tied = 0.5 * (tied + tf.transpose(tied)) + reg_covar * eye
        cov = tf.broadcast_to(tied[None], [k, d, d])
    elif cov_type == "diag":
        var = s2 / nk[:, None] - tf.square(shift) + reg_covar  # (K, D)
        cov = tf.linalg.diag(var)
    else:  # spherical
        var = tf.reduce_mean(s2 / nk[:, None] - tf.square(shift), axis=-1) + reg_covar
        cov = var[:, None, None] * eye  # (K, D, D)
    return weights, means, cov


def _data_pass(source, chunk, prepared, centers, cov_type, dtype, with_stats=True):
    """One pass over the data: summed log-likelihood, count and (optionally) statistics.

    ``source`` is an ``(N, D)`` tensor (sliced into chunks inside a
    ``tf.while_loop``) or a ``tf.data.Dataset`` of ``(C, D)`` batches (reduced
    with ``Dataset.reduce``). Either way only one chunk's ``(K, C, D)`` work
    tensors exist at a time.
    """
    k = tf.shape(centers)[0]
    d = tf.shape(centers)[1]
    zero = tf.constant(0.0, dtype)
    if cov_type in ("diag", "spherical"):
        s2_shape = [k, d]
    else:
        s2_shape = [k, d, d]
    init = (zero, zero, tf.zeros([k], dtype), tf.zeros([k, d], dtype), tf.zeros(s2_shape, dtype))

    def accumulate(acc, xc):
        ll, count, nk, s1, s2 = acc
        xc = tf.cast(xc, dtype)
        log_px, resp, diff = _e_step(xc, prepared, cov_type)
        ll = ll + tf.reduce_sum(log_px)
        count = count + tf.cast(tf.shape(xc)[0], dtype)
        if with_stats:
            # Statistics around ``centers`` (= the current means; diff is reused).
            cn, c1, c2 = _stats_from_resp(resp, diff, cov_type)
            nk, s1, s2 = nk + cn, s1 + c1, s2 + c2
        return ll, count, nk, s1, s2

    if isinstance(source, tf.data.Dataset):

        def checked(acc, xc):
            xc = tf.debugging.assert_all_finite(
                tf.cast(xc, dtype), "the streamed data contains NaN or infinite values"
            )
            return accumulate(acc, xc)

        return source.reduce(init, checked)

    n = tf.shape(source)[0]
    steps = (n + chunk - 1) // chunk  # number of chunks

    def body(i, acc):
        xc = source[i * chunk : (i + 1) * chunk]  # (C, D)
        return i + 1, accumulate(acc, xc)

    _, acc = tf.while_loop(lambda i, acc: i < steps, body, (tf.constant(0), init))
    return acc


_EM_CACHE: dict = {}
_SCORE_CACHE: dict = {}


def _compiled_em(cov_type, dtype):
    """Returns the compiled EM loop (one ``tf.function`` holding a ``tf.while_loop``).

    One function per ``(covariance type, dtype)`` is shared by every
    estimator; data size and chunk size are tensors, so refitting never retraces.
    """
    key = (cov_type, dtype)
    if key not in _EM_CACHE:
        _EM_CACHE[key] = tf.function(_make_em(cov_type, dtype), reduce_retracing=True)
    return _EM_CACHE[key]


def _compiled_score(cov_type, dtype):
    """Returns the compiled chunk E-step ``(x, w, m, c) -> (log p(x), resp (C, K))``."""
    key = (cov_type, dtype)
    if key not in _SCORE_CACHE:

        def score_chunk(xc, weights, means, covs):
            log_px, resp, _ = _e_step(xc, _prepare(weights, means, covs, cov_type), cov_type)
            return log_px, tf.transpose(resp)

        _SCORE_CACHE[key] = tf.function(score_chunk, reduce_retracing=True)
    return _SCORE_CACHE[key]


def _make_em(cov_type, dtype):
    """Builds the EM loop (uncompiled; see :func:`_compiled_em`)."""

    def em(source, chunk, weights, means, covs, max_iter, tol, reg_covar):
        history = tf.TensorArray(dtype, size=0, dynamic_size=True)

        def cond(i, w, m, c, prev, converged, hist):
            return tf.logical_and(i < max_iter, tf.logical_not(converged))

        def body(i, w, m, c, prev, converged, hist):
            prepared = _prepare(w, m, c, cov_type)
            ll, count, nk, s1, s2 = _data_pass(source, chunk, prepared, m, cov_type, dtype)
            mean_ll = ll / count  # before this M-step
            hist = hist.write(i, mean_ll)
            w, m, c = _m_step(nk, s1, s2, m, reg_covar, cov_type)
            converged = tf.logical_and(i > 0, tf.abs(mean_ll - prev) < tol)
            return i + 1, w, m, c, mean_ll, converged, hist

        loop_vars = (
            tf.constant(0),
            weights,
            means,
            covs,
            tf.constant(-np.inf, dtype),
            tf.constant(False),
            history,
        )
        n_iter, w, m, c, _, converged, history = tf.while_loop(cond, body, loop_vars)
        # Log-likelihood of the final parameters (scikit-learn's final E-step).
        ll, count, _, _, _ = _data_pass(
            source, chunk, _prepare(w, m, c, cov_type), m, cov_type, dtype, with_stats=False
        )
        history = history.write(n_iter, ll / count)
        return w, m, c, n_iter, converged, history.stack()

    return em


def _kmeans_plus_plus(x, k, seed):
    """k-means++ seeding in TF: each new centre is drawn with probability ~ D(x)^2."""
    n = tf.shape(x)[0]
    first = tf.random.stateless_uniform([], seed, maxval=n, dtype=tf.int32)
    centers = tf.TensorArray(x.dtype, size=k)
    centers = centers.write(0, x[first])
    best = tf.reduce_sum(tf.square(x - x[first]), axis=-1)  # (n,) squared distance

    def body(j, centers, best):
        logits = tf.math.log(tf.maximum(best, 1e-300 if x.dtype == tf.float64 else 1e-30))
        pick = tf.random.stateless_categorical(
            logits[None, :], 1, seed + tf.stack([0, j]), dtype=tf.int32
        )[0, 0]
        c = x[pick]
        centers = centers.write(j, c)
        best = tf.minimum(best, tf.reduce_sum(tf.square(x - c), axis=-1))
        return j + 1, centers, best

    _, centers, _ = tf.while_loop(lambda j, c, b: j < k, body, (tf.constant(1), centers, best))
    return centers.stack()  # (k, D)


def _assign(x, centers):
    """Nearest centre of every point, via ||x||^2 - 2 x.c + ||c||^2 as one matmul."""
    dist = tf.reduce_sum(tf.square(centers), axis=-1)[None, :] - 2.0 * tf.matmul(
        x, centers, transpose_b=True
    )  # (n, k) (+ ||x||^2 const)
    return tf.argmin(dist, axis=-1, output_type=tf.int32)  # (n,)


def _init_params(x, k, method, seed, reg_covar, cov_type, iters=KMEANS_ITERS):
    """Initial ``(weights, means, covariances)`` from k-means or random responsibilities.

    Args:
        x: ``(n, D)`` initialisation points.
        k: Number of components.
        method: ``"kmeans"`` or ``"random"``.
        seed: ``(2,)`` int32 stateless seed.
        reg_covar: Diagonal regulariser.
        cov_type: Covariance type.
        iters: Lloyd iterations.
    """
    dtype = x.dtype
    if method == "kmeans":
        centers = _kmeans_plus_plus(x, k, seed)

        def lloyd(i, centers):
            onehot = tf.one_hot(_assign(x, centers), k, dtype=dtype)  # (n, k)
            counts = tf.reduce_sum(onehot, axis=0)  # (k,)
            sums = tf.matmul(onehot, x, transpose_a=True)  # (k, D)
            # An empty cluster keeps its centre.
            new = tf.where(counts[:, None] > 0, sums / tf.maximum(counts, 1.0)[:, None], centers)
            return i + 1, new

        _, centers = tf.while_loop(lambda i, c: i < iters, lloyd, (tf.constant(0), centers))
        resp = tf.transpose(tf.one_hot(_assign(x, centers), k, dtype=dtype))  # (k, n)
    else:
        u = tf.random.stateless_uniform([tf.shape(x)[0], k], seed, dtype=dtype)
        resp = tf.transpose(u / tf.reduce_sum(u, axis=1, keepdims=True))  # (k, n)
        centers = tf.broadcast_to(tf.reduce_mean(x, axis=0)[None], [k, tf.shape(x)[1]])
    diff = x[None, :, :] - centers[:, None, :]  # (k, n, D)
    nk, s1, s2 = _stats_from_resp(resp, diff, cov_type)
    return _m_step(nk, s1, s2, centers, reg_covar, cov_type)


# -- user-facing estimator ----------------------------------------------------------
def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")


def _full_covariances(covariances, cov_type, k, d):
    """Converts scikit-learn-shaped covariances to ``(K, D, D)`` matrices."""
    c = np.asarray(covariances, dtype=np.float64)
    expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[cov_type]
    if c.shape != expected:
        raise ValueError(
            f"covariances for covariance_type={cov_type!r} must have shape "
            f"{expected}. Received: shape={c.shape}"
        )
    if cov_type == "full":
        return c
    if cov_type == "tied":
        return np.broadcast_to(c, (k, d, d)).copy()
    if cov_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return c[:, None, None] * np.eye(d)[None]


def _typed_covariances(full, cov_type):
    """Converts ``(K, D, D)`` matrices to scikit-learn's per-type shape."""
    if cov_type == "full":
        return full
    if cov_type == "tied":
        return full[0]
    diag = np.diagonal(full, axis1=1, axis2=2)
    if cov_type == "diag":
        return diag.copy()
    return diag[:, 0].copy()


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
        _check_int("n_components", n_components, 1)
        _check_int("max_iter", max_iter, 1)
        _check_int("n_init", n_init, 1)
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}. "
                f"Received: covariance_type={covariance_type!r}"
            )
        if init not in INIT_METHODS:
            raise ValueError(
                f"init must be one of {', '.join(INIT_METHODS)}. Received: init={init!r}"
            )
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0. Received: tol={tol!r}")
        if not (
            isinstance(reg_covar, (int, float)) and math.isfinite(reg_covar) and reg_covar >= 0
        ):
            raise ValueError(
                f"reg_covar must be a finite number >= 0. Received: reg_covar={reg_covar!r}"
            )
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
        if batch_size is not None:
            _check_int("batch_size", batch_size, 1)
        given = [a is not None for a in (weights_init, means_init, covariances_init)]
        if any(given) and not all(given):
            names = ("weights_init", "means_init", "covariances_init")
            received = ", ".join(n for n, g in zip(names, given) if g)
            raise ValueError(
                "weights_init, means_init and covariances_init must be given "
                f"together. Received: {received} only"
            )
        if random_state is not None:
            _check_int("random_state", random_state, 0)
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
        tf_dtype = tf.as_dtype(self.dtype)
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if (
                not isinstance(spec, tf.TensorSpec)
                or spec.shape.rank != 2
                or spec.shape[-1] is None
            ):
                raise ValueError(
                    "A streamed dataset must yield (batch, n_features) tensors "
                    f"with a known n_features. Received: element_spec={spec}"
                )
            source = x
            head = np.concatenate(
                list(x.unbatch().take(INIT_POINTS).batch(INIT_POINTS).as_numpy_iterator())
                or [np.zeros((0, spec.shape[-1]))]
            )
            init_x = self._check_x(head, fitting=True)
            d = init_x.shape[1]
            chunk = 1  # unused: the dataset's own batches are the chunks
        else:
            x = self._check_x(x, fitting=True)
            d = x.shape[1]
            source = tf.constant(x)
            chunk = self._chunk(d, x.shape[0])
            init_x = x
        em = _compiled_em(self.covariance_type, tf_dtype)
        seed = (
            self.random_state
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31 - 1))
        )
        best = None
        for restart in range(self.n_init):
            w0, m0, c0 = self._initial_parameters(init_x, d, seed, restart)
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
            if best is None or history[-1] > best[-1][-1]:
                best = (w.numpy(), m.numpy(), c.numpy(), int(n_iter), bool(converged), history)
        w, m, c, n_iter, converged, history = best
        self._set_params(w, m, c)
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.history_ = history.tolist()
        self.lower_bound_ = float(history[-1])
        return self

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
            c = _full_covariances(self.covariances_init, self.covariance_type, k, d)
            return (tf.constant(w, tf_dtype), tf.constant(m, tf_dtype), tf.constant(c, tf_dtype))
        rng = np.random.default_rng([seed, restart])
        sub = init_x
        if len(sub) > INIT_POINTS:
            sub = sub[np.sort(rng.choice(len(sub), INIT_POINTS, replace=False))]
        tf_seed = tf.constant([seed % (2**31 - 1), restart], tf.int32)
        return _init_params(
            tf.constant(sub, tf_dtype),
            k,
            self.init,
            tf_seed,
            tf.constant(self.reg_covar, tf_dtype),
            self.covariance_type,
        )

    def _set_params(self, weights, means, full_covs):
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.means_ = np.asarray(means, dtype=np.float64)
        self._full_covs = np.asarray(full_covs, dtype=np.float64)
        self.covariances_ = _typed_covariances(self._full_covs, self.covariance_type)
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
        score_chunk = _compiled_score(self.covariance_type, dtype)
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
        _check_int("n", n, 1)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        _check_int("seed", seed, 0)
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


# -- the registry family -----------------------------------------------------------------
@dataclasses.dataclass
class GMMConfig:
    """Hyperparameters of ``genkeras run gmm`` (each field is a CLI option)."""

    components: int = dataclasses.field(
        default=8, metadata={"help": "Number of mixture components K."}
    )
    covariance_type: str = dataclasses.field(
        default="full",
        metadata={"help": "Covariance structure.", "choices": list(COVARIANCE_TYPES)},
    )
    max_iter: int = dataclasses.field(default=100, metadata={"help": "Maximum EM iterations."})
    tol: float = dataclasses.field(
        default=1e-3, metadata={"help": "Stop when the mean log-likelihood changes less."}
    )
    reg_covar: float = dataclasses.field(
        default=1e-6, metadata={"help": "Added to every covariance diagonal."}
    )
    init: str = dataclasses.field(
        default="kmeans", metadata={"help": "Initialisation.", "choices": list(INIT_METHODS)}
    )
    n_init: int = dataclasses.field(
        default=1, metadata={"help": "Restarts; the best log-likelihood wins."}
    )
    float64: bool = dataclasses.field(
        default=False, metadata={"help": "Run EM in float64 (default float32)."}
    )
    batch_size_em: int = dataclasses.field(
        default=0,
        metadata={
            "help": "Points per streamed E/M chunk; 0 = automatic "
            "(whole data when it fits a fixed memory budget)."
        },
    )

    def __post_init__(self):
        for name, minimum in (
            ("components", 1),
            ("max_iter", 1),
            ("n_init", 1),
            ("batch_size_em", 0),
        ):
            value = getattr(self, name)
            if value < minimum:
                raise ValueError(f"{name} must be at least {minimum}. Received: {name}={value}")
        if not (self.tol >= 0 and math.isfinite(self.tol)):
            raise ValueError(f"tol must be >= 0. Received: tol={self.tol}")
        if not (self.reg_covar >= 0 and math.isfinite(self.reg_covar)):
            raise ValueError(f"reg_covar must be >= 0. Received: reg_covar={self.reg_covar}")


class GMMFamily:
    """Gaussian mixture fitted by EM (Dempster et al. 1977) on TFP: ellipses, BIC/AIC.

    The registry's ``gmm`` model. It is not a ``keras.Model``: ``training.run``
    calls :meth:`train` instead of ``fit`` (``trains_with_fit = False``).

    Continuous vectors (``ring``, ``grid``, ``npz`` floats) are modelled
    directly. Images are flattened to vectors; discrete levels are uniformly
    dequantized (``x + U[0, 1)``) so the density's NLL upper-bounds the discrete
    NLL and ``bits_per_dim`` is comparable with the pixel models (Theis et al.
    2016). Samples of discrete data are floored and clipped back to levels.

    Args:
        data_shape: Shape of one example.
        levels: Discrete levels, or ``None`` for continuous data.
        config: :class:`GMMConfig` or a dict of its fields.
        num_classes: Unused (accepted for the family contract).
    """

    trains_with_fit = False
    config_class = GMMConfig
    MODEL_FILE = "model.npz"

    def __init__(self, data_shape, levels=None, config=None, num_classes=None):
        self.data_shape = tuple(int(d) for d in data_shape)
        if not self.data_shape or any(d < 1 for d in self.data_shape):
            raise ValueError(f"data_shape must be positive. Received: data_shape={data_shape}")
        self.levels = None if levels is None else int(levels)
        self.num_classes = num_classes
        self.cfg = config_from_dict(GMMConfig, config)
        self.mixture = GaussianMixture(
            self.cfg.components,
            covariance_type=self.cfg.covariance_type,
            tol=self.cfg.tol,
            reg_covar=self.cfg.reg_covar,
            max_iter=self.cfg.max_iter,
            n_init=self.cfg.n_init,
            init=self.cfg.init,
            dtype="float64" if self.cfg.float64 else "float32",
            batch_size=self.cfg.batch_size_em or None,
        )

    @classmethod
    def from_data(cls, spec, config=None):
        """Builds the family for a :class:`genkeras.data.DataSpec`."""
        return cls(spec.shape, levels=spec.levels, config=config, num_classes=spec.num_classes)

    @property
    def num_dims(self) -> int:
        """Scalar dimensions per example (the mixture's ``D``)."""
        return int(np.prod(self.data_shape))

    def _vectors(self, x, seed: int | None) -> np.ndarray:
        """Flattens examples to ``(N, D)``; dequantizes discrete levels with a seeded U[0,1)."""
        x = np.asarray(x).reshape(len(x), -1).astype(np.float64)
        if self.levels is not None:
            x = x + np.random.default_rng(seed).random(x.shape)
        return x

    def train(self, spec, run_dir, seed: int) -> dict[str, list[float]]:
        """Fits on ``spec.x_train``, saves ``model.npz`` and the figures in ``run_dir``.

        Returns:
            ``{"loglik": [...]}``: mean train log-likelihood per EM iteration.
        """
        from genkeras import plots

        self.mixture.random_state = int(seed)
        x = self._vectors(spec.x_train, seed)
        self.mixture.fit(x)
        self.save(run_dir)
        plots.loglik_curve(
            self.mixture.history_,
            os.path.join(run_dir, "loglik.png"),
            title=f"EM on {spec.name}: K={self.cfg.components}, {self.cfg.covariance_type}",
        )
        self.write_figures(spec, run_dir)
        return {"loglik": list(self.mixture.history_)}

    def write_figures(self, spec, out_dir) -> list[str]:
        """Draws the fitted ellipses over the test data (2-D data only)."""
        from genkeras import plots

        if self.num_dims != 2 or self.levels is not None:
            return []
        plots.gmm_ellipses(
            spec.x_test,
            self.mixture.weights_,
            self.mixture.means_,
            self.mixture._full_covs,
            os.path.join(out_dir, "ellipses.png"),
            centers=spec.extras.get("centers"),
            title=f"{self.cfg.components}-component GMM on {spec.name}",
        )
        return ["ellipses.png"]

    def evaluation_metrics(self, spec, batch_size: int = 256) -> dict[str, float]:
        """Test and train mean log-likelihood, NLL, BIC and AIC.

        ``nll_nats`` is ``-test_loglik`` (nats per example). For discrete data
        it is the dequantized bound and ``bits_per_dim`` is added; for
        continuous data bits per dimension of a density is not reported.
        """
        del batch_size
        x_test = self._vectors(spec.x_test, 1)
        x_train = self._vectors(spec.x_train, 2)
        test_ll = self.mixture.score(x_test)
        metrics = {
            "test_loglik": test_ll,
            "nll_nats": -test_ll,
            "train_loglik": self.mixture.score(x_train),
            "bic": self.mixture.bic(x_train),
            "aic": self.mixture.aic(x_train),
            "em_iterations": float(self.mixture.n_iter_),
            "converged": float(self.mixture.converged_),
        }
        if self.levels is not None:
            metrics["bits_per_dim"] = -test_ll / (self.num_dims * math.log(2.0))
        return metrics

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draws ``n`` examples of shape ``(n, *data_shape)`` (levels for discrete data)."""
        x = self.mixture.sample(n, seed=seed)
        if self.levels is not None:
            x = np.clip(np.floor(x), 0, self.levels - 1).astype(np.int32)
        return x.reshape((int(n),) + self.data_shape)

    def save(self, run_dir) -> str:
        """Writes ``model.npz`` (parameters, history and the family config) into ``run_dir``."""
        extra = {
            "data_shape": list(self.data_shape),
            "levels": self.levels,
            "num_classes": self.num_classes,
            "config": dataclasses.asdict(self.cfg),
        }
        return self.mixture.save(os.path.join(run_dir, self.MODEL_FILE), extra=extra)

    @classmethod
    def load_run(cls, run_dir) -> GMMFamily:
        """Loads the fitted family from ``run_dir/model.npz``.

        Raises:
            FileNotFoundError: If the run has no ``model.npz``.
        """
        path = os.path.join(run_dir, cls.MODEL_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run_dir}: no {cls.MODEL_FILE} (did the run finish?).")
        mixture = GaussianMixture.load(path)
        extra = mixture.saved_extra_
        family = cls(
            extra["data_shape"],
            levels=extra["levels"],
            config=extra["config"],
            num_classes=extra["num_classes"],
        )
        family.mixture = mixture
        return family
