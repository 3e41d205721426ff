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

import csv
import datetime
import os
import shutil
import zipfile

from genkeras import data as data_lib
from genkeras import registry
from genkeras.evaluation.classifier import CLASSIFIER_FILE
from genkeras.run import checkpoint as ckpt
from genkeras.run.config import CONFIG_FILE, RunRecord

__all__ = [
    "LEGACY_FILES",
    "RUN_FILES",
    "check_out",
    "clear_run_files",
    "is_finished",
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
        if os.listdir(out) and not overwrite:
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


def is_finished(out: str) -> bool:
    """Whether ``out`` holds a finished run (metrics and a readable ``model.keras``)."""
    model = os.path.join(out, "model.keras")
    return os.path.exists(os.path.join(out, "metrics.json")) and zipfile.is_zipfile(model)


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
