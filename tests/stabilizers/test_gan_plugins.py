"""GAN plugins as users meet them: installed distributions, listed, used, and left out.

* ``plugins/genkeras-spectral-norm``: discovered, listed and used by
  ``genkeras run gan``. tox installs the plugin distribution into the test
  environment; elsewhere install it with
  ``pip install -e plugins/genkeras-spectral-norm``.
* A saved GAN trained with a stabilizer plugin samples and evaluates after
  the plugin is uninstalled (a tiny distribution pip-installed into a folder
  that is put on, then taken off, ``sys.path``).
"""

import csv
import importlib
import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
from click.testing import CliRunner
from plugin_dists import build_and_install

from genkeras import registry
from genkeras.models.base import TrainingSettings

try:
    PLUGIN_VERSION = metadata.version("genkeras-spectral-norm")
except metadata.PackageNotFoundError:
    PLUGIN_VERSION = None

needs_spectral_norm = pytest.mark.skipif(
    PLUGIN_VERSION is None,
    reason="the plugin distribution genkeras-spectral-norm is not installed "
    "(pip install -e plugins/genkeras-spectral-norm; tox installs it)",
)


@needs_spectral_norm
def test_genkeras_plugins_lists_the_third_party_stabilizer():
    from genkeras.cli import main

    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("spectral-norm"))
    assert "genkeras-spectral-norm" in line and PLUGIN_VERSION in line and "ok" in line
    entry = registry.stabilizers.entry("spectral-norm")
    assert (entry.distribution, entry.version) == ("genkeras-spectral-norm", PLUGIN_VERSION)


@needs_spectral_norm
def test_genkeras_run_gan_uses_the_plugin(tmp_path):
    from genkeras.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "gan",
            "--dataset",
            "ring",
            "--epochs",
            "1",
            "--batch-size",
            "2500",
            "--width",
            "8",
            "--depth",
            "1",
            "--latent-dim",
            "2",
            "--quiet",
            "--out",
            str(out),
            "--stabilizer",
            "spectral-norm:bound=0.5",
            "--stabilizer",
            "one-sided-label-smoothing",
        ],
    )
    assert result.exit_code == 0, result.output
    with open(out / "config.json") as f:
        assert json.load(f)["options"]["stabilizers"] == [
            "spectral-norm:bound=0.5",
            "one-sided-label-smoothing",
        ]
    with open(out / "history.csv") as f:
        row = next(csv.DictReader(f))
    # the plugin ran inside train_step: its tracked value is in the history
    assert float(row["spectral_norm_sigma_max"]) > 0
    assert "one_sided_label_smoothing_d" in row
    assert os.path.exists(out / "ring.png")
    with open(out / "metrics.json") as f:
        assert json.load(f)["num_modes"] == 8


# -- a saved GAN without the stabilizer plugin it was trained with (issue 13, bug 3) ---------
TINY_OPTIONS = {"width": 8, "depth": 1, "latent_dim": 2}


@pytest.fixture(scope="module")
def trained_with_plugin(tmp_path_factory):
    """A finished ring run trained with the plugin stabilizer ``gamma-feature`` (and R1).

    Returns ``(run_dir, plugin_site, samples)``: ``samples`` are 16 samples (seed 3)
    of the complete GAN. Afterwards the plugin is off ``sys.path`` again.
    """
    pytest.importorskip("tensorflow")
    from genkeras.run import lifecycle

    work = tmp_path_factory.mktemp("gamma")
    site = build_and_install("genkeras-test-gamma", str(work))
    sys.path.insert(0, site)
    importlib.invalidate_caches()
    registry.stabilizers.refresh()
    try:
        result = lifecycle.run(
            "gan",
            dataset="ring",
            epochs=1,
            batch_size=2500,
            out=str(work / "run"),
            verbose=0,
            options={**TINY_OPTIONS, "stabilizers": ["gamma-feature", "r1-penalty"]},
        )
        assert type(result.model.stabilizer_layers[0]).__name__ == "GammaFeature"
        samples = result.model.sample(16, seed=3).numpy()
    finally:
        sys.path.remove(site)
        importlib.invalidate_caches()
        registry.stabilizers.refresh()
    return result.run_dir, site, samples


def test_a_saved_gan_samples_and_evaluates_without_its_stabilizer_plugin(trained_with_plugin):
    from genkeras.run import lifecycle

    run_dir, _, samples = trained_with_plugin
    assert "gamma-feature" not in registry.stabilizers  # "uninstalled"
    model, spec, _ = lifecycle.load_run(run_dir)
    assert model.missing_stabilizers == ("gamma-feature",)
    np.testing.assert_array_equal(model.sample(16, seed=3).numpy(), samples)
    with pytest.warns(UserWarning, match="gamma-feature"):
        metrics = lifecycle.evaluate(model, spec)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        saved = json.load(f)
    for key in ("modes_covered", "num_modes", "high_quality_fraction", "reverse_kl"):
        assert metrics[key] == pytest.approx(saved[key]), key
    # what needs the discriminator says which plugin is missing
    with pytest.raises(RuntimeError, match="gamma-feature not installed"):
        model(spec.x_test[:4])
    with pytest.raises(RuntimeError, match="gamma-feature"):
        model.compile_for_training(TrainingSettings(1e-3))
        model.train_on_batch(spec.x_train[:8])


def test_with_the_plugin_installed_the_complete_gan_loads(trained_with_plugin, monkeypatch):
    from genkeras.run import lifecycle

    run_dir, site, samples = trained_with_plugin
    monkeypatch.syspath_prepend(site)
    registry.stabilizers.refresh()
    try:
        model, _, _ = lifecycle.load_run(run_dir)
        assert model.missing_stabilizers == ()
        assert [type(s).__name__ for s in model.stabilizer_layers] == ["GammaFeature", "R1Penalty"]
        np.testing.assert_array_equal(model.sample(16, seed=3).numpy(), samples)
    finally:
        monkeypatch.undo()
        registry.stabilizers.refresh()


@pytest.mark.slow  # two fresh interpreters that import TensorFlow
def test_genkeras_sample_and_evaluate_without_the_plugin(trained_with_plugin, tmp_path):
    run_dir, _, samples = trained_with_plugin
    code = "import sys; from genkeras.cli import main; main(sys.argv[1:], prog_name='genkeras')"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = str(tmp_path / "s.npz")
    sampled = subprocess.run(
        [sys.executable, "-c", code, "sample", run_dir, "-n", "16", "--seed", "3", "-o", out],
        capture_output=True,
        text=True,
        env=env,
    )
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert "gamma-feature" not in sampled.stdout + sampled.stderr  # not needed: not mentioned
    np.testing.assert_array_equal(np.load(out)["x"], samples)
    evaluated = subprocess.run(
        [sys.executable, "-c", code, "evaluate", run_dir, "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["num_modes"] == 8
    assert "gamma-feature" in evaluated.stderr  # its metrics are left out, and it says why
