"""The common options of a run, once: :class:`RunConfig`, and what ``config.json`` holds.

``genkeras run MODEL`` has two sets of options: the ones every run has
(:class:`RunConfig`: data, epochs, batch size, learning rate, seed,
strategy...) and the model family's own (its config dataclass, see
:mod:`genkeras.models.config`). Both are dataclasses declared with
:func:`genkeras.run.options.option`, and the CLI's options are generated from
them, so **adding a run option is adding one field to** :class:`RunConfig`.

A run folder's ``config.json`` is a :class:`RunRecord`: the model's name, the
:class:`RunConfig` fields (flat, as top-level keys), the model's config under
``"options"``, a summary of the data and the genkeras version. Resuming reads
it back through the same classes; keys written by older versions are
understood (missing fields take their defaults).

:class:`Invocation` holds what a single ``genkeras run`` call does with the
run folder and the terminal (``--out``, ``--resume``, ``--overwrite``,
``--quiet``); it is not saved.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from genkeras.run.options import check_fields, from_dict, option

__all__ = [
    "CONFIG_FILE",
    "DTYPE_POLICIES",
    "Invocation",
    "RunConfig",
    "RunRecord",
    "STRATEGIES",
]

CONFIG_FILE = "config.json"
STRATEGIES = ("default", "mirrored", "multiworker")
#: Keras's dtype policies a run may use (``keras.config.set_dtype_policy``).
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
#: Run defaults when a model family sets none (``ModelConfig.run_defaults``).
FALLBACK_DEFAULTS = {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3}
#: The largest automatic ``steps_per_execution``.
MAX_STEPS_PER_EXECUTION = 64


@dataclasses.dataclass
class RunConfig:
    """Every common option of ``genkeras run MODEL`` (a field is an option).

    ``None`` means "the model family's default" (its
    :attr:`~genkeras.models.config.ModelConfig.run_defaults`);
    :meth:`resolved` fills those in.

    Attributes:
        dataset: Dataset name (``genkeras list``) or ``npz:PATH``.
        epochs: Epochs to train; with ``resume``, the total to reach.
        batch_size: Global batch size, split across replicas by ``strategy``.
        learning_rate: The optimizers' (initial) learning rate.
        lr_decay: Cosine-decay the learning rate over the run's
            ``epochs · steps_per_epoch`` steps to this fraction of its initial
            value (1: constant).
        grad_clip: Clip the gradient of every update to this global norm
            (the norm of the gradient summed over every replica, so the same
            under any topology); ``None``: no clipping.
        seed: Seed for weights, data order and samples.
        levels: Requantize discrete data to this many levels.
        binarize: Binarize discrete data (2 levels).
        jit: Compile the train and test steps with XLA.
        steps_per_execution: Training steps per call of the compiled train
            function (``None``: the largest divisor of the epoch's steps up to
            64). It must divide the steps of an epoch, so that epochs, and so
            histories and checkpoints, do not depend on it.
        sample_every: Epochs between the per-epoch sample grids (``None``:
            ``ceil(epochs / 10)``); the last epoch always gets one.
        strategy: The ``tf.distribute`` strategy.
        cluster_timeout: Under ``multiworker``, seconds a worker waits for the
            rest of its cluster before it stops with a line naming the
            missing tasks (:func:`genkeras.run.distribute.wait_for_cluster`).
        dtype_policy: Keras's dtype policy for the model's layers
            (``mixed_float16``, ``mixed_bfloat16``: 16-bit compute, float32
            variables; every distribution, log-likelihood and loss in float32).
        tensorboard: Write TensorBoard logs into the run folder's
            ``tensorboard/`` (view them with ``tensorboard --logdir RUN/tensorboard``).

    Example:

    >>> RunConfig(epochs=5).resolved({"batch_size": 32}).batch_size
    32
    >>> RunConfig(strategy="cluster")
    Traceback (most recent call last):
    ...
    ValueError: strategy must be one of default, mirrored, multiworker. Received: strategy='cluster'
    """

    dataset: str = option("digits", "Dataset name (genkeras list) or npz:PATH.")
    epochs: int | None = option(
        None, "Epochs to train (with --resume: the total to reach) [default: the model's].", min=1
    )
    batch_size: int | None = option(None, "Global batch size [default: the model's].", min=1)
    learning_rate: float | None = option(
        None, "Learning rate [default: the model's].", min=0, min_open=True
    )
    lr_decay: float = option(
        1.0,
        "Cosine-decay the learning rate to this fraction of its initial value over the run "
        "(1 keeps it constant).",
        min=0,
        max=1,
    )
    grad_clip: float | None = option(
        None,
        "Clip every update's gradient to this global norm (over all replicas) [default: none].",
        min=0,
        min_open=True,
    )
    seed: int = option(0, "Seed for weights, data order and samples.")
    levels: int | None = option(None, "Requantize discrete data to this many levels.", min=2)
    binarize: bool = option(False, "Binarize discrete data (2 levels).", flag=True)
    jit: bool = option(False, "Compile train/test steps with XLA.")
    steps_per_execution: int | None = option(
        None,
        "Training steps per call of the compiled step; must divide the steps of an epoch "
        "[default: the largest divisor up to 64]. Results do not depend on it.",
        min=1,
    )
    sample_every: int | None = option(
        None,
        "Draw the sample grid samples/epoch-NNN.png every this many epochs, and after the "
        "last [default: about ten grids per run].",
        min=1,
    )
    strategy: str = option("default", "tf.distribute strategy.", choices=STRATEGIES)
    cluster_timeout: float = option(
        120.0,
        "With --strategy multiworker: seconds to wait for every task of TF_CONFIG's cluster "
        "before giving up.",
        min=0,
        min_open=True,
    )
    dtype_policy: str = option(
        "float32",
        "Keras dtype policy: mixed_* computes in 16 bits with float32 variables, "
        "distributions and losses (loss scaling under mixed_float16).",
        choices=DTYPE_POLICIES,
    )
    tensorboard: bool = option(
        False,
        "Write TensorBoard logs (every metric, the sample grids, the graph) into RUN/tensorboard; "
        "needs pip install 'genkeras[tensorboard]'.",
        flag=True,
    )

    def __post_init__(self):
        check_fields(self)
        if self.binarize and self.levels not in (None, 2):
            raise ValueError(
                f"--binarize means 2 levels; --levels {self.levels} asks for {self.levels}. "
                f"Give one of them. Received: levels={self.levels}, binarize=True"
            )

    def resolved(self, defaults: Mapping[str, Any] | None = None) -> RunConfig:
        """Returns a copy with every ``None`` default filled in.

        Args:
            defaults: The model family's run defaults (keys ``epochs``,
                ``batch_size``, ``learning_rate``); genkeras's fallbacks
                (10 epochs, batch 64, rate 1e-3) fill in the rest.
        """
        merged = {**FALLBACK_DEFAULTS, **(defaults or {})}
        changes = {k: merged[k] for k in FALLBACK_DEFAULTS if getattr(self, k) is None}
        resolved = dataclasses.replace(self, **changes)
        if resolved.sample_every is None:
            resolved.sample_every = max(1, -(-resolved.epochs // 10))
        return resolved

    def execution_steps(self, steps_per_epoch: int) -> int:
        """The ``steps_per_execution`` to compile with for epochs of ``steps_per_epoch`` steps.

        Raises:
            ValueError: If a given ``steps_per_execution`` does not divide the epoch.
        """
        divisors = [k for k in range(1, steps_per_epoch + 1) if steps_per_epoch % k == 0]
        if self.steps_per_execution is None:
            return max(k for k in divisors if k <= MAX_STEPS_PER_EXECUTION)
        if steps_per_epoch % self.steps_per_execution:
            raise ValueError(
                f"steps_per_execution must divide the {steps_per_epoch} steps of an epoch "
                f"({', '.join(map(str, divisors))}). "
                f"Received: steps_per_execution={self.steps_per_execution}"
            )
        return self.steps_per_execution

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a JSON-friendly dict."""
        return dataclasses.asdict(self)

    def __getitem__(self, name: str):
        """``config["epochs"]`` is ``config.epochs`` (0.1's ``RunResult.config`` was a dict)."""
        return self.to_dict()[name]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Builds a config from a dict of fields (missing ones take their defaults).

        Raises:
            ValueError: For an unknown key (naming it and the valid ones) or an invalid value.
        """
        return from_dict(cls, values)


@dataclasses.dataclass
class Invocation:
    """What one ``genkeras run`` call does with the run folder and the terminal (not saved).

    Attributes:
        out: The run folder (default ``runs/MODEL-TIMESTAMP``).
        resume: Continue the run in this folder from its last checkpoint.
        overwrite: Allow a non-empty ``out`` (the run's own files are replaced).
        quiet: No progress output (and TensorFlow's C++ log level 3).
    """

    out: str | None = option(None, "Run folder [default: runs/MODEL-TIMESTAMP].", path=True)
    resume: str | None = option(
        None, "Continue the run in this folder from its last checkpoint.", path=True
    )
    overwrite: bool = option(False, "Allow a non-empty --out.", flag=True)
    quiet: bool = option(False, "No progress output; TensorFlow's C++ log silenced too.", flag=True)

    def __post_init__(self):
        check_fields(self)


#: The keys of ``config.json`` besides the :class:`RunConfig` fields.
_RECORD_KEYS = ("model", "options", "data", "genkeras_version", "files")


@dataclasses.dataclass
class RunRecord:
    """The contents of a run folder's ``config.json``.

    Attributes:
        model: The registered model name.
        run: The run's :class:`RunConfig` (resolved: no ``None`` defaults).
        options: The model family's config fields.
        data: A summary of the data (:meth:`genkeras.data.DataSpec.summary`).
        genkeras_version: The version that wrote the run.
        files: The family's own files the finished run wrote (its figures),
            so ``--overwrite`` can remove exactly the run's files.
    """

    model: str
    run: RunConfig
    options: dict[str, Any]
    data: dict[str, Any] | None = None
    genkeras_version: str | None = None
    files: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout: ``model``, the run fields, ``options``, ``data``, version, files."""
        return {
            "model": self.model,
            **self.run.to_dict(),
            "options": dict(self.options),
            "data": self.data,
            "genkeras_version": self.genkeras_version,
            "files": list(self.files),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = CONFIG_FILE) -> RunRecord:
        """Reads the JSON layout (also the one written before :class:`RunConfig` existed).

        Raises:
            ValueError: For missing keys or invalid values, naming ``source``.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"{source}: expected a JSON object, found {type(values).__name__}.")
        missing = sorted({"model", "options"} - set(values))
        if missing:
            raise ValueError(f"{source}: missing keys {', '.join(missing)}.")
        if not isinstance(values["options"], Mapping):
            raise ValueError(f"{source}: 'options' must be an object.")
        fields = {k: v for k, v in values.items() if k not in _RECORD_KEYS}
        try:
            run = RunConfig.from_dict(fields)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
        return cls(
            model=str(values["model"]),
            run=run,
            options=dict(values["options"]),
            data=values.get("data"),
            genkeras_version=values.get("genkeras_version"),
            files=[str(f) for f in values.get("files") or []],
        )

    @classmethod
    def read(cls, run_dir: str) -> RunRecord:
        """Reads ``run_dir/config.json``.

        Raises:
            FileNotFoundError: If the folder or its ``config.json`` is missing.
            ValueError: If ``config.json`` is malformed.
        """
        path = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.isdir(run_dir):
            raise FileNotFoundError(f"{run_dir}: no such run folder.")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run_dir}: not a run folder (no {CONFIG_FILE}).")
        try:
            with open(path) as f:
                values = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: malformed JSON ({exc}).") from None
        return cls.from_dict(values, source=path)
