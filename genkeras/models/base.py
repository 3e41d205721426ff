"""The contract every genkeras model family implements: :class:`GenerativeModel`.

A family is a ``keras.Model`` subclass of :class:`GenerativeModel` paired with
a config dataclass (its :attr:`~GenerativeModel.config_class`, a
:class:`~genkeras.models.config.ModelConfig`). :func:`genkeras.run.lifecycle.run`
and the CLI talk to a family **only** through the methods and attributes
declared here, each with a default and a docstring; a family overrides what
it needs. In the order the runner uses them:

==================================== ===================================================
hook                                 used for
==================================== ===================================================
``config_class``                     options, run defaults, data checks (before TensorFlow)
``from_data(spec, config)``          building the model sized from the data
``conditional``                      whether batches are ``(x, labels)`` pairs
``compile_for_training(settings)``   optimizers (:meth:`make_optimizer`), XLA, steps per execution
``optimizer_slots()``                which optimizer state a checkpoint holds
``prepare(spec, seed)``              data-dependent initialisation of a fresh run
``train_dataset`` / ``test_dataset`` the pipelines ``fit`` reads
``steps_per_epoch(spec, batch)``     batches per epoch
``callbacks(run_dir)``               the family's own Keras callbacks
``train_step`` / ``test_step``       one update (through :meth:`optimize`) / one evaluation
``sample(n, seed, **options)``       new examples; ``sample_options`` declares the options
``display_options``                  what ``samples.png`` and ``genkeras sample`` show
``describe_samples(**options)``      the caption of those figures
``evaluation_metrics(spec, ...)``    the family's own metrics (likelihoods, bounds); the runner adds
                                     the shared sample-quality scores (:mod:`genkeras.evaluation`)
``write_figures(spec, out_dir)``     the family's own figures in the run folder
``lesson_notes(metrics, history)``   what the numbers say about the run's lesson (printed)
``load_saved(run_dir)``              reading the saved model back
==================================== ===================================================

Shared helpers (use them rather than writing your own):
:meth:`GenerativeModel.optimize` (the one gradient step: loss scaling under
mixed precision, replica scaling under ``tf.distribute``, ``--grad-clip``),
:meth:`GenerativeModel.make_optimizer` (the run's optimizer),
:meth:`GenerativeModel.unpack` (batches), :meth:`GenerativeModel.forward`
(conditional or not), :meth:`GenerativeModel.seed_tensor` (seeds) and
:meth:`GenerativeModel.bits_per_dim`.

Hooks that take keyword arguments (``evaluation_metrics``) accept ``**kwargs``
they do not know, so arguments a later genkeras passes do not break them.

Mixed precision: under Keras's ``mixed_float16`` / ``mixed_bfloat16`` policies
the layers compute in 16 bits and keep float32 variables. Cast network outputs
to float32 before they parameterise a TFP distribution, so every
log-likelihood, KL and loss is computed in float32.

Everything the runner needs *before* building a model -- options, run
defaults (epochs, batch size, learning rate) and which data the family can
model -- is on the config class, so it is checked before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import keras

from genkeras.errors import RunFolderError
from genkeras.models.config import ModelConfig, config_from_dict

__all__ = ["GenerativeModel", "MODEL_FILE", "TrainingSettings"]


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """How a run trains a model: what :meth:`GenerativeModel.compile_for_training` receives.

    The runner builds it from the run's options
    (:class:`~genkeras.run.config.RunConfig`); a family turns it into
    optimizers with :meth:`GenerativeModel.make_optimizer`.

    Attributes:
        learning_rate: The initial learning rate.
        total_steps: Training steps of the whole run (epochs · steps per epoch).
        lr_decay: The learning rate at the end of the run as a fraction of the
            initial one (1: constant; else a half-cosine decay).
        grad_clip: Clip each update's gradient to this global norm (``None``: no clipping).
        jit: Compile the train and test steps with XLA.
        steps_per_execution: Training steps per call of the compiled function.
        steps_per_epoch: Training steps of one epoch (``None`` when unknown).

    Example:

    >>> TrainingSettings(1e-3, total_steps=100).learning_rate_schedule()
    0.001
    """

    learning_rate: float
    total_steps: int = 1
    lr_decay: float = 1.0
    grad_clip: float | None = None
    jit: bool = False
    steps_per_execution: int = 1
    steps_per_epoch: int | None = None

    def learning_rate_schedule(self, updates_per_step: int = 1):
        """The learning rate of an optimizer that makes ``updates_per_step`` updates per step.

        Returns ``learning_rate`` itself when it is constant, else a
        ``keras.optimizers.schedules.CosineDecay`` from ``learning_rate`` to
        ``lr_decay · learning_rate`` over ``updates_per_step · total_steps``
        updates (a GAN's discriminator, updated ``d_steps`` times per step,
        decays over the same run as its generator).
        """
        if float(self.lr_decay) == 1.0:
            return float(self.learning_rate)
        return keras.optimizers.schedules.CosineDecay(
            float(self.learning_rate),
            int(self.total_steps) * int(updates_per_step),
            alpha=float(self.lr_decay),
        )


def _recover_hint(run_dir: str) -> str:
    from genkeras.run.config import RunRecord

    try:
        model = RunRecord.read(run_dir).model
    except (OSError, ValueError):
        model = "MODEL"
    return (
        f"The run's checkpoint holds its last epoch: `genkeras run {model} --resume {run_dir}` "
        "writes model.keras again."
    )


def _archive_class(path: str) -> str:
    """The class a ``.keras`` archive's ``config.json`` names (``"?"`` if unreadable)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return str(config.get("registered_name") or config.get("class_name") or "?")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return "?"


def _load_model_file(path: str, cls, run_dir: str):
    """``keras.saving.load_model(path, safe_mode=True)`` with messages a user can act on."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise RunFolderError(
            f"{path} is corrupt or incomplete (not a .keras archive). {_recover_hint(run_dir)}"
        )
    held = _archive_class(path)
    from genkeras.registry import UnknownNameError

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except UnknownNameError as exc:  # a component of the model is a plugin not installed here
        raise RunFolderError(
            f"{path} needs a plugin that is not installed here: {exc}. Install the plugin "
            "(genkeras plugins lists what is installed) and try again."
        ) from None
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise RunFolderError(
            f"{path} is corrupt or incomplete ({type(exc).__name__}: {exc}). "
            f"{_recover_hint(run_dir)}"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise RunFolderError(
                f"{path} contains code (a Lambda layer or a Python function) and was not "
                "loaded: genkeras never runs code from a model file. Retrain the run to "
                "write a model.keras of plain layers."
            ) from None
        raise RunFolderError(
            f"{run_dir}: config.json says the run trained a {cls.__name__}, but {path} "
            f"holds a {held} and could not be loaded as one ({type(exc).__name__})."
        ) from None
    if not isinstance(model, cls):
        raise RunFolderError(
            f"{run_dir}: config.json says the run trained a {cls.__name__}, but {path} "
            f"holds a {type(model).__name__} ({held})."
        )
    return model


LN2 = math.log(2.0)
#: The saved model's file name in a run folder.
MODEL_FILE = "model.keras"


class GenerativeModel(keras.Model):
    """Base class of the genkeras model families.

    Subclasses set :attr:`config_class`, build their layers in ``__init__``
    (after calling this one, which validates the data against the config and
    sets ``self.cfg``), create a ``keras.random.SeedGenerator`` as
    ``self.seed_generator``, and implement ``call``, ``train_step``,
    ``test_step``, :meth:`sample` and :meth:`evaluation_metrics`.

    Args:
        data_shape: Shape of one example, e.g. ``(8, 8, 1)`` or ``(2,)``.
        levels: Discrete levels per dimension, or ``None`` for continuous data.
        config: The family's config dataclass, or a dict of its fields.
        num_classes: Number of label classes in the data (for conditioning or
            coverage metrics), or ``None``.
        **kwargs: Passed to ``keras.Model`` (``name``, ``dtype``...).
    """

    #: The family's hyperparameter dataclass (a ModelConfig subclass); subclasses set it.
    config_class: ClassVar[type[ModelConfig]] = None
    #: Options ``sample`` accepts beyond ``n`` and ``seed``: name -> one line of help.
    #: ``genkeras sample`` refuses the others.
    sample_options: ClassVar[Mapping[str, str]] = {}
    #: The ``sample`` options of the pictures a run shows: ``samples.png`` and the
    #: default of ``genkeras sample`` (the VAE shows decoder means).
    display_options: ClassVar[Mapping[str, Any]] = {}
    #: Global gradient norm at which :meth:`optimize` clips (``--grad-clip``; set by
    #: :meth:`make_optimizer` from the run's settings).
    grad_clip: float | None = None
    #: Whether :meth:`optimize` compiles the gradient computation with XLA on its own:
    #: set by :func:`genkeras.run.distribute.step_function` for an XLA run over several
    #: replicas, whose step as a whole cannot be XLA-compiled on a CPU (XLA has no CPU
    #: collectives; the gradients' all-reduce stays outside).
    xla_gradients: bool = False

    def __init__(self, data_shape, levels=None, config=None, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if self.config_class is None:
            raise TypeError(f"{type(self).__name__} must set config_class.")
        self.data_shape = tuple(int(d) for d in data_shape)
        if any(d < 1 for d in self.data_shape) or not self.data_shape:
            raise ValueError(f"data_shape must be positive. Received: data_shape={data_shape}")
        self.levels = None if levels is None else int(levels)
        if self.levels is not None and self.levels < 2:
            raise ValueError(f"levels must be at least 2. Received: levels={levels}")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.cfg = config_from_dict(self.config_class, config)
        self.cfg.check_data(self.data_shape, self.levels, self.num_classes)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_data(cls, spec, config=None, **kwargs):
        """Builds a model sized from a :class:`genkeras.data.DataSpec`.

        Args:
            spec: The dataset.
            config: The family's config dataclass or dict of fields.
            **kwargs: Passed to the constructor.

        Returns:
            The model (not yet built).
        """
        return cls(
            data_shape=spec.shape,
            levels=spec.levels,
            config=config,
            num_classes=spec.num_classes,
            **kwargs,
        )

    def get_config(self):
        """Returns the constructor arguments (data shape, levels, config fields)."""
        return {
            **super().get_config(),
            "data_shape": list(self.data_shape),
            "levels": self.levels,
            "num_classes": self.num_classes,
            "config": dataclasses.asdict(self.cfg),
        }

    @classmethod
    def from_config(cls, config):
        """Recreates the model from :meth:`get_config`'s output."""
        config = dict(config)
        config.pop("trainable", None)  # keras.Model.get_config adds it
        config["config"] = cls.config_class.upgrade(dict(config.get("config") or {}))
        return cls(**config)

    def build_from_shape(self):
        """Builds every weight by calling the model on a batch of zeros (and labels)."""
        zeros = keras.ops.zeros((2,) + self.data_shape, dtype="float32")
        labels = keras.ops.zeros((2,), dtype="int32") if self.conditional else None
        self.forward(zeros, labels)
        return self

    # -- data -----------------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Whether the model is class-conditional: batches are ``(x, labels)`` pairs."""
        return False

    def train_dataset(self, spec, batch_size: int, seed: int, first_epoch: int, last_epoch: int):
        """The training pipeline for epochs ``first_epoch .. last_epoch - 1``.

        Default: :meth:`genkeras.data.DataSpec.train_dataset`, with labels when
        :attr:`conditional`.
        """
        return spec.train_dataset(
            batch_size, seed, first_epoch, last_epoch, with_labels=self.conditional
        )

    def test_dataset(self, spec, batch_size: int):
        """The test pipeline (default: :meth:`genkeras.data.DataSpec.test_dataset`)."""
        return spec.test_dataset(batch_size, with_labels=self.conditional)

    def steps_per_epoch(self, spec, batch_size: int) -> int:
        """Batches per epoch of :meth:`train_dataset` (default: full batches of the split)."""
        return spec.steps_per_epoch(batch_size)

    def unpack(self, data):
        """Splits a batch into ``(x, labels)``; ``labels`` is ``None`` unless conditional.

        Raises:
            ValueError: If the model is conditional and the batch has no labels.
        """
        x, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not self.conditional:
            return x, None
        if labels is None:
            raise ValueError(
                f"{type(self).__name__} is class-conditional: pass labels "
                "(training batches must be (x, y) pairs). Received: labels=None"
            )
        return x, keras.ops.reshape(keras.ops.cast(labels, "int32"), (-1,))

    def forward(self, x, labels=None, training=False):
        """Calls the model, passing ``labels`` only to a conditional one."""
        if self.conditional:
            return self(x, labels=labels, training=training)
        return self(x, training=training)

    # -- training -------------------------------------------------------------------------
    def compile_for_training(self, settings: TrainingSettings):
        """Compiles for a run: one Adam optimizer (families with more optimizers override).

        Args:
            settings: The run's :class:`TrainingSettings`.
        """
        self.compile(
            optimizer=self.make_optimizer(settings),
            jit_compile=settings.jit,
            steps_per_execution=settings.steps_per_execution,
        )

    def make_optimizer(self, settings: TrainingSettings, updates_per_step: int = 1, **adam):
        """The run's Adam optimizer (every family's optimizers come from here).

        Its learning rate is ``settings.learning_rate_schedule(updates_per_step)``;
        under the ``mixed_float16`` policy it is wrapped in a
        ``keras.optimizers.LossScaleOptimizer`` (small float16 gradients do not
        underflow; :meth:`optimize` scales the loss). It also sets
        :attr:`grad_clip` from ``settings``.

        Args:
            settings: The run's :class:`TrainingSettings`.
            updates_per_step: Updates this optimizer makes per training step.
            **adam: Passed to ``keras.optimizers.Adam`` (``beta_1``...).
        """
        self.grad_clip = settings.grad_clip
        optimizer = keras.optimizers.Adam(settings.learning_rate_schedule(updates_per_step), **adam)
        if self.dtype_policy.name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def optimizer_slots(self) -> list[tuple[str, Any, list]]:
        """Returns ``(name, optimizer, variables)`` for each optimizer of the model.

        Checkpoints use this to build and restore every optimizer's state.
        """
        return [("optimizer", self.optimizer, self.trainable_variables)]

    def prepare(self, spec, seed: int) -> None:
        """Initialises a fresh run from the data before the first epoch (default: nothing).

        Not called on resume: the checkpoint holds the state. The Gaussian
        mixture seeds its components with k-means here.
        """

    def callbacks(self, run_dir: str | None, spec=None, **kwargs) -> list:
        """The family's own Keras callbacks (default: none).

        They run on every worker of a multi-worker run, as every callback of
        ``fit`` does; ``run_dir`` is the run folder on the worker that writes
        it and ``None`` on the others (a callback that records something for
        the run folder's figures has nothing to do there). They run before the
        run folder's callbacks, so a value a callback adds to an epoch's logs
        reaches ``history.csv``, the curves and TensorBoard.

        Args:
            run_dir: The run folder, or ``None``.
            spec: The run's :class:`genkeras.data.DataSpec`.
            **kwargs: Arguments a later genkeras may pass.
        """
        return []

    def make_train_function(self, force=False):
        """Keras's train function; over several replicas, genkeras's own.

        See :func:`genkeras.run.distribute.step_function`.
        """
        if self.train_function is not None and not force:
            return self.train_function
        from genkeras.run import distribute

        if not distribute.replicated(self.distribute_strategy):
            return super().make_train_function(force)
        self.train_function = distribute.step_function(
            self, self.train_step, self.steps_per_execution
        )
        return self.train_function

    def make_test_function(self, force=False):
        """Keras's test function; over several replicas, genkeras's (one batch per call)."""
        if self.test_function is not None and not force:
            return self.test_function
        from genkeras.run import distribute

        if not distribute.replicated(self.distribute_strategy):
            return super().make_test_function(force)
        self.test_function = distribute.step_function(self, self.test_step, 1)
        return self.test_function

    def optimize(self, loss_fn, variables=None, optimizer=None):
        """The one gradient step every ``train_step`` takes: differentiate, scale, clip, apply.

        ``loss_fn()`` returns the mean loss of this replica's batch (a float32
        scalar), or ``(loss, aux)`` with ``aux`` any tensors the step needs
        afterwards (per-example terms for the trackers). Then:

        * the loss is divided by the number of replicas in sync (gradients
          are summed across replicas, so an update is the one-device update
          on the global batch) and multiplied by the optimizer's loss scale
          (``LossScaleOptimizer`` under ``mixed_float16``, which divides it
          out again and skips a step whose gradients overflowed);
        * with :attr:`grad_clip`, the global gradient (summed over replicas,
          loss scale divided out) is clipped to that norm;
        * ``optimizer.apply_gradients`` updates ``variables``.

        Args:
            loss_fn: A function of no arguments (called once, inside the tape).
            variables: What to update (default ``self.trainable_variables``).
            optimizer: The optimizer (default ``self.optimizer``).

        Returns:
            What ``loss_fn`` returned.
        """
        import tensorflow as tf

        optimizer = self.optimizer if optimizer is None else optimizer
        variables = list(self.trainable_variables if variables is None else variables)

        def differentiate():
            with tf.GradientTape() as tape:
                out = loss_fn()
                loss = out[0] if isinstance(out, tuple) else out
                scaled = optimizer.scale_loss(self.replica_scale(loss))
            return tape.gradient(scaled, variables), out

        if self.xla_gradients:
            grads, out = tf.function(differentiate, jit_compile=True, autograph=False)()
        else:
            grads, out = differentiate()
        if self.grad_clip is not None:
            grads = _clip_global_norm(grads, self.grad_clip, optimizer)
        optimizer.apply_gradients(zip(grads, variables))
        return out

    @staticmethod
    def replica_scale(loss):
        """Divides a per-replica mean loss by the number of replicas in sync.

        Under ``tf.distribute`` gradients are summed across replicas, so each
        replica must contribute ``loss / replicas`` for the update to equal the
        one-device update on the same global batch.
        """
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas == 1:
            return loss
        return loss / tf.cast(replicas, loss.dtype)

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None, **options):
        """Draws ``n`` examples; returns a tensor of shape ``(n, *data_shape)``.

        Args:
            n: Number of examples.
            seed: Integer seed; the same seed gives the same examples
                (``None``: from the model's seed generator).
            **options: The family's declared :attr:`sample_options`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement sample().")

    @staticmethod
    def sample_count(n) -> int:
        """``n`` as the number of samples to draw: a positive integer, or ``ValueError``.

        Every family's :meth:`sample` starts with it, so ``sample(0)``,
        ``sample(-1)`` and ``sample(2.5)`` are refused by name rather than
        failing inside TensorFlow or drawing 2.

        >>> GenerativeModel.sample_count(3)
        3
        >>> GenerativeModel.sample_count(2.5)
        Traceback (most recent call last):
        ...
        ValueError: n (the number of samples) must be a positive integer. Received: n=2.5
        """
        import numbers

        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(
                f"n (the number of samples) must be a positive integer. Received: n={n!r}"
            )
        return int(n)

    def check_sample_options(self, options: Mapping[str, Any]) -> None:
        """Raises ``ValueError`` for an option not in :attr:`sample_options`."""
        unknown = sorted(set(options) - set(self.sample_options))
        if unknown:
            valid = ", ".join(self.sample_options) or "none"
            raise ValueError(
                f"{type(self).__name__}.sample does not take {', '.join(unknown)} "
                f"(its options: {valid})."
            )

    def describe_samples(self, **options) -> str:
        """One line saying what ``sample(**options)`` returns, for figure titles."""
        return "samples"

    def replica_normal(self, batch, dims, seed):
        """Standard normal noise for this replica's examples, drawn for the global batch.

        Draws ``(batch · replicas, *dims)`` numbers from the stateless ``seed``
        and returns this replica's slice ``(batch, *dims)``, so under
        ``tf.distribute`` every example meets the noise it would meet on one
        device, whatever the number of replicas.

        Args:
            batch: This replica's batch size (a scalar tensor or int).
            dims: The shape of one example's noise.
            seed: A ``(2,)`` int32 stateless seed, the same on every replica.
        """
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        noise = tf.random.stateless_normal((batch * replicas, *dims), seed)
        if replicas == 1:
            return noise
        rid = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int32)
        return noise[rid * batch : (rid + 1) * batch]

    def seed_tensor(self, seed: int | None = None):
        """A ``(2,)`` int32 seed: ``[seed, 0]``, or the next one of ``self.seed_generator``."""
        import tensorflow as tf

        if seed is None:
            return tf.cast(self.seed_generator.next(), tf.int32)
        return tf.constant([int(seed), 0], tf.int32)

    # -- evaluation, figures, loading ---------------------------------------------------------
    def evaluation_metrics(self, spec, batch_size: int = 256, **kwargs) -> dict[str, float]:
        """Computes the family's own test-split metrics as a flat dict of numbers.

        Likelihoods, bounds and what only this family knows; the runner (and
        ``genkeras evaluate``) adds the sample-quality scores every family
        gets (:func:`genkeras.evaluation.samples.sample_quality`), so do not
        compute those here.

        Args:
            spec: The :class:`genkeras.data.DataSpec`.
            batch_size: Examples per evaluation pass.
            **kwargs: Arguments a later genkeras may pass (ignore what you do not know).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement evaluation_metrics().")

    def write_figures(self, spec, out_dir) -> list[str]:
        """Writes family-specific figures into ``out_dir``; returns the file names."""
        return []

    def lesson_notes(self, metrics: Mapping[str, Any], history: Mapping[str, list]) -> list[str]:
        """What a finished run's numbers say about the lesson it shows, one line each.

        ``genkeras run`` prints them after the metrics, so a run that failed
        its lesson says so (a GAN whose samples collapsed onto a few modes, a
        VAE whose latent units are unused) and what to try. Default: none.

        Args:
            metrics: The run's test metrics (``metrics.json``).
            history: The per-epoch logs.
        """
        return []

    @classmethod
    def load_saved(cls, run_dir: str):
        """Loads the model a run saved in ``run_dir`` (default: ``model.keras``, safe mode).

        Safe mode never runs code from the file. The model must be an instance
        of this family.

        Raises:
            FileNotFoundError: If the run saved no model.
            genkeras.errors.RunFolderError: If the file is corrupt, holds code, or
                holds another model.
        """
        path = os.path.join(run_dir, MODEL_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run_dir}: no {MODEL_FILE} (did the run finish?).")
        return _load_model_file(path, cls, run_dir)

    @staticmethod
    def bits_per_dim(nats_per_example, num_dims: int):
        """Converts an NLL in nats per example to bits per dimension (floats or tensors)."""
        return nats_per_example / (num_dims * LN2)


def _clip_global_norm(grads, clip: float, optimizer):
    """Scales ``grads`` so that the global gradient's norm (loss scale divided out) is <= ``clip``.

    Over several replicas the norm is that of the sum of every replica's
    gradient (what the update applies), so each replica all-reduces first and
    hands the optimizer its ``1/replicas`` share of the clipped sum (the
    optimizer sums the shares again).
    """
    import tensorflow as tf

    pairs = [(i, g) for i, g in enumerate(grads) if g is not None]
    values = [g for _, g in pairs]
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        values = tf.distribute.get_replica_context().all_reduce("SUM", values)
    scale = 1.0
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        scale = tf.cast(optimizer.dynamic_scale, tf.float32)
    norm = tf.linalg.global_norm([tf.cast(v, tf.float32) for v in values]) / scale
    factor = tf.minimum(1.0, clip / tf.maximum(norm, 1e-12)) / float(replicas)
    out = list(grads)
    for (i, _), v in zip(pairs, values):
        out[i] = v * tf.cast(factor, v.dtype)
    return out
