"""Each stabilizer's term against its formula, computed by hand on a tiny batch."""

import numpy as np
import pytest
from xla_checks import xla_enabled

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from genkeras import registry  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
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
    "pacgan",
    "wgan-gp",
    "top-k",
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
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-6)  # unweighted: the GAN applies 2
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
    gan.compile_for_training(TrainingSettings(0.05))
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
    expected_d = sum(
        np.sum((v.numpy() - a.numpy()) ** 2) for v, a in zip(d_vars, ha.averages("discriminator"))
    )
    assert expected_d > 0
    np.testing.assert_allclose(ha.discriminator_loss(None).numpy(), expected_d, rtol=1e-5)
    real = gan.to_model_range(data[:8])
    ctx = gan.context(real, gan.generator(gan.noise(8, seed=0)), training=False)
    _, terms = gan.discriminator_loss(ctx)  # the GAN multiplies the term by weight = 0.5
    np.testing.assert_allclose(terms["historical_averaging_d"].numpy(), 0.5 * expected_d, rtol=1e-5)


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
    data = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    with xla_enabled():
        gan.compile_for_training(TrainingSettings(1e-3, jit=True))
        assert gan.jit_compile  # Keras kept XLA on
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


# -- API v2: per-sample penalties, weights, hook order, trackers, specs, metrics --------------
def test_r1_with_minibatch_discrimination_penalises_each_examples_own_gradient(seeded):
    # Regression (issue 13, bug 4): the penalty used to differentiate Σ_k D_k with minibatch
    # discrimination coupling the batch, mixing the other examples' gradients into example i's.
    gan = GAN(
        (2,),
        config={
            "width": 8,
            "depth": 1,
            "latent_dim": 2,
            "stabilizers": [
                "minibatch-discrimination:kernels=4,dims=3,init_std=1.0",
                "r1-penalty:gamma=2",
            ],
        },
    )
    real = tf.random.stateless_normal((6, 2), seed=[7, 8])
    fake = tf.random.stateless_normal((6, 2), seed=[9, 10])
    ctx = gan.context(real, fake, training=False)
    penalty = float(gan.stabilizer_layers[1].discriminator_loss(ctx))
    # R1's ∇_x D(x) for example i: the gradient of logit i with respect to x_i, the rest of
    # the batch fixed -- the diagonal blocks of the Jacobian of the logits D's loss uses.
    with tf.GradientTape() as tape:
        tape.watch(real)
        logits = gan.discriminate(real)[1]  # (6,), each depends on the whole batch
    jacobian = tape.jacobian(logits, real).numpy()  # (6, 6, 2): d logit_k / d x_i
    own = jacobian[np.arange(6), np.arange(6)]  # (6, 2)
    expected = 0.5 * 2.0 * np.mean(np.sum(own**2, axis=1))
    mixed = 0.5 * 2.0 * np.mean(np.sum(jacobian.sum(axis=0) ** 2, axis=1))
    assert abs(mixed - expected) > 0.05 * expected  # the batch really couples the logits
    np.testing.assert_allclose(penalty, expected, rtol=1e-4)


@pytest.mark.parametrize("group", [0, 4])
def test_minibatch_discriminations_per_sample_form(group):
    keras.utils.set_random_seed(0)
    mbd = MinibatchDiscrimination(kernels=3, dims=2, init_std=1.0, group=group)
    mbd.build_features(3)
    f = tf.random.stateless_normal((8, 3), seed=[1, 2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(f)
        coupled = mbd.transform_features(f, False)
        alone = mbd.per_sample_features(f, False)
    np.testing.assert_allclose(alone.numpy(), coupled.numpy(), rtol=1e-6)  # same values
    per_sample = np.abs(tape.jacobian(alone, f).numpy()).sum(axis=(1, 3))  # (8 rows, 8 rows)
    batch = np.abs(tape.jacobian(coupled, f).numpy()).sum(axis=(1, 3))
    off = ~np.eye(8, dtype=bool)
    assert np.all(per_sample[off] == 0) and np.all(np.diag(per_sample) > 0)
    assert np.any(batch[off] > 0)  # while the batch form does couple the rows


class _Halver(Stabilizer):
    """Halves both adversarial losses; adds constant terms."""

    discriminator_adversarial_weight = 0.5
    generator_adversarial_weight = 0.5

    def discriminator_loss(self, ctx):
        return tf.constant(1.0)

    def generator_loss(self, ctx):
        return tf.constant(2.0)


def test_weights_combine_by_the_documented_rule(registered, seeded):
    registered("test-halver", _Halver)
    gan = GAN(
        (2,),
        config={**TINY2, "stabilizers": ["test-halver:weight=3", "test-halver:weight=0.5"]},
    )
    assert gan.stabilizers.discriminator_adversarial_weight == 0.25  # the product
    assert gan.stabilizers.generator_adversarial_weight == 0.25
    real = gan.to_model_range(np.ones((4, 2), "float32"))
    ctx = gan.context(real, gan.generator(gan.noise(4, seed=0)), training=False)
    d_loss, d_terms = gan.discriminator_loss(ctx)
    g_loss, g_terms = gan.generator_loss(ctx)
    from genkeras.models.gan import discriminator_adversarial_loss, generator_adversarial_loss

    d_adv = discriminator_adversarial_loss(ctx.real_logits, ctx.fake_logits)
    g_adv = generator_adversarial_loss(ctx.fake_logits)
    # loss = Π adversarial weights · adversarial + Σ weight · term
    np.testing.assert_allclose(d_loss, 0.25 * d_adv + 3 * 1.0 + 0.5 * 1.0, rtol=1e-6)
    np.testing.assert_allclose(g_loss, 0.25 * g_adv + 3 * 2.0 + 0.5 * 2.0, rtol=1e-6)
    assert {k: float(v) for k, v in d_terms.items()} == {
        "test_halver_d": 3.0,
        "test_halver2_d": 0.5,
    }
    assert {k: float(v) for k, v in g_terms.items()} == {
        "test_halver_g": 6.0,
        "test_halver2_g": 1.0,
    }


TINY2 = {"width": 4, "depth": 1, "latent_dim": 2}


class _Recorder(Stabilizer):
    """Records every hook call (in eager mode) with the stabilizer's name."""

    tracked_keys = ("calls",)
    log: list = []

    def _note(self, hook, ctx=None):
        self.log.append((self.registry_name, hook, ctx.player if ctx is not None else None))

    def discriminator_input_shape(self, shape):
        self._note("discriminator_input_shape")
        return shape

    def build_features(self, dim):
        self._note("build_features")
        return dim

    def setup(self, gan):
        self._note("setup")

    def discriminator_input(self, x, step, training):
        self._note("discriminator_input")
        return x

    def pack(self, x, training):
        self._note("pack")
        return x

    def transform_features(self, features, training):
        self._note("transform_features")
        return features

    def discriminator_loss(self, ctx):
        self._note("discriminator_loss", ctx)
        return None

    def generator_loss(self, ctx):
        self._note("generator_loss", ctx)
        return None

    def after_discriminator_step(self, gan):
        self._note("after_discriminator_step")

    def after_step(self, gan):
        self._note("after_step")

    def tracked(self, ctx):
        self._note("tracked", ctx)
        return {"calls": tf.constant(float(len(self.log)))}


def test_hooks_run_in_the_documented_order(registered, seeded):
    registered("rec-a", _Recorder)
    registered("rec-b", _Recorder)
    _Recorder.log = []
    gan = GAN((2,), config={**TINY2, "d_steps": 2, "stabilizers": ["rec-a", "rec-b"]})

    def each(hook, player=None):
        return [("rec-a", hook, player), ("rec-b", hook, player)]

    construction = each("discriminator_input_shape") + each("build_features") + each("setup")
    assert _Recorder.log == construction
    assert all(layer.built for layer in gan.stabilizer_layers)  # setup need not set built
    gan.compile_for_training(TrainingSettings(1e-3))
    gan.run_eagerly = True
    _Recorder.log = []
    gan.train_on_batch(np.ones((4, 2), "float32"))

    def forward():  # GAN.context: real then fake inputs, then D on real, D on fake
        inputs = each("discriminator_input") + each("pack")
        return inputs + inputs + each("transform_features") * 2

    d_update = (
        forward() + each("discriminator_loss", "discriminator") + each("after_discriminator_step")
    )
    g_update = (
        forward() + each("generator_loss", "generator") + each("tracked", "generator")
    ) + each("after_step")
    assert _Recorder.log == d_update * 2 + g_update
    # test_step: one evaluation context, both losses, tracked on it
    _Recorder.log = []
    gan.test_on_batch(np.ones((4, 2), "float32"))
    assert _Recorder.log == (
        forward()
        + each("discriminator_loss", "evaluation")
        + each("generator_loss", "evaluation")
        + each("tracked", "evaluation")
    )


class _OneSided(Stabilizer):
    """Overrides both loss hooks but declares only D's as used."""

    def discriminator_loss(self, ctx):
        return tf.constant(0.0)

    def generator_loss(self, ctx):
        return None

    def overrides(self, hook):
        return hook != "generator_loss" and super().overrides(hook)


def test_overrides_decides_which_loss_trackers_exist(registered, seeded):
    registered("test-one-sided", _OneSided)
    gan = GAN(
        (2,),
        config={
            **TINY2,
            "stabilizers": ["test-one-sided", "historical-averaging:player=generator"],
        },
    )
    names = gan.stabilizers.metric_names()
    assert names == ["test_one_sided_d", "historical_averaging_g"]


class _BadTracker(Stabilizer):
    """Returns a tracked key it did not declare."""

    tracked_keys = ("declared",)

    def tracked(self, ctx):
        return {"undeclared": tf.constant(1.0)}


def test_an_undeclared_tracked_key_is_an_error(registered, seeded):
    registered("test-bad-tracker", _BadTracker)
    gan = GAN((2,), config={**TINY2, "stabilizers": ["test-bad-tracker"]})
    gan.compile_for_training(TrainingSettings(1e-3))
    with pytest.raises(ValueError, match="'undeclared', which is not in its tracked_keys"):
        gan.train_on_batch(np.ones((4, 2), "float32"))


class _Listy(Stabilizer):
    """Takes list options."""

    def __init__(self, sizes=(1,), names=(), **kwargs):
        super().__init__(**kwargs)
        self.sizes = list(sizes)
        self.names = list(names)

    def evaluation_metrics(self, gan, spec, samples):
        return {"sum_sizes": sum(self.sizes), "mean_x": float(np.mean(samples[:, 0]))}


def test_list_values_in_specs_reach_the_constructor(registered, seeded):
    registered("test-listy", _Listy)
    stab = build_stabilizer("test-listy:sizes=[64,32,0.5],names=[a,b-c],weight=2")
    assert stab.sizes == [64, 32, 0.5] and stab.names == ["a", "b-c"] and stab.weight == 2.0
    assert parse_spec("x:empty=[],nested=[[1,2],[3]]") == (
        "x",
        {"empty": [], "nested": [[1, 2], [3]]},
    )
    for bad, message in [
        ("x:sizes=[1,2", "Unclosed"),
        ("x:sizes=1,2]", "Unbalanced"),
        ("x:sizes=[1,,2]", "empty item"),
        ("x:a=1,a=2", "given twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)
    from genkeras.models.config import GANConfig

    with pytest.raises(ValueError, match="Unclosed"):  # refused before TensorFlow builds anything
        GANConfig(stabilizers=["test-listy:sizes=[1"])


def test_stabilizer_evaluation_metrics_are_prefixed(registered, seeded):
    from genkeras import data

    registered("test-listy", _Listy)
    spec = data.load("ring")
    gan = GAN.from_data(spec, {**TINY2, "stabilizers": ["test-listy:sizes=[2,3]"]})
    metrics = gan.evaluation_metrics(spec, num_samples=200)
    assert metrics["test_listy_sum_sizes"] == 5.0
    samples = gan.sample(200, seed=0).numpy()
    np.testing.assert_allclose(metrics["test_listy_mean_x"], samples[:, 0].mean(), rtol=1e-6)
    from genkeras.run import lifecycle

    everything = lifecycle.evaluate(gan, spec)  # what metrics.json holds
    assert everything["test_listy_sum_sizes"] == 5.0 and everything["num_modes"] == 8


def test_spec_docstring_examples_run():
    import doctest

    from genkeras.stabilizers import spec

    assert doctest.testmod(spec).failed == 0
