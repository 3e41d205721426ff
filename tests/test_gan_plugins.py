"""The third-party plugin in plugins/genkeras-spectral-norm: discovered, listed and usable.

tox installs the plugin distribution into the test environment; elsewhere
install it with ``pip install -e plugins/genkeras-spectral-norm``.
"""

import csv
import json
import os
from importlib import metadata

import pytest
from click.testing import CliRunner

from genkeras import registry

try:
    PLUGIN_VERSION = metadata.version("genkeras-spectral-norm")
except metadata.PackageNotFoundError:
    PLUGIN_VERSION = None

pytestmark = pytest.mark.skipif(
    PLUGIN_VERSION is None,
    reason="the plugin distribution genkeras-spectral-norm is not installed "
    "(pip install -e plugins/genkeras-spectral-norm; tox installs it)",
)


def test_genkeras_plugins_lists_the_third_party_stabilizer():
    from genkeras.cli import main

    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("spectral-norm"))
    assert "genkeras-spectral-norm" in line and PLUGIN_VERSION in line and "ok" in line
    entry = registry.stabilizers.entry("spectral-norm")
    assert (entry.distribution, entry.version) == ("genkeras-spectral-norm", PLUGIN_VERSION)


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
