"""The process's side of a command: TensorFlow imported quietly, progress bars.

TensorFlow's C++ runtime logs CUDA probes and oneDNN notices on file
descriptor 2 before its log level can apply. :func:`import_tensorflow`
captures that output and shows it only if the import fails, so the CLI's
output stays readable.

:func:`progress` wraps a loop that may take more than a couple of seconds
(the IWAE bound, for example) in a Keras progress bar. Bars are off in
library use and on in the CLI (``--quiet`` turns them off), see
:func:`show_progress`.

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["check_cache", "import_tensorflow", "progress", "show_progress"]

_PROGRESS = {"on": False}

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


def show_progress(on: bool) -> None:
    """Turns the progress bars of :func:`progress` on or off for this process."""
    _PROGRESS["on"] = bool(on)


def progress(iterable, total: int, label: str):
    """Yields from ``iterable``, drawing a Keras progress bar of ``total`` steps if bars are on.

    Bars are drawn only when standard error is a terminal (a log file would
    keep every redraw).

    Args:
        iterable: The loop's items.
        total: How many items it yields.
        label: What is being computed (printed before the bar).
    """
    if not _PROGRESS["on"] or total <= 1 or not sys.stderr.isatty():
        yield from iterable  # a bar redraws itself: only on a terminal
        return
    import keras

    print(label, file=sys.stderr, flush=True)
    bar = keras.utils.Progbar(total)
    for i, item in enumerate(iterable):
        yield item
        bar.update(i + 1)


def check_cache() -> None:
    """Refuses a ``GENKERAS_CACHE`` that cannot hold the caches (the classifiers), up front.

    Unset, the cache is ``~/.cache/genkeras`` and created when needed.

    Raises:
        ValueError: If it is set to a file, or to a folder that cannot be created or written.
    """
    root = os.environ.get("GENKERAS_CACHE")
    if not root:
        return
    from genkeras.run.checkpoint import check_writable

    if os.path.exists(root) and not os.path.isdir(root):
        raise ValueError(
            f"GENKERAS_CACHE={root} is a file; point it at a folder (genkeras keeps the "
            "sample-quality classifiers there), or unset it for ~/.cache/genkeras."
        )
    try:
        check_writable(root, "GENKERAS_CACHE")
    except OSError as exc:
        raise ValueError(f"{exc} Point it at a folder you can write, or unset it.") from None
