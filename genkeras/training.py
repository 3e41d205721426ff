"""The one path from a model name and options to a finished run folder.

:func:`run` is what ``genkeras run MODEL`` calls, and what the examples, the
benchmarks and the tests call directly. It

1. validates every option and loads (and validates) the data *before*
   anything is written;
2. seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and,
   on a CPU-only machine, turns on TensorFlow's op determinism, so the same
   seed gives the same history;
3. builds the model from the registry under the chosen ``tf.distribute``
   strategy and compiles it (``jit_compile`` optional);
4. fits it with Keras's progress bar and these callbacks: CSV history, a
   per-epoch sample grid, ``TerminateOnNaN`` (reported as a clear error), and
   an atomic per-epoch checkpoint holding every model variable (weights, seed
   generator state) and every optimizer's state;
5. writes ``model.keras``, ``config.json``, ``history.csv``, ``metrics.json``,
   ``samples.png``, ``curves.png`` and the family's own figures.

Resuming (``resume=RUN_DIR``) rebuilds the model from ``config.json``,
restores the last checkpoint -- including each optimizer's slots and step
counter, which Keras's ``BackupAndRestore`` has been reported to miss
(keras-team/keras#19389) -- and continues from the next epoch. The data
pipeline's order is a stateless function of ``(seed, epoch)``, so a resumed run
ends exactly where an uninterrupted one does.

Run folder layout::

    runs/vae-20261125-130501/
      config.json      everything needed to rebuild and resume the run
      history.csv      one row per epoch (train and val_ metrics)
      metrics.json     the family's test metrics after training
      model.keras      the trained model (loads with safe_mode on)
      samples.png      samples after the last epoch (samples/epoch-NNN.png per epoch)
      curves.png       training curves
      checkpoint/      the last epoch's full training state (for --resume)
      ...              the family's figures (reconstructions.png, manifold.png, ...)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from genkeras import data as data_lib
from genkeras import registry

__all__ = [
    "RunResult",
    "TrainingDivergedError",
    "run",
    "learning_rate_schedule",
    "load_run",
    "STRATEGIES",
    "make_strategy",
    "new_run_dir",
]

STRATEGIES = ("default", "mirrored", "multiworker")
CHECKPOINT = "checkpoint"


class TrainingDivergedError(RuntimeError):
    """Raised when the loss became NaN or infinite; the run folder keeps the last checkpoint."""


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes:
        run_dir: The run folder.
        model: The trained model (a ``keras.Model`` or an estimator).
        history: Metric name to per-epoch values (all epochs, resumed ones included).
        metrics: The family's test metrics (as in ``metrics.json``).
        config: The run's configuration (as in ``config.json``).
    """

    run_dir: str
    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    config: dict[str, Any]


# -- small file helpers ---------------------------------------------------------------
def _write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


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


def new_run_dir(model: str, root: str = "runs") -> str:
    """Returns ``root/<model>-<UTC timestamp>`` (suffixed if it exists)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{model}-{stamp}")
    path, i = base, 1
    while os.path.exists(path):
        i += 1
        path = f"{base}-{i}"
    return path


# -- strategies -------------------------------------------------------------------------
def make_strategy(name: str):
    """Returns the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``"default"`` (no distribution), ``"mirrored"`` (all local
            devices; synchronous data parallelism) or ``"multiworker"``
            (``MultiWorkerMirroredStrategy``, configured by ``TF_CONFIG``; with
            no ``TF_CONFIG`` it is a single worker).

    Raises:
        ValueError: For another name.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"strategy must be one of {', '.join(STRATEGIES)}. Received: strategy={name!r}"
    )


# -- checkpoints ----------------------------------------------------------------------
def _optimizer_slots(model):
    slots = getattr(model, "optimizer_slots", None)
    if slots is None:
        return [("optimizer", model.optimizer, model.trainable_variables)]
    return [s for s in slots() if s[1] is not None]


def _build_optimizers(model) -> None:
    for _, opt, var_list in _optimizer_slots(model):
        if not opt.built:
            opt.build(var_list)


def save_checkpoint(model, run_dir: str, epoch: int) -> None:
    """Atomically saves the full training state after ``epoch`` epochs.

    The state is every model variable (weights, non-trainable state, seed
    generator states) and every optimizer variable (step counter and slots),
    in ``run_dir/checkpoint/state.npz``, plus ``state.json`` with the epoch.
    The folder is written beside the old one and swapped in with renames, so an
    interruption never leaves a half-written checkpoint.
    """
    _build_optimizers(model)
    arrays = {f"model/{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    meta = {"epoch": int(epoch), "model_variables": len(model.variables), "optimizers": {}}
    for name, opt, _ in _optimizer_slots(model):
        meta["optimizers"][name] = len(opt.variables)
        for i, v in enumerate(opt.variables):
            arrays[f"{name}/{i}"] = np.asarray(v.numpy())
    final = os.path.join(run_dir, CHECKPOINT)
    tmp, old = final + ".tmp", final + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    np.savez(os.path.join(tmp, "state.npz"), **arrays)
    _write_json(os.path.join(tmp, "state.json"), meta)
    if os.path.exists(final):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def restore_checkpoint(model, run_dir: str) -> int:
    """Restores the state saved by :func:`save_checkpoint`; returns the epoch reached.

    Raises:
        FileNotFoundError: If the run folder has no checkpoint.
        ValueError: If the checkpoint does not match the model's variables.
    """
    folder = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(os.path.join(folder, "state.json")):
        old = folder + ".old"  # interrupted between the two renames
        if os.path.exists(os.path.join(old, "state.json")):
            folder = old
        else:
            raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from.")
    with open(os.path.join(folder, "state.json")) as f:
        meta = json.load(f)
    _build_optimizers(model)
    with np.load(os.path.join(folder, "state.npz")) as arrays:
        if meta["model_variables"] != len(model.variables):
            raise ValueError(
                f"{run_dir}: checkpoint has {meta['model_variables']} model variables, the "
                f"rebuilt model has {len(model.variables)}; was config.json edited?"
            )
        for i, v in enumerate(model.variables):
            v.assign(arrays[f"model/{i}"])
        for name, opt, _ in _optimizer_slots(model):
            count = meta["optimizers"].get(name)
            if count != len(opt.variables):
                raise ValueError(
                    f"{run_dir}: checkpoint has {count} variables for optimizer {name!r}, "
                    f"the rebuilt one has {len(opt.variables)}."
                )
            for i, v in enumerate(opt.variables):
                v.assign(arrays[f"{name}/{i}"])
    return int(meta["epoch"])


def _diverged(logs) -> bool:
    for value in (logs or {}).values():
        try:
            if not math.isfinite(float(value)):
                return True
        except (TypeError, ValueError):
            continue
    return False


# -- callbacks ------------------------------------------------------------------------
def _callbacks(model, spec, run_dir, seed, resumed):
    import keras

    class Checkpoint(keras.callbacks.Callback):
        """Saves the full training state atomically at the end of every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            if _diverged(logs):
                return  # never overwrite a good checkpoint with a diverged state
            save_checkpoint(self.model, run_dir, epoch + 1)

    class SampleGrid(keras.callbacks.Callback):
        """Draws samples with a fixed seed at the end of every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            if _diverged(logs):
                return
            write_samples(self.model, spec, run_dir, seed, epoch=epoch + 1)

    class NaNWatch(keras.callbacks.TerminateOnNaN):
        """``TerminateOnNaN`` that remembers where the loss diverged."""

        diverged_at = None

        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.diverged_at = (self.epoch, batch, float(loss))
            super().on_batch_end(batch, logs)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    nan_watch = NaNWatch()
    callbacks = [
        nan_watch,
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=resumed),
        Checkpoint(),
        SampleGrid(),
    ]
    extra = getattr(model, "extra_callbacks", None)
    if extra is not None:
        callbacks.extend(extra(spec, run_dir))
    return callbacks, nan_watch


def write_samples(
    model,
    spec,
    run_dir: str,
    seed: int,
    epoch: int | None = None,
    n: int | None = None,
    path: str | None = None,
) -> str:
    """Draws samples from ``model`` and writes them as ``samples.png`` (and a per-epoch copy).

    Images are drawn as a grid of 64; 2-D data as a scatter of 2,000 points
    over the test data.

    Returns:
        The path of the figure.
    """
    from genkeras import plots

    draw = getattr(model, "display_samples", None) or model.sample
    path = path or os.path.join(run_dir, "samples.png")
    title = f"samples after epoch {epoch}" if epoch is not None else "samples"
    if spec.is_image:
        x = plots.to_numpy(draw(n or 64, seed=seed))
        plots.image_grid(x, path, levels=spec.levels, title=title)
    else:
        x = plots.to_numpy(draw(n or 2000, seed=seed))
        if x.shape[-1] != 2:
            return path
        plots.scatter_2d(
            x, path, reference=spec.x_test, centers=spec.extras.get("centers"), title=title
        )
    if epoch is not None:
        os.makedirs(os.path.join(run_dir, "samples"), exist_ok=True)
        shutil.copyfile(path, os.path.join(run_dir, "samples", f"epoch-{epoch:03d}.png"))
    return path


# -- the run --------------------------------------------------------------------------
def _set_determinism(tf, deterministic: bool) -> None:
    """Turns TensorFlow's op determinism on for CPU runs without XLA, off otherwise.

    Determinism makes the same seed give the same history on a CPU. Keras
    refuses ``jit_compile=True`` while it is on (not every op has a
    deterministic XLA kernel), so XLA runs turn it off; on a GPU it is left off
    for speed.
    """
    from tensorflow.python.framework import config as tf_config

    if deterministic and not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")


def _prepare_out(out: str, overwrite: bool) -> None:
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise FileExistsError(f"--out {out} exists and is not a folder.")
        if os.listdir(out) and not overwrite:
            raise FileExistsError(
                f"--out {out} exists and is not empty; pass --overwrite to replace its run "
                "files or --resume to continue it."
            )


def learning_rate_schedule(learning_rate: float, total_steps: int, final_fraction: float = 1.0):
    """The learning rate ``training.run`` compiles with.

    Args:
        learning_rate: The initial learning rate.
        total_steps: Optimizer steps of the whole run.
        final_fraction: The learning rate at ``total_steps`` as a fraction of
            the initial one; ``1`` keeps it constant.

    Returns:
        ``learning_rate`` itself (a float) when ``final_fraction == 1``, else a
        ``keras.optimizers.schedules.CosineDecay`` from ``learning_rate`` to
        ``final_fraction · learning_rate`` over ``total_steps`` (half a cosine).
    """
    if float(final_fraction) == 1.0:
        return float(learning_rate)
    import keras

    return keras.optimizers.schedules.CosineDecay(
        float(learning_rate), int(total_steps), alpha=float(final_fraction)
    )


def run(
    model: str = "vae",
    *,
    dataset: str = "digits",
    epochs: int = 10,
    batch_size: int | None = None,
    seed: int = 0,
    out: str | None = None,
    learning_rate: float | None = None,
    lr_decay: float = 1.0,
    jit: bool = False,
    strategy: str = "default",
    resume: str | None = None,
    overwrite: bool = False,
    levels: int | None = None,
    binarize: bool = False,
    options: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: str | int = "auto",
    runs_root: str = "runs",
) -> RunResult:
    """Trains a registered model on a dataset and writes a run folder.

    Args:
        model: Registered model name (``genkeras list``).
        dataset: Dataset name or ``npz:PATH``.
        epochs: Total number of epochs (with ``resume``: the total to reach).
        batch_size: Global batch size, split across replicas by ``strategy``
            (default: the family's ``default_batch_size``, else 64).
        seed: Seed for weights, data order and sampling.
        out: Run folder (default ``runs_root/<model>-<timestamp>``).
        learning_rate: Learning rate (default: the family's).
        lr_decay: Cosine-decay the learning rate over the run's
            ``epochs · steps_per_epoch`` steps to this fraction of its initial
            value (``1``: constant). With ``resume`` to more epochs the
            schedule stretches to the new total.
        jit: Compile the train/test steps with XLA.
        strategy: ``"default"``, ``"mirrored"`` or ``"multiworker"``.
        resume: A run folder to continue from its last checkpoint; its
            ``config.json`` fixes every option except ``epochs``.
        overwrite: Allow writing into a non-empty ``out``.
        levels: Requantize discrete data to this many levels.
        binarize: Binarize discrete data.
        options: The family's config fields (e.g. ``{"latent_dim": 2}``).
        callbacks: Extra Keras callbacks (run after the built-in ones).
        verbose: Passed to ``fit`` (``"auto"`` shows the progress bar).
        runs_root: Parent of the default run folder.

    Returns:
        A :class:`RunResult`.

    Raises:
        genkeras.registry.UnknownNameError: Unknown model or dataset.
        genkeras.data.DataError: Data that cannot be trained on.
        ValueError: Invalid options.
        FileExistsError: ``out`` is not empty and neither ``overwrite`` nor ``resume``.
        TrainingDivergedError: The loss became NaN or infinite.
    """
    _check_positive("epochs", epochs)
    if batch_size is not None:
        _check_positive("batch_size", batch_size)
    if strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(STRATEGIES)}. Received: strategy={strategy!r}"
        )
    if learning_rate is not None and not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(
            f"learning_rate must be a positive number. Received: learning_rate={learning_rate}"
        )
    if not 0.0 <= lr_decay <= 1.0:
        raise ValueError(f"lr_decay must be in [0, 1]. Received: lr_decay={lr_decay}")
    start_epoch = 0
    if resume is not None:
        config = _read_config(resume)
        if epochs < config["epochs"]:
            epochs = config["epochs"]
        config["epochs"] = epochs
        out = resume
    else:
        config = {
            "model": model,
            "dataset": dataset,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "learning_rate": learning_rate,
            "lr_decay": float(lr_decay),
            "jit": bool(jit),
            "strategy": strategy,
            "levels": levels,
            "binarize": bool(binarize),
            "options": dict(options or {}),
        }
    family = registry.models.get(config["model"])
    if config["batch_size"] is None:
        config["batch_size"] = int(getattr(family, "default_batch_size", 64))
    spec = data_lib.load(config["dataset"], levels=config["levels"], binarize=config["binarize"])
    spec.check_batch_size(config["batch_size"])
    if config["learning_rate"] is None:
        config["learning_rate"] = float(getattr(family, "default_learning_rate", 1e-3))
    from genkeras.models.base import config_from_dict

    model_config = config_from_dict(family.config_class, config["options"])
    config["options"] = dataclasses.asdict(model_config)
    if resume is None:
        out = out or new_run_dir(config["model"], runs_root)
        _prepare_out(out, overwrite)
    config["data"] = spec.summary()
    import genkeras

    config["genkeras_version"] = genkeras.__version__

    if not getattr(family, "trains_with_fit", True):
        return _run_estimator(family, model_config, spec, config, out)

    import keras
    import tensorflow as tf

    strat = make_strategy(config["strategy"])  # before other TF work (multiworker needs it)
    keras.utils.set_random_seed(int(config["seed"]))
    _set_determinism(tf, deterministic=not config["jit"])

    with strat.scope():
        net = family.from_data(spec, model_config)
        net.build_from_shape()
        total_steps = epochs * spec.steps_per_epoch(config["batch_size"])
        rate = learning_rate_schedule(
            config["learning_rate"], total_steps, config.get("lr_decay", 1.0)
        )
        net.compile_for_training(rate, bool(config["jit"]))
        _build_optimizers(net)
    if resume is not None:
        start_epoch = restore_checkpoint(net, out)
    os.makedirs(out, exist_ok=True)
    _write_json(os.path.join(out, "config.json"), config)

    labels = bool(getattr(net, "conditional", False))  # class-conditional: (x, y) batches
    train_ds = spec.train_dataset(
        config["batch_size"], int(config["seed"]), start_epoch, epochs, with_labels=labels
    )
    test_ds = spec.test_dataset(config["batch_size"], with_labels=labels)
    cbs, nan_watch = _callbacks(net, spec, out, int(config["seed"]), resumed=start_epoch > 0)
    if start_epoch < epochs:
        net.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=start_epoch,
            steps_per_epoch=spec.steps_per_epoch(config["batch_size"]),
            validation_data=test_ds,
            callbacks=cbs + list(callbacks),
            shuffle=False,
            verbose=verbose,
        )
    history = read_history(os.path.join(out, "history.csv"))
    if nan_watch.diverged_at is not None:
        ep, batch, value = nan_watch.diverged_at
        raise TrainingDivergedError(
            f"training diverged: the loss became {value} at epoch {ep + 1}, batch {batch}. "
            f"The last good checkpoint is in {os.path.join(out, CHECKPOINT)}; try a lower "
            "--learning-rate."
        )
    return _finish(net, spec, config, out, history)


def _finish(net, spec, config, out, history) -> RunResult:
    from genkeras import plots

    tmp = os.path.join(out, "model.tmp.keras")
    net.save(tmp)
    os.replace(tmp, os.path.join(out, "model.keras"))
    metrics = net.evaluation_metrics(spec)
    metrics["epochs"] = int(config["epochs"])
    for key, values in history.items():
        if values:
            metrics[f"final_{key}"] = values[-1]
    _write_json(os.path.join(out, "metrics.json"), metrics)
    write_samples(net, spec, out, int(config["seed"]))
    if history:
        plots.training_curves(
            history, os.path.join(out, "curves.png"), title=f"{config['model']} on {spec.name}"
        )
    net.write_figures(spec, out)
    return RunResult(out, net, history, metrics, config)


def _run_estimator(family, model_config, spec, config, out) -> RunResult:
    """Runs a family that is not trained by ``keras.Model.fit`` (e.g. EM for mixtures)."""
    import keras

    from genkeras import plots

    keras.utils.set_random_seed(int(config["seed"]))
    est = family.from_data(spec, model_config)
    os.makedirs(out, exist_ok=True)
    _write_json(os.path.join(out, "config.json"), config)
    history = est.train(spec, out, int(config["seed"]))
    lengths = {len(v) for v in history.values()}
    rows = max(lengths) if lengths else 0
    with open(os.path.join(out, "history.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch"] + list(history))
        for i in range(rows):
            writer.writerow([i] + [v[i] if i < len(v) else "" for v in history.values()])
    metrics = est.evaluation_metrics(spec)
    _write_json(os.path.join(out, "metrics.json"), metrics)
    if history:
        plots.training_curves(
            history, os.path.join(out, "curves.png"), title=f"{config['model']} on {spec.name}"
        )
    if not os.path.exists(os.path.join(out, "samples.png")):
        write_samples(est, spec, out, int(config["seed"]))
    return RunResult(out, est, history, metrics, config)


def _read_config(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run folder.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json).")
    try:
        with open(path) as f:
            config = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON ({exc}).") from None
    missing = {"model", "dataset", "epochs", "batch_size", "seed", "options"} - set(config)
    if missing:
        raise ValueError(f"{path}: missing keys {', '.join(sorted(missing))}.")
    config.setdefault("levels", None)
    config.setdefault("binarize", False)
    config.setdefault("strategy", "default")
    config.setdefault("jit", False)
    config.setdefault("learning_rate", None)
    return config


def load_run(run_dir: str):
    """Loads a finished run: ``(model, spec, config)``.

    Keras models are loaded from ``model.keras`` with ``safe_mode=True`` (no
    code from the file is executed); estimators by their ``load_run``.

    Raises:
        FileNotFoundError: If the folder, its ``config.json`` or its model is missing.
    """
    config = _read_config(run_dir)
    family = registry.models.get(config["model"])
    if config["batch_size"] is None:
        config["batch_size"] = int(getattr(family, "default_batch_size", 64))
    spec = data_lib.load(config["dataset"], levels=config["levels"], binarize=config["binarize"])
    if not getattr(family, "trains_with_fit", True):
        return family.load_run(run_dir), spec, config
    path = os.path.join(run_dir, "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir}: no model.keras (did the run finish?).")
    import keras

    # `family` was imported above by the registry, which registered its classes
    # with Keras's serialization, so safe-mode loading can find them.
    model = keras.saving.load_model(path, safe_mode=True)
    return model, spec, config
