"""Run folders: locked while written, finished only when every promised file reads back."""

import errno
import json
import os
import subprocess
import sys
import time

import pytest

from genkeras import plots
from genkeras.errors import RunFolderError
from genkeras.run import folder, lifecycle

SMALL = {"latent_dim": 2, "hidden": 4, "iwae_samples": 5}


def _run(out, **kwargs):
    kwargs.setdefault("options", SMALL)
    kwargs.setdefault("epochs", 1)
    return lifecycle.run("vae", out=str(out), verbose=0, batch_size=128, **kwargs)


def test_a_folder_being_written_refuses_a_second_writer(tmp_path):
    out = tmp_path / "run"
    with folder.locked(str(out)):  # as another process writing it would hold it
        with pytest.raises(RunFolderError, match="being written by another genkeras run"):
            _run(out)
    assert os.listdir(out) == []  # the lock file went with its holder; nothing else written
    _run(out)  # free again


def test_two_runs_started_apart_with_the_same_out_do_not_mix(tmp_path):
    """The race of the hardening issue: both passed the empty-folder check; one must lose."""
    out = str(tmp_path / "run")
    args = [sys.executable, "-m", "genkeras", "run", "vae", "--hidden", "4", "--iwae-samples", "5",
            "--epochs", "4", "--out", out]  # fmt: skip
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in first.stdout:  # plain lines: the first run is writing now
        if line.startswith("epoch 1/"):
            break
    second = subprocess.run(
        args[:-2] + ["--epochs", "1", "--out", out], capture_output=True, text=True
    )
    first.communicate(timeout=600)
    assert first.returncode == 0
    assert second.returncode != 0, second.stdout
    assert "Traceback" not in second.stderr
    assert "being written by another genkeras run" in second.stderr or "not empty" in second.stderr
    record = json.load(open(os.path.join(out, "config.json")))
    assert record["epochs"] == 4 and folder.is_finished(out)


def test_a_full_disk_is_one_line_and_resume_completes_the_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = plots._save

    def full(fig, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # a write names no file

    monkeypatch.setattr(plots, "_save", full)
    with pytest.raises(OSError) as caught:
        _run(out)
    message = str(caught.value)
    assert str(out) in message and "ENOSPC" in message and "--resume" in message
    assert "metrics.json: missing" in folder.unfinished(str(out))  # not presented as finished
    monkeypatch.setattr(plots, "_save", real)  # space freed
    result = lifecycle.run("vae", resume=str(out), verbose=0)
    assert folder.is_finished(str(out)) and result.metrics["epochs"] == 1


def test_a_damaged_model_is_unfinished_and_resume_writes_it_again(tmp_path):
    out = tmp_path / "run"
    _run(out)
    path = out / "model.keras"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))  # still a zip (the directory is intact), a member is not
    assert any(p.startswith("model.keras:") for p in folder.unfinished(str(out)))
    lifecycle.run("vae", resume=str(out), verbose=0)
    assert folder.is_finished(str(out))


def test_paths_the_file_system_cannot_hold_are_refused_before_anything_is_made(tmp_path):
    with pytest.raises(ValueError, match="per name"):
        lifecycle.plan_run("vae", out=str(tmp_path / ("x" * 300)))
    deep = os.path.join(str(tmp_path), *(["d" * 200] * 25))
    with pytest.raises(ValueError, match="this file system allows"):
        lifecycle.plan_run("vae", out=deep)
    with pytest.raises(ValueError, match="names no folder"):
        lifecycle.plan_run("vae", out="")
    assert os.listdir(tmp_path) == []


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    out = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom genkeras.run import folder\n"
         "with folder.locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", out],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderError):
        with folder.locked(out):
            pass
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    with folder.locked(out):  # the OS released it with the process
        pass


def test_history_csv_widens_its_header_when_a_resumed_run_logs_new_metrics(tmp_path):
    """An older run resumed today: new metrics get columns, old rows stay aligned."""
    from genkeras.run.callbacks import HistoryCSV
    from genkeras.run.folder import read_history

    path = tmp_path / "history.csv"
    path.write_text("epoch,d_loss,loss\n1,1.5,2.0\n")
    writer = HistoryCSV(str(path), append=True)
    writer.on_train_begin()
    writer.on_epoch_end(1, {"d_loss": 1.25, "lr_d_optimizer": 0.001})
    history = read_history(str(path))
    assert history == {"d_loss": [1.5, 1.25], "loss": [2.0], "lr_d_optimizer": [0.001]}
    assert path.read_text().splitlines()[0] == "epoch,d_loss,loss,lr_d_optimizer"
