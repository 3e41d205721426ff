"""Fault injection: a real ``genkeras run`` killed at several points resumes to the same end.

Each faulty run is a fresh interpreter that patches one spot of genkeras to
send itself SIGKILL there -- the process dies as it would on a power cut or an
OOM kill, without running any cleanup -- and then ``genkeras run vae --resume``
must finish with the ``history.csv`` and ``metrics.json`` of an uninterrupted
run.
"""

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

ARGS = [
    "run", "vae", "--epochs", "3", "--batch-size", "128", "--hidden", "4",
    "--iwae-samples", "5", "--steps-per-execution", "1", "--quiet",
]  # fmt: skip
# Keras calls ``on_batch_end`` once per execution; with the automatic choice
# (all 11 steps of an epoch at once) the "epoch" fault below could never fire
# in mid-epoch, so these runs execute one step at a time.

#: Runs the CLI after arming one fault: ``python -c KILLER POINT OUT``.
KILLER = r"""
import os, signal, sys
point, out = sys.argv[1], sys.argv[2]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "epoch":  # in the middle of epoch 2
    from genkeras.run import callbacks
    original = callbacks.NaNWatch.on_batch_end
    def on_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 5:
            die()
        if self.epoch == 1 and batch > 5:
            raise SystemExit("the epoch fault never fired: batch 5 was not reported")
        return original(self, batch, logs)
    callbacks.NaNWatch.on_batch_end = on_batch_end
elif point == "checkpoint":  # epoch 2's checkpoint written beside the old one, not swapped in
    from genkeras.run import checkpoint
    original = checkpoint.write_json
    def write_json(path, obj):
        original(path, obj)
        if path.endswith(os.path.join("checkpoint.tmp", "state.json")) and obj["epoch"] == 2:
            die()
    checkpoint.write_json = write_json
elif point == "swap":  # between the two renames of epoch 2's checkpoint
    from genkeras.run import checkpoint
    original_replace = os.replace
    def replace(src, dst):
        original_replace(src, dst)
        if dst.endswith("checkpoint.old"):
            state = os.path.join(dst, "state.json")
            if '"epoch": 1' in open(state).read():
                die()
    checkpoint.os.replace = replace
elif point == "evaluation":  # after the last epoch, while computing the test metrics
    from genkeras.models import vae
    def evaluation_metrics(self, *args, **kwargs):
        die()
    vae.VAE.evaluation_metrics = evaluation_metrics

from genkeras.cli import main
main(sys.argv[3:] + ["--out", out])
"""


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")


def _cli(*args, **kwargs):
    code = "import sys\nfrom genkeras.cli import main\nmain(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env(), **kwargs
    )


def _history(run):
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "full"
    proc = _cli(*ARGS, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("point", ["epoch", "checkpoint", "swap", "evaluation"])
def test_killed_run_resumes_to_the_uninterrupted_end(uninterrupted, tmp_path, point):
    out = tmp_path / point
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(out), *ARGS],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    assert not (out / "metrics.json").exists()
    resumed = _cli("run", "vae", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Traceback" not in resumed.stderr

    want, got = _history(uninterrupted), _history(out)
    assert got["epoch"] == want["epoch"] == [1.0, 2.0, 3.0]
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    want_metrics = json.loads((uninterrupted / "metrics.json").read_text())
    got_metrics = json.loads((out / "metrics.json").read_text())
    assert got_metrics.keys() == want_metrics.keys()
    for key, value in want_metrics.items():
        np.testing.assert_allclose(got_metrics[key], value, rtol=1e-6, err_msg=key)
    assert sorted(os.listdir(out / "samples")) == sorted(os.listdir(uninterrupted / "samples"))
    leftovers = {"checkpoint.tmp", "checkpoint.old", "model.tmp.keras"} & set(os.listdir(out))
    assert not leftovers


def test_ctrl_c_exits_130_and_leaves_a_resumable_run(tmp_path):
    """SIGINT ends the run with the conventional 130, and --resume continues it."""
    out = str(tmp_path / "run")
    args = ARGS[:3] + ["50"] + ARGS[4:-1] + ["--out", out]  # not --quiet: a line per epoch
    proc = subprocess.Popen(
        [sys.executable, "-m", "genkeras", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        # As from a terminal: a job started in the background (CI) inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in proc.stdout:  # plain lines off a terminal
        if line.startswith("epoch 2/50"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    done = json.load(open(os.path.join(out, "checkpoint", "state.json")))["epoch"]
    assert done >= 2 and not os.path.exists(os.path.join(out, "metrics.json"))
    resumed = subprocess.run(
        [sys.executable, "-m", "genkeras", "run", "vae", "--resume", out,
         "--epochs", str(done + 1), "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert os.path.exists(os.path.join(out, "metrics.json"))
