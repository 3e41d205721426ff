"""How runs are scored: sample quality for every family, and the helpers behind it.

* :mod:`~genkeras.evaluation.samples` -- :func:`~genkeras.evaluation.samples.sample_quality`,
  what the runner and ``genkeras evaluate`` add to every family's own metrics;
* :mod:`~genkeras.evaluation.coverage` -- mode coverage on mixtures of
  Gaussians (the VEEGAN/PacGAN protocol) and a dataset's own scores;
* :mod:`~genkeras.evaluation.classifier` -- the project's per-dataset image
  classifier (trained offline, cached per user) and its class coverage.

A family's likelihoods and bounds are its own (``evaluation_metrics`` on
:class:`~genkeras.models.base.GenerativeModel`). Importing this package does
not import TensorFlow.
"""
