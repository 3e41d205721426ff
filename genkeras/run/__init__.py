"""The run machinery: one lifecycle from a model name and options to a finished run folder.

``genkeras run MODEL``, the Python API, the examples and the benchmarks all go
through :func:`run` (:mod:`genkeras.run.lifecycle`)::

    from genkeras.run import run
    result = run("vae", epochs=5, options={"latent_dim": 2})

The modules, by responsibility:

* :mod:`~genkeras.run.config` -- :class:`RunConfig` (every common run option,
  once) and what ``config.json`` holds;
* :mod:`~genkeras.run.options` -- option fields as data, checked in one place
  and turned into click options;
* :mod:`~genkeras.run.plan` -- a run resolved and validated before anything is built;
* :mod:`~genkeras.run.lifecycle` -- build, fit, evaluate, write;
* :mod:`~genkeras.run.callbacks` -- the Keras callbacks every run gets;
* :mod:`~genkeras.run.checkpoint` -- atomic checkpoints of the full state;
* :mod:`~genkeras.run.folder` -- what a run folder holds;
* :mod:`~genkeras.run.distribute` -- ``tf.distribute`` strategies on Keras's ``fit``;
* :mod:`~genkeras.run.runtime` -- the process side: TensorFlow imported quietly,
  progress output.

Importing this package does not import TensorFlow.
"""

# Resolved on first use (PEP 562), so that ``genkeras.run.options`` -- which the model
# configs import -- does not pull in the lifecycle, and the lifecycle the configs.
_EXPORTS = {
    "RunConfig": "genkeras.run.config",
    "RunPlan": "genkeras.run.plan",
    "RunResult": "genkeras.run.lifecycle",
    "TrainingDivergedError": "genkeras.run.lifecycle",
    "execute": "genkeras.run.lifecycle",
    "load_run": "genkeras.run.lifecycle",
    "plan_run": "genkeras.run.plan",
    "run": "genkeras.run.lifecycle",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genkeras.run' has no attribute {name!r}")
