"""Tests for the VAE: closed-form KL, reparameterization, training, bounds, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from genkeras import data
from genkeras.models.base import TrainingSettings
from genkeras.models.vae import VAE, VAEConfig

tfd = tfp.distributions


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def _model(spec, **config):
    keras.utils.set_random_seed(0)
    model = VAE.from_data(spec, {"latent_dim": 2, "hidden": 16, **config})
    model.build_from_shape()
    model.compile_for_training(TrainingSettings(3e-3))
    return model


def test_tfp_kl_equals_closed_form():
    mu_q, s_q = np.array([0.5, -1.0]), np.array([0.7, 1.5])
    mu_p, s_p = np.array([0.0, 0.3]), np.array([1.2, 0.9])
    q = tfd.MultivariateNormalDiag(mu_q, s_q)
    p = tfd.MultivariateNormalDiag(mu_p, s_p)
    closed = np.sum(np.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5)
    np.testing.assert_allclose(tfd.kl_divergence(q, p).numpy(), closed, rtol=1e-10)


def test_reparameterized_sample_carries_gradients(digits):
    model = _model(digits)
    x = tf.constant(digits.x_train[:8], tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        q = model.posterior(x)
        loc, scale = q.mean(), q.stddev()
        tape.watch([loc, scale])
        z = tfd.MultivariateNormalDiag(loc, scale).sample(seed=tf.constant([1, 2]))
        total = tf.reduce_sum(z**2)
    g_loc, g_scale = tape.gradient(total, [loc, scale])
    assert g_loc is not None and g_scale is not None
    assert np.abs(g_loc.numpy()).sum() > 0 and np.abs(g_scale.numpy()).sum() > 0
    # and through the model: the ELBO's gradient reaches the encoder's weights
    with tf.GradientTape() as tape:
        elbo = tf.reduce_mean(model.elbo(x, seed=tf.constant([3, 4])))
    grads = tape.gradient(elbo, model.encoder.trainable_variables)
    assert all(g is not None for g in grads) and sum(float(tf.norm(g)) for g in grads) > 0


def test_one_epoch_decreases_the_loss(digits):
    model = _model(digits)
    ds = digits.train_dataset(32, 0, 0, 1)
    before = model.evaluate(digits.test_dataset(256), verbose=0, return_dict=True)["loss"]
    model.fit(ds, epochs=1, steps_per_epoch=digits.steps_per_epoch(32), verbose=0)
    after = model.evaluate(digits.test_dataset(256), verbose=0, return_dict=True)["loss"]
    assert after < before - 5.0


def test_iwae_is_at_least_the_elbo_on_a_trained_model(digits):
    model = _model(digits)
    model.fit(
        digits.train_dataset(32, 0, 0, 2),
        epochs=2,
        steps_per_epoch=digits.steps_per_epoch(32),
        verbose=0,
    )
    metrics = model.evaluation_metrics(digits, k=200)
    assert metrics["iwae_nats"] >= metrics["elbo_nats"]
    assert metrics["iwae_k"] == 200
    assert metrics["elbo_bits_per_dim"] == pytest.approx(-metrics["elbo_nats"] / (64 * np.log(2)))
    x = digits.x_test[:16].astype("float32")
    l1 = model.iwae_bound(x, k=1, seed=5).numpy().mean()
    l50 = model.iwae_bound(x, k=50, seed=5).numpy().mean()
    assert l50 > l1  # the bound tightens with k


def test_save_load_gives_identical_outputs(digits, tmp_path):
    model = _model(digits)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = digits.x_test[:5].astype("float32")
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert loaded.cfg == model.cfg and loaded.levels == 17
    again = VAE.from_config(model.get_config())
    assert again.cfg == model.cfg and again.data_shape == model.data_shape


def test_jit_compile_trains(digits):
    keras.utils.set_random_seed(0)
    model = VAE.from_data(digits, {"latent_dim": 4, "hidden": 8})
    model.build_from_shape()
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()  # a training.run earlier may have enabled it
    model.compile_for_training(TrainingSettings(1e-3, jit=True))
    assert model.jit_compile is True  # Keras silently falls back when XLA is unsupported
    hist = model.fit(digits.train_dataset(64, 0, 0, 1), epochs=1, steps_per_epoch=5, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])


@pytest.mark.parametrize("name,levels", [("ring", None), ("digits-binary", 2)])
def test_other_likelihoods(name, levels):
    spec = data.load("digits", binarize=True) if name == "digits-binary" else data.load(name)
    model = _model(spec)
    assert model.levels == levels
    x = spec.x_test[:4].astype("float32")
    assert model.elbo(x, seed=tf.constant([0, 1])).shape == (4,)
    sample = model.sample(3, seed=0).numpy()
    assert sample.shape == (3,) + spec.shape
    if levels == 2:
        assert set(np.unique(sample)) <= {0.0, 1.0}


def test_sample_is_seeded_and_in_range(digits):
    model = _model(digits)
    a, b = model.sample(6, seed=7).numpy(), model.sample(6, seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 16 and np.all(a == np.round(a))
    assert not np.array_equal(a, model.sample(6, seed=8).numpy())


def test_config_validation():
    with pytest.raises(ValueError, match="latent_dim must be at least 1"):
        VAEConfig(latent_dim=0)
    with pytest.raises(ValueError, match="beta"):
        VAEConfig(beta=-1.0)
    with pytest.raises(ValueError, match="Unknown VAEConfig option"):
        VAE(data_shape=(8, 8, 1), levels=17, config={"latent": 3})
    with pytest.raises(ValueError, match="multiples of 4"):  # the conv networks stride twice
        VAE(data_shape=(6, 6, 1), levels=2, config={"architecture": "conv"})
    light = VAE(data_shape=(6, 6, 1), levels=2).build_from_shape()  # the light networks: any size
    assert tuple(light(np.zeros((1, 6, 6, 1), "float32")).shape) == (1, 6, 6, 1)


def test_kl_warmup_ramps(digits):
    model = _model(digits, kl_warmup_steps=10, beta=2.0)
    assert float(model.kl_weight()) == 0.0
    model.optimizer.iterations.assign(5)
    assert float(model.kl_weight()) == pytest.approx(1.0)
    model.optimizer.iterations.assign(50)
    assert float(model.kl_weight()) == pytest.approx(2.0)


@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize(
    "logits_shape, k_shape",
    [
        ((3, 5, 4, 17), (5, 4)),
        ((5, 4, 17), (3, 5, 4)),
        ((4, 8, 8, 1, 17), (4, 8, 8, 1)),
        ((6,), (7,)),
    ],
)
def test_categorical_log_prob_and_gradient_equal_tfps(logits_shape, k_shape, graph):
    from genkeras.models.distributions import Categorical

    rng = np.random.default_rng(0)
    logits = tf.constant(3 * rng.standard_normal(logits_shape), tf.float32)
    k = tf.constant(rng.integers(0, logits_shape[-1], k_shape), tf.float32)

    def both(dist_class):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            lp = dist_class(logits=logits, dtype=tf.float32).log_prob(k)  # k broadcasts either way
            weights = tf.reshape(tf.range(1.0, tf.cast(tf.size(lp), tf.float32) + 1.0), lp.shape)
            total = tf.reduce_sum(lp * weights)  # a different weight per value: any mix-up shows
        return lp, tape.gradient(total, logits)

    run = (lambda f, c: tf.function(lambda: f(c))()) if graph else (lambda f, c: f(c))
    ours, theirs = run(both, Categorical), run(both, tfd.Categorical)
    assert ours[0].shape == theirs[0].shape
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-5)
