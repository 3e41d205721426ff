"""Step 1 of the lifecycle: a run resolved and validated before anything is built or written.

:func:`plan_run` resolves the options -- :class:`~genkeras.run.config.RunConfig`
and the family's config, fresh or from a ``--resume`` folder's ``config.json``;
the dataset's declared defaults for the family, then the family's own --
loads and validates the data (and, when resuming, checks its fingerprint),
and checks the run folder. It imports no TensorFlow, so bad input is refused
at once, before the slow start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from genkeras import data as data_lib
from genkeras import registry
from genkeras.models.config import ModelConfig, config_from_dict
from genkeras.run import checkpoint as ckpt
from genkeras.run.config import RunConfig, RunRecord
from genkeras.run.distribute import is_chief
from genkeras.run.folder import check_out, check_path, is_finished, new_run_dir

__all__ = ["CHANGEABLE_ON_RESUME", "RunPlan", "plan_run"]


@dataclasses.dataclass
class RunPlan:
    """A run resolved and validated, before anything is built or written.

    Attributes:
        model: The registered model name.
        run: The resolved :class:`~genkeras.run.config.RunConfig`.
        model_config: The family's config.
        spec: The validated data.
        out: The run folder.
        resume: Whether the run continues ``out``.
        done: Epochs already trained (from the checkpoint when resuming).
        overwrite: Whether ``out`` holds another run's files to replace.
        new_folder: Whether ``out`` does not exist yet (a run that fails
            before its first checkpoint removes it again).
        chief: Whether this process writes the run folder (under
            ``--strategy multiworker`` only the chief does).
    """

    model: str
    run: RunConfig
    model_config: ModelConfig
    spec: Any
    out: str
    resume: bool = False
    done: int = 0
    overwrite: bool = False
    new_folder: bool = False
    chief: bool = True

    def record(self, files: Sequence[str] = ()) -> RunRecord:
        """The run's ``config.json`` (``files``: the family figures it wrote)."""
        import genkeras

        return RunRecord(
            model=self.model,
            run=self.run,
            options=dataclasses.asdict(self.model_config),
            data=self.spec.summary(),
            genkeras_version=genkeras.__version__,
            files=list(files),
        )


#: RunConfig fields a resumed run may change: none of them changes what is learned.
CHANGEABLE_ON_RESUME = (
    "epochs",
    "steps_per_execution",
    "sample_every",
    "tensorboard",
    "strategy",
    "cluster_timeout",
)


def _resume_settings(model: str, resume: str, fields: dict, options: dict | None, config_class):
    """The run of ``resume``'s ``config.json`` with the caller's changes, if they are allowed."""
    record = RunRecord.read(resume)
    record.options = config_class.upgrade(dict(record.options))
    if model != record.model:
        raise ValueError(
            f"--resume {resume}: that run trained model {record.model!r}, not {model!r}; "
            f"use genkeras run {record.model} --resume {resume}."
        )
    saved = record.run.to_dict()
    for name, value in fields.items():
        if name not in CHANGEABLE_ON_RESUME and value != saved[name]:
            raise ValueError(
                f"--resume {resume}: the run was trained with {name}={saved[name]!r}; this "
                f"call asks for {name}={value!r}. A resumed run keeps its options (only "
                f"{', '.join(CHANGEABLE_ON_RESUME)} may change); start a new run to change them."
            )
    for name, value in (options or {}).items():
        if name in record.options and record.options[name] != value:
            raise ValueError(
                f"--resume {resume}: the run was trained with {name}={record.options[name]!r}"
                f"; this call asks for {name}={value!r}. A resumed run keeps its options."
            )
    changes = {k: v for k, v in fields.items() if k in CHANGEABLE_ON_RESUME}
    return dataclasses.replace(record.run, **changes), record.options, record.data


def _check_tensorboard() -> None:
    """``--tensorboard`` needs the optional ``tensorboard`` package (TensorFlow's summaries)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ValueError(
            "--tensorboard needs the tensorboard package, an optional extra: "
            "pip install 'genkeras[tensorboard]'."
        ) from None


def _done_epochs(run_dir: str) -> int:
    import json

    for folder in (ckpt.CHECKPOINT, ckpt.CHECKPOINT + ".old"):
        path = os.path.join(run_dir, folder, "state.json")
        if os.path.exists(path):
            with open(path) as f:
                return int(json.load(f)["epoch"])
    return 0


def _declared_defaults(spec, model: str, config_class) -> tuple[dict, dict]:
    """The dataset's declared defaults for ``model``: ``(run fields, model options)``.

    Raises:
        ValueError: For a key that is neither a run option nor the family's.
    """
    declared = dict((spec.run_defaults or {}).get(model, {}))
    run_names = {f.name for f in dataclasses.fields(RunConfig)}
    model_names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(declared) - run_names - model_names)
    if unknown:
        raise ValueError(
            f"dataset {spec.name!r} declares run defaults for {model!r} that are neither run "
            f"options nor {model}'s: {', '.join(unknown)}."
        )
    run = {k: v for k, v in declared.items() if k in run_names}
    return run, {k: v for k, v in declared.items() if k in model_names}


def plan_run(
    model: str,
    config: RunConfig | None = None,
    options: Mapping[str, Any] | ModelConfig | None = None,
    *,
    out: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    runs_root: str = "runs",
    **fields,
) -> RunPlan:
    """Resolves and validates a run without building or writing anything (no TensorFlow).

    Takes the arguments of :func:`~genkeras.run.lifecycle.run` (except ``callbacks`` and
    ``verbose``).

    Raises:
        genkeras.registry.UnknownNameError: Unknown model or dataset.
        genkeras.data.DataError: Data that cannot be trained on.
        ValueError: Invalid options, or options that differ from a resumed run's.
        FileExistsError: ``out`` is not empty and neither ``overwrite`` nor ``resume``.
        FileNotFoundError: ``resume`` is not a run folder.
    """
    from genkeras.run.runtime import check_cache

    check_cache()
    entry = registry.models.entry(model)
    config_class = entry.config_class()
    saved_data = None
    if resume is not None:
        if out is not None and os.path.abspath(out) != os.path.abspath(resume):
            raise ValueError(
                f"--resume {resume} continues the run in {resume}; --out {out} would be "
                "ignored. Leave out --out (or copy the folder first)."
            )
        if overwrite:
            raise ValueError(
                f"--resume {resume} continues that run; --overwrite would replace it. Choose one."
            )
        run, options, saved_data = _resume_settings(model, resume, fields, options, config_class)
        out, done = resume, _done_epochs(resume)
        if run.epochs < done or (run.epochs == done and is_finished(resume)):
            raise ValueError(
                f"--resume {resume}: the run has already trained {done} epochs and asks for "
                f"{run.epochs}: nothing to train. Ask for more with --epochs (more than {done})."
            )
    else:
        run = dataclasses.replace(config or RunConfig(), **fields)
        done = 0
    spec = data_lib.load(run.dataset, levels=run.levels, binarize=run.binarize)
    if saved_data and saved_data.get("fingerprint") not in (None, spec.fingerprint()):
        raise ValueError(
            f"--resume {resume}: the data {run.dataset!r} is not the data the run started on "
            "(its fingerprint changed). Resume with the same data, or start a new run."
        )
    run_declared, model_declared = _declared_defaults(spec, model, config_class)
    if resume is None:  # the dataset's defaults fill what the caller left at its default
        untouched = RunConfig().to_dict()
        base = (config or RunConfig()).to_dict()
        left = {k for k in untouched if k not in fields and base[k] == untouched[k]}
        run = dataclasses.replace(run, **{k: v for k, v in run_declared.items() if k in left})
    run = run.resolved(config_class.run_defaults)
    if run.tensorboard:
        _check_tensorboard()
    if resume is None and not isinstance(options, ModelConfig):
        options = {**model_declared, **(options or {})}
    model_config = config_from_dict(config_class, options)
    model_config.check_data(spec.shape, spec.levels, spec.num_classes)
    model_config.check_values(spec)
    model_config.check_run(run)
    if config_class.full_batches:
        spec.check_batch_size(run.batch_size)
    chief = run.strategy != "multiworker" or is_chief()  # only the chief writes the folder
    if resume is None:
        if out == "":
            raise ValueError("--out '' names no folder; leave it out for the default folder.")
        out = out or new_run_dir(model, runs_root)
        check_path(out, "--out")
        if chief:
            check_out(out, overwrite)
    if chief:
        ckpt.check_writable(out, "--resume" if resume else "--out")
    new_folder = not os.path.exists(out)
    replace = resume is None and overwrite and not new_folder
    return RunPlan(
        model, run, model_config, spec, out, resume is not None, done, replace, new_folder, chief
    )
