"""Training on several workers: the runner's own epoch loop under ``MultiWorkerMirroredStrategy``.

Keras 3's ``fit`` fails under ``tf.distribute.MultiWorkerMirroredStrategy``
as soon as a second worker joins (keras-team/keras#20585,
tensorflow/tensorflow#72388; with Keras 3.15 and two workers on 127.0.0.1 it
stops at the first step reducing the step's logs). ``genkeras run --strategy
multiworker`` therefore trains with :func:`fit_multiworker`, a small epoch loop
over the family's own declared ``train_step`` / ``test_step`` that drives the
same Keras callbacks ``fit`` would (history, checkpoints, sample grids, NaN
watch, progress bar), so the run folder is the same whichever path trained it.

What is the same as on one device, and what is not:

* **Batches.** ``--batch-size`` is the global batch. Every worker builds the
  same global batch (the order is a stateless function of the seed and the
  epoch) and each replica takes its contiguous slice of it, so replica ``r``
  of ``N`` trains on examples ``[r·B/N, (r+1)·B/N)`` -- the split
  ``MirroredStrategy`` makes on one machine.
* **Gradients and the learning rate.** Each replica's loss is divided by ``N``
  and the gradients are summed, so an update is the update of one device on
  the global batch, and the learning rate means the same thing under any
  number of replicas.
* **Noise.** Families draw the noise of the global batch and keep their
  replica's slice (the VAE's ε), so the random numbers an example meets do
  not depend on the topology.
* Results agree across topologies to float tolerance, not bit for bit: sums
  across replicas are taken in a different order.

Only the chief (task ``chief``, or worker 0 when the cluster has no chief)
writes the run folder; the other workers train and write nothing.
"""

from __future__ import annotations

import json
import os

__all__ = [
    "COLLECTIVE_TIMEOUT_S",
    "WorkerLostError",
    "cluster_size",
    "fit_multiworker",
    "is_chief",
    "make_strategy",
    "multiworker_strategy",
]

#: Seconds a collective operation waits for the other workers before it fails.
COLLECTIVE_TIMEOUT_S = 60


class WorkerLostError(RuntimeError):
    """Raised when another worker of a multi-worker run stopped responding."""


def _tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}).") from None


def cluster_size() -> int:
    """Number of tasks in ``TF_CONFIG``'s cluster (1 without ``TF_CONFIG``)."""
    cluster = _tf_config().get("cluster") or {}
    return max(1, sum(len(tasks) for tasks in cluster.values()))


def is_chief() -> bool:
    """Whether this process writes the run folder: task ``chief``, or worker 0 without a chief.

    Without ``TF_CONFIG`` the process is alone, and so the chief.
    """
    config = _tf_config()
    task, cluster = config.get("task") or {}, config.get("cluster") or {}
    if not task:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def make_strategy(name: str):
    """Returns the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``"default"`` (one device), ``"mirrored"`` (all local devices)
            or ``"multiworker"`` (``MultiWorkerMirroredStrategy``; reads
            ``TF_CONFIG``, and is a single worker without it).

    Raises:
        ValueError: For another name.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return multiworker_strategy()
    from genkeras.run_config import STRATEGIES

    raise ValueError(
        f"strategy must be one of {', '.join(STRATEGIES)}. Received: strategy={name!r}"
    )


def multiworker_strategy():
    """``MultiWorkerMirroredStrategy``; collectives time out after :data:`COLLECTIVE_TIMEOUT_S`."""
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _sliced(strategy, dataset_fn):
    """A distributed dataset in which each replica gets its slice of every global batch."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync

    def per_worker(context):
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local  # global id of this worker's first replica

        def replica_batches(batch):
            # batch: a tensor (x) or a tuple (x, labels), the whole global batch. Full
            # batches have a static size, so the replicas' slices do too.
            static = tf.nest.flatten(batch)[0].shape[0]
            size = static if static is not None else tf.shape(tf.nest.flatten(batch)[0])[0]
            per = -(-size // replicas) if static is not None else (size + replicas - 1) // replicas
            parts = None
            for r in range(first, first + local):
                if static is not None:
                    lo, hi = min(r * per, size), min((r + 1) * per, size)
                else:
                    lo, hi = tf.minimum(r * per, size), tf.minimum((r + 1) * per, size)
                piece = tf.nest.map_structure(lambda t, lo=lo, hi=hi: t[lo:hi], batch)
                part = tf.data.Dataset.from_tensors(piece)
                parts = part if parts is None else parts.concatenate(part)
            return parts  # the local replicas take these in turn

        dataset = dataset_fn()
        if isinstance(dataset.element_spec, tuple):
            return dataset.flat_map(lambda *batch: replica_batches(batch))
        return dataset.flat_map(replica_batches)

    return strategy.distribute_datasets_from_function(per_worker)


def _global_steps(model, strategy):
    """``(train_step, test_step)``: one global batch through every replica, then the logs.

    As Keras's fit: no autograph over the steps, and each replica runs the
    model's step as a function of its own. The logs are the trackers' results
    read in cross-replica context, which sums each tracker's state over every
    replica of every worker (inside a replica, a tracker holds only that
    replica's examples).
    """
    import tensorflow as tf

    def results():
        return {m.name: m.result() for m in model.metrics}

    def global_step(replica_step):
        replica_step = tf.function(replica_step, autograph=False)

        @tf.function(autograph=False)
        def step(batch):
            strategy.run(replica_step, args=(batch,))
            return results()

        return step

    return global_step(model.train_step), global_step(model.test_step)


def _train_epoch(model, cbs, batches, train_step, steps: int) -> dict[str, float]:
    """Runs ``steps`` global training steps with the batch callbacks; returns the last logs."""
    for tracker in model.metrics:
        tracker.reset_state()
    logs = {}
    for step in range(steps):
        cbs.on_train_batch_begin(step)
        logs = {k: float(v) for k, v in train_step(next(batches)).items()}
        cbs.on_train_batch_end(step, logs)
        if model.stop_training:
            break
    return logs


def _evaluate(model, batches, test_step) -> dict[str, float]:
    """One pass over the test batches; returns the trackers' results."""
    for tracker in model.metrics:
        tracker.reset_state()
    logs = {}
    for batch in batches:
        logs = {k: float(v) for k, v in test_step(batch).items()}
    return logs


def fit_multiworker(
    model,
    strategy,
    train_fn,
    test_fn,
    *,
    epochs: int,
    initial_epoch: int,
    steps_per_epoch: int,
    callbacks,
    verbose="auto",
) -> dict:
    """``fit``'s epoch loop for ``MultiWorkerMirroredStrategy``, over the model's own steps.

    Args:
        model: A compiled :class:`~genkeras.models.base.GenerativeModel`.
        strategy: The strategy the model was built under.
        train_fn: Builds the global-batch training pipeline (same on every worker).
        test_fn: Builds the global-batch test pipeline.
        epochs: The last epoch (exclusive), as in ``fit``.
        initial_epoch: The first epoch.
        steps_per_epoch: Training steps per epoch.
        callbacks: Keras callbacks, driven as ``fit`` drives them.
        verbose: ``"auto"``/1 shows Keras's progress bar, 0 none.

    Returns:
        The history of these epochs, ``{metric: [values]}``.

    Raises:
        WorkerLostError: Another worker stopped responding.
    """
    import keras
    import tensorflow as tf

    train = iter(_sliced(strategy, train_fn))
    test = _sliced(strategy, test_fn)
    train_step, test_step = _global_steps(model, strategy)
    progress = verbose not in (0, False)
    cbs = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=progress, model=model,
        verbose=1 if progress else 0, epochs=epochs, steps=steps_per_epoch,
    )  # fmt: skip
    model.stop_training = False
    try:
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            logs = _train_epoch(model, cbs, train, train_step, steps_per_epoch)
            val = _evaluate(model, test, test_step)
            cbs.on_epoch_end(epoch, {**logs, **{f"val_{k}": v for k, v in val.items()}})
            if model.stop_training:
                break
        cbs.on_train_end()
        return model.history.history
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as exc:
        raise WorkerLostError(
            f"another worker stopped responding ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Restart every worker with --resume; the "
            "chief's last checkpoint holds the state."
        ) from None
