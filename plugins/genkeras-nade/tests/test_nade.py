"""Tests of the genkeras-nade plugin, as its own distribution would ship them.

What Larochelle & Murray's NADE promises, checked by brute force on tiny data:
the conditionals are causal, they are the true conditionals of a normalised
joint distribution, and ancestral sampling draws from that distribution.
Then the plugin as a user meets it: found through its entry point, options
without TensorFlow, ``genkeras run nade`` end to end.
"""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras_nade.config import NADEConfig  # noqa: E402
from genkeras_nade.model import NADE  # noqa: E402

from genkeras import registry  # noqa: E402
from genkeras.cli import main  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402


def _random_nade(d=5, hidden=4, seed=0):
    keras.utils.set_random_seed(seed)
    model = NADE((d,), levels=2, config={"hidden": hidden})
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:  # large weights: far from uniform conditionals
        v.assign(rng.normal(scale=1.5, size=v.shape).astype("float32"))
    return model


def _all_binary(d):
    return np.array(list(itertools.product([0.0, 1.0], repeat=d)), dtype="float32")


def test_entry_point_names_the_model_and_its_config():
    entry = registry.models.entry("nade")
    assert entry.distribution == "genkeras-nade"
    assert entry.config_class() is NADEConfig
    assert entry.load() is NADE


def test_docstring_examples_run():
    import doctest

    from genkeras_nade import model

    assert doctest.testmod(model).failed == 0


def test_conditionals_are_causal():
    model = _random_nade(d=6)
    x = tf.constant(np.random.default_rng(1).integers(0, 2, size=(4, 6)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)  # (4, 6)
    jacobian = tape.batch_jacobian(logits, x).numpy()  # (4, d, j): d l_d / d x_j
    upper = np.triu(np.ones((6, 6), dtype=bool))  # j >= d
    assert np.all(jacobian[:, upper] == 0)
    assert np.all(np.abs(jacobian[:, ~upper]).sum(axis=0) > 0)  # and every j < d matters


def test_the_joint_is_normalised_and_the_conditionals_are_its_conditionals():
    d = 5
    model = _random_nade(d=d)
    xs = _all_binary(d)  # all 32 binary vectors
    p = np.exp(model.log_prob(xs).numpy().astype(np.float64))
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-5)
    conditionals = model.conditional_probabilities(xs)  # (32, d)
    for i, x in enumerate(xs):
        for k in range(d):  # p(x_k = 1 | x_<k) by summing the joint over x_>k
            prefix = np.all(xs[:, :k] == x[:k], axis=1)
            ones = prefix & (xs[:, k] == 1)
            np.testing.assert_allclose(
                conditionals[i, k], p[ones].sum() / p[prefix].sum(), rtol=1e-4
            )


def test_samples_follow_the_model_distribution():
    d = 3
    model = _random_nade(d=d, seed=2)
    xs = _all_binary(d)
    p = np.exp(model.log_prob(xs).numpy())
    samples = model.sample(40_000, seed=7).numpy().reshape(-1, d)
    index = (samples @ (2 ** np.arange(d - 1, -1, -1))).astype(int)
    freq = np.bincount(index, minlength=2**d) / len(samples)
    # 40,000 draws: each frequency is within 4 standard errors of its probability
    se = np.sqrt(p * (1 - p) / len(samples))
    assert np.all(np.abs(freq - p) < 4 * se + 1e-4), (freq, p)
    np.testing.assert_array_equal(model.sample(8, seed=3), model.sample(8, seed=3))


def test_trains_under_xla_and_round_trips(tmp_path):
    from tensorflow.python.framework import config as tf_config

    from genkeras import data

    spec = data.load("digits", binarize=True)
    keras.utils.set_random_seed(0)
    model = NADE.from_data(spec, {"hidden": 16})
    before = model.evaluation_metrics(spec)["nll_nats"]
    assert not tf_config.is_op_determinism_enabled()  # no genkeras run left it on
    model.compile_for_training(TrainingSettings(3e-3, jit=True))
    assert model.jit_compile
    model.fit(spec.train_dataset(32, 0, 0, 1), steps_per_epoch=20, epochs=1, verbose=0)
    after = model.evaluation_metrics(spec)
    assert after["nll_nats"] < before - 2  # it learns
    assert after["bits_per_dim"] == pytest.approx(after["nll_nats"] / (64 * np.log(2)))
    path = str(tmp_path / "nade.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = spec.x_test[:8].astype("float32")
    np.testing.assert_allclose(loaded.log_prob(x).numpy(), model.log_prob(x).numpy(), rtol=1e-6)


def test_refuses_non_binary_data_before_building_anything():
    with pytest.raises(ValueError, match="pass --binarize"):
        NADEConfig().check_data((8, 8, 1), levels=17)
    with pytest.raises(ValueError, match="discrete data"):
        NADEConfig().check_data((2,), levels=None)
    result = CliRunner().invoke(main, ["run", "nade", "--epochs", "1"])  # digits: 17 levels
    assert result.exit_code == 2 and "--binarize" in result.output


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from genkeras.cli import main\n"
        "try:\n    main(['run', 'nade', '--help'], prog_name='genkeras')\n"
        "except SystemExit:\n    print('TF_IMPORTED=' + str('tensorflow' in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--hidden" in result.stdout and "TF_IMPORTED=False" in result.stdout, result.stderr


def test_genkeras_run_nade_end_to_end(tmp_path):
    out = tmp_path / "run"
    args = ["run", "nade", "--binarize", "--epochs", "2", "--hidden", "16", "--quiet"]
    result = CliRunner().invoke(main, args + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["num_test"] == 360 and 0 < metrics["bits_per_dim"] < 1
    assert os.path.exists(out / "samples.png") and os.path.exists(out / "model.keras")
    sampled = CliRunner().invoke(
        main, ["sample", str(out), "-n", "8", "-o", str(tmp_path / "x.npz")]
    )
    assert sampled.exit_code == 0, sampled.output
    x = np.load(tmp_path / "x.npz")["x"]
    assert x.shape == (8, 8, 8, 1) and set(np.unique(x)) <= {0.0, 1.0}


def test_the_gradient_reaching_adam_is_the_same_under_mixed_precision(monkeypatch):
    """NADE's train_step takes genkeras's gradient step, which scales the loss it unscales.

    Under ``mixed_float16`` Keras's LossScaleOptimizer divides the gradients by
    the loss scale (32,768 at first); a step that does not multiply the loss by
    it first hands Adam a gradient 32,768 times too small.
    """
    from genkeras import data

    spec = data.load("digits", binarize=True)
    x = spec.x_train[:64].astype("float32")
    norms = {}
    for policy in ("float32", "mixed_float16"):
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            model = NADE.from_data(spec, {"hidden": 16})
            model.build_from_shape()
            model.compile_for_training(TrainingSettings(1e-3))
        finally:
            keras.config.set_dtype_policy("float32")
        adam = model.optimizer
        if isinstance(adam, keras.optimizers.LossScaleOptimizer):
            adam = adam.inner_optimizer
        seen = []
        original = adam.apply

        def apply(grads, trainable_variables=None, _original=original, _seen=seen):
            _seen.append(float(tf.linalg.global_norm([tf.cast(g, "float32") for g in grads])))
            return _original(grads, trainable_variables)

        monkeypatch.setattr(adam, "apply", apply)
        model.run_eagerly = True
        model.train_on_batch(x)
        norms[policy] = seen[0]
    assert norms["float32"] > 1.0
    assert norms["mixed_float16"] == pytest.approx(norms["float32"], rel=0.02)
