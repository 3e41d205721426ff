"""The per-sample hook, the step/epoch context and top-k training (Sinha et al. 2020)."""

import numpy as np
import pytest
from xla_checks import xla_enabled

tf = pytest.importorskip("tensorflow")

from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.gan import GAN, generator_adversarial_loss  # noqa: E402
from genkeras.stabilizers.base import Stabilizer, build_stabilizer  # noqa: E402
from genkeras.stabilizers.feature_matching import FeatureMatching  # noqa: E402
from genkeras.stabilizers.top_k import top_k_count  # noqa: E402

TINY = {"width": 8, "depth": 1, "latent_dim": 2}


@pytest.mark.parametrize(
    "n,epoch,gamma,nu,k",
    [
        (64, 0, 0.99, 0.5, 64),
        (64, 10, 0.99, 0.5, 58),
        (64, 500, 0.99, 0.5, 32),
        (3, 0, 0.5, 0.1, 3),
    ],
)
def test_k_decays_per_epoch_down_to_its_floor(n, epoch, gamma, nu, k):
    # ceil(64 * 0.99**10) = ceil(57.88) = 58; 0.99**500 * 64 < 32 -> the floor nu * n
    assert int(top_k_count(tf.constant(n), tf.constant(epoch), gamma, nu)) == k


def _context(gan, epoch_steps, n=8):
    real = gan.to_model_range(np.random.default_rng(0).normal(size=(n, 2)).astype("float32"))
    gan.step_counter.assign(epoch_steps)
    return gan.context(real, gan.generator(gan.noise(n, seed=1)), training=True)


def test_top_k_keeps_the_best_scored_samples_and_the_loss_is_their_mean(seeded):
    gan = GAN((2,), config={**TINY, "stabilizers": ["top-k:gamma=0.5,min_fraction=0.25"]})
    gan.compile_for_training(TrainingSettings(1e-3, steps_per_epoch=10))
    ctx = _context(gan, 10)  # one epoch done: k = ceil(8 * 0.5) = 4
    assert int(ctx.epoch) == 1 and ctx.steps_per_epoch == 10
    logits = ctx.fake_logits.numpy()
    kept = ctx.sample_weights.numpy()
    assert kept.sum() == 4 and set(np.argsort(-logits)[:4]) == set(np.flatnonzero(kept))
    loss, _ = gan.generator_loss(ctx)
    by_hand = np.mean(np.log1p(np.exp(-logits[kept == 1])))  # softplus(-l) of the kept four
    np.testing.assert_allclose(loss, by_hand, rtol=1e-5)
    np.testing.assert_allclose(
        generator_adversarial_loss(ctx.fake_logits), np.mean(np.log1p(np.exp(-logits))), rtol=1e-5
    )


def test_top_k_composes_with_feature_matching(seeded):
    """Feature matching matches the mean feature of the kept samples only."""
    gan = GAN((2,), config={**TINY, "stabilizers": ["top-k:gamma=0.5", "feature-matching"]})
    gan.compile_for_training(TrainingSettings(1e-3, steps_per_epoch=5))
    ctx = _context(gan, 5)
    kept = ctx.sample_weights.numpy().astype(bool)
    assert 0 < kept.sum() < len(kept)
    real_mean = ctx.real_features.numpy().mean(axis=0)
    fake_mean = ctx.fake_features.numpy()[kept].mean(axis=0)
    loss, terms = gan.generator_loss(ctx)  # feature matching replaces the adversarial loss
    np.testing.assert_allclose(loss, np.sum((real_mean - fake_mean) ** 2), rtol=1e-5)
    assert set(terms) == {"feature_matching_g"}
    plain = FeatureMatching.distance(ctx.real_features, ctx.fake_features)
    assert not np.isclose(float(plain), float(loss))  # the weighting changed the term


class _StepProbe(Stabilizer):
    """Tracks what ``ctx.step`` and ``ctx.epoch`` read in the generator's update."""

    tracked_keys = ("step", "epoch", "loss_step")

    def generator_loss(self, ctx):
        self._seen = ctx.step
        return 0.0 * tf.cast(ctx.step, tf.float32)

    def tracked(self, ctx):
        return {
            "step": ctx.step,  # as a plugin would: the tracker reads it after the update
            "epoch": tf.cast(ctx.epoch, tf.float32),
            "loss_step": tf.cast(self._seen, tf.float32),
        }


def test_every_hook_of_a_step_reads_the_same_step_and_the_epoch(registered, seeded):
    registered("step-probe", _StepProbe)
    gan = GAN((2,), config={**TINY, "stabilizers": ["step-probe", "top-k:gamma=0.5"]})
    data = np.random.default_rng(0).normal(size=(48, 2)).astype("float32")
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(1e-3, steps_per_epoch=3, jit=True))
        assert gan.jit_compile
        logs = gan.fit(data, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    # epoch 2 trains steps 3, 4, 5: each hook sees the steps completed before it
    assert logs["step_probe_step"] == pytest.approx([1.0, 4.0])
    assert logs["step_probe_loss_step"] == pytest.approx([1.0, 4.0])
    assert logs["step_probe_epoch"] == pytest.approx([0.0, 1.0])
    assert logs["top_k_kept"][0] == pytest.approx(1.0)  # epoch 0: k = the whole batch
    assert logs["top_k_kept"][1] == pytest.approx(0.5)  # epoch 1: k = 16 * 0.5


class _Shadowing(Stabilizer):
    def __init__(self, pack: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.pack = int(pack)


def test_an_attribute_hiding_a_hook_is_refused_naming_both(registered):
    registered("shadowing", _Shadowing)
    with pytest.raises(ValueError, match=r"self\.pack = 2.*hides the stabilizer hook pack\(\)"):
        build_stabilizer("shadowing:pack=2")
