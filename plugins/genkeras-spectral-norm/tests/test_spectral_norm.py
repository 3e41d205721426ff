"""Tests of the genkeras-spectral-norm plugin, as its own distribution would ship them."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras_spectral_norm.stabilizer import SpectralNorm, power_iteration  # noqa: E402

from genkeras import registry  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.gan import GAN  # noqa: E402


def test_entry_point_is_discovered():
    entry = registry.stabilizers.entry("spectral-norm")
    assert entry.distribution == "genkeras-spectral-norm"
    assert entry.load() is SpectralNorm


def test_power_iteration_finds_the_largest_singular_value():
    rng = np.random.default_rng(0)
    matrix = tf.constant(rng.normal(size=(6, 4)), tf.float32)
    u = tf.constant(rng.normal(size=(4,)), tf.float32)
    sigma, _ = power_iteration(matrix, u, iterations=50)
    np.testing.assert_allclose(sigma.numpy(), np.linalg.svd(matrix.numpy())[1][0], rtol=1e-4)


def test_kernels_are_projected_after_each_discriminator_step():
    keras.utils.set_random_seed(0)
    gan = GAN(
        (2,),
        config={
            "width": 16,
            "depth": 2,
            "latent_dim": 2,
            "stabilizers": ["spectral-norm:power_iterations=20"],
        },
    )
    for v in gan.trunk.trainable_variables:  # blow the kernels up first
        v.assign(v * 5.0)
    gan.compile_for_training(TrainingSettings(1e-3))
    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    logs = gan.train_on_batch(x, return_dict=True)
    assert logs["spectral_norm_sigma_max"] > 2.0  # measured before the projection
    for v in gan.trunk.trainable_variables + gan.head.trainable_variables:
        if len(v.shape) == 2:
            assert np.linalg.svd(v.numpy())[1][0] <= 1.0 + 1e-2


def test_survives_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    gan = GAN(
        (2,),
        config={
            "width": 8,
            "depth": 1,
            "latent_dim": 2,
            "stabilizers": ["spectral-norm:bound=0.5"],
        },
    )
    gan.compile_for_training(TrainingSettings(1e-3))
    gan.fit(np.ones((16, 2), "float32"), batch_size=8, epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    (stab,) = loaded.stabilizer_layers
    assert isinstance(stab, SpectralNorm) and stab.bound == 0.5
    for a, b in zip(gan.stabilizer_layers[0].vectors, stab.vectors):
        np.testing.assert_allclose(a.numpy(), b.numpy())


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="Received: bound=0.0"):
        SpectralNorm(bound=0)
