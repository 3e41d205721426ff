"""Mixed precision: 16-bit compute, float32 variables, distributions, log-likelihoods and losses."""

import json
import os

import keras
import numpy as np
import pytest

from genkeras import data, registry
from genkeras.models.base import TrainingSettings
from genkeras.run import lifecycle

POLICIES = ["mixed_float16", "mixed_bfloat16"]
TINY = {
    "vae": {"hidden": 4, "iwae_samples": 5},
    "pixelcnn": {"filters": 8, "num_blocks": 1},
    "pixelrnn": {"filters": 8, "num_layers": 1},
}


def _build(name, policy, spec):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = registry.models.get(name).from_data(spec, TINY[name])
        model.build_from_shape()
        model.compile_for_training(TrainingSettings(1e-3))
    finally:
        keras.config.set_dtype_policy(previous)
    return model


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", sorted(TINY))
def test_trains_in_16_bits_with_float32_variables_and_losses(name, policy):
    spec = data.load("digits", binarize=name != "vae")
    model = _build(name, policy, spec)
    low = "float16" if policy == "mixed_float16" else "bfloat16"
    assert model.dtype_policy.name == policy and model.compute_dtype == low
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    if policy == "mixed_float16":  # loss scaling: Keras wraps the optimizer
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(spec.train_dataset(64, 0, 0, 1), epochs=1, steps_per_epoch=4, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
    x = spec.x_test[:8].astype("float32")
    if name == "vae":
        q = model.posterior(x)
        z = q.mean()
        assert q.dtype == "float32" and z.dtype == "float32"
        assert model.likelihood(z).dtype == "float32"
        assert model.elbo(x).dtype == "float32"
        assert model.encoder(x / 16.0).dtype == low  # the networks compute in 16 bits
    else:
        assert model(x).dtype == low
        assert model.log_prob(x).dtype == "float32"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", ["vae", "pixelcnn"])
def test_a_float32_model_evaluates_alike_in_16_bits(name, policy):
    """Same weights, evaluated in 16 bits: the test metrics agree to 1 % (bfloat16: 2 %)."""
    spec = data.load("digits", binarize=name != "vae")
    full = _build(name, "float32", spec)
    full.fit(spec.train_dataset(64, 0, 0, 2), epochs=2, steps_per_epoch=20, verbose=0)
    half = _build(name, policy, spec)
    for a, b in zip(full.variables, half.variables):
        b.assign(a)
    tolerance = 0.01 if policy == "mixed_float16" else 0.02
    key = "elbo_nats" if name == "vae" else "nll_nats"
    want = full.evaluation_metrics(spec, batch_size=180)[key]
    got = half.evaluation_metrics(spec, batch_size=180)[key]
    assert got == pytest.approx(want, rel=tolerance)


def test_gmm_keeps_its_precision_under_a_mixed_policy(tmp_path):
    result = lifecycle.run(
        "gmm", dataset="ring", epochs=3, dtype_policy="mixed_float16",
        out=str(tmp_path / "run"), verbose=0, options={"components": 8},
    )  # fmt: skip
    assert result.model.means.dtype == "float32" and result.model.compute_dtype == "float32"
    assert np.isfinite(result.metrics["test_loglik"])


@pytest.mark.parametrize("policy", POLICIES)
def test_a_mixed_precision_run_resumes_exactly(tmp_path, policy):
    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    args = dict(epochs=2, batch_size=256, dtype_policy=policy, verbose=0, options=TINY["vae"])
    full = lifecycle.run("vae", out=str(tmp_path / "full"), **args)
    with pytest.raises(KeyboardInterrupt):
        lifecycle.run("vae", out=str(tmp_path / "cut"), callbacks=[Stop()], **args)
    resumed = lifecycle.run("vae", resume=str(tmp_path / "cut"), verbose=0)
    assert resumed.history == full.history
    for a, b in zip(full.model.optimizer.variables, resumed.model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # loss scale and its counter too
    with open(os.path.join(resumed.run_dir, "config.json")) as f:
        assert json.load(f)["dtype_policy"] == policy
    reloaded, _, _ = lifecycle.load_run(resumed.run_dir)
    assert reloaded.dtype_policy.name == policy


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("dataset", ["ring", "digits"])
def test_gan_trains_in_16_bits_with_both_optimizers_scaled(policy, dataset):
    from genkeras.models.gan import GAN

    spec = data.load(dataset)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        options = {"width": 16, "depth": 1, "latent_dim": 4, "filters": 4}
        gan = GAN.from_data(spec, {**options, "stabilizers": ["r1-penalty"]})
        gan.compile_for_training(TrainingSettings(1e-3))
    finally:
        keras.config.set_dtype_policy(previous)
    if policy == "mixed_float16":
        for optimizer in (gan.d_optimizer, gan.g_optimizer):
            assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(v.dtype == "float32" for v in gan.trainable_variables)
    history = gan.fit(spec.train_dataset(64, 0, 0, 1), epochs=1, steps_per_epoch=4, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
    x = spec.x_test[:8].astype("float32")
    assert gan(x).dtype == "float32"  # logits for the losses
    assert gan.generator(gan.noise(8, seed=0)).dtype != "float32"  # 16-bit compute
    assert gan.sample(8, seed=0).dtype == "float32"
