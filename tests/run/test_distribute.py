"""Several workers for real: two `genkeras run` processes on 127.0.0.1; resumes across topologies.

Every process here is a fresh interpreter (a strategy must be created before
TensorFlow starts, and the logical devices of the mirrored runs too). The
single-process reference runs ``MirroredStrategy`` over two logical CPUs: two
replicas on the same global batch, which is what two one-replica workers are.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

VAE = ["vae", "--hidden", "4", "--iwae-samples", "5"]
GAN = ["gan", "--dataset", "ring", "--width", "16", "--depth", "1", "--latent-dim", "4"]
COMMON = ["--batch-size", "64", "--seed", "0", "--quiet"]

#: Runs the CLI with two logical CPUs (for --strategy mirrored); optional SIGKILL after
#: batch B of epoch E (``KILL_AT=E,B``).
CLI = r"""
import os, signal, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
if os.environ.get("KILL_AT"):
    epoch, batch = map(int, os.environ["KILL_AT"].split(","))
    from genkeras.run import callbacks
    original = callbacks.NaNWatch.on_batch_end
    def on_batch_end(self, b, logs=None):
        if self.epoch == epoch and b == batch:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, b, logs)
    callbacks.NaNWatch.on_batch_end = on_batch_end
from genkeras.cli import main
main(sys.argv[1:])
"""


def _ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env.update(extra)
    return env


def _start(args, **env):
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _workers(args, kill_at=None):
    """Starts two workers of one cluster; worker 1 kills itself at ``kill_at`` if given."""
    hosts = [f"127.0.0.1:{p}" for p in _ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        extra = {"TF_CONFIG": json.dumps(config)}
        if kill_at and index == 1:
            extra["KILL_AT"] = kill_at
        procs.append(_start(args + ["--strategy", "multiworker"], **extra))
    return procs


def _history(folder):
    with open(os.path.join(folder, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _assert_same(a, b, rtol=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=rtol, err_msg=key)


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """The reference: one process, two replicas (logical CPUs), 2 epochs."""
    out = str(tmp_path_factory.mktemp("mirrored") / "run")
    proc = _start(["run", *VAE, *COMMON, "--epochs", "2", "--strategy", "mirrored", "--out", out])
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    return out


def test_two_workers_train_like_two_replicas_and_only_the_chief_writes(mirrored, tmp_path):
    out = str(tmp_path / "run")
    procs = _workers(["run", *VAE, *COMMON, "--epochs", "2", "--out", out])
    results = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 0, err[-2000:]
    assert "writes the run folder" in results[1][0]  # the non-chief says who writes
    _assert_same(_history(out), _history(mirrored))
    leftovers = [n for n in os.listdir(out) if ".tmp" in n or n.endswith(".old")]
    assert not leftovers and os.path.exists(os.path.join(out, "metrics.json"))
    assert len(os.listdir(tmp_path)) == 1  # one run folder, written by the chief


def test_two_workers_with_jit_and_steps_per_execution_use_xla_and_train_alike(tmp_path):
    """--jit and --steps-per-execution mean the same on two workers as on one device.

    XLA has no collectives on a CPU, so the workers compile each replica's
    gradient computation with XLA and all-reduce outside it; TensorFlow logs
    "Compiled cluster using XLA" once a cluster runs (INFO: level 0 shows it).
    XLA's kernels round differently from TensorFlow's, so the reference is a
    one-device run with --jit too.
    """
    args = ["run", *VAE, "--batch-size", "64", "--seed", "0", "--epochs", "2", "--jit"]
    reference = str(tmp_path / "one")
    one = _start(args + ["--quiet", "--out", reference])
    assert one.wait(timeout=900) == 0, one.stderr.read()[-2000:]
    out = str(tmp_path / "run")
    hosts = [f"127.0.0.1:{p}" for p in _ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        extra = {"TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "0"}
        worker_args = ["--strategy", "multiworker", "--steps-per-execution", "11", "--out", out]
        procs.append(_start(args + worker_args, **extra))
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
        assert "Compiled cluster using XLA" in err
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    assert config["jit"] is True and config["steps_per_execution"] == 11
    _assert_same(_history(out), _history(reference), rtol=1e-4)


def test_two_gan_workers_train_like_two_replicas(tmp_path):
    """The GAN too: two players, each replica's slice of the global batch's noise."""
    reference = str(tmp_path / "mirrored")
    args = ["run", *GAN, "--batch-size", "500", "--seed", "0", "--quiet", "--epochs", "1"]
    one = _start(args + ["--strategy", "mirrored", "--out", reference])
    assert one.wait(timeout=900) == 0, one.stderr.read()[-2000:]
    out = str(tmp_path / "run")
    for proc in _workers(args + ["--out", out]):
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
    _assert_same(_history(out), _history(reference), rtol=1e-4)


def test_a_lost_worker_stops_the_other_and_both_resume(mirrored, tmp_path):
    out = str(tmp_path / "run")
    args = ["run", *VAE, *COMMON, "--epochs", "2", "--out", out]
    # one step per call, so that the batch callback sees batch 5 of epoch 2
    chief, worker = _workers(args + ["--steps-per-execution", "1"], kill_at="1,5")
    worker.wait(timeout=900)
    died = time.monotonic()
    assert worker.returncode == -signal.SIGKILL
    _, err = chief.communicate(timeout=300)
    waited = time.monotonic() - died
    assert chief.returncode == 1, err[-2000:]
    assert "another worker stopped responding" in err and "--resume" in err
    assert "Traceback" not in err
    assert waited < 120, waited  # bounded by the collective timeout, not a hang

    resumed = _workers(["run", *VAE, "--resume", out, "--quiet", "--strategy", "multiworker"])
    for proc in resumed:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
    _assert_same(_history(out), _history(mirrored))


@pytest.mark.parametrize("first,then", [("mirrored", "default"), ("default", "mirrored")])
def test_resume_on_another_topology_ends_where_one_topology_does(mirrored, tmp_path, first, then):
    out = str(tmp_path / "run")
    one = _start(["run", *VAE, *COMMON, "--epochs", "1", "--strategy", first, "--out", out])
    assert one.wait(timeout=900) == 0, one.stderr.read()[-2000:]
    two = _start(["run", "vae", "--resume", out, "--epochs", "2", "--quiet", "--strategy", then])
    assert two.wait(timeout=900) == 0, two.stderr.read()[-2000:]
    _assert_same(_history(out), _history(mirrored))
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["strategy"] == then


@pytest.mark.parametrize(
    "config,message",
    [
        ("[1,2]", "must be a JSON object"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": "abc"}}',
         "task index must be an integer"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
         "task index 3 is not in"),
        ('{"cluster": {"worker": [1]}, "task": {"type": "worker"}}', "'host:port' strings"),
        ("{nope", "not valid JSON"),
    ],
)  # fmt: skip
def test_a_bad_tf_config_is_one_line_naming_the_field(config, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "genkeras", "run", *VAE, "--strategy", "multiworker",
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=_env(TF_CONFIG=config), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "TF_CONFIG" in proc.stderr and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_a_worker_whose_cluster_never_forms_stops_by_itself(tmp_path):
    """Two workers configured, one started: a bounded wait, progress, one line, exit 1."""
    hosts = [f"127.0.0.1:{p}" for p in _ports(2)]
    config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": 0}}
    args = ["run", *VAE, *COMMON, "--strategy", "multiworker", "--cluster-timeout", "15"]
    proc = _start(args + ["--out", str(tmp_path / "run")], TF_CONFIG=json.dumps(config))
    _, err = proc.communicate(timeout=300)  # the wait is 15 s; TensorFlow's start-up more
    assert proc.returncode == 1, err[-2000:]
    assert f"worker 1 at {hosts[1]} never answered" in err and "--cluster-timeout" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_sigterm_ends_a_waiting_worker(tmp_path):
    hosts = [f"127.0.0.1:{p}" for p in _ports(2)]
    config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": 0}}
    args = ["run", *VAE, "--strategy", "multiworker", "--cluster-timeout", "600"]
    proc = _start(args + ["--out", str(tmp_path / "run")], TF_CONFIG=json.dumps(config))
    for line in proc.stderr:
        if "waiting for worker 1" in line:
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGTERM
