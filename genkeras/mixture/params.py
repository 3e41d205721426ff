"""The parameters of a :class:`~genkeras.mixture.GaussianMixture` as NumPy values.

Two kinds of helpers the estimator uses outside TensorFlow:

* :func:`check_weights`, :func:`check_means` and :func:`initial_covariances`
  check a user's starting parameters with scikit-learn's messages (the
  constructor arguments themselves are checked by the estimator's
  ``_parameter_constraints`` in ``fit``);
* :func:`precision_matrices` gives scikit-learn's ``precisions_`` and
  ``precisions_cholesky_``;
* :func:`full_covariances` and :func:`typed_covariances` convert between
  scikit-learn's covariance shapes per ``covariance_type`` (``full``
  ``(K, D, D)``, ``tied`` ``(D, D)``, ``diag`` ``(K, D)``, ``spherical``
  ``(K,)``) and the ``(K, D, D)`` matrices that EM (:mod:`genkeras.mixture.em`) and
  the TFP distribution work with.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "check_means",
    "check_weights",
    "full_covariances",
    "initial_covariances",
    "precision_matrices",
    "typed_covariances",
]

#: scikit-learn's covariance structures.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: How EM is initialised (scikit-learn's ``init_params``).
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def check_weights(weights, k):
    """scikit-learn's checks of ``weights_init``: shape ``(k,)``, in ``[0, 1]``, summing to 1."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of ({k},), but got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0.0) or np.any(w > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(w):.5f}, min value {np.min(w):.5f}"
        )
    if not np.allclose(np.abs(1.0 - np.sum(w)), 0.0, atol=1e-6):
        raise ValueError(
            f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(w):.5f}"
        )
    return w


def check_means(means, k, d):
    """scikit-learn's check of ``means_init``: shape ``(k, d)`` (and finite)."""
    m = np.asarray(means, dtype=np.float64)
    if m.shape != (k, d):
        raise ValueError(
            f"The parameter 'means' should have the shape of {(k, d)}, but got {m.shape}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("The parameter 'means' should be finite. Received: NaN or inf")
    return m


def _check_positive_definite(full, name, cov_type):
    """Raises scikit-learn's message unless every ``(D, D)`` matrix of ``full`` is SPD."""
    if not np.all(np.isfinite(full)):
        raise ValueError(f"'{name}' should be finite. Received: NaN or inf")
    if cov_type in ("diag", "spherical"):
        if np.any(np.diagonal(full, axis1=1, axis2=2) <= 0.0):
            raise ValueError(f"'{name}' should be positive")
        return
    for matrix in full:
        if not np.allclose(matrix, matrix.T) or np.any(np.linalg.eigvalsh(matrix) <= 0.0):
            raise ValueError(f"'{name}' should be symmetric, positive-definite")


def initial_covariances(precisions, covariances, cov_type, k, d):
    """The ``(K, D, D)`` starting covariances from ``precisions_init`` or ``covariances_init``.

    Returns ``None`` when neither is given. Each is checked up front (shape,
    then symmetric positive definite, with scikit-learn's messages), so a bad
    start is refused before EM runs.
    """
    if precisions is not None and covariances is not None:
        raise ValueError(
            "Give precisions_init or covariances_init, not both. "
            "Received: precisions_init and covariances_init"
        )
    if precisions is None and covariances is None:
        return None
    name = "precision" if precisions is not None else "covariance"
    given = precisions if precisions is not None else covariances
    full = full_covariances(given, cov_type, k, d, name)
    _check_positive_definite(full, f"{cov_type} {name}", cov_type)
    if precisions is None:
        return full
    return np.linalg.inv(full)


def precision_matrices(full, cov_type):
    """scikit-learn's ``precisions_`` and ``precisions_cholesky_`` from ``(K, D, D)`` covariances.

    ``precisions_cholesky_`` holds, for full/tied, the upper-triangular ``U``
    with ``precision = U U^T`` (``U = L^{-T}``, ``Sigma = L L^T``); for
    diag/spherical, ``1 / sqrt(variance)``. Both come in the per-type shape.
    """
    full = np.asarray(full, dtype=np.float64)
    if cov_type in ("diag", "spherical"):
        var = typed_covariances(full, cov_type)
        return 1.0 / var, 1.0 / np.sqrt(var)
    eye = np.eye(full.shape[-1])
    chol = np.linalg.cholesky(full)  # (K, D, D) lower
    prec_chol = np.swapaxes(np.linalg.solve(chol, np.broadcast_to(eye, full.shape)), 1, 2)
    precisions = prec_chol @ np.swapaxes(prec_chol, 1, 2)
    return typed_covariances(precisions, cov_type), typed_covariances(prec_chol, cov_type)


def full_covariances(covariances, cov_type, k, d, name="covariance"):
    """Converts scikit-learn-shaped covariances (or precisions: ``name``) to ``(K, D, D)``."""
    c = np.asarray(covariances, dtype=np.float64)
    expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[cov_type]
    if c.shape != expected:
        raise ValueError(
            f"The parameter '{cov_type} {name}' should have the shape of {expected}, "
            f"but got {c.shape}"
        )
    if cov_type == "full":
        return c
    if cov_type == "tied":
        return np.broadcast_to(c, (k, d, d)).copy()
    if cov_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return c[:, None, None] * np.eye(d)[None]


def typed_covariances(full, cov_type):
    """Converts ``(K, D, D)`` matrices to scikit-learn's per-type shape."""
    if cov_type == "full":
        return full
    if cov_type == "tied":
        return full[0]
    diag = np.diagonal(full, axis1=1, axis2=2)
    if cov_type == "diag":
        return diag.copy()
    return diag[:, 0].copy()
