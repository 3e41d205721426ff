"""The ``genkeras`` command line: run, evaluate, sample, list, plugins.

Every subcommand is a thin wrapper over a library function that tests call
directly (:func:`genkeras.training.run`, :func:`genkeras.training.load_run`,
the registries). Importing this module does not import TensorFlow, so
``genkeras --help``, ``genkeras list`` and ``genkeras plugins`` answer at once;
TensorFlow is imported (with its start-up chatter silenced) only by commands
that need it.

``genkeras run MODEL`` has one subcommand per registered model; its options are
the common training options plus the model's config fields, generated from the
family's dataclass (``latent_dim`` becomes ``--latent-dim``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import sys
import tempfile
import typing

import click

from genkeras import __version__, registry

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["main"]


# -- TensorFlow, quietly --------------------------------------------------------------
@contextlib.contextmanager
def _stderr_to_buffer():
    """Sends the process's file descriptor 2 to a temporary file for the block.

    TensorFlow's C++ runtime logs CUDA probes and oneDNN notices before its
    log level can apply. They are captured here and shown only if the import
    fails.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield buf
        except BaseException:
            os.dup2(saved, 2)
            buf.seek(0)
            sys.stderr.write(buf.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Imports TensorFlow and initialises its devices with the start-up noise silenced."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _stderr_to_buffer():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf


# -- option generation from config dataclasses ----------------------------------------
def _field_option(field: dataclasses.Field, hint) -> click.Option:
    name = "--" + field.name.replace("_", "-")
    help_text = field.metadata.get("help", "")
    choices = field.metadata.get("choices")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (tuple, list):
        return click.Option(
            [name.rstrip("s") if name.endswith("s") else name, field.name],
            multiple=True,
            type=click.Choice(choices) if choices else str,
            default=tuple(
                field.default_factory()
                if field.default_factory is not dataclasses.MISSING
                else field.default or ()
            ),
            show_default=False,
            help=help_text + " (repeatable)",
        )
    if origin is typing.Union:
        hint = next(a for a in args if a is not type(None))
    default = (
        field.default
        if field.default is not dataclasses.MISSING
        else (field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
    )
    if hint is bool:
        return click.Option(
            [f"{name}/--no-{name[2:]}", field.name],
            default=default,
            show_default=True,
            help=help_text,
        )
    click_type = {int: int, float: float, str: str}.get(hint, str)
    if choices:
        click_type = click.Choice([str(c) for c in choices])
        default = str(default)
    return click.Option(
        [name, field.name], type=click_type, default=default, show_default=True, help=help_text
    )


COMMON_FIELDS = {
    "epochs",
    "batch_size",
    "dataset",
    "seed",
    "out",
    "learning_rate",
    "lr_decay",
    "jit",
    "strategy",
    "resume",
    "overwrite",
    "levels",
    "binarize",
    "quiet",
}


def _common_options() -> list[click.Option]:
    return [
        click.Option(
            ["--epochs"],
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Epochs to train (with --resume: the total to reach).",
        ),
        click.Option(
            ["--batch-size"],
            type=click.IntRange(min=1),
            default=None,
            help="Global batch size [default: the model's].",
        ),
        click.Option(
            ["--dataset"],
            default="digits",
            show_default=True,
            help="Dataset name (genkeras list) or npz:PATH.",
        ),
        click.Option(
            ["--levels"],
            type=click.IntRange(min=2),
            default=None,
            help="Requantize discrete data to this many levels.",
        ),
        click.Option(["--binarize"], is_flag=True, help="Binarize discrete data (2 levels)."),
        click.Option(
            ["--seed"],
            type=int,
            default=0,
            show_default=True,
            help="Seed for weights, data order and samples.",
        ),
        click.Option(
            ["--out"],
            type=click.Path(file_okay=False),
            default=None,
            help="Run folder [default: runs/MODEL-TIMESTAMP].",
        ),
        click.Option(["--overwrite"], is_flag=True, help="Allow a non-empty --out."),
        click.Option(
            ["--resume"],
            type=click.Path(file_okay=False),
            default=None,
            help="Continue the run in this folder from its last checkpoint.",
        ),
        click.Option(
            ["--learning-rate"],
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Learning rate [default: the model's].",
        ),
        click.Option(
            ["--lr-decay"],
            type=click.FloatRange(min=0, max=1),
            default=1.0,
            show_default=True,
            help="Cosine-decay the learning rate to this fraction of its initial value "
            "over the run (1 keeps it constant).",
        ),
        click.Option(
            ["--jit/--no-jit"],
            default=False,
            show_default=True,
            help="Compile train/test steps with XLA.",
        ),
        click.Option(
            ["--strategy"],
            type=click.Choice(["default", "mirrored", "multiworker"]),
            default="default",
            show_default=True,
            help="tf.distribute strategy.",
        ),
        click.Option(["--quiet"], is_flag=True, help="No progress bar."),
    ]


def _fail(exc: Exception, usage: bool) -> typing.NoReturn:
    message = str(exc.args[0]) if exc.args else str(exc)
    if usage:
        raise click.UsageError(message)
    raise click.ClickException(message)


def _make_run_command(name: str, family) -> click.Command:
    hints = typing.get_type_hints(family.config_class)
    fields = dataclasses.fields(family.config_class)
    clashes = [f.name for f in fields if f.name in COMMON_FIELDS]
    if clashes:
        raise click.ClickException(
            f"model {name!r}: config fields {clashes} clash with common run options."
        )
    params = _common_options() + [_field_option(f, hints[f.name]) for f in fields]

    def callback(**kwargs):
        from genkeras import data as data_lib
        from genkeras import training

        common = {k: kwargs.pop(k) for k in list(kwargs) if k in COMMON_FIELDS}
        quiet = common.pop("quiet")
        options = {}
        for f in fields:
            value = kwargs[f.name]
            if isinstance(value, tuple):
                value = list(value)
            options[f.name] = value
        # choices are strings on the command line; restore the field's type
        for f in fields:
            if f.metadata.get("choices") and hints[f.name] in (int, float):
                options[f.name] = hints[f.name](options[f.name])
        import_tensorflow()
        try:
            result = training.run(name, options=options, verbose=0 if quiet else "auto", **common)
        except registry.UnknownNameError as exc:
            _fail(exc, usage=True)
        except (FileExistsError, ValueError) as exc:
            _fail(exc, usage=not isinstance(exc, data_lib.DataError))
        except (FileNotFoundError, ImportError, training.TrainingDivergedError) as exc:
            _fail(exc, usage=False)
        click.echo(f"run folder: {result.run_dir}")
        _print_metrics(result.metrics)

    summary = registry.models.entry(name).summary
    return click.Command(name, params=params, callback=callback, help=summary, short_help=summary)


class RunGroup(click.Group):
    """``genkeras run MODEL``: one subcommand per registered model, built on demand."""

    def list_commands(self, ctx):
        return registry.models.names()

    def get_command(self, ctx, cmd_name):
        try:
            family = registry.models.get(cmd_name)
        except registry.UnknownNameError:
            return None
        except ImportError as exc:
            raise click.ClickException(str(exc)) from exc
        return _make_run_command(cmd_name, family)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in registry.models and not name.startswith("-"):
            raise click.UsageError(
                f"Unknown model {name!r}. Valid models: {', '.join(registry.models.names())}.", ctx
            )
        if name is not None and name not in registry.models:
            return super().resolve_command(ctx, args)
        import_tensorflow()
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        rows = [(e.name, e.summary) for e in registry.models.entries()]
        if rows:
            with formatter.section("Models"):
                formatter.write_dl(rows)


def _print_metrics(metrics: dict) -> None:
    width = max((len(k) for k in metrics), default=0)
    for key in sorted(metrics):
        value = metrics[key]
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        click.echo(f"  {key:<{width}}  {text}")


# -- the commands ------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genkeras")
def main():
    """genkeras: train, sample, evaluate and compare the generative models of the
    cs231n lecture (PixelRNN, PixelCNN, VAE, GAN).

    Start with:  genkeras run vae --epochs 5
    """


@main.group(cls=RunGroup)
def run():
    """Train MODEL and write a run folder (genkeras run MODEL --help for its options)."""


def _load(run_dir):
    from genkeras import training

    import_tensorflow()
    try:
        return training.load_run(run_dir)
    except (FileNotFoundError, ValueError, ImportError) as exc:
        _fail(exc, usage=False)


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Examples per evaluation pass.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(run_dir, batch_size, as_json):
    """Recompute the test metrics of the saved run in RUN_DIR."""
    model, spec, _ = _load(run_dir)
    accepted = inspect.signature(model.evaluation_metrics).parameters
    kwargs = {"batch_size": batch_size} if "batch_size" in accepted else {}
    if "cache_dir" in accepted:  # e.g. the GAN's coverage classifier, cached in the run
        kwargs["cache_dir"] = run_dir
    metrics = model.evaluation_metrics(spec, **kwargs)
    if as_json:
        click.echo(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        click.echo(f"{run_dir}: test metrics on {spec.name} ({len(spec.x_test)} examples)")
        _print_metrics(metrics)


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "-n",
    "--num",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Number of samples.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="samples.png",
    show_default=True,
    help="PNG figure, or .npz for the raw arrays.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option(
    "--label", type=int, default=None, help="Class to sample (class-conditional models only)."
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sampling temperature (autoregressive models only).",
)
def sample(run_dir, num, output, seed, label, temperature):
    """Draw new samples from the saved run in RUN_DIR."""
    import numpy as np

    model, spec, _ = _load(run_dir)
    kwargs = {}
    accepted = inspect.signature(model.sample).parameters
    for key, value in (("label", label), ("temperature", temperature)):
        if value is None:
            continue
        if key not in accepted:
            raise click.UsageError(
                f"--{key} is not supported by this model ({type(model).__name__})."
            )
        kwargs[key] = value
    try:
        x = model.sample(num, seed=seed, **kwargs)
    except ValueError as exc:
        _fail(exc, usage=True)
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise click.UsageError(f"-o {output}: folder {parent} does not exist.")
    if output.endswith(".npz"):
        tmp = output[:-4] + ".tmp.npz"
        np.savez(tmp, x=x)
        os.replace(tmp, output)
    else:
        from genkeras import plots

        if spec.is_image:
            plots.image_grid(x, output, levels=spec.levels, title=f"{num} samples")
        else:
            plots.scatter_2d(
                x,
                output,
                reference=spec.x_test,
                centers=spec.extras.get("centers"),
                title=f"{num} samples",
            )
    click.echo(f"wrote {num} samples to {output}")


@main.command(name="list")
def list_():
    """List the models, datasets and stabilizers (one line each)."""
    for kind, reg in registry.ALL.items():
        click.echo(f"{kind}:")
        entries = reg.entries()
        if not entries:
            click.echo("  (none)")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            click.echo(f"  {e.name:<{width}}  {e.summary}")
        broken = reg.broken()
        if broken:
            click.echo(f"  ({len(broken)} broken plugin(s): see genkeras plugins)")


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Include genkeras's own built-ins.")
def plugins(show_all):
    """Show installed plugins: name, kind, distribution, version, status."""
    rows = []
    for kind, reg in registry.ALL.items():
        for e in reg.entries():
            if e.distribution is None or (e.distribution == "genkeras" and not show_all):
                continue
            rows.append((e.name, kind, e.distribution, e.version or "", "ok"))
        for e in reg.broken():
            rows.append(
                (e.name, kind, e.distribution or "?", e.version or "", f"BROKEN: {e.error}")
            )
    if not registry.autoload_enabled():
        click.echo(f"plugin autoloading is off ({registry.DISABLE_ENV} is set)")
    if not rows:
        click.echo(
            "no plugins installed"
            + ("" if show_all else " (genkeras plugins --all shows built-ins)")
        )
        return
    header = ("name", "kind", "distribution", "version", "status")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    for row in [header] + rows:
        click.echo("  ".join(f"{str(c):<{w}}" for c, w in zip(row[:4], widths)) + "  " + row[4])


if __name__ == "__main__":  # pragma: no cover
    main()
