"""Training over several replicas and workers: ``tf.distribute`` strategies on Keras's ``fit``.

Every run trains with ``keras.Model.fit``, on one device or many. Over several
replicas (``--strategy mirrored`` with several local devices, ``--strategy
multiworker`` with several workers), the families' ``make_train_function`` and
``make_test_function`` (declared on
:class:`~genkeras.models.base.GenerativeModel`) build their compiled function
with :func:`step_function` instead of Keras's own, for three reasons found in
Keras 3.15 on TensorFlow 2.21 (CPU):

* Keras reduces each step's logs with ``strategy.reduce("MEAN", v, axis=0)``
  under ``MultiWorkerMirroredStrategy``, which fails on scalar logs as soon as
  a second worker joins (keras-team/keras#20585). Here the logs are the
  trackers' results read in cross-replica context: each tracker's state
  summed over every replica of every worker.
* Keras runs several steps per call inside a ``tf.cond``, which fails under
  ``tf.distribute`` ("You must feed a value for placeholder tensor",
  keras-team/keras#19246). Here the steps of one call run in a
  ``tf.while_loop`` without a ``tf.cond`` (an epoch's steps are a multiple of
  ``steps_per_execution``).
* XLA has no collectives on CPUs, so a whole replica step, whose gradients
  are all-reduced, cannot be compiled. Under ``--jit`` the models' gradient
  computation is compiled with XLA instead
  (:attr:`~genkeras.models.base.GenerativeModel.xla_gradients`, used by
  :meth:`~genkeras.models.base.GenerativeModel.optimize`) and the all-reduce
  and the update run outside it.

What is the same as on one device, and what is not:

* **Batches.** ``--batch-size`` is the global batch. Every worker builds the
  same global batch (the order is a stateless function of the seed and the
  epoch) and each replica takes its contiguous slice of it
  (:func:`distribute_dataset`), so replica ``r`` of ``N`` trains on examples
  ``[r·B/N, (r+1)·B/N)`` -- the split ``MirroredStrategy`` makes on one machine.
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
writes the run folder; every worker runs the same callbacks (the run folder's
write only on the chief).
"""

from __future__ import annotations

import json
import os

from genkeras.errors import WorkerLostError

__all__ = [
    "COLLECTIVE_TIMEOUT_S",
    "WorkerLostError",
    "cluster_size",
    "distribute_dataset",
    "is_chief",
    "is_multiworker",
    "make_strategy",
    "multiworker_strategy",
    "replicated",
    "step_function",
    "tf_config",
    "wait_for_cluster",
]

#: Seconds a collective operation waits for the other workers before it fails.
COLLECTIVE_TIMEOUT_S = 60


def tf_config() -> dict:
    """``TF_CONFIG``, validated: ``{"cluster": {type: ["host:port", ...]}, "task": {...}}``.

    Without ``TF_CONFIG`` (or with an empty one) the process is alone: ``{}``.

    Raises:
        ValueError: Naming ``TF_CONFIG`` and the field that is wrong.
    """
    text = os.environ.get("TF_CONFIG") or ""
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}).") from None
    if not isinstance(config, dict):
        raise ValueError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task'. Received: "
            f"{type(config).__name__} {text[:60]}"
        )
    cluster, task = config.get("cluster") or {}, config.get("task") or {}
    if not isinstance(cluster, dict) or not all(
        isinstance(v, list) and all(isinstance(a, str) and ":" in a for a in v)
        for v in cluster.values()
    ):
        raise ValueError(
            "TF_CONFIG's 'cluster' must map task types to lists of 'host:port' strings. "
            f"Received: cluster={cluster!r}"
        )
    if task:
        if not isinstance(task, dict) or task.get("type") not in cluster:
            raise ValueError(
                f"TF_CONFIG's 'task' must name a type of its cluster ({', '.join(cluster)}). "
                f"Received: task={task!r}"
            )
        index = task.get("index", 0)
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(
                f"TF_CONFIG's task index must be an integer. Received: index={index!r}"
            )
        if not 0 <= index < len(cluster[task["type"]]):
            raise ValueError(
                f"TF_CONFIG's task index {index} is not in its cluster's "
                f"{len(cluster[task['type']])} {task['type']} task(s)."
            )
    return {"cluster": cluster, "task": task}


def cluster_size() -> int:
    """Number of tasks in ``TF_CONFIG``'s cluster (1 without ``TF_CONFIG``)."""
    cluster = tf_config().get("cluster") or {}
    return max(1, sum(len(tasks) for tasks in cluster.values()))


def is_chief() -> bool:
    """Whether this process writes the run folder: task ``chief``, or worker 0 without a chief.

    Without ``TF_CONFIG`` the process is alone, and so the chief.
    """
    config = tf_config()
    task, cluster = config.get("task") or {}, config.get("cluster") or {}
    if not task:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def wait_for_cluster(timeout: float, echo=print, poll: float = 0.5, every: float = 10.0) -> None:
    """Waits until every task of ``TF_CONFIG``'s cluster accepts connections, or gives up.

    TensorFlow's ``MultiWorkerMirroredStrategy`` blocks, in C++, until the
    whole cluster is there, with no time limit and deaf to Ctrl-C and SIGTERM.
    So each worker first listens on its own address with a plain socket and
    waits, in Python (where signals work), until every other task's address
    answers; then it closes the socket and lets TensorFlow take the port.

    Args:
        timeout: Seconds to wait (``--cluster-timeout``).
        echo: Where progress goes (``"waiting for worker 1 at HOST:PORT ..."``).
        poll: Seconds between attempts.
        every: Seconds between progress lines.

    Raises:
        genkeras.errors.WorkerLostError: A task did not answer within ``timeout``,
            naming it.
    """
    import socket
    import time

    config = tf_config()
    task = config.get("task") or {}
    if not task:
        return
    tasks = [(t, i, a) for t, addrs in config["cluster"].items() for i, a in enumerate(addrs)]
    own = config["cluster"][task["type"]][task.get("index", 0)]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", int(own.rpartition(":")[2])))
    listener.listen(16)
    listener.setblocking(False)
    start = last = time.monotonic()
    waiting = [(t, i, a) for t, i, a in tasks if a != own]
    try:
        while waiting:
            _accept_all(listener)
            waiting = [(t, i, a) for t, i, a in waiting if not _answers(a)]
            now = time.monotonic()
            if waiting and now - start > timeout:
                names = ", ".join(f"{t} {i} at {a}" for t, i, a in waiting)
                raise WorkerLostError(
                    f"the cluster did not form within {timeout:g} s: {names} never answered "
                    "(TF_CONFIG). Start every task of the cluster, or wait longer with "
                    "--cluster-timeout."
                )
            if waiting and now - last >= every:
                last = now
                echo(f"waiting for {', '.join(f'{t} {i} at {a}' for t, i, a in waiting)} ...")
            if waiting:
                time.sleep(poll)
    finally:
        listener.close()


def _answers(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _accept_all(listener) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.close()


def make_strategy(name: str, cluster_timeout: float = 120.0, echo=print):
    """Returns the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``"default"`` (one device), ``"mirrored"`` (all local devices)
            or ``"multiworker"`` (``MultiWorkerMirroredStrategy``; reads
            ``TF_CONFIG``, and is a single worker without it).
        cluster_timeout: Seconds a worker waits for the rest of its cluster
            (:func:`wait_for_cluster`).
        echo: Where the wait's progress goes.

    Raises:
        ValueError: For another name, or an invalid ``TF_CONFIG``.
        genkeras.errors.WorkerLostError: The cluster did not form in time.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        wait_for_cluster(cluster_timeout, echo)
        return multiworker_strategy()
    from genkeras.run.config import STRATEGIES

    raise ValueError(
        f"strategy must be one of {', '.join(STRATEGIES)}. Received: strategy={name!r}"
    )


def multiworker_strategy():
    """``MultiWorkerMirroredStrategy``; collectives time out after :data:`COLLECTIVE_TIMEOUT_S`.

    TensorFlow installs a SIGTERM handler of its own as it builds the strategy
    (for preemption), which swallows the signal; the default action is put
    back, so SIGTERM ends a worker as it ends any process (its run folder
    stays resumable from the last checkpoint).
    """
    import signal

    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return strategy


def is_multiworker(strategy) -> bool:
    """Whether ``strategy`` spans several workers (``MultiWorkerMirroredStrategy`` in a cluster)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return bool(strategy.extended._in_multi_worker_mode())  # noqa: SLF001 - no public probe


def replicated(strategy) -> bool:
    """Whether a model under ``strategy`` trains on several replicas (or workers)."""
    return strategy.num_replicas_in_sync > 1 or is_multiworker(strategy)


def distribute_dataset(strategy, dataset_fn):
    """A distributed dataset in which each replica gets its slice of every global batch.

    Every worker builds the same global batches with ``dataset_fn`` (so
    nothing is sharded by file or by element across workers), and replica
    ``r`` of ``N`` takes examples ``[r·B/N, (r+1)·B/N)`` of each.
    """
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


def step_function(model, step, steps_per_execution: int):
    """The compiled function ``fit`` or ``evaluate`` calls over several replicas.

    ``function(iterator)`` runs ``steps_per_execution`` global steps -- each
    replica runs ``step`` (the model's ``train_step`` or ``test_step``) on its
    slice of a global batch -- and returns the trackers' results over every
    replica, as Keras's own function returns them on one device. With one
    step per call it reads the batch before the call, so the end of the data
    raises ``StopIteration`` (the test split); several steps per call read
    inside a ``tf.while_loop`` (training, whose epochs are a multiple of them).

    Under ``--jit`` (``model.jit_compile``) the model's gradient computation is
    compiled with XLA (see the module docstring).

    Args:
        model: A compiled :class:`~genkeras.models.base.GenerativeModel`.
        step: ``model.train_step`` or ``model.test_step``.
        steps_per_execution: Global steps per call.
    """
    import tensorflow as tf

    strategy = model.distribute_strategy
    model.xla_gradients = bool(model.jit_compile)
    replica_step = tf.function(step, autograph=False, reduce_retracing=True)

    def results():
        return {m.name: m.result() for m in model.metrics}

    @tf.function(autograph=False, reduce_retracing=True)
    def one(batch):
        strategy.run(replica_step, args=(batch,))
        return results()

    @tf.function(autograph=False, reduce_retracing=True)
    def several(iterator):
        def body(i):
            strategy.run(replica_step, args=(next(iterator),))
            return (i + 1,)

        tf.while_loop(lambda i: i < steps_per_execution, body, (tf.constant(0),))
        return results()

    def function(iterator):
        if steps_per_execution > 1:
            return several(iterator)
        try:
            batch = next(iterator)
        except (StopIteration, tf.errors.OutOfRangeError):
            raise StopIteration from None
        return one(batch)

    return function
