"""Importing TensorFlow quietly, once, when a command needs it.

TensorFlow's C++ runtime logs CUDA probes and oneDNN notices on file
descriptor 2 before its log level can apply. :func:`import_tensorflow`
captures that output and shows it only if the import fails, so the CLI's
output stays readable. Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["import_tensorflow"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stderr_to_buffer():
    """Sends the process's file descriptor 2 to a temporary file for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield buf
        except BaseException:
            os.dup2(saved, 2)
            buf.seek(0)
            sys.stderr.write(buf.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Imports TensorFlow and initialises its devices with the start-up noise silenced."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _stderr_to_buffer():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf
