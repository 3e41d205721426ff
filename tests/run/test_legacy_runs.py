"""Run folders written before the run-contract change still evaluate, sample and resume.

The folders under ``tests/data/legacy_runs`` were written by genkeras at commit
4e64a1a (see the README there); each test copies one so the committed files
stay untouched.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from genkeras.cli import main

LEGACY = Path(__file__).parents[1] / "data" / "legacy_runs"
SHAPES = {"vae": (8, 8, 1), "gan": (2,), "pixelcnn": (8, 8, 1), "gmm": (2,)}


@pytest.fixture(params=sorted(SHAPES))
def legacy_run(request, tmp_path):
    folder = tmp_path / request.param
    shutil.copytree(LEGACY / request.param, folder)
    return request.param, folder


def test_legacy_run_evaluates_samples_and_resumes(legacy_run, tmp_path):
    name, folder = legacy_run
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics and all(np.isfinite(v) for v in metrics.values() if isinstance(v, float))

    out = tmp_path / "x.npz"
    result = runner.invoke(main, ["sample", str(folder), "-n", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert np.load(out)["x"].shape == (4,) + SHAPES[name]

    result = runner.invoke(main, ["run", name, "--resume", str(folder), "--epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (folder / "metrics.json").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == name and config["epochs"] == 2


@pytest.mark.parametrize("name", ["vae", "gan", "pixelcnn"])
def test_legacy_checkpoint_restores_the_saved_weights_in_order(name, tmp_path):
    """The old checkpoint's arrays land on the same variables today (same order and values)."""
    from genkeras.run import lifecycle

    folder = tmp_path / name
    shutil.copytree(LEGACY / name, folder)
    saved, _, _ = lifecycle.load_run(str(folder))
    net, start = lifecycle.build(lifecycle.plan_run(name, resume=str(folder), epochs=2))
    assert start == 1
    pairs = [(a, b) for a, b in zip(saved.variables, net.variables) if "seed" not in a.path]
    assert len(saved.variables) == len(net.variables) and pairs
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{a.path} vs {b.path}")
