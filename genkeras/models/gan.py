"""Generative adversarial network with pluggable training stabilizers.

A GAN [1] trains a generator ``G`` that maps noise ``z ~ N(0, I)`` to data
against a discriminator ``D`` that tells real from generated examples, in the
two-player minimax game

    min_G max_D  E_{x~p_data}[log D(x)] + E_{z~p(z)}[log(1 − D(G(z)))].

Mathematical details:

* ``D(x) = sigmoid(l(x))`` with logit ``l``; the discriminator minimises the
  binary cross-entropy ``softplus(−l(x)) + softplus(l(G(z)))`` (real target 1,
  fake target 0), i.e. maximises the value above.
* Generator losses (``--loss``):

  - ``minimax``: ``log(1 − D(G(z))) = −softplus(l)``, the game's own term. Its
    gradient ``∂/∂l = −sigmoid(l)`` vanishes where the discriminator confidently
    rejects the samples (``D(G(z)) ≈ 0``) -- early in training, when the
    generator most needs it (the lecture's "saturating" loss).
  - ``non-saturating`` (default): ``−log D(G(z)) = softplus(−l)`` [1, §3]. Same
    fixed point, gradient ``∂/∂l = −(1 − sigmoid(l)) ≈ −1`` where
    ``D(G(z)) ≈ 0``: strong where the minimax gradient vanishes.

* Each step makes ``d_steps`` discriminator updates (fresh ``z`` each, the same
  real batch) and then one generator update, each with its own optimizer
  (Adam, β₁ = 0.5 as in DCGAN [2]).
* The discriminator is a feature *trunk* (``x -> f(x)``, ``(batch, F)``) and
  a linear *head* (``f -> l``), so stabilizers can reach ``f`` (feature
  matching) or insert features before the head (minibatch discrimination).
  Its input is declared by the stabilizers before it is built: the data's
  shape, or for PacGAN [4] packs of ``m`` examples.
* Each player's adversarial loss is multiplied by the product of the
  stabilizers' ``discriminator_adversarial_weight`` /
  ``generator_adversarial_weight`` (1 without stabilizers); a WGAN-GP critic
  [5] sets both to 0 and brings its own losses.
* Networks are sized from the data: MLPs for vectors (the 2-D ring and grid),
  DCGAN-style conv nets for images (two stride-2 stages: height and width must
  be multiples of 4 -- 8×8 digits, 28×28 MNIST, 32×32×3 CIFAR-10). Images
  arrive as integer levels ``0..L−1`` and are scaled to ``[-1, 1]`` inside the
  model; the generator ends in ``tanh`` and :meth:`GAN.sample` returns levels.

Stabilizers (``--stabilizer NAME[:key=value,...]``, repeatable) are looked up
in :data:`genkeras.registry.stabilizers` and compose; see
:mod:`genkeras.stabilizers.base` for the hook API plugins implement.

References:

[1]: Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
     https://arxiv.org/abs/1406.2661
[2]: Radford, Metz & Chintala. Unsupervised Representation Learning with Deep
     Convolutional Generative Adversarial Networks. ICLR 2016.
     https://arxiv.org/abs/1511.06434
[3]: Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
     https://arxiv.org/abs/1606.03498
[4]: Lin, Khetan, Fanti & Oh. PacGAN: The power of two samples in generative
     adversarial networks. NeurIPS 2018. https://arxiv.org/abs/1712.04086
[5]: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville. Improved Training of
     Wasserstein GANs. NeurIPS 2017. https://arxiv.org/abs/1704.00028
"""

from __future__ import annotations

import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from genkeras.models import gan_loading
from genkeras.models.base import MODEL_FILE, GenerativeModel
from genkeras.models.config import GENERATOR_LOSSES, GANConfig
from genkeras.models.gan_loading import missing_stabilizers
from genkeras.models.gan_networks import build_generator, build_trunk
from genkeras.models.gan_report import GANSnapshots, stabilizer_metrics, write_figures
from genkeras.stabilizers.base import StabilizerContext, bce_with_logits
from genkeras.stabilizers.stack import StabilizerStack

__all__ = [
    "GAME_METRICS",
    "GAN",
    "GANConfig",
    "GANSnapshots",
    "GENERATOR_LOSSES",
    "generator_adversarial_loss",
    "discriminator_adversarial_loss",
    "missing_stabilizers",
]


#: The game's own tracked values (each stabilizer adds its own after them).
GAME_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")


def discriminator_adversarial_loss(real_logits, fake_logits):
    """``BCE(l(x), 1) + BCE(l(G(z)), 0) = mean softplus(−l_real) + mean softplus(l_fake)``."""
    return bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)


def generator_adversarial_loss(fake_logits, loss: str = "non-saturating", sample_weights=None):
    """The generator's adversarial loss on the logits ``l`` of ``D(G(z))``.

    Args:
        fake_logits: ``(batch,)`` discriminator logits of generated examples.
        loss: ``"minimax"`` -- ``mean log(1 − D(G(z))) = −mean softplus(l)``;
            ``"non-saturating"`` -- ``−mean log D(G(z)) = mean softplus(−l)``.
        sample_weights: ``(batch,)`` weights of the samples (``None``: equal):
            the mean becomes ``Σ w_i ℓ_i / Σ w_i``.

    Returns:
        A scalar.

    Raises:
        ValueError: For another ``loss``.
    """
    if loss == "minimax":
        per_sample = -tf.nn.softplus(fake_logits)
    elif loss == "non-saturating":
        per_sample = tf.nn.softplus(-fake_logits)
    else:
        raise ValueError(
            f"loss must be one of {', '.join(GENERATOR_LOSSES)}. Received: loss={loss!r}"
        )
    if sample_weights is None:
        return tf.reduce_mean(per_sample)
    w = tf.cast(sample_weights, per_sample.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(w * per_sample), tf.reduce_sum(w))


class _Store:
    """Plain holder for Python-side state Keras must not track (training snapshots)."""

    def __init__(self):
        self.snapshots: list[tuple[int, np.ndarray]] = []


@keras.saving.register_keras_serializable(package="genkeras")
class GAN(GenerativeModel):
    """Generative adversarial network (Goodfellow et al. 2014) with stabilizer hooks.

    Args:
        data_shape: Shape of one example: ``(D,)`` vectors or ``(H, W, C)`` images.
        levels: Discrete levels of image data, or ``None`` for continuous data.
        config: :class:`GANConfig` or a dict of its fields.
        num_classes: Number of label classes (for classifier coverage).
        **kwargs: Passed to ``keras.Model``.

    Call arguments:
        x: A batch ``(batch, *data_shape)`` in data units (levels for images).
        training: Training mode of the layers and stabilizers.

    Returns (of ``call``):
        The discriminator's logits: ``(batch,)``, or one per pack when a
        stabilizer packs examples (PacGAN: ``(batch // m,)``).

    Attributes:
        missing_stabilizers: Names of the stabilizers the saved GAN was
            trained with that were not installed when :meth:`load_saved`
            read it (empty for a complete GAN). A GAN loaded without them
            holds its generator only: it samples and evaluates, but has no
            discriminator to train or call.

    Example:

    >>> gan = GAN(data_shape=(2,), config={"width": 16, "depth": 1, "latent_dim": 4})
    >>> gan.sample(5, seed=0).shape
    TensorShape([5, 2])
    """

    config_class = GANConfig

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(data_shape, levels, config, num_classes, **kwargs)
        cfg = self.cfg
        self.is_image = len(self.data_shape) == 3
        self.missing_stabilizers: tuple[str, ...] = ()
        self.stabilizers = StabilizerStack(cfg.stabilizers)
        self.stabilizer_layers = self.stabilizers.layers  # tracked: saved with the model
        self.generator = build_generator(cfg, self.data_shape)
        # D's input is declared by the stabilizers before D is built (PacGAN packs examples).
        self.discriminator_input_shape = self.stabilizers.discriminator_input_shape(self.data_shape)
        self.trunk = build_trunk(cfg, self.discriminator_input_shape)
        input_shape = (None,) + self.discriminator_input_shape
        self.feature_dim = int(self.trunk.compute_output_shape(input_shape)[-1])
        head_dim = self.stabilizers.build_features(self.feature_dim)
        self.head = keras.Sequential(
            [keras.Input((head_dim,)), keras.layers.Dense(1)], name="discriminator_head"
        )
        self.stabilizers.setup(self)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.step_counter = keras.Variable(
            0, dtype="int64", trainable=False, aggregation="only_first_replica", name="step"
        )
        self._steps_per_epoch = None
        self._store = _Store()
        self.trackers = [keras.metrics.Mean(name=n) for n in GAME_METRICS]
        self.trackers += self.stabilizers.trackers
        self.d_optimizer = None
        self.g_optimizer = None
        self._gan_compile_config = None
        self.built = True  # every network was built from its input shape above

    def build_from_shape(self):
        """Returns the GAN: every network was built from its input shape in ``__init__``."""
        return self

    @property
    def generator_variables(self) -> list:
        """The generator's trainable variables."""
        return list(self.generator.trainable_variables)

    @property
    def discriminator_variables(self) -> list:
        """The discriminator's trainable variables: trunk, head and stabilizer weights."""
        variables = list(self.trunk.trainable_variables) + list(self.head.trainable_variables)
        return variables + self.stabilizers.trainable_weights

    # -- data range ------------------------------------------------------------------------
    def to_model_range(self, x):
        """Data units -> model range: levels ``0..L−1`` to ``[-1, 1]``; vectors unchanged."""
        x = tf.cast(x, tf.float32)
        if not self.is_image:
            return x
        return x * (2.0 / (self.levels - 1)) - 1.0

    def to_data_units(self, y):
        """Model range -> data units: ``[-1, 1]`` to rounded levels ``0..L−1`` (as float32)."""
        if not self.is_image:
            return y
        levels = tf.round((y + 1.0) * (0.5 * (self.levels - 1)))
        return tf.clip_by_value(levels, 0.0, float(self.levels - 1))

    # -- forward passes ----------------------------------------------------------------------
    def discriminator_inputs(self, x, training=False):
        """What the discriminator sees for a batch of model-range examples.

        Every stabilizer's ``discriminator_input`` (in order), then every
        ``pack``: ``(n, *data_shape) -> (n', *discriminator_input_shape)``.
        """
        x = self.stabilizers.discriminator_input(x, self.step_value(), training)
        return self.stabilizers.pack(x, training)

    def discriminate(self, x, training=False, per_sample=False):
        """Runs the discriminator on its inputs (model range, packed).

        Args:
            x: ``(n', *discriminator_input_shape)``: what
                :meth:`discriminator_inputs` returns (the data's shape
                without packing).
            training: Training mode of the layers and stabilizers.
            per_sample: Run each feature transform in its per-sample form,
                so logit ``i`` depends on ``x_i`` only (what gradient
                penalties differentiate; see
                :meth:`genkeras.stabilizers.base.StabilizerContext.discriminate`).

        Returns:
            ``(features, logits)``: trunk features ``(n', F)`` (before any
            stabilizer's feature transform) and logits ``(n',)``.
        """
        gan_loading.require_discriminator(self, "running the discriminator")
        # float32 out of the networks (they may compute in 16 bits): losses are float32
        features = tf.cast(self.trunk(x, training=training), tf.float32)  # (n', F)
        h = self.stabilizers.transform_features(features, training, per_sample)  # (n', F')
        logits = tf.cast(self.head(h, training=training)[:, 0], tf.float32)  # (n',)
        return features, logits

    def noise(self, n, seed=None):
        """Draws ``z ~ N(0, I)`` for this replica's ``n`` examples, shape ``(n, latent_dim)``.

        The noise is drawn for the global batch and each replica keeps its
        slice (:meth:`~genkeras.models.base.GenerativeModel.replica_normal`), so
        an example gets the same ``z`` under any number of replicas.

        Args:
            n: This replica's batch size.
            seed: Integer seed (``None``: the next seed of the model's generator).
        """
        return self.replica_normal(n, (self.cfg.latent_dim,), self.seed_tensor(seed))

    def call(self, x, training=False):
        """Discriminator logits for data-unit inputs ``x`` (one per pack when packing)."""
        x_in = self.discriminator_inputs(self.to_model_range(x), training)
        return self.discriminate(x_in, training=training)[1]

    def context(self, real, fake, training, player="generator") -> StabilizerContext:
        """Runs the discriminator on model-range ``real`` and ``fake`` batches.

        Args:
            real: ``(batch, *data_shape)`` real examples in the model range.
            fake: ``(batch, *data_shape)`` generated examples.
            training: Whether this is a training step.
            player: Whose update the context is for: ``"discriminator"``,
                ``"generator"`` or ``"evaluation"``.

        Returns:
            The :class:`~genkeras.stabilizers.base.StabilizerContext` the loss hooks see.
        """
        real_in = self.discriminator_inputs(real, training)
        fake_in = self.discriminator_inputs(fake, training)
        real_features, real_logits = self.discriminate(real_in, training)
        fake_features, fake_logits = self.discriminate(fake_in, training)
        step = self.step_value()
        per_epoch = self._steps_per_epoch
        ctx = StabilizerContext(
            real=real_in,
            fake=fake_in,
            real_features=real_features,
            fake_features=fake_features,
            real_logits=real_logits,
            fake_logits=fake_logits,
            step=step,
            training=training,
            gan=self,
            player=player,
            epoch=None if per_epoch is None else step // per_epoch,
            steps_per_epoch=per_epoch,
        )
        if player == "generator":
            ctx.sample_weights = self.stabilizers.generator_sample_weights(ctx)
        return ctx

    def step_value(self):
        """Completed training steps as an int64 tensor read now (not the variable itself).

        Every hook of one step sees the same value: the variable is only
        incremented at the end of ``train_step``.
        """
        return tf.convert_to_tensor(self.step_counter)

    # -- losses ----------------------------------------------------------------------------
    def discriminator_loss(self, ctx):
        """Returns ``(total loss, {tracker name: term})`` for the discriminator.

        ``Π_s discriminator_adversarial_weight_s · adversarial + Σ_s weight_s · term_s``.
        """
        weight = self.stabilizers.discriminator_adversarial_weight
        loss = weight * discriminator_adversarial_loss(ctx.real_logits, ctx.fake_logits)
        return self.stabilizers.add_terms(loss, ctx, "discriminator_loss", "d")

    def generator_loss(self, ctx):
        """Returns ``(total loss, {tracker name: term})`` for the generator.

        ``Π_s generator_adversarial_weight_s · adversarial + Σ_s weight_s · term_s``.
        """
        weight = self.stabilizers.generator_adversarial_weight
        loss = weight * generator_adversarial_loss(
            ctx.fake_logits, self.cfg.loss, ctx.sample_weights
        )
        return self.stabilizers.add_terms(loss, ctx, "generator_loss", "g")

    @property
    def metrics(self):
        """Trackers reset by ``fit`` each epoch.

        ``d_loss`` and ``g_loss`` (each player's total loss), ``d_real`` /
        ``d_fake`` (mean ``D(x)`` and ``D(G(z))``), then each stabilizer's terms
        ``<name>_d`` / ``<name>_g`` and tracked values.
        """
        return list(self.trackers)

    def step_values(self, ctx, d_loss, g_loss, terms) -> dict:
        """Every tracked value of one step, ``{tracker name: scalar}``, plus its ``weight``.

        A test batch smaller than one pack (PacGAN) gives the discriminator no
        input: its values (means over nothing) get weight 0, so they are left
        out of the epoch's means rather than averaged in as NaN.
        """
        values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": tf.reduce_mean(tf.sigmoid(ctx.real_logits)),
            "d_fake": tf.reduce_mean(tf.sigmoid(ctx.fake_logits)),
            **self.stabilizers.tracked_values(ctx, terms),
        }
        return {"weight": tf.cast(tf.size(ctx.real_logits) > 0, tf.float32), **values}

    def _update_trackers(self, values):
        weight = values["weight"]
        for tracker in self.trackers:
            if tracker.name in values:
                value = tf.where(weight > 0, tf.cast(values[tracker.name], tf.float32), 0.0)
                tracker.update_state(value, sample_weight=weight)
        return {m.name: m.result() for m in self.metrics}

    # -- training ----------------------------------------------------------------------------------
    def compile(self, d_optimizer, g_optimizer, jit_compile="auto", **kwargs):
        """Configures the two players' optimizers (as keras-io's DCGAN example does).

        Args:
            d_optimizer: The discriminator's optimizer (name, config or instance).
            g_optimizer: The generator's optimizer.
            jit_compile: Compile the steps with XLA (``"auto"``: Keras decides).
            **kwargs: Passed to ``keras.Model.compile`` (e.g. ``steps_per_execution``).
        """

        def make(opt):
            opt = keras.optimizers.get(opt)
            scaled = isinstance(opt, keras.optimizers.LossScaleOptimizer)
            if self.dtype_policy.name == "mixed_float16" and not scaled:
                opt = keras.optimizers.LossScaleOptimizer(opt)  # both players, as Keras does one
            return opt

        self.d_optimizer = make(d_optimizer)
        self.g_optimizer = make(g_optimizer)
        # Keras's own `optimizer` slot holds the generator's, so `model.optimizer.iterations`
        # counts training steps.
        super().compile(optimizer=self.g_optimizer, jit_compile=jit_compile, **kwargs)
        self._gan_compile_config = {"jit_compile": jit_compile, **kwargs}
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.generator_variables)

    def get_compile_config(self):
        """Returns both optimizers and the compile options, for reloading compiled."""
        if not self.compiled or self._gan_compile_config is None:
            return {}
        return {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
            **self._gan_compile_config,
        }

    def compile_from_config(self, config):
        """Compiles from :meth:`get_compile_config`'s output (used by ``load_model``)."""
        config = dict(config)
        d_opt = keras.optimizers.deserialize(config.pop("d_optimizer"))
        g_opt = keras.optimizers.deserialize(config.pop("g_optimizer"))
        self.compile(d_optimizer=d_opt, g_optimizer=g_opt, **config)

    def compile_for_training(self, settings):
        """Compiles with Adam(β₁ = ``beta_1``) for both players at the run's learning rate.

        The discriminator steps ``d_steps`` times per generator step, so a
        decaying learning rate is spread over ``d_steps`` times as many of its
        updates: both players decay over the same run.

        Args:
            settings: The run's :class:`~genkeras.models.base.TrainingSettings`.
        """
        beta_1 = self.cfg.beta_1
        self._steps_per_epoch = settings.steps_per_epoch
        self.compile(
            d_optimizer=self.make_optimizer(settings, self.cfg.d_steps, beta_1=beta_1),
            g_optimizer=self.make_optimizer(settings, beta_1=beta_1),
            jit_compile=settings.jit,
            steps_per_execution=settings.steps_per_execution,
        )

    def optimizer_slots(self):
        """``[("d_optimizer", opt, D variables), ("g_optimizer", opt, G variables)]``."""
        return [
            ("d_optimizer", self.d_optimizer, self.discriminator_variables),
            ("g_optimizer", self.g_optimizer, self.generator_variables),
        ]

    def train_step(self, data):
        """``d_steps`` discriminator updates, one generator update, then stabilizer updates.

        Each update is one :meth:`~genkeras.models.base.GenerativeModel.optimize`
        call. The stabilizers' hooks run in the order written out in
        :mod:`genkeras.stabilizers.stack`. Batches are ``x`` or ``(x, y)``
        (labels are ignored).
        """
        gan_loading.require_discriminator(self, "training")
        x, _ = self.unpack(data)
        real = self.to_model_range(x)  # (batch, *data_shape)
        n = tf.shape(real)[0]
        for _ in range(self.cfg.d_steps):
            fake = self.generator(self.noise(n), training=True)

            def d_loss_fn(fake=fake):
                ctx = self.context(real, fake, training=True, player="discriminator")
                return self.discriminator_loss(ctx)

            d_loss, d_terms = self.optimize(
                d_loss_fn, self.discriminator_variables, self.d_optimizer
            )
            self.stabilizers.after_discriminator_step(self)
        z = self.noise(n)

        def g_loss_fn():
            fake = self.generator(z, training=True)
            ctx = self.context(real, fake, training=True, player="generator")
            g_loss, g_terms = self.generator_loss(ctx)
            return g_loss, self.step_values(ctx, d_loss, g_loss, {**d_terms, **g_terms})

        _, values = self.optimize(g_loss_fn, self.generator_variables, self.g_optimizer)
        self.stabilizers.after_step(self)
        self.step_counter.assign_add(1)
        return self._update_trackers(values)

    def test_step(self, data):
        """Both players' losses on a test batch and fresh noise, without updates."""
        gan_loading.require_discriminator(self, "evaluating the losses")
        x, _ = self.unpack(data)
        real = self.to_model_range(x)
        fake = self.generator(self.noise(tf.shape(real)[0]), training=False)
        ctx = self.context(real, fake, training=False, player="evaluation")
        d_loss, d_terms = self.discriminator_loss(ctx)
        g_loss, g_terms = self.generator_loss(ctx)
        return self._update_trackers(self.step_values(ctx, d_loss, g_loss, {**d_terms, **g_terms}))

    # -- sampling ----------------------------------------------------------------------------------
    def generate(self, z):
        """``G(z)`` in data units (levels for images), shape ``(n, *data_shape)``."""
        return self.to_data_units(tf.cast(self.generator(z, training=False), tf.float32))

    def sample(self, n: int, seed: int | None = None):
        """Draws ``n`` examples ``G(z)``, ``z ~ N(0, I)``.

        Args:
            n: Number of examples.
            seed: Integer seed (``None``: the model's seed generator).

        Returns:
            Tensor ``(n, *data_shape)``: integer levels as float32 for images,
            raw values for vectors.
        """
        n = self.sample_count(n)
        z = tf.random.stateless_normal((n, self.cfg.latent_dim), seed=self.seed_tensor(seed))
        parts = [self.generate(z[i : i + 1024]) for i in range(0, n, 1024)]
        return tf.concat(parts, axis=0)

    # -- evaluation and figures ----------------------------------------------------------------
    def callbacks(self, run_dir: str | None, spec=None, **kwargs) -> list:
        """:class:`GANSnapshots` (when writing a run folder): the mode-collapse figure's samples.

        On data with modes it also logs each epoch's mode coverage.
        """
        if run_dir is None:
            return []
        extras = spec.extras if spec is not None else {}
        modes = (extras["centers"], extras["std"]) if "centers" in extras else None
        return [GANSnapshots(num=2500 if not self.is_image else 16, modes=modes)]

    @property
    def snapshots(self) -> list[tuple[int, np.ndarray]]:
        """``(epoch, samples)`` pairs recorded by :class:`GANSnapshots` during ``fit``."""
        return self._store.snapshots

    def evaluation_metrics(
        self, spec, batch_size: int = 256, num_samples: int = 2500, seed: int = 0, **kwargs
    ):
        """Every stabilizer's evaluation metrics, prefixed by its metric prefix.

        A GAN has no likelihood, so no NLL is reported; what it is judged by --
        mode coverage, the classifier's classes -- is the sample quality the
        runner computes for every family (:mod:`genkeras.evaluation`). The
        stabilizers score 2,500 seeded samples (``wgan_gp_wasserstein``...). A
        GAN loaded without some of its stabilizers (:attr:`missing_stabilizers`)
        leaves these out, with a warning naming the missing ones.

        Args:
            spec: The :class:`genkeras.data.DataSpec`.
            batch_size: Unused (samples are scored in one pass).
            num_samples: Samples the stabilizers score.
            seed: Seed of the samples.
            **kwargs: Ignored (arguments a later genkeras may pass).

        Returns:
            A flat dict of floats.
        """
        return stabilizer_metrics(self, spec, seed, num_samples)

    def write_figures(self, spec, out_dir) -> list[str]:
        """Writes the data-vs-samples figure with training snapshots.

        2-D data: ``<dataset>.png`` (``ring.png``, ``grid.png``; ``modes.png``
        for other 2-D data). Images: ``snapshots.png``, sample grids at the
        recorded epochs (if :class:`GANSnapshots` ran).
        """
        return write_figures(self, spec, out_dir)

    def lesson_notes(self, metrics, history) -> list[str]:
        """What the lecture leads a learner to expect beside what the run got; mode collapse.

        The first note says what to expect on data with modes: without a
        stabilizer, mode collapse; with one, every mode. Then a run that
        collapsed or whose discriminator won says so, with what to try.
        """
        notes = []
        if "num_modes" in metrics:
            total = metrics["num_modes"]
            got = (
                f"got {metrics['modes_covered']}/{total} modes covered, "
                f"{100 * metrics.get('high_quality_fraction', 0.0):.0f} % of samples near a centre"
            )
            per_epoch = history.get("modes_covered") or []
            if len(per_epoch) > 1:
                got += f" (per epoch, history.csv: {min(per_epoch):.0f}-{max(per_epoch):.0f})"
            if self.cfg.stabilizers:
                names = ", ".join(s.split(":")[0] for s in self.cfg.stabilizers)
                expected = f"expected with {names}: all {total} modes covered"
            else:
                expected = (
                    f"expected without a stabilizer: mode collapse, fewer than {total} modes "
                    "(or modes hopping from epoch to epoch)"
                )
            notes.append(f"{expected}; {got}.")
        d_fake = (history.get("d_fake") or [None])[-1]
        won = d_fake is not None and d_fake < 0.05
        for covered, total, what in (
            ("modes_covered", "num_modes", "modes"),
            ("classes_covered", "num_classes", "classes"),
        ):
            if total in metrics and metrics[covered] < 0.9 * metrics[total]:
                note = f"covered {metrics[covered]}/{metrics[total]} {what}: mode collapse"
                if won:
                    note += f"; the discriminator won (D(G(z)) ~ {d_fake:.3f})"
                notes.append(
                    note + ". Try a stabilizer: --stabilizer feature-matching (docs/gans.md, "
                    "'Mode collapse', lists which ones cure it here)."
                )
        hq = metrics.get("high_quality_fraction")
        if hq is not None and hq < 0.5 and not notes:
            notes.append(
                f"only {100 * hq:.0f} % of the samples lie near a mode: the generator has not "
                "settled on the centres. Train longer, or decay the learning rate "
                "(--lr-decay 0.01)."
            )
        confidence = metrics.get("classifier_confidence")
        if confidence is not None and confidence < 0.8:
            notes.append(
                f"the classifier is unsure of the samples (mean confidence {confidence:.2f}): "
                "they are blurred or between classes. Train longer."
            )
        return notes

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load_saved(cls, run_dir: str):
        """Loads a run's GAN, with or without the stabilizer plugins it was trained with.

        Sampling needs only the generator. When every stabilizer of the saved
        config can be loaded here, this is the default (``model.keras`` in
        safe mode: the complete, compiled GAN). Otherwise the GAN is rebuilt
        without stabilizers and only its generator's weights are read from
        ``model.keras``; :attr:`missing_stabilizers` names what was missing.
        Such a GAN samples (``genkeras sample``) and evaluates what needs no
        discriminator (``genkeras evaluate``); training it or calling its
        discriminator raises an error naming the missing plugins.

        Args:
            run_dir: The run folder.

        Returns:
            A :class:`GAN`.

        Raises:
            FileNotFoundError: If the run saved no model.
            ValueError: If ``model.keras`` is not a GAN, or its generator's
                weights cannot be read.
        """
        path = os.path.join(run_dir, MODEL_FILE)
        if not os.path.exists(path):
            return super().load_saved(run_dir)  # raises FileNotFoundError with its message
        try:
            saved = gan_loading.saved_model_config(path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return super().load_saved(run_dir)  # reports a corrupt or foreign file
        missing = missing_stabilizers(saved["config"].get("stabilizers", ()))
        if not missing:
            return super().load_saved(run_dir)
        return gan_loading.generator_only(cls, path, saved, missing)
