"""The one lifecycle from a model name and options to a finished run folder.

:func:`run` is what ``genkeras run MODEL``, the examples, the benchmarks and
the tests call (the CLI calls its two halves, :func:`plan_run` and
:func:`execute`, to speak between them). Every family goes through the same
steps, each a function here:

1. :func:`~genkeras.run.plan.plan_run` (:mod:`genkeras.run.plan`) -- resolve
   the options, load and validate the data, and check the run folder.
   Nothing is written and TensorFlow is not imported, so bad input is refused
   at once.
2. :func:`build` -- seed Python, NumPy and TensorFlow
   (``keras.utils.set_random_seed``), build the model under the chosen
   ``tf.distribute`` strategy and dtype policy, compile it
   (:meth:`~genkeras.models.base.GenerativeModel.compile_for_training` with
   the run's :class:`~genkeras.models.base.TrainingSettings`), then restore
   the checkpoint (resume) or let the family initialise from the data
   (:meth:`~genkeras.models.base.GenerativeModel.prepare`).
3. :func:`train` -- Keras's ``fit``, on one device or many
   (:mod:`genkeras.run.distribute`), with the run's callbacks
   (:mod:`genkeras.run.callbacks`: NaN watch, ``history.csv``, atomic
   checkpoints, sample grids, progress), the family's own and the caller's.
4. :func:`evaluate` -- the family's own metrics and the sample-quality
   scores every family gets (:mod:`genkeras.evaluation`).
5. :func:`write_run_folder` -- ``model.keras``, ``samples.png``, ``curves.png``,
   the family's figures and ``metrics.json``.

All of it runs in the calling thread. :func:`execute` leaves the process as
it found it: TensorFlow's op determinism, which a CPU run without XLA turns
on for reproducible histories, is put back afterwards.

The families are reached only through the hooks declared on
:class:`~genkeras.models.base.GenerativeModel` and
:class:`~genkeras.models.config.ModelConfig`.

Resuming (``resume=RUN_DIR``) rebuilds the model from ``config.json``, checks
that the data is unchanged (its fingerprint), restores the last checkpoint --
every variable and every optimizer's slots and step counter -- and continues
from the next epoch. The data pipeline's order is a stateless function of
``(seed, epoch)``, so a resumed run ends exactly where an uninterrupted one does.

Run folder layout::

    runs/vae-20261125-130501/
      config.json      everything needed to rebuild and resume the run
      history.csv      one row per epoch (train and val_ metrics)
      metrics.json     the test metrics after training
      model.keras      the trained model (loads with safe_mode on)
      samples.png      samples after the last epoch (samples/epoch-NNN.png per epoch)
      curves.png       training curves
      checkpoint/      the last epoch's full training state (for --resume)
      ...              the family's figures (reconstructions.png, manifold.png, ...)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from genkeras import registry
from genkeras.errors import PluginError, TrainingDivergedError
from genkeras.models.config import ModelConfig
from genkeras.run import checkpoint as ckpt
from genkeras.run.config import CONFIG_FILE, RunConfig, RunRecord
from genkeras.run.folder import (
    check_out,
    clear_run_files,
    load_run,
    locked,
    named_os_errors,
    read_history,
    remove_unstarted,
)
from genkeras.run.plan import RunPlan, plan_run  # noqa: F401 - the API (step 1)

__all__ = [
    "EVAL_BATCH",
    "RunResult",
    "TrainingDivergedError",
    "build",
    "evaluate",
    "execute",
    "load_run",
    "run",
    "train",
    "write_run_folder",
]


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes:
        run_dir: The run folder.
        model: The trained model.
        history: Metric name to per-epoch values (all epochs, resumed ones included).
        metrics: The test metrics (as in ``metrics.json``).
        record: The run's configuration (as in ``config.json``).
    """

    run_dir: str
    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    record: RunRecord

    @property
    def config(self) -> RunConfig:
        """The run's resolved :class:`~genkeras.run.config.RunConfig`."""
        return self.record.run


#: Smallest batch of the per-epoch test pass (its trackers average over examples, so the
#: batch size does not change the numbers, only how many steps they take).
EVAL_BATCH = 256


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


@contextlib.contextmanager
def _op_determinism(on: bool):
    """TensorFlow's op determinism for the block (on a CPU only), then as it was.

    Determinism makes the same seed give the same history on a CPU. Keras
    compiles without XLA while it is on (not every op has a deterministic XLA
    kernel), so runs with ``--jit`` turn it off; on a GPU it stays off for speed.
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    want = on and not tf.config.list_physical_devices("GPU")
    switch = {True: tf_config.enable_op_determinism, False: tf_config.disable_op_determinism}
    if want != before:
        switch[want]()
    try:
        yield
    finally:
        if tf_config.is_op_determinism_enabled() != before:
            switch[before]()


def settings(run: RunConfig, steps: int):
    """The :class:`~genkeras.models.base.TrainingSettings` of a run whose epochs have ``steps``."""
    from genkeras.models.base import TrainingSettings

    return TrainingSettings(
        learning_rate=run.learning_rate,
        total_steps=run.epochs * steps,
        lr_decay=run.lr_decay,
        grad_clip=run.grad_clip,
        jit=run.jit,
        steps_per_execution=run.execution_steps(steps),
        steps_per_epoch=steps,
    )


#: Parameters above which a run warns that its files and steps are large.
LARGE_MODEL = 50_000_000


def _check_size(net, model: str) -> None:
    """Refuses a model whose training state cannot fit in memory; warns about a large one.

    Training holds each weight about four times in float32 (the weight, Adam's
    two slots, the checkpoint's copy); ``model.keras`` and the checkpoint hold
    it once each on disk.
    """
    import warnings

    params = int(net.count_params())
    needed = 16 * params
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    size = f"{params:,} parameters (about {needed / 2**30:.1f} GiB to train)"
    if needed > available:
        raise ValueError(
            f"{model} with these options has {size}; {available / 2**30:.1f} GiB of memory "
            "are free. Choose smaller sizes (e.g. --latent-dim, --hidden, --width)."
        )
    if params > LARGE_MODEL:
        warnings.warn(
            f"{model} with these options has {size}; model.keras and each checkpoint take "
            f"about {4 * params / 2**30:.1f} GiB, and every step and the evaluation are slow.",
            stacklevel=3,
        )


def build(plan: RunPlan):
    """Seeds, builds and compiles the model; restores or prepares its state.

    Call it inside :func:`execute` (which also sets op determinism for the run).

    Returns:
        ``(model, start_epoch)``.

    Raises:
        ValueError: Options only the built model can check (a stabilizer's), or
            ``--jit`` for a model Keras cannot compile with XLA.
    """
    import keras

    from genkeras.run.distribute import make_strategy

    run, spec = plan.run, plan.spec

    def echo(line):
        print(line, file=sys.stderr, flush=True)

    # before other TF work (multiworker needs it)
    strategy = make_strategy(run.strategy, run.cluster_timeout, echo)
    keras.utils.set_random_seed(run.seed)
    family = registry.models.get(plan.model)
    with strategy.scope(), _dtype_policy(keras, run.dtype_policy):
        net = family.from_data(spec, plan.model_config)
        net.build_from_shape()
        _check_size(net, plan.model)
        steps = net.steps_per_epoch(spec, run.batch_size)
        net.compile_for_training(settings(run, steps))
        if run.jit and not net.jit_compile:
            raise ValueError(
                f"--jit: Keras will not compile {plan.model} with XLA (a layer does not "
                "support it, or TensorFlow's op determinism is on). Run without --jit."
            )
        ckpt.build_optimizers(net)
    if plan.resume and ckpt.has_checkpoint(plan.out):
        return net, ckpt.restore_checkpoint(net, plan.out)
    net.prepare(spec, run.seed)
    return net, 0


# -- 3. train ---------------------------------------------------------------------------------
def train(net, plan: RunPlan, start_epoch: int, callbacks: Sequence[Any] = (), verbose="auto"):
    """Writes ``config.json`` and fits epochs ``start_epoch .. epochs - 1``.

    Under ``--strategy multiworker`` only the chief writes the run folder.

    Args:
        net: The built model.
        plan: The run.
        start_epoch: The first epoch to train.
        callbacks: The caller's Keras callbacks (after the run's and the family's).
        verbose: ``0`` (nothing), ``1`` (Keras's progress bar) or ``"auto"``:
            the bar on a terminal, one plain line per epoch otherwise.

    Returns:
        The history of the whole run (``history.csv``; a non-chief worker:
        the epochs it trained).

    Raises:
        TrainingDivergedError: A logged value became NaN or infinite.
        genkeras.run.distribute.WorkerLostError: Another worker stopped responding.
    """
    from genkeras.run import callbacks as run_callbacks

    run, out = plan.run, plan.out
    if plan.chief:
        if plan.overwrite:
            clear_run_files(out)
        os.makedirs(out, exist_ok=True)
        ckpt.write_json(os.path.join(out, CONFIG_FILE), plan.record().to_dict())
    nan_watch = run_callbacks.NaNWatch()
    files = _run_folder_callbacks(net, plan, start_epoch) if plan.chief else []
    verbose, progress = run_callbacks.progress_mode(verbose)
    family = net.callbacks(out if plan.chief else None, spec=plan.spec)
    cbs = [nan_watch, *family, *files, *callbacks, *progress]  # the family's logs reach the files
    try:
        history = _fit(net, plan, start_epoch, cbs, verbose) if start_epoch < run.epochs else {}
    except BaseException:
        if plan.chief and start_epoch == 0 and not ckpt.has_checkpoint(out):
            # nothing worth keeping; a rerun must not be blocked
            remove_unstarted(plan.out, plan.new_folder)
        raise
    if nan_watch.diverged_at is not None:
        epoch, batch, name, value = nan_watch.diverged_at
        kept = ckpt.has_checkpoint(out) if plan.chief else False
        if plan.chief and not kept:
            remove_unstarted(plan.out, plan.new_folder)
        where = (
            f"The last good checkpoint is in {os.path.join(out, ckpt.CHECKPOINT)}"
            if kept
            else "Nothing was kept (no epoch finished)"
        )
        raise TrainingDivergedError(
            f"training diverged: {name} became {value} at epoch {epoch + 1}, batch {batch}. "
            f"{where}; try a lower --learning-rate."
        )
    return read_history(os.path.join(out, "history.csv")) if plan.chief else history


def _run_folder_callbacks(net, plan: RunPlan, start_epoch: int) -> list:
    """The callbacks that write the run folder: history, checkpoint, grids, TensorBoard."""

    from genkeras.run import callbacks as run_callbacks

    run, spec, out = plan.run, plan.spec, plan.out
    history_path = os.path.join(out, "history.csv")
    logs = os.path.join(out, "tensorboard") if run.tensorboard else None
    if logs:
        run_callbacks.write_model_graph(net, logs)
    grid = run_callbacks.SampleGrid(spec, out, run.seed, run.sample_every, run.epochs, logs)
    if start_epoch > 0:
        run_callbacks.resume_history(history_path, start_epoch)
        grid.complete(net, start_epoch)  # a kill after the checkpoint may have cost a grid
    several = len(net.optimizer_slots()) > 1
    return [
        *([run_callbacks.LearningRates()] if several else []),  # both players' rates
        run_callbacks.HistoryCSV(history_path, append=start_epoch > 0),
        run_callbacks.Checkpoint(out),
        grid,
        *([run_callbacks.EpochTensorBoard(logs, write_graph=True)] if logs else []),
    ]


def _fit(net, plan: RunPlan, start_epoch: int, callbacks: list, verbose) -> dict:
    """Keras ``fit`` on the run's pipelines; returns the history of these epochs."""
    import tensorflow as tf

    from genkeras.run import distribute

    run, spec = plan.run, plan.spec
    strategy = net.distribute_strategy

    def train_data():
        return net.train_dataset(spec, run.batch_size, run.seed, start_epoch, run.epochs)

    def test_data():
        return net.test_dataset(spec, max(run.batch_size, EVAL_BATCH))

    multiworker = distribute.is_multiworker(strategy)
    if distribute.replicated(strategy):  # each replica takes its slice of every global batch
        train_ds = distribute.distribute_dataset(strategy, train_data)
        test_ds = distribute.distribute_dataset(strategy, test_data)
    else:
        train_ds, test_ds = train_data(), test_data()
    try:
        history = net.fit(
            train_ds,
            validation_data=test_ds,
            epochs=run.epochs,
            initial_epoch=start_epoch,
            steps_per_epoch=net.steps_per_epoch(spec, run.batch_size),
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as exc:
        if not multiworker:
            raise
        raise distribute.WorkerLostError(
            f"another worker stopped responding ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Restart every worker with --resume; the "
            "chief's last checkpoint holds the state."
        ) from None
    return history.history


# -- 4. evaluate ------------------------------------------------------------------------------
def evaluate(net, spec, batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """The test metrics of a trained model: its family's own, then sample quality.

    What ``metrics.json`` holds and ``genkeras evaluate`` prints:
    :meth:`~genkeras.models.base.GenerativeModel.evaluation_metrics` and
    :func:`genkeras.evaluation.samples.sample_quality` (the same names for
    every family).

    Raises:
        ValueError: If the two share a metric name.
    """
    from genkeras.evaluation.coverage import merge_metrics
    from genkeras.evaluation.samples import sample_quality

    metrics = dict(net.evaluation_metrics(spec, batch_size=batch_size))
    family = type(net).__name__
    return merge_metrics(metrics, sample_quality(net, spec), f"{family}'s sample quality")


# -- 5. write the run folder ---------------------------------------------------------------
def write_run_folder(net, plan: RunPlan, history: dict[str, list[float]], metrics) -> RunResult:
    """Saves the model and writes the figures and metrics of a finished run (the chief's job).

    ``config.json`` then lists every file written, and ``metrics.json`` comes
    last: a run is finished once every listed file reads back
    (:func:`genkeras.run.folder.unfinished`); until then ``--resume`` completes it.
    """
    from genkeras import plots
    from genkeras.models.base import MODEL_FILE
    from genkeras.run.callbacks import write_samples

    out, spec = plan.out, plan.spec
    tmp = os.path.join(out, "model.tmp.keras")
    net.save(tmp)
    os.replace(tmp, os.path.join(out, MODEL_FILE))
    files = []
    if write_samples(net, spec, out, plan.run.seed):
        files.append("samples.png")
    if history:
        title = f"{plan.model} on {spec.name}"
        plots.training_curves(history, os.path.join(out, "curves.png"), title=title)
        files.append("curves.png")
    files += net.write_figures(spec, out)
    record = plan.record(files=files)
    ckpt.write_json(os.path.join(out, CONFIG_FILE), record.to_dict())
    metrics = dict(metrics)
    trained = max((len(v) for v in history.values()), default=plan.done)
    metrics["epochs"] = int(trained)  # what ran (EM may stop early), not what was asked
    for key, values in history.items():
        if values:
            metrics[f"final_{key}"] = values[-1]
    ckpt.write_json(os.path.join(out, "metrics.json"), metrics)
    return RunResult(out, net, history, metrics, record)


def run(
    model: str = "vae",
    config: RunConfig | None = None,
    options: Mapping[str, Any] | ModelConfig | None = None,
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
        verbose: ``"auto"`` (a progress bar on a terminal, a line per epoch
            otherwise), ``1`` (the bar) or ``0`` (nothing).
        runs_root: Parent of the default run folder.
        **fields: :class:`~genkeras.run.config.RunConfig` fields, overriding
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

        from genkeras.run import run
        result = run("vae", epochs=5, options={"latent_dim": 2})
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
    """Builds, trains, evaluates and writes the run folder of a :func:`plan_run` plan.

    Returns:
        A :class:`RunResult` (on a worker that does not write the run folder,
        with empty metrics).

    Raises:
        genkeras.errors.PluginError: A plugin's model failed with an error of
            its code (named, with what changed in the plugin API).
    """
    from genkeras.run.runtime import import_tensorflow

    import_tensorflow()
    try:
        return _execute(plan, callbacks, verbose)
    except (AttributeError, TypeError, NameError) as exc:
        entry = registry.models.entry(plan.model)
        if entry.builtin:
            raise
        from genkeras.plugin_api import migration_hint

        error = f"{type(exc).__name__}: {exc}"
        raise PluginError(
            f"model {plan.model!r} from {entry.distribution or 'in-process code'} failed: "
            f"{error}{migration_hint(error)}"
        ) from exc


def _execute(plan: RunPlan, callbacks, verbose):
    writing = locked(plan.out) if plan.chief else contextlib.nullcontext()
    with writing, named_os_errors(plan.out), _op_determinism(not plan.run.jit):
        if plan.chief and not plan.resume:
            check_out(plan.out, plan.overwrite)  # again, under the lock: a race is refused
        try:
            net, start_epoch = build(plan)
        except BaseException:
            if plan.chief and plan.new_folder:  # nothing was trained: leave no folder behind
                remove_unstarted(plan.out, new_folder=True)
            raise
        history = train(net, plan, start_epoch, callbacks, verbose)
        if not plan.chief:
            return RunResult(plan.out, net, history, {}, plan.record())
        metrics = evaluate(net, plan.spec)
        return write_run_folder(net, plan, history, metrics)
