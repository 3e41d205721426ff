"""Gaussian mixtures fitted by EM: the numeric core and the scikit-learn estimator.

* :mod:`~genkeras.mixture.em` -- expectation-maximisation as TensorFlow graph
  code, the one EM behind both front-ends;
* :mod:`~genkeras.mixture.estimator` -- :class:`GaussianMixture`, a
  scikit-learn estimator (``check_estimator`` passes) with scikit-learn's
  parameters, attributes and exceptions (``NotFittedError`` is
  ``sklearn.exceptions.NotFittedError``);
* :mod:`~genkeras.mixture.params` -- parameter checks and covariance shapes in NumPy.

The ``gmm`` model family (:class:`genkeras.models.gmm.GMM`) trains the same EM
one iteration per epoch. Nothing here imports :mod:`genkeras.models`.


Importing this package does not import TensorFlow (the estimator is imported on
first use of :class:`GaussianMixture`), so the ``gmm`` family's config can use
:data:`COVARIANCE_TYPES` before TensorFlow starts.
"""

from genkeras.mixture.params import COVARIANCE_TYPES, INIT_METHODS

__all__ = ["COVARIANCE_TYPES", "INIT_METHODS", "GaussianMixture", "NotFittedError"]


def __getattr__(name):
    if name in ("GaussianMixture", "NotFittedError"):
        from genkeras.mixture import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'genkeras.mixture' has no attribute {name!r}")
