"""The ``genkeras`` command line: run, evaluate, sample, list, plugins.

Every subcommand is a thin wrapper over a library function that tests call
directly (:func:`genkeras.training.run`, :func:`genkeras.training.load_run`,
the registries). Importing this module does not import TensorFlow, so
``genkeras --help``, ``genkeras list``, ``genkeras plugins`` and
``genkeras run MODEL --help`` answer at once, and so do option errors;
TensorFlow is imported (with its start-up chatter silenced) only once a
command needs it.

``genkeras run MODEL`` has one subcommand per registered model. Its options
are generated from three dataclasses, so each option is defined once: the
common run options (:class:`genkeras.run_config.RunConfig`), what this call
does with the run folder (:class:`genkeras.run_config.Invocation`) and the
model's config (``latent_dim`` becomes ``--latent-dim``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing

import click
from click.core import ParameterSource

from genkeras import __version__, registry
from genkeras.options import click_options
from genkeras.run_config import Invocation, RunConfig
from genkeras.runtime import show_progress

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["main"]


def _fail(exc: Exception, usage: bool) -> typing.NoReturn:
    message = str(exc.args[0]) if exc.args else str(exc)
    if usage:
        raise click.UsageError(message)
    raise click.ClickException(message)


def _names(config_class) -> list[str]:
    return [f.name for f in dataclasses.fields(config_class)]


def _make_run_command(name: str, config_class) -> click.Command:
    common = _names(RunConfig) + _names(Invocation)
    clashes = [f for f in _names(config_class) if f in common]
    if clashes:
        raise click.ClickException(
            f"model {name!r}: config fields {clashes} clash with common run options."
        )
    params = click_options(RunConfig) + click_options(Invocation) + click_options(config_class)

    def callback(**kwargs):
        from genkeras import data as data_lib
        from genkeras import training

        ctx = click.get_current_context()
        given = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in kwargs.items()
            if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT
        }
        call = Invocation(**{k: kwargs[k] for k in _names(Invocation)})
        fields = {k: given[k] for k in _names(RunConfig) if k in given}
        options = {k: given[k] for k in _names(config_class) if k in given}
        try:
            plan = training.plan_run(
                name,
                options=options,
                out=call.out,
                resume=call.resume,
                overwrite=call.overwrite,
                **fields,
            )
        except data_lib.DataError as exc:
            _fail(exc, usage=False)
        except (registry.UnknownNameError, ValueError, FileExistsError) as exc:
            _fail(exc, usage=True)
        except (FileNotFoundError, ImportError) as exc:
            _fail(exc, usage=False)
        except OSError as exc:  # an unwritable --out
            _fail(exc, usage=True)
        if plan.resume:
            click.echo(f"resuming {plan.out} after epoch {plan.done}, to epoch {plan.run.epochs}")
        show_progress(not call.quiet)
        try:  # options that only the built model can check (a stabilizer's) are usage errors
            net, start_epoch = training.build(plan)
        except ValueError as exc:
            _fail(exc, usage=True)
        except ImportError as exc:
            _fail(exc, usage=False)
        from genkeras.distributed import WorkerLostError

        try:
            history = training.train(net, plan, start_epoch, verbose=0 if call.quiet else "auto")
            result = training.write_run_folder(net, plan, history)
        except (ValueError, training.TrainingDivergedError, WorkerLostError) as exc:
            _fail(exc, usage=False)
        if not plan.chief:
            click.echo(f"this worker trained; the chief writes the run folder {result.run_dir}")
            return
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
            config_class = registry.models.entry(cmd_name).config_class()
        except registry.UnknownNameError:
            return None
        except ImportError as exc:
            raise click.ClickException(str(exc)) from exc
        return _make_run_command(cmd_name, config_class)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in registry.models and not name.startswith("-"):
            raise click.UsageError(
                f"Unknown model {name!r}. Valid models: {', '.join(registry.models.names())}.", ctx
            )
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
    show_progress(not as_json)  # keep --json output parseable
    model, spec, _ = _load(run_dir)
    metrics = model.evaluation_metrics(spec, batch_size=batch_size, cache_dir=run_dir)
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
    help="A .png figure, or .npz for the raw arrays (key x).",
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
@click.option(
    "--mean/--draw",
    default=None,
    help="Decoder means E[x|z] or draws from p(x|z) (VAE only) "
    "[default: what the run's samples.png shows].",
)
def sample(run_dir, num, output, seed, label, temperature, mean):
    """Draw new samples from the saved run in RUN_DIR."""
    import numpy as np

    from genkeras.checkpoint import check_writable

    if not output.lower().endswith((".png", ".npz")):
        raise click.UsageError(f"-o {output}: the output must be a .png figure or an .npz file.")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise click.UsageError(f"-o {output}: folder {parent} does not exist.")
    try:
        check_writable(output, "-o", folder=False)
    except OSError as exc:
        _fail(exc, usage=True)
    model, spec, _ = _load(run_dir)
    options = dict(model.display_options)
    for key, value in (("label", label), ("temperature", temperature), ("mean", mean)):
        if value is None:
            continue
        if key not in model.sample_options:
            flag = {"mean": "--mean/--draw"}.get(key, f"--{key}")
            raise click.UsageError(
                f"{flag} is not supported by this model ({type(model).__name__})."
            )
        options[key] = value
    try:
        x = model.sample(num, seed=seed, **options)
    except ValueError as exc:
        _fail(exc, usage=True)
    from genkeras import plots

    x = plots.to_numpy(x)
    what = model.describe_samples(**options)
    if output.endswith(".npz"):
        tmp = output[:-4] + ".tmp.npz"
        np.savez(tmp, x=x)
        os.replace(tmp, output)
    else:
        plots.samples_figure(x, spec, output, title=f"{num} {what}")
    click.echo(f"wrote {num} {what} to {output}")


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
                (
                    e.name,
                    kind,
                    e.distribution or "?",
                    e.version or "",
                    f"{e.status.upper()}: {e.error}",
                )
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
