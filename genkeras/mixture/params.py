"""The parameters of a :class:`~genkeras.mixture.GaussianMixture` as NumPy values.

Two kinds of helpers the estimator uses outside TensorFlow:

* :func:`check_int` and :func:`check_params` validate its constructor
  arguments (and ``sample``'s), raising ``ValueError("... Received: name=value")``;
* :func:`full_covariances` and :func:`typed_covariances` convert between
  scikit-learn's covariance shapes per ``covariance_type`` (``full``
  ``(K, D, D)``, ``tied`` ``(D, D)``, ``diag`` ``(K, D)``, ``spherical``
  ``(K,)``) and the ``(K, D, D)`` matrices that EM (:mod:`genkeras.mixture.em`) and
  the TFP distribution work with.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "check_int",
    "check_params",
    "full_covariances",
    "typed_covariances",
]

#: scikit-learn's covariance structures.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: How EM is initialised.
INIT_METHODS = ("kmeans", "random")


def check_int(name, value, minimum):
    """Raises ``ValueError`` unless ``value`` is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")


def check_params(params: dict) -> None:
    """Validates the constructor arguments of a ``GaussianMixture`` (its ``locals()``)."""
    for name, minimum in (("n_components", 1), ("max_iter", 1), ("n_init", 1)):
        check_int(name, params[name], minimum)
    for name, valid in (
        ("covariance_type", COVARIANCE_TYPES),
        ("init", INIT_METHODS),
        ("dtype", ("float32", "float64")),
    ):
        if params[name] not in valid:
            raise ValueError(
                f"{name} must be one of {', '.join(valid)}. Received: {name}={params[name]!r}"
            )
    for name in ("tol", "reg_covar"):
        value = params[name]
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={value!r}")
    if params["batch_size"] is not None:
        check_int("batch_size", params["batch_size"], 1)
    names = ("weights_init", "means_init", "covariances_init")
    given = [params[n] is not None for n in names]
    if any(given) and not all(given):
        received = ", ".join(n for n, g in zip(names, given) if g)
        raise ValueError(
            "weights_init, means_init and covariances_init must be given "
            f"together. Received: {received} only"
        )
    if params["random_state"] is not None:
        check_int("random_state", params["random_state"], 0)


def full_covariances(covariances, cov_type, k, d):
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
