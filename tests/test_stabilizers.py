"""Each stabilizer's term against its formula, computed by hand on a tiny batch."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras import registry  # noqa: E402
from genkeras.models.gan import GAN  # noqa: E402
from genkeras.stabilizers.base import (  # noqa: E402
    Stabilizer,
    StabilizerContext,
    bce_with_logits,
    build_stabilizer,
    parse_spec,
)
from genkeras.stabilizers.feature_matching import FeatureMatching  # noqa: E402
from genkeras.stabilizers.gradient_penalty import R1Penalty  # noqa: E402
from genkeras.stabilizers.historical_averaging import HistoricalAveraging  # noqa: E402
from genkeras.stabilizers.instance_noise import InstanceNoise  # noqa: E402
from genkeras.stabilizers.label_smoothing import OneSidedLabelSmoothing  # noqa: E402
from genkeras.stabilizers.minibatch_discrimination import (  # noqa: E402
    MinibatchDiscrimination,
    minibatch_features,
)

BUILT_INS = [
    "feature-matching",
    "minibatch-discrimination",
    "historical-averaging",
    "one-sided-label-smoothing",
    "instance-noise",
    "r1-penalty",
]


def _ctx(**kw):
    base = dict(
        real=None,
        fake=None,
        real_features=None,
        fake_features=None,
        real_logits=None,
        fake_logits=None,
        step=tf.constant(0, tf.int64),
        training=True,
        gan=None,
    )
    base.update(
        {
            k: (tf.constant(v, tf.float32) if isinstance(v, (list, np.ndarray)) else v)
            for k, v in kw.items()
        }
    )
    return StabilizerContext(**base)


def test_built_ins_are_registered_through_entry_points():
    for name in BUILT_INS:
        entry = registry.stabilizers.entry(name)
        assert entry.distribution == "genkeras"
        assert issubclass(entry.load(), Stabilizer)


def test_parse_spec_and_unknown_options():
    assert parse_spec("instance-noise:sigma=0.5,anneal_steps=10,x=true,y=abc") == (
        "instance-noise",
        {"sigma": 0.5, "anneal_steps": 10, "x": True, "y": "abc"},
    )
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("feature-matching:weight")
    with pytest.raises(ValueError, match="Unknown option"):
        build_stabilizer("feature-matching:kernels=3")
    with pytest.raises(ValueError, match="Unknown stabilizer"):
        build_stabilizer("no-such-stabilizer")
    stab = build_stabilizer("minibatch-discrimination:kernels=7,dims=2", index=3)
    assert (stab.kernels, stab.dims, stab.registry_name) == (7, 2, "minibatch-discrimination")


def test_feature_matching_matches_hand_computation():
    real = np.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = np.array([[0.0, 0.0], [2.0, 1.0]])  # mean (1, 0.5)
    expected = 1.0**2 + 2.5**2  # ‖(2,3) − (1,0.5)‖²
    fm = FeatureMatching(weight=2.0)
    value = fm.generator_loss(_ctx(real_features=real, fake_features=fake))
    np.testing.assert_allclose(value.numpy(), 2.0 * expected, rtol=1e-6)
    assert fm.generator_adversarial_weight == 0.0  # replaces the adversarial loss by default
    assert FeatureMatching(adversarial=1.0).generator_adversarial_weight == 1.0
    # the real features carry no gradient
    r = tf.Variable(real, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = fm.generator_loss(_ctx(real_features=r, fake_features=fake))
    assert tape.gradient(loss, r) is None


def test_label_smoothing_equals_smoothed_cross_entropy():
    logits = np.array([2.0, -1.0, 0.5], np.float32)
    ls = OneSidedLabelSmoothing(smoothing=0.1)
    term = ls.discriminator_loss(_ctx(real_logits=logits))
    np.testing.assert_allclose(term.numpy(), 0.1 * logits.mean(), rtol=1e-6)
    smoothed = keras.losses.BinaryCrossentropy(from_logits=True)(
        np.full((3, 1), 0.9, np.float32), logits[:, None]
    )
    total = bce_with_logits(tf.constant(logits), 1.0) + term
    np.testing.assert_allclose(total.numpy(), float(smoothed), rtol=1e-5)


def test_minibatch_features_match_formula_by_hand():
    # A = 2 features, B = 1 kernel, C = 2 dims; T = identity: M_i = f(x_i)
    kernel = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    f = tf.constant([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    o = minibatch_features(f, kernel, kernels=1, dims=2).numpy()[:, 0]
    # L1 distances: d01 = 1, d02 = 2, d12 = 3
    e = np.exp
    np.testing.assert_allclose(o, [e(-1) + e(-2), e(-1) + e(-3), e(-2) + e(-3)], rtol=1e-6)


@pytest.mark.parametrize("n,group", [(12, 4), (10, 4), (5, 8)])
def test_minibatch_features_in_groups_equal_each_group_alone(n, group):
    kernel = tf.random.stateless_normal((3, 2 * 4), seed=[1, 2])
    f = tf.random.stateless_normal((n, 3), seed=[3, 4])
    grouped = minibatch_features(f, kernel, kernels=2, dims=4, group=group).numpy()
    assert grouped.shape == (n, 2)
    for start in range(0, n, group):  # the last group may be smaller
        alone = minibatch_features(f[start : start + group], kernel, kernels=2, dims=4)
        np.testing.assert_allclose(grouped[start : start + group], alone.numpy(), rtol=1e-5)
    full = minibatch_features(f, kernel, kernels=2, dims=4, group=n).numpy()
    np.testing.assert_allclose(full, minibatch_features(f, kernel, 2, 4).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="group must be a non-negative integer"):
        MinibatchDiscrimination(group=-1)


def test_minibatch_discrimination_identical_vs_diverse_batch():
    keras.utils.set_random_seed(0)
    mbd = MinibatchDiscrimination(kernels=8, dims=3, init_std=1.0)
    assert mbd.build_features(4) == 12
    identical = tf.ones((16, 4)) * tf.constant([[0.3, -1.0, 2.0, 0.5]])
    diverse = tf.random.normal((16, 4), stddev=2.0)
    out_same = mbd.transform_features(identical, True)
    out_diverse = mbd.transform_features(diverse, True)
    assert out_same.shape == (16, 12)
    np.testing.assert_allclose(out_same[:, :4], identical)  # features pass through
    # identical examples: every c_b = 1, so o = n − 1 = 15 exactly
    np.testing.assert_allclose(out_same[:, 4:], 15.0, rtol=1e-6)
    assert float(tf.reduce_max(out_diverse[:, 4:])) < 15.0
    assert float(tf.reduce_mean(out_diverse[:, 4:])) < 0.5 * 15.0


def test_historical_averages_equal_mean_of_past_parameters(seeded):
    gan = GAN(
        (2,),
        config={
            "width": 4,
            "depth": 1,
            "latent_dim": 2,
            "stabilizers": ["historical-averaging:weight=0.5"],
        },
    )
    ha = gan.stabilizer_layers[0]
    gan.compile_for_training(0.05)
    data = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    history = [[v.numpy().copy() for v in gan.discriminator_variables + gan.generator_variables]]
    for _ in range(4):
        gan.train_on_batch(data)
        history.append(
            [v.numpy().copy() for v in gan.discriminator_variables + gan.generator_variables]
        )
    averages = ha.averages("discriminator") + ha.averages("generator")
    assert float(ha.count.numpy()) == 5.0
    for i, avg in enumerate(averages):
        expected = np.mean([h[i] for h in history], axis=0)
        np.testing.assert_allclose(avg.numpy(), expected, rtol=1e-5, atol=1e-6)
    # the term is weight · Σ ‖θ − θ̄‖² over the player's parameters
    d_vars = gan.discriminator_variables
    expected_d = 0.5 * sum(
        np.sum((v.numpy() - a.numpy()) ** 2) for v, a in zip(d_vars, ha.averages("discriminator"))
    )
    assert expected_d > 0
    np.testing.assert_allclose(ha.discriminator_loss(None).numpy(), expected_d, rtol=1e-5)


def test_instance_noise_schedule_and_statistics():
    noise = InstanceNoise(sigma=0.4, anneal_steps=100, seed=1)
    np.testing.assert_allclose(noise.current_sigma(tf.constant(0, tf.int64)).numpy(), 0.4)
    np.testing.assert_allclose(noise.current_sigma(tf.constant(25, tf.int64)).numpy(), 0.3)
    np.testing.assert_allclose(noise.current_sigma(tf.constant(500, tf.int64)).numpy(), 0.0)
    x = tf.zeros((20000, 2))
    noisy = noise.discriminator_input(x, tf.constant(50, tf.int64), training=True)
    np.testing.assert_allclose(np.std(noisy.numpy()), 0.2, rtol=0.03)
    assert noise.discriminator_input(x, tf.constant(0, tf.int64), training=False) is x
    assert noise.discriminator_loss(None) is None  # no loss term, only a tracked sigma


def test_r1_penalty_on_a_linear_discriminator():
    w = tf.constant([[3.0], [-4.0]])  # D(x) = x·w: ∇_x D = w, ‖w‖² = 25

    def discriminate(x):
        return tf.matmul(x, w)[:, 0]

    r1 = R1Penalty(gamma=2.0)
    x = tf.random.normal((5, 2))
    np.testing.assert_allclose(r1.penalty(discriminate, x).numpy(), 0.5 * 2.0 * 25.0, rtol=1e-6)


def test_stabilizer_validation_messages():
    with pytest.raises(ValueError, match="Received: smoothing=1.5"):
        OneSidedLabelSmoothing(smoothing=1.5)
    with pytest.raises(ValueError, match="Received: player='both-ish'"):
        HistoricalAveraging(player="both-ish")
    with pytest.raises(ValueError, match="Received: kernels=0"):
        MinibatchDiscrimination(kernels=0)
    with pytest.raises(ValueError, match="Received: weight=-1.0"):
        FeatureMatching(weight=-1)


def test_every_stabilizer_term_is_tracked_in_fit(seeded):
    specs = [
        "feature-matching:adversarial=1",
        "minibatch-discrimination:kernels=3,dims=2",
        "historical-averaging",
        "one-sided-label-smoothing",
        "instance-noise",
        "r1-penalty",
    ]
    gan = GAN((2,), config={"width": 8, "depth": 1, "latent_dim": 2, "stabilizers": specs})
    gan.compile_for_training(1e-3, jit_compile=True)
    data = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    logs = gan.fit(data, batch_size=16, epochs=1, verbose=0).history
    for key in [
        "feature_matching_g",
        "minibatch_discrimination_fake_similarity",
        "historical_averaging_d",
        "historical_averaging_g",
        "one_sided_label_smoothing_d",
        "instance_noise_sigma",
        "r1_penalty_d",
    ]:
        assert key in logs and np.isfinite(logs[key][-1]), key
    assert logs["r1_penalty_d"][-1] > 0
