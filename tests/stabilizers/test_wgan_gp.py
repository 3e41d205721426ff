"""WGAN-GP (Gulrajani et al. 2017): the penalty, the critic's optimum, and the GAN it drives."""

import numpy as np
import pytest
from xla_checks import xla_enabled

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras import data, registry  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.gan import GAN  # noqa: E402
from genkeras.stabilizers.wgan_gp import WGANGP, gradient_penalty, interpolate  # noqa: E402

TINY = {"width": 8, "depth": 1, "latent_dim": 3}


def test_registered_as_a_built_in():
    entry = registry.stabilizers.entry("wgan-gp")
    assert entry.distribution == "genkeras" and entry.load() is WGANGP


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = x·w + b has gradient w everywhere: (‖w‖ − 1)² = (5 − 1)² = 16 at every x̂.
    w = tf.constant([[3.0], [-4.0]])

    def critic(x):
        return tf.matmul(x, w)[:, 0] + 0.7

    x_hat = tf.random.stateless_normal((7, 2), seed=[1, 2])
    np.testing.assert_allclose(gradient_penalty(critic, x_hat).numpy(), 16.0, rtol=1e-5)
    # a 1-Lipschitz linear critic with unit slope is not penalised
    unit = tf.constant([[0.6], [0.8]])
    np.testing.assert_allclose(
        gradient_penalty(lambda x: tf.matmul(x, unit)[:, 0], x_hat).numpy(), 0.0, atol=1e-6
    )


def test_critic_loss_of_a_linear_critic_and_the_interpolates():
    w = tf.constant([[3.0], [-4.0]])
    seen = []

    def critic(x):
        seen.append(x)
        return tf.matmul(x, w)[:, 0]

    real = tf.random.stateless_normal((6, 2), seed=[3, 4])
    fake = tf.random.stateless_normal((6, 2), seed=[5, 6]) + 3.0
    stab = WGANGP(penalty=2.0)
    loss, gp = stab.critic_loss(critic, real, fake, critic(real), critic(fake))
    expected = np.mean(fake.numpy() @ w.numpy()) - np.mean(real.numpy() @ w.numpy()) + 2.0 * 16
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(gp.numpy(), 16.0, rtol=1e-5)
    # x̂_i = ε_i x_i + (1 − ε_i) x̃_i: on the segment from x̃_i to x_i
    x_hat = seen[-1].numpy()
    eps = (x_hat - fake.numpy()) / (real.numpy() - fake.numpy())  # (6, 2): same ε per row
    np.testing.assert_allclose(eps[:, 0], eps[:, 1], rtol=1e-4)
    assert np.all((eps >= 0) & (eps <= 1))
    np.testing.assert_allclose(interpolate(real, fake, tf.ones(6)), real)


def test_the_optimal_linear_critic_between_two_point_masses():
    # Real mass at a = 2, fake at b = 0 (W = 2). For D(x) = w x the loss is
    # L(w) = w b − w a + λ (|w| − 1)², minimised at w* = 1 + (a − b) / (2λ): the
    # penalty keeps the critic's slope near 1 and its estimate a·w − b·w near W.
    lam = 10.0
    stab = WGANGP(penalty=lam)
    w = tf.Variable([[0.2]])
    real, fake = tf.fill((16, 1), 2.0), tf.zeros((16, 1))
    opt = keras.optimizers.SGD(0.02)

    @tf.function
    def step():
        with tf.GradientTape() as tape:

            def critic(x):
                return tf.matmul(x, w)[:, 0]

            loss, _ = stab.critic_loss(critic, real, fake, critic(real), critic(fake))
        opt.apply_gradients([(tape.gradient(loss, w), w)])

    for _ in range(300):
        step()
    np.testing.assert_allclose(float(w[0, 0]), 1.0 + 2.0 / (2 * lam), rtol=1e-3)


def test_replaces_both_adversarial_losses_in_the_gan(seeded):
    gan = GAN((2,), config={**TINY, "stabilizers": ["wgan-gp"]})
    assert gan.stabilizers.discriminator_adversarial_weight == 0.0
    assert gan.stabilizers.generator_adversarial_weight == 0.0
    real = gan.to_model_range(data.ring().x_train[:16])
    ctx = gan.context(real, gan.generator(gan.noise(16, seed=1)), training=False)
    d_loss, d_terms = gan.discriminator_loss(ctx)
    g_loss, g_terms = gan.generator_loss(ctx)
    np.testing.assert_allclose(g_loss.numpy(), -np.mean(ctx.fake_logits.numpy()), rtol=1e-6)
    np.testing.assert_allclose(g_loss.numpy(), g_terms["wgan_gp_g"].numpy())
    np.testing.assert_allclose(d_loss.numpy(), d_terms["wgan_gp_d"].numpy())
    gap = np.mean(ctx.fake_logits.numpy()) - np.mean(ctx.real_logits.numpy())
    assert float(d_loss) >= gap - 1e-6  # the critic's term plus a non-negative penalty


def test_trains_under_xla_and_reports_its_wasserstein_estimate(seeded):
    spec = data.load("ring")
    gan = GAN.from_data(
        spec,
        {
            **TINY,
            "d_steps": 2,
            "stabilizers": ["wgan-gp:penalty=10", "minibatch-discrimination:kernels=2,dims=2"],
        },
    )
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(1e-3, jit=True))
        assert gan.jit_compile  # Keras kept XLA on
        logs = gan.fit(spec.x_train[:128], batch_size=32, epochs=1, verbose=0).history
    for key in ("wgan_gp_d", "wgan_gp_g", "wgan_gp_wasserstein", "wgan_gp_gradient_penalty"):
        assert np.isfinite(logs[key][-1]), key
    assert logs["wgan_gp_gradient_penalty"][-1] > 0
    np.testing.assert_allclose(logs["d_loss"][-1], logs["wgan_gp_d"][-1], rtol=1e-5)
    metrics = gan.evaluation_metrics(spec, num_samples=300)
    assert np.isfinite(metrics["wgan_gp_wasserstein"])


def test_bad_penalty_is_refused():
    with pytest.raises(ValueError, match="Received: penalty=-1.0"):
        WGANGP(penalty=-1)
