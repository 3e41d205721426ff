"""Atomic checkpoints of the full training state, and atomic JSON files.

A checkpoint is every model variable (weights, non-trainable state, seed
generator states) and every optimizer's variables (step counter and slots),
named by the model's :meth:`~genkeras.models.base.GenerativeModel.optimizer_slots`,
in ``run_dir/checkpoint/state.bin`` (raw bytes) with ``state.json`` beside it
saying what each array is (earlier versions wrote a ``state.npz``, still read).
Restoring it into a freshly built model gives exactly the state of the moment it was
saved -- including each optimizer's slots and step counter, which Keras's
``BackupAndRestore`` has been reported to miss (keras-team/keras#19389) -- so
a resumed run ends where an uninterrupted one does.

Every file here is written beside its final name and moved into place with
``os.replace``, so an interruption never leaves a half-written file.
:func:`check_writable` refuses a destination that cannot be written before any
work starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from genkeras.errors import UnwritablePathError

__all__ = [
    "CHECKPOINT",
    "check_writable",
    "has_checkpoint",
    "restore_checkpoint",
    "save_checkpoint",
    "write_json",
]

CHECKPOINT = "checkpoint"
#: The checkpoint's variables, their raw bytes one after another (``state.json``
#: lists each one's key, dtype and shape in order).
STATE_BIN = "state.bin"


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def write_json(path: str, obj: Any) -> None:
    """Writes ``obj`` as indented, key-sorted JSON, atomically (NumPy scalars allowed)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def check_writable(path: str, what: str, folder: bool = True) -> None:
    """Raises ``OSError`` naming ``path`` and the reason if it cannot be written.

    A folder that exists must accept a new file; a folder or file that does
    not exist yet must be creatable in its nearest existing parent. The check
    creates and removes a temporary entry there.

    Args:
        path: The destination.
        what: How the user named it in messages (``"--out"``, ``"-o"``).
        folder: Whether ``path`` is a folder (else a file).

    Raises:
        genkeras.errors.UnwritablePathError: ``"<what> <path>: cannot write there (<reason>)."``
    """
    target = os.path.abspath(path)
    probe_in = target if folder and os.path.isdir(target) else os.path.dirname(target)
    while not os.path.exists(probe_in):
        probe_in = os.path.dirname(probe_in)
    try:
        if not os.path.isdir(probe_in):
            raise NotADirectoryError(20, f"{probe_in} is not a folder")
        if not folder and os.path.isdir(target):
            raise IsADirectoryError(21, "it is a folder")
        shutil.rmtree(tempfile.mkdtemp(prefix=".genkeras-probe-", dir=probe_in))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnwritablePathError(f"{what} {path}: cannot write there ({reason}).") from None


def _slots(model):
    return [s for s in model.optimizer_slots() if s[1] is not None]


def build_optimizers(model) -> None:
    """Creates every optimizer's variables (slots) for the variables it updates."""
    for _, opt, var_list in _slots(model):
        if not opt.built:
            opt.build(var_list)


_READ = None


def read_values(variables) -> list[np.ndarray]:
    """The values of many Keras variables as NumPy arrays, read in one compiled call.

    Reading them one by one costs an eager op each (about 0.1 ms apiece, some
    ten milliseconds for a checkpoint's variables); one ``tf.function`` call
    returns them all. The function is traced once per list of shapes and dtypes.
    """
    global _READ
    if _READ is None:
        import tensorflow as tf

        _READ = tf.function(lambda handles: [tf.identity(h) for h in handles])
    handles = [getattr(v, "value", v) for v in variables]
    return [np.asarray(t, order="C") for t in _READ(handles)]  # 0-d arrays stay 0-d


def save_checkpoint(model, run_dir: str, epoch: int) -> None:
    """Atomically saves the full training state after ``epoch`` epochs.

    The folder is written beside the old one and swapped in with renames, so an
    interruption never leaves a half-written checkpoint.

    Args:
        model: A :class:`~genkeras.models.base.GenerativeModel`.
        run_dir: The run folder.
        epoch: Epochs completed.
    """
    build_optimizers(model)
    keys = [f"model/{i}" for i in range(len(model.variables))]
    variables = list(model.variables)
    meta = {"epoch": int(epoch), "model_variables": len(model.variables), "optimizers": {}}
    for name, opt, _ in _slots(model):
        meta["optimizers"][name] = len(opt.variables)
        keys += [f"{name}/{i}" for i in range(len(opt.variables))]
        variables += list(opt.variables)
    values = read_values(variables)  # C-ordered: their bytes are written as they lie
    meta["arrays"] = [[key, a.dtype.str, list(a.shape)] for key, a in zip(keys, values)]
    final = os.path.join(run_dir, CHECKPOINT)
    tmp, old = final + ".tmp", final + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(tmp, STATE_BIN), "wb") as f:  # raw bytes: no zip, no CRC pass
        for a in values:
            f.write(a.data)
    write_json(os.path.join(tmp, "state.json"), meta)  # last: it marks the folder complete
    if os.path.exists(final):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _checkpoint_folder(run_dir: str) -> str | None:
    folder = os.path.join(run_dir, CHECKPOINT)
    for candidate in (folder, folder + ".old"):  # .old: interrupted between the two renames
        if os.path.exists(os.path.join(candidate, "state.json")):
            return candidate
    return None


def has_checkpoint(run_dir: str) -> bool:
    """Whether ``run_dir`` holds a checkpoint to resume from."""
    return _checkpoint_folder(run_dir) is not None


@contextlib.contextmanager
def _load_arrays(folder: str, meta: dict):
    """The saved arrays by key: ``state.bin`` as ``meta["arrays"]`` lays it out, or the
    ``state.npz`` of a checkpoint written by an earlier version."""
    if "arrays" not in meta:
        with np.load(os.path.join(folder, "state.npz")) as arrays:
            yield arrays
        return
    with open(os.path.join(folder, STATE_BIN), "rb") as f:
        raw = f.read()
    sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for _, dtype, shape in meta["arrays"]]
    if sum(sizes) != len(raw):
        raise ValueError(
            f"{folder}: {STATE_BIN} has {len(raw)} bytes, state.json says {sum(sizes)}."
        )
    arrays, offset = {}, 0
    for (key, dtype, shape), size in zip(meta["arrays"], sizes):
        array = np.frombuffer(raw, np.dtype(dtype), size // np.dtype(dtype).itemsize, offset)
        arrays[key] = array.reshape(tuple(shape))
        offset += size
    yield arrays


def restore_checkpoint(model, run_dir: str) -> int:
    """Restores the state saved by :func:`save_checkpoint`; returns the epoch reached.

    Raises:
        FileNotFoundError: If the run folder has no checkpoint.
        ValueError: If the checkpoint does not match the model's variables.
    """
    folder = _checkpoint_folder(run_dir)
    if folder is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from.")
    with open(os.path.join(folder, "state.json")) as f:
        meta = json.load(f)
    build_optimizers(model)
    with _load_arrays(folder, meta) as arrays:
        if meta["model_variables"] != len(model.variables):
            raise ValueError(
                f"{run_dir}: checkpoint has {meta['model_variables']} model variables, the "
                f"rebuilt model has {len(model.variables)}; was config.json edited?"
            )
        for i, v in enumerate(model.variables):
            v.assign(arrays[f"model/{i}"])
        for name, opt, _ in _slots(model):
            count = meta["optimizers"].get(name)
            if count != len(opt.variables):
                raise ValueError(
                    f"{run_dir}: checkpoint has {count} variables for optimizer {name!r}, "
                    f"the rebuilt one has {len(opt.variables)}."
                )
            for i, v in enumerate(opt.variables):
                v.assign(arrays[f"{name}/{i}"])
    return int(meta["epoch"])
