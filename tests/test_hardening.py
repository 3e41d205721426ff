"""Every failure a new user hit gets a clear error, nothing is lost, and the metrics are right.

One test (or parametrized case) per item of the hardening issue: each asserts
the exit code, a message that names the problem, and that click handled the
error (no traceback reaches the user).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from genkeras.cli import main

SMALL = ["--hidden", "4", "--iwae-samples", "5", "--quiet", "--batch-size", "128"]


def _handled(result, code: int, *messages: str) -> None:
    """Exit ``code``, each message in the output, and no unhandled exception."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    for message in messages:
        assert message in result.output, result.output


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A finished 2-epoch VAE run folder (copy it before changing it)."""
    out = tmp_path_factory.mktemp("runs") / "vae"
    result = CliRunner().invoke(main, ["run", "vae", "--epochs", "2", "--out", str(out)] + SMALL)
    assert result.exit_code == 0, result.output
    return out


def _copy(run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


# -- wrong numbers ------------------------------------------------------------------------
def test_elbo_is_minus_reconstruction_minus_kl(vae_run):
    """Item 1: the reported terms satisfy ELBO = -reconstruction - KL."""
    metrics = json.loads((vae_run / "metrics.json").read_text())
    assert metrics["elbo_nats"] == pytest.approx(
        -metrics["reconstruction_nats"] - metrics["kl_nats"], rel=1e-6
    )
    result = CliRunner().invoke(main, ["evaluate", str(vae_run), "--json"])
    again = json.loads(result.output)
    assert again["elbo_nats"] == pytest.approx(-again["reconstruction_nats"] - again["kl_nats"])


def test_epochs_count_from_one_in_every_artefact(vae_run):
    """Item 2: history.csv, samples/epoch-NNN.png and the checkpoint agree: epoch k = k done."""
    with open(vae_run / "history.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [1, 2]
    assert sorted(os.listdir(vae_run / "samples")) == ["epoch-001.png", "epoch-002.png"]
    state = json.loads((vae_run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2


# -- crashes and raw tracebacks --------------------------------------------------------------
def test_vae_trains_on_continuous_images(tmp_path):
    """Item 3: float images in [0, 1] train (continuous Bernoulli); out of range is refused."""
    rng = np.random.default_rng(0)
    path = tmp_path / "f.npz"
    np.savez(path, x=rng.random((200, 8, 8)).astype(np.float32))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["run", "vae", "--epochs", "1", "--dataset", f"npz:{path}", "--out", str(out)] + SMALL
    )
    _handled(result, 0, "elbo_nats")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=(rng.random((200, 8, 8)) * 255).astype(np.float32))
    result = CliRunner().invoke(
        main, ["run", "vae", "--dataset", f"npz:{bad}", "--out", str(tmp_path / "b")] + SMALL
    )
    _handled(result, 1, "[0, 1]", str(bad))
    assert not (tmp_path / "b").exists()


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(tmp_path):
    """Item 4: nothing half-made blocks a rerun."""
    code = (
        "import sys\n"
        "from genkeras.models import vae\n"
        "def boom(self, data):\n"
        "    raise RuntimeError('injected failure in the first step')\n"
        "vae.VAE.train_step = boom\n"
        "from genkeras.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    out = tmp_path / "run"
    args = ["run", "vae", "--epochs", "1", "--out", str(out)] + SMALL
    proc = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True)
    assert proc.returncode != 0 and "injected failure" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("where", ["/proc/genkeras_x", "/sys/genkeras_run"])
def test_an_unwritable_out_is_refused_up_front(tmp_path, where):
    """Item 5: the path and the reason, before any training."""
    result = CliRunner().invoke(main, ["run", "vae", "--out", where] + SMALL)
    _handled(result, 2, where, "cannot write")


def test_an_unwritable_sample_output_is_refused(vae_run):
    result = CliRunner().invoke(main, ["sample", str(vae_run), "-o", "/proc/x.png"])
    _handled(result, 2, "/proc/x.png", "cannot write")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"])
def test_a_corrupt_model_file_says_so_and_how_to_recover(vae_run, tmp_path, content):
    """Item 6: not 'file not found'."""
    run = _copy(vae_run, tmp_path)
    (run / "model.keras").write_bytes(content)
    result = CliRunner().invoke(main, ["evaluate", str(run)])
    _handled(result, 1, "corrupt or incomplete", "--resume")


def test_a_model_file_of_another_kind_names_both(vae_run, tmp_path):
    """Item 7: a plain keras.Sequential in a VAE folder."""
    import keras

    run = _copy(vae_run, tmp_path)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.save(run / "model.keras")
    result = CliRunner().invoke(main, ["sample", str(run), "-o", str(tmp_path / "x.png")])
    _handled(result, 1, "VAE", "Sequential")


def test_a_gan_file_in_a_vae_folder_names_both(vae_run, tmp_path):
    from genkeras.models.gan import GAN

    run = _copy(vae_run, tmp_path)
    GAN((2,), config={"width": 4, "depth": 1, "latent_dim": 2}).save(run / "model.keras")
    result = CliRunner().invoke(main, ["evaluate", str(run)])
    _handled(result, 1, "VAE", "GAN")


def test_a_random_bytes_npz_is_called_invalid(tmp_path):
    """Item 8 (data): not advice about pickles."""
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    result = CliRunner().invoke(
        main, ["run", "vae", "--dataset", f"npz:{path}", "--out", str(tmp_path / "o")]
    )
    _handled(result, 1, "not a valid .npz", str(path))
    assert "pickle" not in result.output


@pytest.mark.parametrize(
    "spec, words",
    [
        ("r1-penalty:gamma=abc", ["'r1-penalty'", "'gamma'", "a number", "gamma='abc'"]),
        (
            "minibatch-discrimination:group=2.5",
            ["'minibatch-discrimination'", "'group'", "an integer"],
        ),
        ("r1-penalty:gamma=-1", ["'r1-penalty'", "gamma must be >= 0"]),
    ],
)
def test_a_bad_stabilizer_value_names_the_stabilizer_option_and_type(tmp_path, spec, words):
    """Item 8 (stabilizers): not Python's bare conversion error."""
    out = tmp_path / "o"
    result = CliRunner().invoke(
        main, ["run", "gan", "--stabilizer", spec, "--epochs", "1", "--out", str(out)]
    )
    _handled(result, 2, *words)
    assert "could not convert" not in result.output
    assert not out.exists()


def test_a_model_with_code_is_refused_without_suggesting_unsafe_loading(vae_run, tmp_path):
    """Item 9: a Lambda layer is code; the message does not say safe_mode=False."""
    import keras

    from genkeras.models.vae import VAE

    run = _copy(vae_run, tmp_path)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2)])
    model.save(run / "model.keras")
    with zipfile.ZipFile(run / "model.keras") as z:
        assert b"Lambda" in z.read("config.json")
    result = CliRunner().invoke(main, ["evaluate", str(run)])
    _handled(result, 1, "contains code", "not loaded")
    assert "safe_mode" not in result.output
    assert VAE  # the folder claims a VAE


# -- silent surprises ---------------------------------------------------------------------------
def test_resume_refuses_another_model_and_changed_options(vae_run, tmp_path):
    """Item 10."""
    run = _copy(vae_run, tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["run", "gan", "--resume", str(run), "--epochs", "7"])
    _handled(result, 2, "trained model 'vae'", "genkeras run vae --resume")
    result = runner.invoke(main, ["run", "vae", "--resume", str(run), "--latent-dim", "5"])
    _handled(result, 2, "latent_dim=2", "latent_dim=5")
    result = runner.invoke(main, ["run", "vae", "--resume", str(run), "--dataset", "ring"])
    _handled(result, 2, "dataset='digits'")
    result = runner.invoke(main, ["run", "vae", "--resume", str(run), "--epochs", "1"])
    _handled(result, 2, "already trained 2 epochs", "nothing to train")
    result = runner.invoke(main, ["run", "vae", "--resume", str(run), "--epochs", "2"])
    _handled(result, 2, "nothing to train")


def test_overwrite_clears_the_old_run_but_keeps_the_users_files(vae_run, tmp_path):
    """Item 11."""
    run = _copy(vae_run, tmp_path)
    (run / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(
        main, ["run", "vae", "--epochs", "1", "--out", str(run), "--overwrite"] + SMALL
    )
    _handled(result, 0)
    assert sorted(os.listdir(run / "samples")) == ["epoch-001.png"]
    assert (run / "notes.txt").read_text() == "keep me"
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1


def test_sample_refuses_an_unknown_output_kind(vae_run, tmp_path):
    """Item 12."""
    result = CliRunner().invoke(main, ["sample", str(vae_run), "-o", str(tmp_path / "s.txt")])
    _handled(result, 2, ".png", ".npz", "s.txt")
    assert not (tmp_path / "s.txt").exists()


def test_python_dash_m_genkeras_runs_the_cli():
    """Item 14."""
    proc = subprocess.run(
        [sys.executable, "-m", "genkeras", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "genkeras" in proc.stdout


def test_resume_completes_the_figures_of_the_epoch_it_resumes_after(vae_run, tmp_path):
    """Item 15: a kill after the checkpoint but before the grid left epoch-002.png missing."""
    run = _copy(vae_run, tmp_path)
    (run / "samples" / "epoch-002.png").unlink()
    (run / "metrics.json").unlink()  # as if killed before the end of the run
    result = CliRunner().invoke(main, ["run", "vae", "--resume", str(run), "--quiet"])
    _handled(result, 0)
    assert (run / "samples" / "epoch-002.png").exists()
    assert (run / "metrics.json").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["run", "vae", "--levels", "4", "--binarize"],
            ["--binarize means 2 levels", "--levels 4"],
        ),
        (["run", "vae", "--out", ""], ["names no folder"]),
        (
            ["run", "gan", "--dataset", "ring", "--stabilizer", "pacgan:m=1000000"],
            ["m=1000000", "batch of 512", "every loss", "would be 0"],
        ),
    ],
)
def test_options_that_would_silently_do_nothing_are_refused(tmp_path, args, words):
    """Issue 28: each refused in one line, before anything is written."""
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    _handled(result, 2, *words)
    assert not any(tmp_path.iterdir())


def test_sample_refuses_what_cannot_be_useful_and_draws_in_chunks(vae_run, tmp_path, monkeypatch):
    from genkeras import cli

    result = CliRunner().invoke(
        main, ["sample", str(vae_run), "-n", "5000", "-o", str(tmp_path / "a.png")]
    )
    _handled(result, 2, "at most 4096", ".npz")
    result = CliRunner().invoke(
        main, ["sample", str(vae_run), "-n", "10000000000", "-o", str(tmp_path / "a.npz")]
    )
    _handled(result, 2, "GiB", "memory free now")
    assert not any(tmp_path.iterdir())  # nothing written
    monkeypatch.setattr(cli, "SAMPLE_CHUNK", 7)
    result = CliRunner().invoke(
        main, ["sample", str(vae_run), "-n", "20", "-o", str(tmp_path / "b.NPZ")]
    )
    _handled(result, 0)
    x = np.load(tmp_path / "b.NPZ")["x"]  # an .npz, whatever the case of its suffix
    assert x.shape == (20, 8, 8, 1)


def test_negative_bits_per_dim_are_explained_where_printed(capsys):
    from genkeras import cli

    cli._print_metrics({"elbo_bits_per_dim": -0.5, "elbo_nats": 0.7})
    out = capsys.readouterr().out
    assert "elbo_bits_per_dim below 0" in out and "a density can exceed 1" in out
    cli._print_metrics({"bits_per_dim": 0.5})
    assert "note" not in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_a_bad_genkeras_cache_is_refused_up_front(vae_run, tmp_path, monkeypatch, kind):
    if kind == "file":
        bad = tmp_path / "cache-file"
        bad.write_text("not a folder")
    else:
        bad = "/proc/nope"
    monkeypatch.setenv("GENKERAS_CACHE", str(bad))
    result = CliRunner().invoke(main, ["run", "vae", "--out", str(tmp_path / "o")] + SMALL)
    _handled(result, 2, "GENKERAS_CACHE")
    assert not (tmp_path / "o").exists()
    _handled(CliRunner().invoke(main, ["evaluate", str(vae_run)]), 2, "GENKERAS_CACHE")


def test_a_stabilizer_given_twice_is_applied_twice_with_a_warning():
    """Issue 28: repeating a stabilizer is allowed (weights multiply), but said."""
    from genkeras.models.config import GANConfig

    with pytest.warns(UserWarning, match="'r1-penalty' is given twice: both are applied"):
        config = GANConfig(stabilizers=["r1-penalty", "r1-penalty:gamma=2"])
    assert config.stabilizers == ("r1-penalty", "r1-penalty:gamma=2")  # in config.json too
