"""The Keras callbacks every run gets from :func:`genkeras.run.lifecycle.run`.

In the order the runner installs them, before the family's own
(:meth:`genkeras.models.base.GenerativeModel.callbacks`) and the caller's:

* :class:`NaNWatch` -- ``TerminateOnNaN`` that remembers where a loss diverged,
  so the runner can say so;
* :class:`HistoryCSV` -- ``history.csv``, one row per epoch;
* :class:`Checkpoint` -- the full training state after every epoch, atomically;
* :class:`SampleGrid` -- ``samples.png`` and ``samples/epoch-NNN.png``;
* :class:`EpochLines` -- a plain line per epoch when the output is not a
  terminal (:func:`progress_mode`), after the caller's.

This module imports Keras (and so TensorFlow); the runner imports it only
once it builds a model.
"""

from __future__ import annotations

import math
import os
import shutil

import keras
import numpy as np

from genkeras.run import checkpoint

__all__ = [
    "Checkpoint",
    "HistoryCSV",
    "NaNWatch",
    "progress_mode",
    "EpochLines",
    "EpochTensorBoard",
    "LearningRates",
    "SampleGrid",
    "diverged",
    "resume_history",
    "sample_count",
    "write_model_graph",
    "write_samples",
]


def diverged(logs) -> bool:
    """Whether any logged value is NaN or infinite."""
    for value in (logs or {}).values():
        try:
            if not math.isfinite(float(value)):
                return True
        except (TypeError, ValueError):
            continue
    return False


def write_samples(
    model, spec, run_dir: str, seed: int, epoch: int | None = None, draw=None
) -> str | None:
    """Draws the samples a run shows and writes ``samples.png`` (and a per-epoch copy).

    The samples are ``model.sample(n, seed, **model.display_options)``: 64
    images as a grid, or 2,000 points over the test data for 2-D data; the
    title says what they are (:meth:`~genkeras.models.base.GenerativeModel.describe_samples`).

    Args:
        model: The model.
        spec: Its data.
        run_dir: The run folder.
        seed: The samples' seed.
        epoch: Epochs trained, for a per-epoch copy ``samples/epoch-NNN.png``.
        draw: A callable returning those samples (e.g. a compiled one); default
            ``model.sample``.

    Returns:
        The path of the figure, or ``None`` for data that has no picture.
    """
    from genkeras import plots

    options = dict(model.display_options)
    n = sample_count(spec)
    samples = draw() if draw is not None else model.sample(n, seed=seed, **options)
    what = model.describe_samples(**options)
    title = f"{what}, after epoch {epoch}" if epoch is not None else what
    path = os.path.join(run_dir, "samples.png")
    written = plots.samples_figure(samples, spec, path, title)
    if written and epoch is not None:
        os.makedirs(os.path.join(run_dir, "samples"), exist_ok=True)
        shutil.copyfile(path, os.path.join(run_dir, "samples", f"epoch-{epoch:03d}.png"))
    return written


def sample_count(spec) -> int:
    """How many samples a run's picture shows: 64 images, or 2,000 points."""
    return 64 if spec.is_image else 2000


def write_model_graph(model, logdir: str) -> None:
    """Writes the graph of one forward pass (``model.forward``, two zero examples) for TensorBoard.

    Keras's ``TensorBoard`` callback draws no graph for a subclassed model; this
    traces the forward pass once (cheap) and exports it under ``logdir/graph``.
    """
    import tensorflow as tf

    zeros = tf.zeros((2,) + tuple(model.data_shape))
    labels = tf.zeros((2,), tf.int32) if model.conditional else None
    forward = tf.function(lambda x: model.forward(x, labels))
    writer = tf.summary.create_file_writer(os.path.join(logdir, "graph"))
    tf.summary.trace_on(graph=True)
    forward(zeros)
    with writer.as_default():
        tf.summary.trace_export(name="forward", step=0)
    writer.flush()


class HistoryCSV(keras.callbacks.Callback):
    """Writes ``history.csv``: one row per epoch, its ``epoch`` column counting epochs completed.

    Every artefact of a run numbers epochs the same way: the row ``epoch = k``,
    ``samples/epoch-00k.png``, the checkpoint's ``epoch`` and the x-axis of
    ``curves.png`` all mean "after k epochs" (Keras's own ``epoch`` index is
    ``k - 1``). Unlike ``keras.callbacks.CSVLogger``, a resumed run whose
    metrics differ from those already in the file (a run written by an older
    genkeras, say) widens the header instead of writing rows that no longer
    line up with it: a value an epoch did not log is left empty.

    Args:
        filename: The CSV file.
        append: Keep the rows already there (a resumed run) rather than start anew.
    """

    def __init__(self, filename: str, append: bool = False):
        super().__init__()
        self.filename = filename
        self.append = append

    def on_train_begin(self, logs=None):
        """Starts a new file unless appending."""
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, epoch, logs=None):
        """Writes the row of the ``epoch + 1``-th epoch."""
        import csv

        row = {"epoch": str(epoch + 1)}
        for key, value in sorted((logs or {}).items()):
            row[key] = str(float(np.asarray(value))) if np.size(value) == 1 else ""
        header, rows = ["epoch"], []
        if os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                reader = csv.DictReader(f)
                header = list(reader.fieldnames or ["epoch"])
                rows = list(reader)
        new = [k for k in row if k not in header]
        if new or not os.path.exists(self.filename):
            header += new
            tmp = self.filename + ".tmp"
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, header, restval="")
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, self.filename)
        with open(self.filename, "a", newline="") as f:
            csv.DictWriter(f, header, restval="").writerow(row)


def resume_history(path: str, epochs_done: int) -> None:
    """Prepares ``history.csv`` for a run resumed after ``epochs_done`` epochs.

    Rows of later epochs are dropped: a run killed after writing an epoch's
    row but before its checkpoint trains that epoch again. A history whose
    epochs count from 0 (genkeras 0.1.0) is renumbered to count from 1.
    """
    import csv

    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2 or rows[0][:1] != ["epoch"]:
        return
    shift = 1 if rows[1][:1] == ["0"] else 0
    body = [[str(int(r[0]) + shift)] + r[1:] for r in rows[1:] if r]
    body = [r for r in body if int(r[0]) <= epochs_done]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + body)
    os.replace(tmp, path)


class Checkpoint(keras.callbacks.Callback):
    """Saves the full training state atomically at the end of every epoch.

    Args:
        run_dir: The run folder.
    """

    def __init__(self, run_dir: str):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        """Saves the state after ``epoch + 1`` epochs (never a diverged one)."""
        if diverged(logs):
            return  # never overwrite a good checkpoint with a diverged state
        checkpoint.save_checkpoint(self.model, self.run_dir, epoch + 1)


class SampleGrid(keras.callbacks.Callback):
    """Draws samples with a fixed seed every ``every`` epochs and after the last one.

    The samples come from one compiled function (``model.sample`` under
    ``tf.function``), traced when training begins, so a grid costs a forward
    pass and one pixel-exact picture (:func:`genkeras.plots.image_grid`).

    Args:
        spec: The run's :class:`genkeras.data.DataSpec`.
        run_dir: The run folder.
        seed: The samples' seed (the same every time).
        every: Epochs between grids.
        last_epoch: The run's last epoch (always drawn).
        tensorboard: A TensorBoard log folder to add each grid to as an image
            (under ``samples``, step = epochs trained), or ``None``.
    """

    def __init__(
        self,
        spec,
        run_dir: str,
        seed: int,
        every: int = 1,
        last_epoch: int = 0,
        tensorboard: str | None = None,
    ):
        super().__init__()
        self.spec, self.run_dir, self.seed = spec, run_dir, int(seed)
        self.every, self.last_epoch = max(1, int(every)), int(last_epoch)
        self.tensorboard = tensorboard
        self._draw = None
        self._writer = None

    def due(self, epoch: int) -> bool:
        """Whether the grid of ``epoch`` epochs is drawn."""
        return epoch % self.every == 0 or epoch == self.last_epoch

    def _compiled(self, model):
        if self._draw is None:
            import tensorflow as tf

            n, options = sample_count(self.spec), dict(model.display_options)
            self._draw = tf.function(lambda: model.sample(n, seed=self.seed, **options))
        return self._draw

    def on_train_begin(self, logs=None):
        """Traces the compiled sampler once, so no epoch pays for the trace."""
        self._compiled(self.model).get_concrete_function()

    def _draw_grid(self, model, epoch: int) -> None:
        path = write_samples(
            model, self.spec, self.run_dir, self.seed, epoch, self._compiled(model)
        )
        if path and self.tensorboard:
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(self.tensorboard, "samples")
                )
            png = tf.image.decode_png(tf.io.read_file(path), channels=3)
            with self._writer.as_default():
                tf.summary.image("samples", png[None], step=epoch)
            self._writer.flush()

    def complete(self, model, epoch: int) -> None:
        """Draws the grid of ``epoch`` if it is due and missing (a resumed run's first job)."""
        path = os.path.join(self.run_dir, "samples", f"epoch-{epoch:03d}.png")
        if self.due(epoch) and not os.path.exists(path):
            self._draw_grid(model, epoch)

    def on_epoch_end(self, epoch, logs=None):
        """Writes the samples after ``epoch + 1`` epochs, if that grid is due."""
        if diverged(logs) or not self.due(epoch + 1):
            return
        self._draw_grid(self.model, epoch + 1)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras's ``TensorBoard`` whose epoch summaries are at step = epochs completed.

    Keras writes the scalars of the third epoch at step 2; the sample grids,
    ``history.csv``, ``samples/epoch-003.png`` and the checkpoint all say 3.
    Here every summary of an epoch says 3 too.
    """

    def on_epoch_end(self, epoch, logs=None):
        """Writes the epoch's summaries at step ``epoch + 1``."""
        super().on_epoch_end(epoch + 1, logs)


class LearningRates(keras.callbacks.Callback):
    """Adds every optimizer's learning rate to an epoch's logs (``lr_d_optimizer``, ...).

    For models with several optimizers (the GAN's two players), whose rates
    Keras's own logging reduces to one. Install it before the callbacks that
    write the logs.
    """

    def on_epoch_end(self, epoch, logs=None):
        """Adds ``lr_<optimizer slot>`` for each of the model's optimizers."""
        if logs is None:
            return
        for name, optimizer, _ in self.model.optimizer_slots():
            inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
            logs[f"lr_{name}"] = float(keras.ops.convert_to_numpy(inner.learning_rate))


class EpochLines(keras.callbacks.Callback):
    """One plain line per epoch, ``epoch 3/30  loss 1.2345  val_loss 1.3456`` (no bar).

    What a run prints when its output is not a terminal (a log file, a pipe,
    CI): Keras's progress bar redraws itself with carriage returns and ANSI
    escapes, which a file keeps.

    Args:
        stream: Where to write (default ``sys.stdout``).
    """

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream

    def on_epoch_end(self, epoch, logs=None):
        """Writes the epoch's line."""
        import sys

        total = self.params.get("epochs", "?")
        parts = [f"epoch {epoch + 1}/{total}"]
        for key, value in (logs or {}).items():
            try:
                parts.append(f"{key} {float(value):.4g}")
            except (TypeError, ValueError):
                continue
        stream = self.stream or sys.stdout
        print("  ".join(parts), file=stream, flush=True)


def progress_mode(verbose) -> tuple[int, list]:
    """``(verbose for fit, extra callbacks)`` for a run's ``verbose`` argument.

    ``"auto"``: Keras's progress bar when standard output is a terminal, else
    :class:`EpochLines`; ``0``/``False``: nothing; anything else: the bar.
    """
    import sys

    if verbose in (0, False):
        return 0, []
    if verbose == "auto":
        if sys.stdout.isatty():
            return 1, []
        return 0, [EpochLines()]
    return 1, []


class NaNWatch(keras.callbacks.TerminateOnNaN):
    """``TerminateOnNaN`` that remembers where a logged value diverged.

    Attributes:
        diverged_at: ``(epoch, batch, name, value)`` of the first NaN or
            infinite value, or ``None``.
    """

    def __init__(self):
        super().__init__()
        self.diverged_at = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        """Remembers the epoch for the report."""
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        """Stops training at the first NaN or infinite logged value."""
        for name, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                self.diverged_at = (self.epoch, batch, name, value)
                self.model.stop_training = True
                return
