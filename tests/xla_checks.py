"""XLA in tests: a context that lets Keras compile with ``jit_compile=True``.

``genkeras.run.lifecycle.build`` turns TensorFlow's op determinism on for CPU runs
without ``--jit``, and it stays on for the rest of the process. Keras then
quietly compiles ``jit_compile=True`` models *without* XLA (it warns "Model
doesn't support jit_compile=True"), so a test that means to check a step
under XLA must turn determinism off first -- and check that Keras kept XLA on.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def xla_enabled():
    """Turns op determinism off inside the block (restored afterwards)."""
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    if was_on:
        tf_config.disable_op_determinism()
    try:
        yield
    finally:
        if was_on:
            tf_config.enable_op_determinism()
