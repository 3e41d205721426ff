"""The GAN family: losses, gradients, shapes, XLA steps, save/load, metrics and figures."""

import os

import numpy as np
import pytest
from xla_checks import xla_enabled

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras import data  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.gan import (  # noqa: E402
    GAN,
    GANConfig,
    GANSnapshots,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
)
from genkeras.run import lifecycle  # noqa: E402

TINY = {"width": 8, "depth": 1, "latent_dim": 3, "filters": 4}


def _ring_batch(n=64, seed=0):
    return data.ring().x_train[:n] if seed == 0 else data.ring().x_train[seed * n : (seed + 1) * n]


def test_adversarial_losses_match_their_formulas():
    logits = tf.constant([-2.0, 0.0, 3.0])
    d = tf.sigmoid(logits).numpy()
    np.testing.assert_allclose(
        generator_adversarial_loss(logits, "minimax").numpy(), np.mean(np.log(1 - d)), rtol=1e-5
    )
    np.testing.assert_allclose(
        generator_adversarial_loss(logits, "non-saturating").numpy(), -np.mean(np.log(d)), rtol=1e-5
    )
    real, fake = tf.constant([1.0, 2.0]), tf.constant([-1.0, 0.5])
    dr, df = tf.sigmoid(real).numpy(), tf.sigmoid(fake).numpy()
    np.testing.assert_allclose(
        discriminator_adversarial_loss(real, fake).numpy(),
        -np.mean(np.log(dr)) - np.mean(np.log(1 - df)),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="Received: loss='wasserstein'"):
        generator_adversarial_loss(logits, "wasserstein")


def test_minimax_gradient_vanishes_where_discriminator_rejects_fakes():
    # At D(G(z)) ≈ 0 (logit −8): d/dl log(1 − σ(l)) = −σ(l) ≈ −3e-4, d/dl −log σ(l) ≈ −1.
    logits = tf.Variable([-8.0])
    grads = {}
    for loss in ("minimax", "non-saturating"):
        with tf.GradientTape() as tape:
            value = generator_adversarial_loss(logits, loss)
        grads[loss] = abs(float(tape.gradient(value, logits)[0]))
    np.testing.assert_allclose(grads["minimax"], float(tf.sigmoid(-8.0)), rtol=1e-4)
    np.testing.assert_allclose(grads["non-saturating"], 1 - float(tf.sigmoid(-8.0)), rtol=1e-4)
    assert grads["non-saturating"] > 1000 * grads["minimax"]


@pytest.mark.parametrize("loss", ["minimax", "non-saturating"])
def test_generator_gradient_through_the_networks(seeded, loss):
    # A discriminator that confidently rejects every sample: head bias −10.
    gan = GAN((2,), config={**TINY, "loss": loss})
    gan.head.layers[-1].bias.assign([-10.0])
    z = gan.noise(32, seed=1)
    real = tf.constant(_ring_batch(32))
    with tf.GradientTape() as tape:
        ctx = gan.context(real, gan.generator(z, training=True), training=True)
        g_loss, _ = gan.generator_loss(ctx)
    grads = tape.gradient(g_loss, gan.generator_variables)
    norm = float(tf.linalg.global_norm(grads))
    assert float(tf.reduce_mean(tf.sigmoid(ctx.fake_logits))) < 1e-3
    # remember the norm for the comparison test below
    test_generator_gradient_through_the_networks.norms[loss] = norm


test_generator_gradient_through_the_networks.norms = {}


def test_non_saturating_network_gradient_is_much_larger():
    norms = test_generator_gradient_through_the_networks.norms
    if len(norms) < 2:
        pytest.skip("needs both parametrized gradient tests to have run first")
    assert norms["non-saturating"] > 100 * norms["minimax"]


def test_config_validation_messages():
    with pytest.raises(ValueError, match="Received: d_steps=0"):
        GANConfig(d_steps=0)
    with pytest.raises(ValueError, match="Received: loss='hinge'"):
        GANConfig(loss="hinge")
    with pytest.raises(ValueError, match="Unknown stabilizer 'nope'"):
        GANConfig(stabilizers=("nope",))
    with pytest.raises(ValueError, match="multiples of 4"):
        GAN((6, 6, 1), levels=17, config=TINY)
    assert GANConfig(stabilizers=["feature-matching"]).stabilizers == ("feature-matching",)


def test_optimizer_slots_partition_the_trainable_variables(seeded):
    gan = GAN((2,), config={**TINY, "stabilizers": ["minibatch-discrimination:kernels=2,dims=2"]})
    gan.compile_for_training(TrainingSettings(1e-3))
    (dn, d_opt, d_vars), (gn, g_opt, g_vars) = gan.optimizer_slots()
    assert (dn, gn) == ("d_optimizer", "g_optimizer") and d_opt is not g_opt
    ids_d, ids_g = {id(v) for v in d_vars}, {id(v) for v in g_vars}
    assert not ids_d & ids_g
    assert ids_d | ids_g == {id(v) for v in gan.trainable_variables}
    assert any(v.path.endswith("T") for v in d_vars)  # the minibatch tensor belongs to D


def test_train_step_updates_each_player_with_its_optimizer(seeded):
    gan = GAN((2,), config={**TINY, "d_steps": 3})
    d_before = [v.numpy().copy() for v in gan.discriminator_variables]
    g_before = [v.numpy().copy() for v in gan.generator_variables]
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(1e-2, jit=True))
        assert gan.jit_compile  # Keras kept XLA on
        logs = gan.train_on_batch(_ring_batch(32), return_dict=True)
    assert int(gan.d_optimizer.iterations.numpy()) == 3
    assert int(gan.g_optimizer.iterations.numpy()) == 1
    assert int(gan.step_counter.numpy()) == 1
    assert all(np.any(a != b.numpy()) for a, b in zip(d_before, gan.discriminator_variables))
    assert all(np.any(a != b.numpy()) for a, b in zip(g_before, gan.generator_variables))
    assert set(logs) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert "loss" not in logs  # D's loss plus G's is no loss of anything


def test_learning_rate_schedule_decays_both_players_over_the_same_run(seeded):
    gan = GAN((2,), config={**TINY, "d_steps": 3})
    gan.compile_for_training(TrainingSettings(1e-2, total_steps=4, lr_decay=0.1))
    for _ in range(4):
        gan.train_on_batch(_ring_batch(32))
    assert int(gan.d_optimizer.iterations) == 12 and int(gan.g_optimizer.iterations) == 4
    np.testing.assert_allclose(float(gan.g_optimizer.learning_rate), 1e-3, rtol=1e-5)
    np.testing.assert_allclose(float(gan.d_optimizer.learning_rate), 1e-3, rtol=1e-5)


def test_image_gan_trains_under_xla_and_samples_levels(seeded):
    spec = data.load("digits")
    gan = GAN.from_data(
        spec,
        {
            **TINY,
            "stabilizers": [
                "minibatch-discrimination:kernels=2,dims=2",
                "r1-penalty",
                "instance-noise",
            ],
        },
    )
    gan.build_from_shape()
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(2e-4, jit=True))
        assert gan.jit_compile  # Keras kept XLA on
        logs = gan.fit(
            spec.train_dataset(32, 0, 0, 1), steps_per_epoch=3, epochs=1, verbose=0
        ).history
    assert np.isfinite(logs["d_loss"][-1]) and np.isfinite(logs["r1_penalty_d"][-1])
    x = gan.sample(10, seed=3).numpy()
    assert x.shape == (10, 8, 8, 1)
    assert x.min() >= 0 and x.max() <= 16 and np.all(x == np.round(x))
    np.testing.assert_array_equal(x, gan.sample(10, seed=3).numpy())  # seeded sampling
    # levels map to [-1, 1] and back
    levels = tf.constant([[0.0, 8.0, 16.0]])
    np.testing.assert_allclose(gan.to_model_range(levels), [[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(gan.to_data_units(gan.to_model_range(levels)), levels)


def test_save_and_load_with_stabilizers_reloads_compiled(tmp_path, seeded):
    specs = [
        "minibatch-discrimination:kernels=4,dims=3",
        "historical-averaging:weight=0.1",
        "instance-noise:sigma=0.2",
        "feature-matching:adversarial=0.5",
    ]
    gan = GAN((2,), config={**TINY, "stabilizers": specs, "loss": "minimax"})
    gan.build_from_shape()
    gan.compile_for_training(TrainingSettings(1e-3))
    gan.fit(_ring_batch(128), batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, GAN) and loaded.compiled
    assert loaded.cfg == gan.cfg and loaded.cfg.stabilizers == tuple(specs)
    assert [type(s).__name__ for s in loaded.stabilizer_layers] == [
        "MinibatchDiscrimination",
        "HistoricalAveraging",
        "InstanceNoise",
        "FeatureMatching",
    ]
    # (layer names get fresh suffixes on reload, so match variables by position;
    # Keras does not save SeedGenerator states, lifecycle.run's checkpoints do)
    pairs = [
        (a, b) for a, b in zip(gan.variables, loaded.variables) if "seed_generator" not in a.path
    ]
    assert len(gan.variables) == len(loaded.variables) and len(pairs) > 10
    for a, b in pairs:  # weights, minibatch T, running averages, step counter
        assert a.shape == b.shape, (a.path, b.path)
        np.testing.assert_allclose(b.numpy(), a.numpy(), err_msg=a.path)
    for name in ("d_optimizer", "g_optimizer"):
        before, after = getattr(gan, name), getattr(loaded, name)
        assert int(after.iterations.numpy()) == int(before.iterations.numpy()) == 4
        for a, b in zip(before.variables, after.variables):
            np.testing.assert_allclose(a.numpy(), b.numpy())
    x = _ring_batch(16)
    np.testing.assert_allclose(loaded(x).numpy(), gan(x).numpy(), rtol=1e-5)
    np.testing.assert_allclose(loaded.sample(8, seed=2).numpy(), gan.sample(8, seed=2).numpy())
    logs = loaded.fit(x, batch_size=16, epochs=1, verbose=0).history  # ready to train
    assert np.isfinite(logs["historical_averaging_d"][-1])


def test_get_config_round_trip():
    gan = GAN((2,), config={**TINY, "stabilizers": ["one-sided-label-smoothing:smoothing=0.2"]})
    clone = GAN.from_config(gan.get_config())
    assert clone.cfg == gan.cfg and clone.data_shape == (2,)
    assert clone.stabilizer_layers[0].smoothing == 0.2


def test_evaluation_metrics_and_figures_on_the_ring(tmp_path, seeded):
    spec = data.load("ring")
    gan = GAN.from_data(spec, TINY)
    gan.compile_for_training(TrainingSettings(1e-3))
    callbacks = gan.callbacks(str(tmp_path))
    assert isinstance(callbacks[0], GANSnapshots)
    gan.fit(
        spec.train_dataset(64, 0, 0, 2), steps_per_epoch=2, epochs=2, verbose=0, callbacks=callbacks
    )
    assert [e for e, _ in gan.snapshots] == [0, 1, 2]
    metrics = lifecycle.evaluate(gan, spec)
    assert metrics == lifecycle.evaluate(gan, spec)  # seeded samples
    assert metrics["num_modes"] == 8 and 0 <= metrics["modes_covered"] <= 8
    assert 0.0 <= metrics["high_quality_fraction"] <= 1.0 and metrics["num_samples"] == 2500
    written = gan.write_figures(spec, str(tmp_path))
    assert written == ["ring.png"] and os.path.getsize(tmp_path / "ring.png") > 1000
    # A resumed fit (fresh process: no snapshots in memory) labels its first one by its epoch.
    resumed = GAN.from_data(spec, TINY)
    resumed.compile_for_training(TrainingSettings(1e-3))
    resumed.fit(
        spec.train_dataset(64, 0, 2, 3),
        steps_per_epoch=2,
        epochs=3,
        initial_epoch=2,
        verbose=0,
        callbacks=resumed.callbacks(str(tmp_path)),
    )
    assert [e for e, _ in resumed.snapshots] == [2, 3]


MIRRORED_SCRIPT = """
import os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from genkeras.models.base import TrainingSettings
from genkeras.models.gan import GAN

keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    gan = GAN((2,), config={"width": 8, "depth": 1, "latent_dim": 2, "stabilizers": [
        "historical-averaging", "minibatch-discrimination:kernels=3,dims=2", "r1-penalty"]})
    gan.compile_for_training(TrainingSettings(1e-3))
x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
ds = tf.data.Dataset.from_tensor_slices(x).batch(16, drop_remainder=True)
logs = gan.fit(ds, epochs=1, verbose=0).history
assert all(np.isfinite(v[-1]) for v in logs.values()), logs
assert int(gan.step_counter.numpy()) == 4
assert float(gan.stabilizer_layers[0].count.numpy()) == 5.0
assert int(gan.d_optimizer.iterations.numpy()) == 4
print("OK")
"""


@pytest.mark.slow  # a fresh interpreter (the logical devices must precede TF's start-up)
def test_trains_under_mirrored_strategy_with_two_replicas(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_a_collapsed_run_says_so_and_what_to_try(seeded):
    gan = GAN((2,), config=TINY)
    collapsed = {"modes_covered": 0, "num_modes": 8, "high_quality_fraction": 0.0}
    notes = gan.lesson_notes(collapsed, {"d_fake": [0.2, 1e-4], "modes_covered": [3, 1, 0]})
    assert len(notes) == 2 and "covered 0/8 modes: mode collapse" in notes[1]
    assert "the discriminator won" in notes[1] and "--stabilizer" in notes[1]
    # what to expect beside what the run got, with the per-epoch range
    assert notes[0].startswith("expected without a stabilizer: mode collapse")
    assert "got 0/8 modes covered, 0 % of samples near a centre (per epoch" in notes[0]
    assert "0-3)" in notes[0]
    taught = {"modes_covered": 8, "num_modes": 8, "high_quality_fraction": 0.95}
    cured = GAN((2,), config={**TINY, "stabilizers": ["feature-matching"]})
    notes = cured.lesson_notes(taught, {"d_fake": [0.4]})
    assert notes == [
        "expected with feature-matching: all 8 modes covered; "
        "got 8/8 modes covered, 95 % of samples near a centre."
    ]
    blurred = {"classes_covered": 10, "num_classes": 10, "classifier_confidence": 0.6}
    assert "unsure" in gan.lesson_notes(blurred, {})[0]
