"""Expectation-maximisation for Gaussian mixtures as TensorFlow graph code.

The building blocks of :class:`genkeras.mixture.GaussianMixture` (the
scikit-learn-shaped estimator) and of the ``gmm`` model family
(:class:`genkeras.models.gmm.GMM`, whose ``train_step`` is one EM iteration).
Everything here runs inside ``tf.function``; see :mod:`genkeras.mixture` for
the mathematics of the E- and M-steps.

* :func:`prepare_parameters` -- ``(weights, means, covariances)`` to what the
  E-step needs (log weights, whitening matrices, log-determinants);
* :func:`e_step` -- log-likelihoods and responsibilities of one chunk;
* :func:`sufficient_statistics` and :func:`m_step` -- the statistics of a
  chunk and the closed-form update from their sums;
* :func:`data_pass` -- one streamed pass over an ``(N, D)`` tensor or a
  ``tf.data.Dataset`` of chunks;
* :func:`init_parameters` -- k-means++ / Lloyd or random-responsibility
  initialisation.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

__all__ = [
    "compiled_em",
    "compiled_score",
    "data_pass",
    "e_step",
    "init_parameters",
    "m_step",
    "prepare_parameters",
    "sufficient_statistics",
]

#: Lloyd iterations of the k-means initialisation.
KMEANS_ITERS = 10
LOG_2PI = math.log(2.0 * math.pi)


def prepare_parameters(weights, means, covs, cov_type):
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


def e_step(x, prepared, cov_type):
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


def sufficient_statistics(resp, diff, cov_type):
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


def m_step(nk_raw, s1, s2, centers, reg_covar, cov_type):
    """Closed-form M-step from statistics accumulated around ``centers`` (K, D).

    Mirrors scikit-learn: ``N_k`` gets ``10 * eps`` so an empty component
    does not divide by zero, and ``reg_covar`` is added to every variance.

    One addition: every variance (the diagonal of a covariance) is floored at
    ``variance_floor`` (``eps**2`` of the dtype). A component that
    collapses onto one point has variance ``reg_covar``; with ``reg_covar=0``
    that is ``0`` in exact arithmetic, and float32 rounds the tiny positive
    value scikit-learn's float64 keeps (its issue 18216) to exactly ``0`` or
    below, whose log-determinant is ``-inf``. The floor (``1.4e-14`` in
    float32, ``4.9e-32`` in float64) is far below any variance ``reg_covar``
    would give, so it changes nothing else.
    """
    dtype = centers.dtype
    floor = variance_floor(dtype)
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
        cov = _floor_diagonal(cov, floor)
    elif cov_type == "tied":
        scatter = s2 - nk[:, None, None] * shift[:, :, None] * shift[:, None, :]
        tied = tf.reduce_sum(scatter, axis=0) / tf.reduce_sum(nk)  # (D, D)
        tied = _floor_diagonal(0.5 * (tied + tf.transpose(tied)) + reg_covar * eye, floor)
        cov = tf.broadcast_to(tied[None], [k, d, d])
    elif cov_type == "diag":
        var = tf.maximum(s2 / nk[:, None] - tf.square(shift) + reg_covar, floor)  # (K, D)
        cov = tf.linalg.diag(var)
    else:  # spherical
        var = tf.reduce_mean(s2 / nk[:, None] - tf.square(shift), axis=-1) + reg_covar
        var = tf.maximum(var, floor)  # (K,)
        cov = var[:, None, None] * eye  # (K, D, D)
    return weights, means, cov


def variance_floor(dtype) -> float:
    """The smallest variance the M-step returns: ``eps**2`` of ``dtype`` (see :func:`m_step`)."""
    return float(np.finfo(tf.as_dtype(dtype).as_numpy_dtype).eps) ** 2


def _floor_diagonal(cov, floor):
    """``cov`` (``(..., D, D)``) with its diagonal raised to at least ``floor``."""
    diag = tf.linalg.diag_part(cov)
    return tf.linalg.set_diag(cov, tf.maximum(diag, floor))


def data_pass(source, chunk, prepared, centers, cov_type, dtype, with_stats=True):
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
        log_px, resp, diff = e_step(xc, prepared, cov_type)
        ll = ll + tf.reduce_sum(log_px)
        count = count + tf.cast(tf.shape(xc)[0], dtype)
        if with_stats:
            # Statistics around ``centers`` (= the current means; diff is reused).
            cn, c1, c2 = sufficient_statistics(resp, diff, cov_type)
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


def _signature(dtype, *shapes):
    return [tf.TensorSpec(shape, dtype) for shape in shapes]


def compiled_em(cov_type, dtype, streamed=False):
    """Returns the compiled EM loop (one ``tf.function`` holding a ``tf.while_loop``).

    One function per ``(covariance type, dtype, streamed)`` is shared by every
    estimator. For arrays its ``input_signature`` leaves every size ``None``
    (points, features, components, chunk), so fitting new sizes never
    retraces; a ``tf.data.Dataset`` (``streamed=True``) is traced per
    dataset structure with ``reduce_retracing``.
    """
    key = (cov_type, dtype, streamed)
    if key not in _EM_CACHE:
        # A partial has no ``__code__``: TensorFlow then counts this function's traces
        # on its own, not with every other (covariance type, dtype) built from the same
        # closure (whose one trace each would add up to a "retracing" warning).
        em = functools.partial(_make_em(cov_type, dtype))
        if streamed:
            _EM_CACHE[key] = tf.function(em, reduce_retracing=True)
        else:
            signature = [tf.TensorSpec([None, None], dtype), tf.TensorSpec([], tf.int32)]
            signature += _signature(dtype, [None], [None, None], [None, None, None])
            signature += [tf.TensorSpec([], tf.int32)] + _signature(
                dtype, [], [], []
            )  # tol, reg_covar, previous
            _EM_CACHE[key] = tf.function(em, input_signature=signature)
    return _EM_CACHE[key]


def compiled_score(cov_type, dtype):
    """Returns the compiled chunk E-step ``(x, w, m, c) -> (log p(x), resp (C, K))``."""
    key = (cov_type, dtype)
    if key not in _SCORE_CACHE:

        def score_chunk(xc, weights, means, covs):
            prepared = prepare_parameters(weights, means, covs, cov_type)
            log_px, resp, _ = e_step(xc, prepared, cov_type)
            return log_px, tf.transpose(resp)

        signature = _signature(dtype, [None, None], [None], [None, None], [None, None, None])
        _SCORE_CACHE[key] = tf.function(
            functools.partial(score_chunk), input_signature=signature
        )  # a partial: traces counted per function (see compiled_em)
    return _SCORE_CACHE[key]


def _make_em(cov_type, dtype):
    """Builds the EM loop (uncompiled; see :func:`compiled_em`)."""

    def em(source, chunk, weights, means, covs, max_iter, tol, reg_covar, previous):
        # ``previous``: the mean log-likelihood the start was scored at (``-inf`` for a
        # fresh start; a warm start's last lower bound), as scikit-learn's first change.
        history = tf.TensorArray(dtype, size=0, dynamic_size=True)

        def cond(i, w, m, c, prev, converged, hist):
            return tf.logical_and(i < max_iter, tf.logical_not(converged))

        def body(i, w, m, c, prev, converged, hist):
            prepared = prepare_parameters(w, m, c, cov_type)
            ll, count, nk, s1, s2 = data_pass(source, chunk, prepared, m, cov_type, dtype)
            mean_ll = ll / count  # before this M-step
            hist = hist.write(i, mean_ll)
            w, m, c = m_step(nk, s1, s2, m, reg_covar, cov_type)
            converged = tf.abs(mean_ll - prev) < tol
            return i + 1, w, m, c, mean_ll, converged, hist

        loop_vars = (
            tf.constant(0),
            weights,
            means,
            covs,
            previous,
            tf.constant(False),
            history,
        )
        n_iter, w, m, c, _, converged, history = tf.while_loop(cond, body, loop_vars)
        # Log-likelihood of the final parameters (scikit-learn's final E-step).
        prepared = prepare_parameters(w, m, c, cov_type)
        ll, count, *_ = data_pass(source, chunk, prepared, m, cov_type, dtype, with_stats=False)
        history = history.write(n_iter, ll / count)
        return w, m, c, n_iter, converged, history.stack()

    return em


def _kmeans_plus_plus(x, k, seed, with_indices=False):
    """k-means++ seeding in TF: each new centre is drawn with probability ~ D(x)^2.

    Returns the ``(k, D)`` centres, and their row indices in ``x`` if ``with_indices``.
    """
    n = tf.shape(x)[0]
    first = tf.random.stateless_uniform([], seed, maxval=n, dtype=tf.int32)
    indices = tf.TensorArray(tf.int32, size=k).write(0, first)
    best = tf.reduce_sum(tf.square(x - x[first]), axis=-1)  # (n,) squared distance

    def body(j, indices, best):
        logits = tf.math.log(tf.maximum(best, 1e-300 if x.dtype == tf.float64 else 1e-30))
        pick = tf.random.stateless_categorical(
            logits[None, :], 1, seed + tf.stack([0, j]), dtype=tf.int32
        )[0, 0]
        indices = indices.write(j, pick)
        best = tf.minimum(best, tf.reduce_sum(tf.square(x - x[pick]), axis=-1))
        return j + 1, indices, best

    _, indices, _ = tf.while_loop(lambda j, c, b: j < k, body, (tf.constant(1), indices, best))
    indices = indices.stack()  # (k,)
    centers = tf.gather(x, indices)  # (k, D)
    return (centers, indices) if with_indices else centers


def _assign(x, centers):
    """Nearest centre of every point, via ||x||^2 - 2 x.c + ||c||^2 as one matmul."""
    dist = tf.reduce_sum(tf.square(centers), axis=-1)[None, :] - 2.0 * tf.matmul(
        x, centers, transpose_b=True
    )  # (n, k) (+ ||x||^2 const)
    return tf.argmin(dist, axis=-1, output_type=tf.int32)  # (n,)


def init_parameters(x, k, method, seed, reg_covar, cov_type, iters=KMEANS_ITERS):
    """Initial ``(weights, means, covariances)``: responsibilities, then one M-step.

    The responsibilities follow scikit-learn's ``init_params``:

    * ``"kmeans"`` -- one-hot on the nearest centre after k-means++ seeding
      and ``iters`` Lloyd iterations;
    * ``"k-means++"`` -- one-hot on the k-means++ seeds only (one point per component);
    * ``"random"`` -- uniform random responsibilities, normalised;
    * ``"random_from_data"`` -- one-hot on ``k`` distinct random points.

    Args:
        x: ``(n, D)`` initialisation points.
        k: Number of components.
        method: One of :data:`genkeras.mixture.INIT_METHODS`.
        seed: ``(2,)`` int32 stateless seed.
        reg_covar: Diagonal regulariser.
        cov_type: Covariance type.
        iters: Lloyd iterations (``"kmeans"`` only).
    """
    dtype = x.dtype
    n = tf.shape(x)[0]
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
    elif method in ("k-means++", "random_from_data"):
        if method == "k-means++":
            _, picks = _kmeans_plus_plus(x, k, seed, with_indices=True)  # (k,)
        else:
            # k distinct indices: the k smallest of n random keys.
            keys = tf.random.stateless_uniform([n], seed, dtype=tf.float32)
            picks = tf.math.top_k(-keys, k).indices  # (k,)
        resp = tf.one_hot(picks, n, dtype=dtype)  # (k, n)
        centers = tf.gather(x, picks)  # (k, D)
    else:
        u = tf.random.stateless_uniform([n, k], seed, dtype=dtype)
        resp = tf.transpose(u / tf.reduce_sum(u, axis=1, keepdims=True))  # (k, n)
        centers = tf.broadcast_to(tf.reduce_mean(x, axis=0)[None], [k, tf.shape(x)[1]])
    diff = x[None, :, :] - centers[:, None, :]  # (k, n, D)
    nk, s1, s2 = sufficient_statistics(resp, diff, cov_type)
    return m_step(nk, s1, s2, centers, reg_covar, cov_type)
