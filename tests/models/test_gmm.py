"""The gmm model family: one EM iteration per epoch, through the common run lifecycle."""

import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from genkeras import data, registry  # noqa: E402
from genkeras.mixture import GaussianMixture  # noqa: E402
from genkeras.models.config import GMMConfig  # noqa: E402
from genkeras.models.gmm import GMM  # noqa: E402
from genkeras.run import lifecycle  # noqa: E402


def test_gmm_is_registered_with_its_config():
    assert registry.models.get("gmm") is GMM
    assert registry.models.entry("gmm").config_class() is GMMConfig
    with pytest.raises(ValueError, match="components must be at least 1"):
        GMMConfig(components=0)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GMM((2,), config={"covariance_type": "round"})


def test_epochs_are_em_iterations_of_the_estimator(tmp_path):
    """The family's per-epoch log-likelihood is exactly the estimator's EM history."""
    options = {"components": 8, "precision": "float64", "tol": 0.0, "init": "random"}
    result = lifecycle.run(
        "gmm", dataset="ring", epochs=6, out=str(tmp_path / "run"), verbose=0, options=options
    )
    history = np.asarray(result.history["loglik"])
    assert len(history) == 6 and np.all(np.diff(history) >= -1e-9)  # EM never decreases it
    x = result.model.vectors(data.load("ring").x_train, 0)
    estimator = GaussianMixture(
        8, init_params="random", tol=0.0, max_iter=6, random_state=0, dtype="float64"
    ).fit(x)
    # (the history is logged through Keras's float32 metrics; the parameters are float64)
    np.testing.assert_allclose(history, estimator.history_[:6], rtol=1e-6)
    np.testing.assert_allclose(result.model.means.numpy(), estimator.means_, rtol=1e-8)


def test_ring_fit_metrics_figures_and_reload(tmp_path):
    result = lifecycle.run(
        "gmm", dataset="ring", out=str(tmp_path / "run"), verbose=0, options={"components": 8}
    )
    metrics = result.metrics
    # 8 equal modes, std 0.01: E log p = -log(2 pi 0.01^2) - 1 - log 8.
    expected = -np.log(2 * np.pi * 1e-4) - 1.0 - np.log(8)
    assert metrics["test_loglik"] == pytest.approx(expected, abs=0.05)
    assert metrics["nll_nats"] == -metrics["test_loglik"]
    assert metrics["converged"] and metrics["em_iterations"] < 100  # tol stopped it
    assert "bits_per_dim" not in metrics and metrics["bic"] > metrics["aic"]
    json.dumps(metrics)
    for name in ("model.keras", "ellipses.png", "samples.png", "curves.png", "history.csv"):
        assert os.path.getsize(tmp_path / "run" / name) > 0, name
    model, spec, record = lifecycle.load_run(result.run_dir)
    assert isinstance(model, GMM) and record.options["components"] == 8
    again = model.evaluation_metrics(spec)
    assert again["test_loglik"] == pytest.approx(metrics["test_loglik"], rel=1e-6)
    s = model.sample(16, seed=0).numpy()
    assert s.shape == (16, 2) and np.min(np.linalg.norm(s, axis=1)) > 0.9  # on the ring
    np.testing.assert_array_equal(s, model.sample(16, seed=0).numpy())


def test_discrete_images_are_dequantized(tmp_path):
    options = {"components": 3, "covariance_type": "diag"}
    result = lifecycle.run("gmm", epochs=5, out=str(tmp_path / "run"), verbose=0, options=options)
    metrics = result.metrics
    assert not os.path.exists(tmp_path / "run" / "ellipses.png")
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll_nats"] / (64 * np.log(2.0)))
    # A dequantized density on [0, 17)^64 must beat the uniform one (log2 17 = 4.09 bits/dim).
    assert 0.5 < metrics["bits_per_dim"] < np.log2(17)
    s = result.model.sample(5, seed=1).numpy()
    assert s.shape == (5, 8, 8, 1) and s.min() >= 0 and s.max() <= 16
    assert np.all(s == np.round(s))


def test_resume_ends_where_an_uninterrupted_fit_ends(tmp_path):
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    options = {"components": 4, "tol": 0.0}
    full = lifecycle.run("gmm", dataset="grid", epochs=6, out=str(tmp_path / "a"), verbose=0,
                        options=options)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        lifecycle.run("gmm", dataset="grid", epochs=6, out=str(tmp_path / "b"), verbose=0,
                     options=options, callbacks=[Stop()])  # fmt: skip
    resumed = lifecycle.run("gmm", resume=str(tmp_path / "b"), verbose=0)
    np.testing.assert_allclose(resumed.history["loglik"], full.history["loglik"], rtol=1e-6)
    for a, b in zip(full.model.variables, resumed.model.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_jit_is_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="does not support --jit"):
        lifecycle.run("gmm", dataset="ring", jit=True, out=str(tmp_path / "x"), verbose=0)


def test_cli_runs_gmm_on_ring(tmp_path):
    from click.testing import CliRunner

    from genkeras.cli import main

    out = tmp_path / "run"
    args = ["run", "gmm", "--dataset", "ring", "--components", "8", "--epochs", "20"]
    result = CliRunner().invoke(main, args + ["--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    for name in ("model.keras", "metrics.json", "history.csv", "ellipses.png", "samples.png"):
        assert (out / name).exists(), name
    with open(out / "metrics.json") as f:
        assert json.load(f)["test_loglik"] > 4.0
