"""``genkeras run ... --tensorboard``: scalars, sample grids and the graph in RUN/tensorboard."""

import glob
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from genkeras.cli import main

pytest.importorskip("tensorboard")  # the optional extra; the test extra installs it


def _tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(folder, size_guidance={"tensors": 0})
    events.Reload()
    return events


def test_tensorboard_logs_metrics_grids_and_graph(tmp_path):
    out = tmp_path / "run"
    args = ["run", "vae", "--epochs", "2", "--tensorboard", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, args + ["--hidden", "4", "--iwae-samples", "5"])
    assert result.exit_code == 0, result.output
    logs = out / "tensorboard"
    train, validation = _tags(str(logs / "train")), _tags(str(logs / "validation"))
    for name in ("epoch_loss", "epoch_elbo", "epoch_kl", "epoch_reconstruction"):
        assert len(train.Tensors(name)) == 2 and len(validation.Tensors(name)) == 2, name
    # every summary of epoch k says k, as history.csv and samples/epoch-00k.png do
    assert [e.step for e in validation.Tensors("epoch_elbo")] == [1, 2]  # the test ELBO
    assert [e.step for e in _tags(str(logs / "samples")).Tensors("samples")] == [1, 2]
    graph = _tags(str(logs / "graph")).Tags()
    assert "forward" in graph["tensors"] or graph["graph"]
    assert glob.glob(str(logs / "graph" / "events.out.tfevents.*"))


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['tensorboard'] = None  # as if the optional extra were not installed\n"
        "from genkeras.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    out = tmp_path / "x"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "vae", "--tensorboard", "--out", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert proc.returncode == 2
    assert "genkeras[tensorboard]" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_gans_tensorboard_shows_both_players_and_per_epoch_coverage(tmp_path):
    out = tmp_path / "run"
    args = ["run", "gan", "--dataset", "ring", "--epochs", "2", "--tensorboard", "--quiet"]
    result = CliRunner().invoke(
        main, args + ["--width", "8", "--depth", "1", "--d-steps", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    train = _tags(str(out / "tensorboard" / "train"))
    names = set(train.Tags()["tensors"])
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_lr_d_optimizer", "epoch_lr_g_optimizer"} <= names
    assert {"epoch_modes_covered", "epoch_high_quality_fraction"} <= names
    assert "epoch_loss" not in names  # D's loss plus G's is no loss of anything
    assert [e.step for e in train.Tensors("epoch_modes_covered")] == [1, 2]
    history = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert "modes_covered" in history and "lr_d_optimizer" in history
