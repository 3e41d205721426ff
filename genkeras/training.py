"""The one path from a model name and options to a finished run folder.

:func:`run` is what ``genkeras run MODEL`` calls, and what the examples, the
benchmarks and the tests call directly. Every family goes through the same
four steps, each a function here:

1. :func:`plan_run` -- resolve the options (:class:`~genkeras.run_config.RunConfig`
   and the family's config, fresh or from a ``--resume`` folder's
   ``config.json``), load and validate the data, and check the run folder.
   Nothing is written and TensorFlow is not imported, so bad input is refused
   at once.
2. :func:`build` -- seed Python, NumPy and TensorFlow
   (``keras.utils.set_random_seed``; op determinism on a CPU), build the model
   under the chosen ``tf.distribute`` strategy, compile it, then restore the
   checkpoint (resume) or let the family initialise from the data
   (:meth:`~genkeras.models.base.GenerativeModel.prepare`).
3. :func:`train` -- ``fit`` with the run's callbacks (:mod:`genkeras.callbacks`:
   NaN watch, ``history.csv``, atomic checkpoints, sample grids), the family's
   own and the caller's.
4. :func:`write_run_folder` -- ``model.keras``, ``metrics.json``,
   ``samples.png``, ``curves.png`` and the family's figures.

The families are reached only through the hooks declared on
:class:`~genkeras.models.base.GenerativeModel` and
:class:`~genkeras.models.config.ModelConfig`.

Resuming (``resume=RUN_DIR``) rebuilds the model from ``config.json``,
restores the last checkpoint -- every variable and every optimizer's slots
and step counter -- and continues from the next epoch. The data pipeline's
order is a stateless function of ``(seed, epoch)``, so a resumed run ends
exactly where an uninterrupted one does.

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

import contextlib
import dataclasses
import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from genkeras import checkpoint as ckpt
from genkeras import data as data_lib
from genkeras import registry
from genkeras.distributed import is_chief, make_strategy
from genkeras.models.config import ModelConfig, config_from_dict
from genkeras.run_config import CONFIG_FILE, STRATEGIES, RunConfig, RunRecord
from genkeras.run_folder import (
    check_out,
    clear_run_files,
    is_finished,
    load_run,
    new_run_dir,
    read_history,
    remove_unstarted,
)

__all__ = [
    "RunConfig",
    "RunPlan",
    "RunResult",
    "STRATEGIES",
    "TrainingDivergedError",
    "build",
    "execute",
    "learning_rate_schedule",
    "load_run",
    "make_strategy",
    "new_run_dir",
    "plan_run",
    "read_history",
    "run",
    "train",
    "write_run_folder",
]


class TrainingDivergedError(RuntimeError):
    """Raised when the loss became NaN or infinite; the run folder keeps the last checkpoint."""


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes:
        run_dir: The run folder.
        model: The trained model.
        history: Metric name to per-epoch values (all epochs, resumed ones included).
        metrics: The family's test metrics (as in ``metrics.json``).
        record: The run's configuration (as in ``config.json``).
    """

    run_dir: str
    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    record: RunRecord

    @property
    def config(self) -> RunConfig:
        """The run's resolved :class:`~genkeras.run_config.RunConfig`."""
        return self.record.run


@dataclasses.dataclass
class RunPlan:
    """A run resolved and validated, before anything is built or written.

    Attributes:
        model: The registered model name.
        run: The resolved :class:`~genkeras.run_config.RunConfig`.
        model_config: The family's config.
        spec: The validated data.
        out: The run folder.
        resume: Whether the run continues ``out``.
        done: Epochs already trained (from the checkpoint when resuming).
        overwrite: Whether ``out`` holds another run's files to replace.
        new_folder: Whether ``out`` does not exist yet (a run that fails
            before its first checkpoint removes it again).
        chief: Whether this process writes the run folder (under
            ``--strategy multiworker`` only the chief does).
    """

    model: str
    run: RunConfig
    model_config: ModelConfig
    spec: Any
    out: str
    resume: bool = False
    done: int = 0
    overwrite: bool = False
    new_folder: bool = False
    chief: bool = True

    def record(self, files: Sequence[str] = ()) -> RunRecord:
        """The run's ``config.json`` (``files``: the family figures it wrote)."""
        import genkeras

        return RunRecord(
            model=self.model,
            run=self.run,
            options=dataclasses.asdict(self.model_config),
            data=self.spec.summary(),
            genkeras_version=genkeras.__version__,
            files=list(files),
        )


#: Smallest batch of the per-epoch test pass (its trackers average over examples, so the
#: batch size does not change the numbers, only how many steps they take).
EVAL_BATCH = 256


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


# -- 1. plan ----------------------------------------------------------------------------------
#: RunConfig fields a resumed run may change: none of them changes what is learned.
CHANGEABLE_ON_RESUME = ("epochs", "steps_per_execution", "sample_every", "tensorboard", "strategy")


def _resume_settings(model: str, resume: str, fields: dict, options: dict | None, config_class):
    """The run of ``resume``'s ``config.json`` with the caller's changes, if they are allowed."""
    record = RunRecord.read(resume)
    record.options = config_class.upgrade(dict(record.options))
    if model != record.model:
        raise ValueError(
            f"--resume {resume}: that run trained model {record.model!r}, not {model!r}; "
            f"use genkeras run {record.model} --resume {resume}."
        )
    saved = record.run.to_dict()
    for name, value in fields.items():
        if name not in CHANGEABLE_ON_RESUME and value != saved[name]:
            raise ValueError(
                f"--resume {resume}: the run was trained with {name}={saved[name]!r}; this "
                f"call asks for {name}={value!r}. A resumed run keeps its options (only "
                f"{', '.join(CHANGEABLE_ON_RESUME)} may change); start a new run to change them."
            )
    for name, value in (options or {}).items():
        if name in record.options and record.options[name] != value:
            raise ValueError(
                f"--resume {resume}: the run was trained with {name}={record.options[name]!r}"
                f"; this call asks for {name}={value!r}. A resumed run keeps its options."
            )
    changes = {k: v for k, v in fields.items() if k in CHANGEABLE_ON_RESUME}
    return dataclasses.replace(record.run, **changes), record.options


def _check_tensorboard() -> None:
    """``--tensorboard`` needs the optional ``tensorboard`` package (TensorFlow's summaries)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ValueError(
            "--tensorboard needs the tensorboard package, an optional extra: "
            "pip install 'genkeras[tensorboard]'."
        ) from None


def _done_epochs(run_dir: str) -> int:
    import json

    for folder in (ckpt.CHECKPOINT, ckpt.CHECKPOINT + ".old"):
        path = os.path.join(run_dir, folder, "state.json")
        if os.path.exists(path):
            with open(path) as f:
                return int(json.load(f)["epoch"])
    return 0


def plan_run(
    model: str,
    config: RunConfig | None = None,
    options: dict[str, Any] | ModelConfig | None = None,
    *,
    out: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    runs_root: str = "runs",
    **fields,
) -> RunPlan:
    """Resolves and validates a run without building or writing anything (no TensorFlow).

    Takes the arguments of :func:`run` (except ``callbacks`` and ``verbose``).

    Raises:
        genkeras.registry.UnknownNameError: Unknown model or dataset.
        genkeras.data.DataError: Data that cannot be trained on.
        ValueError: Invalid options, or options that differ from a resumed run's.
        FileExistsError: ``out`` is not empty and neither ``overwrite`` nor ``resume``.
        FileNotFoundError: ``resume`` is not a run folder.
    """
    entry = registry.models.entry(model)
    config_class = entry.config_class()
    if resume is not None:
        run, options = _resume_settings(model, resume, fields, options, config_class)
        out, done = resume, _done_epochs(resume)
        if run.epochs < done or (run.epochs == done and is_finished(resume)):
            raise ValueError(
                f"--resume {resume}: the run has already trained {done} epochs and asks for "
                f"{run.epochs}: nothing to train. Ask for more with --epochs (more than {done})."
            )
    else:
        run = dataclasses.replace(config or RunConfig(), **fields)
        done = 0
    run = run.resolved(config_class.run_defaults)
    if run.tensorboard:
        _check_tensorboard()
    model_config = config_from_dict(config_class, options)
    spec = data_lib.load(run.dataset, levels=run.levels, binarize=run.binarize)
    model_config.check_data(spec.shape, spec.levels, spec.num_classes)
    model_config.check_values(spec)
    if config_class.full_batches:
        spec.check_batch_size(run.batch_size)
    chief = run.strategy != "multiworker" or is_chief()  # only the chief writes the folder
    if resume is None:
        out = out or new_run_dir(model, runs_root)
        if chief:
            check_out(out, overwrite)
    if chief:
        ckpt.check_writable(out, "--resume" if resume else "--out")
    new_folder = not os.path.exists(out)
    replace = resume is None and overwrite and not new_folder
    return RunPlan(
        model, run, model_config, spec, out, resume is not None, done, replace, new_folder, chief
    )


# -- 2. build ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _dtype_policy(keras, name: str):
    """Builds under Keras's dtype policy ``name``, then restores the previous one.

    The layers keep their policy (and ``model.keras`` saves it); what the
    process builds afterwards (a coverage classifier, another run) is not affected.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _execution_steps(run: RunConfig, steps: int, strategy) -> int:
    """``steps_per_execution`` for ``fit``: 1 under several replicas, else the run's choice.

    Keras's ``fit`` under ``tf.distribute`` with ``steps_per_execution > 1``
    fails with "You must feed a value for placeholder tensor" (keras-team/keras#19246,
    reproduced with Keras 3.15 and a plain ``keras.Sequential``).
    """
    if strategy.num_replicas_in_sync == 1:
        return run.execution_steps(steps)
    if run.steps_per_execution not in (None, 1):
        raise ValueError(
            f"steps_per_execution={run.steps_per_execution} needs a single replica: Keras's "
            "fit fails under tf.distribute with several steps per execution "
            "(keras-team/keras#19246). Leave it unset or set it to 1."
        )
    return 1


def build(plan: RunPlan):
    """Seeds, builds and compiles the model; restores or prepares its state.

    Returns:
        ``(model, start_epoch)``.
    """
    from genkeras.runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    run, spec = plan.run, plan.spec
    strategy = make_strategy(run.strategy)  # before other TF work (multiworker needs it)
    keras.utils.set_random_seed(run.seed)
    _set_determinism(tf, deterministic=not run.jit)
    family = registry.models.get(plan.model)
    with strategy.scope(), _dtype_policy(keras, run.dtype_policy):
        net = family.from_data(spec, plan.model_config)
        net.build_from_shape()
        steps = net.steps_per_epoch(spec, run.batch_size)
        rate = learning_rate_schedule(run.learning_rate, run.epochs * steps, run.lr_decay)
        net.compile_for_training(rate, run.jit, _execution_steps(run, steps, strategy))
        ckpt.build_optimizers(net)
    if plan.resume and ckpt.has_checkpoint(plan.out):
        return net, ckpt.restore_checkpoint(net, plan.out)
    net.prepare(spec, run.seed)
    return net, 0


# -- 3. train ---------------------------------------------------------------------------------
def train(net, plan: RunPlan, start_epoch: int, callbacks: Sequence[Any] = (), verbose="auto"):
    """Writes ``config.json`` and fits epochs ``start_epoch .. epochs - 1``.

    Under ``--strategy multiworker`` only the chief writes the run folder, and
    training goes through :func:`genkeras.distributed.fit_multiworker`.

    Returns:
        The history of the whole run (``history.csv``; a non-chief worker:
        the epochs it trained).

    Raises:
        TrainingDivergedError: A logged value became NaN or infinite.
        genkeras.distributed.WorkerLostError: Another worker stopped responding.
    """
    from genkeras import callbacks as run_callbacks

    run, out = plan.run, plan.out
    if plan.chief:
        if plan.overwrite:
            clear_run_files(out)
        os.makedirs(out, exist_ok=True)
        ckpt.write_json(os.path.join(out, CONFIG_FILE), plan.record().to_dict())
    nan_watch = run_callbacks.NaNWatch()
    files = _run_folder_callbacks(net, plan, start_epoch) if plan.chief else []
    cbs = [nan_watch, *files, *net.callbacks(out), *callbacks]
    try:
        history = _fit(net, plan, start_epoch, cbs, verbose) if start_epoch < run.epochs else {}
    except BaseException:
        if plan.chief and start_epoch == 0 and not ckpt.has_checkpoint(out):
            # nothing worth keeping; a rerun must not be blocked
            remove_unstarted(plan.out, plan.new_folder)
        raise
    if nan_watch.diverged_at is not None:
        epoch, batch, name, value = nan_watch.diverged_at
        raise TrainingDivergedError(
            f"training diverged: {name} became {value} at epoch {epoch + 1}, batch {batch}. "
            f"The last good checkpoint is in {os.path.join(out, ckpt.CHECKPOINT)}; try a lower "
            "--learning-rate."
        )
    return read_history(os.path.join(out, "history.csv")) if plan.chief else history


def _run_folder_callbacks(net, plan: RunPlan, start_epoch: int) -> list:
    """The callbacks that write the run folder: history, checkpoint, grids, TensorBoard."""
    import keras

    from genkeras import callbacks as run_callbacks

    run, spec, out = plan.run, plan.spec, plan.out
    history_path = os.path.join(out, "history.csv")
    logs = os.path.join(out, "tensorboard") if run.tensorboard else None
    if logs:
        run_callbacks.write_model_graph(net, logs)
    grid = run_callbacks.SampleGrid(spec, out, run.seed, run.sample_every, run.epochs, logs)
    if start_epoch > 0:
        run_callbacks.resume_history(history_path, start_epoch)
        grid.complete(net, start_epoch)  # a kill after the checkpoint may have cost a grid
    return [
        run_callbacks.HistoryCSV(history_path, append=start_epoch > 0),
        run_callbacks.Checkpoint(out),
        grid,
        *([keras.callbacks.TensorBoard(logs, write_graph=True)] if logs else []),
    ]


def _fit(net, plan: RunPlan, start_epoch: int, callbacks: list, verbose) -> dict:
    """Keras ``fit``, or the multi-worker loop; returns the history of these epochs."""
    run, spec = plan.run, plan.spec

    def train_data():
        return net.train_dataset(spec, run.batch_size, run.seed, start_epoch, run.epochs)

    def test_data():
        return net.test_dataset(spec, max(run.batch_size, EVAL_BATCH))

    fit_args = dict(
        epochs=run.epochs,
        initial_epoch=start_epoch,
        steps_per_epoch=net.steps_per_epoch(spec, run.batch_size),
        callbacks=callbacks,
        verbose=verbose,
    )
    if run.strategy == "multiworker":
        from genkeras.distributed import fit_multiworker

        return fit_multiworker(net, net.distribute_strategy, train_data, test_data, **fit_args)
    history = net.fit(train_data(), validation_data=test_data(), shuffle=False, **fit_args)
    return history.history


# -- 4. write the run folder ---------------------------------------------------------------
def write_run_folder(net, plan: RunPlan, history: dict[str, list[float]]) -> RunResult:
    """Saves the model, writes the metrics and figures of a finished run (the chief's job)."""
    if not plan.chief:
        return RunResult(plan.out, net, history, {}, plan.record())
    from genkeras import plots
    from genkeras.callbacks import write_samples
    from genkeras.models.base import MODEL_FILE

    out, spec = plan.out, plan.spec
    tmp = os.path.join(out, "model.tmp.keras")
    net.save(tmp)
    os.replace(tmp, os.path.join(out, MODEL_FILE))
    # Metrics on a worker thread while this one draws: GenerativeModel.concurrent_evaluation.
    evaluate = functools.partial(net.evaluation_metrics, spec, cache_dir=out)
    pool = ThreadPoolExecutor(1, "genkeras-metrics") if net.concurrent_evaluation else None
    pending = pool.submit(evaluate) if pool else None
    metrics = None if pool else evaluate()
    try:
        write_samples(net, spec, out, plan.run.seed)
        if history:
            title = f"{plan.model} on {spec.name}"
            plots.training_curves(history, os.path.join(out, "curves.png"), title=title)
        files = net.write_figures(spec, out)
    finally:  # metrics.json is written even if a figure fails
        if pool:
            pool.shutdown()
            metrics = pending.result()
        metrics["epochs"] = int(plan.run.epochs)
        for key, values in history.items():
            if values:
                metrics[f"final_{key}"] = values[-1]
        ckpt.write_json(os.path.join(out, "metrics.json"), metrics)
    record = plan.record(files=files)
    ckpt.write_json(os.path.join(out, CONFIG_FILE), record.to_dict())
    return RunResult(out, net, history, metrics, record)


def run(
    model: str = "vae",
    config: RunConfig | None = None,
    options: dict[str, Any] | ModelConfig | None = None,
    *,
    out: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    verbose: str | int = "auto",
    runs_root: str = "runs",
    **fields,
) -> RunResult:
    """Trains a registered model on a dataset and writes a run folder.

    Args:
        model: Registered model name (``genkeras list``).
        config: The common run options (default: ``RunConfig()``).
        options: The family's config fields (e.g. ``{"latent_dim": 2}``) or
            its config dataclass.
        out: Run folder (default ``runs_root/<model>-<timestamp>``).
        resume: A run folder to continue from its last checkpoint. Its
            ``config.json`` fixes every option; only ``epochs`` may be given
            (the total to reach), and other options given must equal the run's.
        overwrite: Allow writing into a non-empty ``out``.
        callbacks: Extra Keras callbacks (run after the built-in ones).
        verbose: Passed to ``fit`` (``"auto"`` shows the progress bar).
        runs_root: Parent of the default run folder.
        **fields: :class:`~genkeras.run_config.RunConfig` fields, overriding
            ``config``'s (``epochs=5``, ``dataset="ring"``...).

    Returns:
        A :class:`RunResult`.

    Raises:
        genkeras.registry.UnknownNameError: Unknown model or dataset.
        genkeras.data.DataError: Data that cannot be trained on.
        ValueError: Invalid options.
        FileExistsError: ``out`` is not empty and neither ``overwrite`` nor ``resume``.
        TrainingDivergedError: The loss became NaN or infinite.

    Example::

        from genkeras import training
        result = training.run("vae", epochs=5, options={"latent_dim": 2})
        result.metrics["iwae_nats"]
    """
    plan = plan_run(
        model,
        config,
        options,
        out=out,
        resume=resume,
        overwrite=overwrite,
        runs_root=runs_root,
        **fields,
    )
    return execute(plan, callbacks, verbose)


def execute(plan: RunPlan, callbacks: Sequence[Any] = (), verbose: str | int = "auto"):
    """Builds, trains and writes the run folder of a :func:`plan_run` plan.

    TensorFlow's op determinism, which :func:`build` sets for the run, is put
    back as it was afterwards (Keras quietly compiles without XLA while it is on).
    """
    from genkeras.runtime import import_tensorflow

    import_tensorflow()
    from tensorflow.python.framework import config as tf_config

    from genkeras.callbacks import PrepareEvaluation

    deterministic = tf_config.is_op_determinism_enabled()
    pool = ThreadPoolExecutor(1, "genkeras-prepare")
    try:
        net, start_epoch = build(plan)
        concurrent = net.concurrent_evaluation and plan.chief
        prepare = [PrepareEvaluation(pool, net.prepare_evaluation)] if concurrent else []
        history = train(net, plan, start_epoch, [*callbacks, *prepare], verbose)
        for callback in prepare:
            callback.wait()
        return write_run_folder(net, plan, history)
    finally:
        pool.shutdown()
        if deterministic != tf_config.is_op_determinism_enabled():
            on, off = tf_config.enable_op_determinism, tf_config.disable_op_determinism
            (on if deterministic else off)()
