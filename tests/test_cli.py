"""Tests for the genkeras command line (click's CliRunner and a real subprocess)."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from genkeras.cli import main

SMALL = ["--latent-dim", "2", "--hidden", "8", "--iwae-samples", "10", "--quiet"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize(
    "args", [[], ["run"], ["run", "vae"], ["evaluate"], ["sample"], ["list"], ["plugins"]]
)
def test_help_on_every_command(runner, args):
    result = runner.invoke(main, args + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_run_help_shows_models_and_config_options(runner):
    assert "vae" in runner.invoke(main, ["run", "--help"]).output
    out = runner.invoke(main, ["run", "vae", "--help"]).output
    assert "--latent-dim" in out and "--kl-warmup-steps" in out and "--strategy" in out


def test_list_shows_every_kind(runner):
    result = runner.invoke(main, ["list"])
    assert result.exit_code == 0
    for word in ("models:", "datasets:", "stabilizers:", "vae", "digits", "ring", "grid"):
        assert word in result.output


def test_run_evaluate_sample_round_trip(runner, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(main, ["run", "vae", "--epochs", "1", "--out", str(out)] + SMALL)
    assert result.exit_code == 0, result.output
    assert "iwae_nats" in result.output
    saved = json.loads((out / "metrics.json").read_text())

    result = runner.invoke(main, ["evaluate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.output)
    assert again["elbo_nats"] == pytest.approx(saved["elbo_nats"], rel=1e-5)

    grid = tmp_path / "grid.png"
    result = runner.invoke(main, ["sample", str(out), "-n", "16", "-o", str(grid)])
    assert result.exit_code == 0, result.output
    assert grid.stat().st_size > 1000
    arrays = tmp_path / "x.npz"
    assert runner.invoke(main, ["sample", str(out), "-n", "5", "-o", str(arrays)]).exit_code == 0
    x = np.load(arrays)["x"]
    assert x.shape == (5, 8, 8, 1) and x.max() <= 16

    # an existing run folder is refused unless --overwrite or --resume
    result = runner.invoke(main, ["run", "vae", "--epochs", "1", "--out", str(out)] + SMALL)
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(main, ["run", "vae", "--epochs", "2", "--resume", str(out)] + SMALL)
    assert result.exit_code == 0, result.output
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3  # header + 2


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["run", "nope"], 2, "Valid models: "),
        (["run", "vae", "--dataset", "nope"], 2, "Valid names: "),
        (["run", "vae", "--epochs", "0"], 2, "--epochs"),
        (["run", "vae", "--epochs", "-3"], 2, "--epochs"),
        (["run", "vae", "--latent-dim", "0"], 2, "--latent-dim"),
        (["run", "vae", "--strategy", "cluster"], 2, "--strategy"),
        (["run", "vae", "--lr-decay", "1.5"], 2, "--lr-decay"),
        (["run", "gan", "--stabilizer", "minibatch-discrimination:group=-2"], 2, "group must be"),
        (["run", "vae", "--dataset", "npz:/no/such/file.npz"], 1, "file not found"),
        (["evaluate", "/no/such/run"], 1, "no such run folder"),
        (["sample", "/no/such/run"], 1, "no such run folder"),
    ],
)
def test_bad_input_is_a_clear_error(runner, tmp_path, args, code, message):
    result = runner.invoke(
        main,
        args + ["--out", str(tmp_path / "o")] if args[0] == "run" and args[1] == "vae" else args,
    )
    assert result.exit_code == code, result.output
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_bad_npz_names_file_and_problem(runner, tmp_path):
    path = tmp_path / "nan.npz"
    np.savez(path, x=np.array([[np.nan, 1.0]] * 10))
    result = runner.invoke(
        main, ["run", "vae", "--dataset", f"npz:{path}", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert str(path) in result.output and "NaN" in result.output


def test_sample_rejects_unsupported_options(runner, tmp_path):
    out = tmp_path / "run"
    assert (
        runner.invoke(main, ["run", "vae", "--epochs", "1", "--out", str(out)] + SMALL).exit_code
        == 0
    )
    result = runner.invoke(main, ["sample", str(out), "--temperature", "0.5"])
    assert result.exit_code == 2 and "--temperature is not supported" in result.output
    result = runner.invoke(main, ["sample", str(out), "-o", str(tmp_path / "no" / "x.png")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("genkeras")
    if exe is None:
        pytest.skip("genkeras console script not on PATH (package not installed)")
    assert os.access(exe, os.X_OK)


@pytest.mark.parametrize("command", [["sample", "-n", "4", "-o", "x.png"], ["evaluate"]])
def test_sample_and_evaluate_keep_tensorflows_start_up_noise_off_the_terminal(command, tmp_path):
    """TensorFlow's C++ start-up logs (CUDA probes, absl) never reach stderr, as for run."""
    import subprocess
    import sys

    run = os.path.join(os.path.dirname(__file__), "data", "legacy_runs", "vae")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    argv = [sys.executable, "-m", "genkeras", command[0], run, *command[1:]]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for noise in ("absl::InitializeLog", "cudart_stub", "cuInit", "oneDNN"):
        assert noise not in proc.stderr, proc.stderr


def test_debug_shows_the_traceback(runner, monkeypatch):
    from genkeras import data

    args = ["run", "vae", "--dataset", "npz:/no/such/file.npz"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "file not found" in result.output
    assert isinstance(result.exception, SystemExit)  # one line, no traceback
    result = runner.invoke(main, ["--debug", *args])
    assert isinstance(result.exception, data.DataError)  # propagated, with its traceback
    monkeypatch.setenv("GENKERAS_DEBUG", "1")
    assert isinstance(runner.invoke(main, args).exception, data.DataError)


def test_run_output_off_a_terminal_is_plain_lines(tmp_path):
    """No progress-bar redraws in a log file: one line per epoch, no ANSI escapes, no \\r."""
    import subprocess
    import sys

    out = tmp_path / "run"
    args = ["run", "vae", "--epochs", "2", "--out", str(out)] + SMALL[:-1]  # not --quiet
    proc = subprocess.run([sys.executable, "-m", "genkeras", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stream in (proc.stdout, proc.stderr):
        assert "\r" not in stream and "\x1b[" not in stream
    assert [line.split()[:2] for line in proc.stdout.splitlines()[:2]] == [
        ["epoch", "1/2"],
        ["epoch", "2/2"],
    ]
    quiet = subprocess.run(
        [sys.executable, "-m", "genkeras", *args, "--quiet", "--overwrite"],
        capture_output=True,
        text=True,
    )
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr[-2000:]


def test_a_run_that_fails_its_lesson_says_so(runner, tmp_path):
    """A one-epoch GAN on the ring has not covered the modes: the summary names it."""
    args = ["run", "gan", "--dataset", "ring", "--epochs", "1", "--width", "8", "--depth", "1"]
    result = runner.invoke(main, args + ["--quiet", "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert notes and ("mode collapse" in notes[0] or "near a mode" in notes[0]), result.output
