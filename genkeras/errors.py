"""The errors genkeras raises on purpose, and how the command line reports each kind.

Library code raises ``ValueError`` for an invalid option or argument (the
Keras convention, ``"... Received: name=value"``) and the types below for
what is not the caller's typo. :data:`EXIT_CODES` is the command line's one
mapping from an exception's type to its exit code: 2 for usage errors
(click's convention), 1 for everything else; an exception of no listed type
is a bug and keeps its traceback.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "PluginError",
    "RunFolderError",
    "TrainingDivergedError",
    "UnwritablePathError",
    "WorkerLostError",
    "exit_code",
]


class TrainingDivergedError(RuntimeError):
    """Training failed numerically: a loss became NaN or infinite, or EM broke down."""


class WorkerLostError(RuntimeError):
    """Another worker of a multi-worker run stopped responding."""


class PluginError(RuntimeError):
    """A plugin's component failed in use; the message names the plugin and what changed."""


class RunFolderError(ValueError):
    """A run folder's files cannot be read: corrupt, incomplete, or not what config.json says."""


class UnwritablePathError(OSError):
    """A path the user named (``--out``, ``-o``) cannot be written."""


def _table():
    from genkeras.data import DataError
    from genkeras.registry import UnknownNameError

    # Most specific first: the first type the exception is an instance of decides.
    return (
        (UnknownNameError, 2),
        (DataError, 1),
        (RunFolderError, 1),
        (UnwritablePathError, 2),
        (FileExistsError, 2),
        (FileNotFoundError, 1),
        (TrainingDivergedError, 1),
        (WorkerLostError, 1),
        (PluginError, 1),
        (ImportError, 1),
        (ValueError, 2),
        (OSError, 1),
    )


#: ``(exception type, exit code)`` pairs, most specific first (built on first use).
EXIT_CODES: tuple = ()


def exit_code(exc: BaseException) -> int | None:
    """The command line's exit code for ``exc``, or ``None`` if it is not an expected error."""
    global EXIT_CODES
    if not EXIT_CODES:
        EXIT_CODES = _table()
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None
