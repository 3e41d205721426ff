"""What a run folder holds, and the file-level operations on it.

A run folder (``genkeras run ... --out RUN``) holds the run's own files,
:data:`RUN_FILES`, the per-epoch sample grids ``samples/epoch-NNN.png`` and the
family's figures, which ``config.json`` lists. It may hold the user's files
too: :func:`clear_run_files` (``--overwrite``) and :func:`remove_unstarted` (a
run that failed before its first checkpoint) remove the run's files and
nothing else. TensorFlow is not imported here, so these checks run before it
loads.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import json
import os
import shutil
import zipfile

from genkeras import data as data_lib
from genkeras import registry
from genkeras.errors import RunFolderError
from genkeras.evaluation.classifier import CLASSIFIER_FILE
from genkeras.run import checkpoint as ckpt
from genkeras.run.config import CONFIG_FILE, RunRecord

__all__ = [
    "LEGACY_FILES",
    "LOCK_FILE",
    "RUN_FILES",
    "check_out",
    "check_path",
    "clear_run_files",
    "is_finished",
    "locked",
    "named_os_errors",
    "unfinished",
    "load_run",
    "new_run_dir",
    "read_history",
    "remove_unstarted",
]

#: Files and folders every run writes (``samples/`` only holds ``epoch-NNN.png``).
RUN_FILES = (
    CONFIG_FILE,
    "history.csv",
    "metrics.json",
    "model.keras",
    "model.tmp.keras",
    "samples.png",
    "curves.png",
    ckpt.CHECKPOINT,
    ckpt.CHECKPOINT + ".tmp",
    ckpt.CHECKPOINT + ".old",
    "tensorboard",
    CLASSIFIER_FILE,  # the evaluation's cached classifier (GAN on labelled images)
)
#: Held (``flock``) by the process writing a run folder, and removed when it is done.
LOCK_FILE = ".genkeras-lock"
#: What genkeras 0.1.0 runs wrote besides RUN_FILES (their config.json lists no files).
LEGACY_FILES = (
    "reconstructions.png",
    "manifold.png",
    "latent.png",
    "receptive_field.png",
    "ring.png",
    "grid.png",
    "modes.png",
    "snapshots.png",
    "ellipses.png",
    "loglik.png",
    "model.npz",
)


def new_run_dir(model: str, root: str = "runs") -> str:
    """Returns ``root/<model>-<UTC timestamp>`` (suffixed if it exists)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{model}-{stamp}")
    path, i = base, 1
    while os.path.exists(path):
        i += 1
        path = f"{base}-{i}"
    return path


def check_out(out: str, overwrite: bool) -> None:
    """Refuses an ``--out`` that is a file, or a non-empty folder without ``overwrite``.

    Raises:
        FileExistsError: Naming the folder and the options that would accept it.
    """
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise FileExistsError(f"--out {out} exists and is not a folder.")
        if [n for n in os.listdir(out) if n != LOCK_FILE] and not overwrite:
            raise FileExistsError(
                f"--out {out} exists and is not empty; pass --overwrite to replace its run "
                "files or --resume to continue it."
            )


def clear_run_files(out: str) -> None:
    """Removes the files a run wrote into ``out`` -- and nothing else of the folder.

    The run's own files are :data:`RUN_FILES`, ``samples/epoch-*.png`` and the
    family files its ``config.json`` lists (for runs of genkeras 0.1.0, which
    listed none, the files those versions wrote).
    """
    try:
        family_files = RunRecord.read(out).files or list(LEGACY_FILES)
    except (FileNotFoundError, ValueError):
        family_files = list(LEGACY_FILES)
    for name in (*RUN_FILES, *family_files):
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)
    samples = os.path.join(out, "samples")
    if os.path.isdir(samples):
        for name in os.listdir(samples):
            if name.startswith("epoch-") and name.endswith(".png"):
                os.remove(os.path.join(samples, name))
        if not os.listdir(samples):
            os.rmdir(samples)


def remove_unstarted(out: str, new_folder: bool) -> None:
    """Removes what a run that failed before its first checkpoint wrote into ``out``.

    Args:
        out: The run folder.
        new_folder: Whether the run created ``out`` (then it goes entirely);
            otherwise only the run's files go (:func:`clear_run_files`).
    """
    if new_folder:
        shutil.rmtree(out, ignore_errors=True)
    else:
        clear_run_files(out)


def _broken(path: str) -> str | None:
    """Why the file at ``path`` cannot be what the run wrote (``None``: it is complete)."""
    if not os.path.isfile(path):
        return "missing"
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()  # reads every member: a CRC error shows
            return f"damaged member {bad}" if bad else None
        if path.endswith(".png"):
            with open(path, "rb") as f:
                head = f.read(8)
                f.seek(max(os.path.getsize(path) - 12, 0))
                tail = f.read()
            complete = head == b"\x89PNG\r\n\x1a\n" and b"IEND" in tail
            return None if complete else "not a complete PNG"
        if path.endswith(".json"):
            with open(path) as f:
                json.load(f)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        return f"unreadable ({type(exc).__name__})"
    return None


def unfinished(out: str) -> list[str]:
    """What keeps ``out`` from being a finished run: ``["model.keras: missing", ...]``.

    A run is finished when ``metrics.json`` (written last), ``config.json``,
    ``history.csv`` and ``model.keras`` are there and every file its
    ``config.json`` lists was written and reads back (a ``.keras`` archive's
    checksums, a PNG's end, a JSON file's syntax). Runs of genkeras 0.1.0,
    whose ``config.json`` lists no files, need ``metrics.json`` and a
    readable ``model.keras``.
    """
    try:
        promised = RunRecord.read(out).files
    except (FileNotFoundError, ValueError):
        promised = []
    names = ["metrics.json", CONFIG_FILE, "model.keras", *promised]
    if promised:
        names.append("history.csv")
    problems = []
    for name in dict.fromkeys(names):
        why = _broken(os.path.join(out, name))
        if why:
            problems.append(f"{name}: {why}")
    return problems


def is_finished(out: str) -> bool:
    """Whether ``out`` holds a finished run (see :func:`unfinished`)."""
    return not unfinished(out)


@contextlib.contextmanager
def locked(out: str):
    """Holds the run folder's lock while the block writes it.

    The lock is an ``flock`` on ``out/.genkeras-lock``, which the operating
    system releases when the process ends, however it ends (a kill -9 leaves
    no stale lock behind). Creates ``out`` if needed.

    Raises:
        genkeras.errors.RunFolderError: If another process holds it.
    """
    import fcntl

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            raise RunFolderError(
                f"{out} is being written by another genkeras run (process {holder}); wait "
                "for it to finish, or choose another --out."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # before the unlock: a waiting writer finds no stale file
    finally:
        os.close(fd)


@contextlib.contextmanager
def named_os_errors(out: str):
    """Re-raises an ``OSError`` of the block with the path and errno in its one line.

    A write that fails for lack of space (``ENOSPC``) often names no file;
    the user needs to know where, and that the run is not finished.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno is None or isinstance(exc, (FileExistsError, FileNotFoundError)):
            raise
        where = exc.filename or out
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        raise OSError(
            exc.errno,
            f"{where}: {exc.strerror or exc} ({name}). The run folder {out} is not "
            "finished; free the space (or fix the cause) and complete it with --resume",
        ) from None


def check_path(path: str, what: str) -> None:
    """Refuses a path the file system cannot hold (a name or the whole path too long).

    Checked before anything is created, so a refused ``--out`` leaves no folder behind.

    Raises:
        ValueError: Naming the option, the limit and the part that exceeds it.
    """
    absolute = os.path.abspath(path)
    parent = absolute
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
        path_max = os.pathconf(parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    if len(absolute.encode()) >= path_max:
        raise ValueError(
            f"{what} {path[:60]}...: the path is {len(absolute.encode())} bytes long; this "
            f"file system allows {path_max - 1}."
        )
    for part in absolute.split(os.sep):
        if len(part.encode()) > name_max:
            raise ValueError(
                f"{what} {path[:60]}...: the name {part[:40]}... is {len(part.encode())} bytes "
                f"long; this file system allows {name_max} per name."
            )


def read_history(path: str) -> dict[str, list[float]]:
    """Reads ``history.csv`` into ``{metric: [values per epoch]}``."""
    history: dict[str, list[float]] = {}
    if not os.path.exists(path):
        return history
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key == "epoch" or value in (None, ""):
                    continue
                history.setdefault(key, []).append(float(value))
    return history


def load_run(run_dir: str):
    """Loads a finished run: ``(model, spec, record)``.

    (Also ``genkeras.run.lifecycle.load_run``.) The model comes from the family's
    :meth:`~genkeras.models.base.GenerativeModel.load_saved` (``model.keras``
    with ``safe_mode=True``: no code from the file is executed).

    Raises:
        FileNotFoundError: If the folder, its ``config.json`` or its model is missing.
    """
    from genkeras.run.runtime import import_tensorflow

    record = RunRecord.read(run_dir)  # a missing folder is refused before TensorFlow loads
    import_tensorflow()  # quietly, before the family's module imports it
    family = registry.models.get(record.model)
    run = record.run.resolved(family.config_class.run_defaults)
    spec = data_lib.load(run.dataset, levels=run.levels, binarize=run.binarize)
    # `family` was imported above by the registry, which registered its classes
    # with Keras's serialization, so safe-mode loading can find them.
    return family.load_saved(run_dir), spec, record
