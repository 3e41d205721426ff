"""PacGAN (Lin et al. 2018): packing shapes, what a pack's logit depends on, training, saving."""

import doctest

import numpy as np
import pytest
from xla_checks import xla_enabled

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras import data, registry  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.gan import GAN  # noqa: E402
from genkeras.stabilizers import pacgan as pacgan_module  # noqa: E402
from genkeras.stabilizers.pacgan import PacGAN, pack_examples  # noqa: E402

TINY = {"width": 8, "depth": 1, "latent_dim": 3, "filters": 4}


def test_registered_as_a_built_in():
    entry = registry.stabilizers.entry("pacgan")
    assert entry.distribution == "genkeras" and entry.load() is PacGAN


def test_docstring_examples_run():
    assert doctest.testmod(pacgan_module, extraglobs={"tf": tf}).failed == 0


def test_vectors_are_concatenated_in_packs_of_m():
    x = tf.reshape(tf.range(24.0), (8, 3))  # example i is (3i, 3i+1, 3i+2)
    packed = pack_examples(x, 4).numpy()
    assert packed.shape == (2, 12)
    np.testing.assert_array_equal(packed[0], np.arange(12.0))  # examples 0..3, in order
    np.testing.assert_array_equal(packed[1], np.arange(12.0, 24.0))
    np.testing.assert_array_equal(pack_examples(x, 1), x)
    # 10 examples, m = 4: two packs, the last 2 examples left out
    assert pack_examples(tf.zeros((10, 3)), 4).shape == (2, 12)


def test_images_are_stacked_along_channels():
    x = tf.random.stateless_normal((6, 4, 4, 3), seed=[1, 2])
    packed = pack_examples(x, 2).numpy()
    assert packed.shape == (3, 4, 4, 6)
    for j in range(3):  # pack j = [x_2j, x_2j+1] along channels
        np.testing.assert_array_equal(packed[j, ..., :3], x[2 * j])
        np.testing.assert_array_equal(packed[j, ..., 3:], x[2 * j + 1])


def test_only_the_discriminators_first_layer_grows(seeded):
    plain = GAN((2,), config={**TINY, "depth": 2})
    packed = GAN((2,), config={**TINY, "depth": 2, "stabilizers": ["pacgan:m=3"]})
    assert packed.discriminator_input_shape == (6,)
    shapes = [tuple(v.shape) for v in plain.discriminator_variables]
    packed_shapes = [tuple(v.shape) for v in packed.discriminator_variables]
    assert packed_shapes[0] == (6, 8) and shapes[0] == (2, 8)
    assert packed_shapes[1:] == shapes[1:]
    assert [v.shape for v in packed.generator_variables] == [
        v.shape for v in plain.generator_variables
    ]
    image = GAN((8, 8, 1), levels=17, config={**TINY, "stabilizers": ["pacgan:m=2"]})
    assert image.discriminator_input_shape == (8, 8, 2)


def test_a_packs_logit_depends_on_its_m_examples_and_no_others(seeded):
    m, n = 4, 12
    gan = GAN((2,), config={**TINY, "stabilizers": [f"pacgan:m={m}"]})
    x = tf.random.stateless_normal((n, 2), seed=[3, 4])
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = gan(x)  # one logit per pack
    assert logits.shape == (n // m,)
    jacobian = tape.jacobian(logits, x).numpy()  # (packs, n, 2)
    depends = np.abs(jacobian).sum(axis=-1) > 0  # (packs, n)
    expected = np.kron(np.eye(n // m, dtype=bool), np.ones((1, m), dtype=bool))
    np.testing.assert_array_equal(depends, expected)


def test_m_equal_one_is_the_plain_gan(seeded):
    plain = GAN((2,), config=TINY)
    one = GAN((2,), config={**TINY, "stabilizers": ["pacgan:m=1"]})
    for a, b in zip(one.discriminator_variables, plain.discriminator_variables):
        a.assign(b)
    x = tf.random.stateless_normal((8, 2), seed=[5, 6])
    np.testing.assert_allclose(one(x).numpy(), plain(x).numpy(), rtol=1e-6)


def test_trains_under_xla_with_losses_on_packs(seeded):
    gan = GAN(
        (2,),
        config={**TINY, "stabilizers": ["pacgan", "r1-penalty", "instance-noise"]},
    )
    real = tf.constant(data.ring().x_train[:32])
    fake = gan.generator(gan.noise(32, seed=1))
    ctx = gan.context(gan.to_model_range(real), fake, training=False)
    assert ctx.real.shape == (8, 8) and ctx.real_logits.shape == (8,)
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(1e-3, jit=True))
        assert gan.jit_compile  # Keras kept XLA on
        logs = gan.fit(
            data.ring().x_train[:96],
            batch_size=32,
            epochs=1,
            verbose=0,
            validation_data=(real[:6],),  # one pack of 4; the last 2 examples are left out
        ).history
    assert all(np.isfinite(v[-1]) for v in logs.values()), logs


def test_a_test_batch_smaller_than_a_pack_leaves_no_nan(seeded):
    gan = GAN((2,), config={**TINY, "stabilizers": ["pacgan:m=4"]})
    gan.compile_for_training(TrainingSettings(1e-3))
    x = data.ring().x_test[:10]  # batches of 4, 4 and 2: the last has no pack
    logs = gan.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs


def test_image_gan_with_packing_trains_and_round_trips(tmp_path, seeded):
    spec = data.load("digits")
    gan = GAN.from_data(spec, {**TINY, "stabilizers": ["pacgan:m=2"]})
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(2e-4, jit=True))
        assert gan.jit_compile
        gan.fit(spec.train_dataset(16, 0, 0, 1), steps_per_epoch=2, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.stabilizer_layers[0].m == 2
    x = spec.x_test[:8].astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), gan(x).numpy(), rtol=1e-5)


def test_bad_m_is_refused():
    with pytest.raises(ValueError, match="Received: m=0"):
        PacGAN(m=0)
    with pytest.raises(ValueError, match="Received: m=2.5"):
        PacGAN(m=2.5)
