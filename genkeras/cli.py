"""The ``genkeras`` command line: run, evaluate, sample, list, plugins.

Every subcommand is a thin wrapper over a library function that tests call
directly (:func:`genkeras.run.lifecycle.run`, :func:`genkeras.run.lifecycle.load_run`,
the registries). Importing this module does not import TensorFlow, so
``genkeras --help``, ``genkeras list``, ``genkeras plugins`` and
``genkeras run MODEL --help`` answer at once, and so do option errors;
TensorFlow is imported (with its start-up chatter silenced) only once a
command needs it.

``genkeras run MODEL`` has one subcommand per registered model. Its options
are generated from three dataclasses, so each option is defined once: the
common run options (:class:`genkeras.run.config.RunConfig`), what this call
does with the run folder (:class:`genkeras.run.config.Invocation`) and the
model's config (``latent_dim`` becomes ``--latent-dim``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys

import click
from click.core import ParameterSource

from genkeras import __version__, registry
from genkeras.run.config import Invocation, RunConfig
from genkeras.run.options import click_options
from genkeras.run.runtime import show_progress

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["main"]


#: Set to 1 to see the full traceback of an error (as ``genkeras --debug``).
DEBUG_ENV = "GENKERAS_DEBUG"


def _debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    flag = bool(root is not None and root.params.get("debug"))
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def reported(callback):
    """Wraps a command so that every expected error is one line and an exit code.

    The exit code comes from :func:`genkeras.errors.exit_code`, the one mapping
    by exception type (2: a usage error, 1: anything else). With ``--debug``
    or ``GENKERAS_DEBUG=1`` the exception propagates with its traceback.
    """

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            if _debugging():
                raise
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            from genkeras.errors import exit_code

            code = exit_code(exc)
            if code is None or _debugging():
                raise
            message = str(exc.args[0]) if exc.args else str(exc)
            if code == 2:
                raise click.UsageError(message) from None
            error = click.ClickException(message)
            error.exit_code = code
            raise error from None

    return wrapper


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

    @reported
    def callback(**kwargs):
        from genkeras.run import lifecycle

        ctx = click.get_current_context()
        given = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in kwargs.items()
            if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT
        }
        call = Invocation(**{k: kwargs[k] for k in _names(Invocation)})
        fields = {k: given[k] for k in _names(RunConfig) if k in given}
        options = {k: given[k] for k in _names(config_class) if k in given}
        plan = lifecycle.plan_run(
            name,
            options=options,
            out=call.out,
            resume=call.resume,
            overwrite=call.overwrite,
            **fields,
        )
        if plan.resume and plan.done >= plan.run.epochs:
            from genkeras.run.folder import unfinished

            missing = "; ".join(unfinished(plan.out))
            click.echo(f"completing {plan.out}, trained {plan.done} epochs ({missing})")
        elif plan.resume:
            click.echo(f"resuming {plan.out} after epoch {plan.done}, to epoch {plan.run.epochs}")
        if call.quiet:  # TensorFlow's C++ errors too (it reads the level when it loads)
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        show_progress(not call.quiet)
        result = lifecycle.execute(plan, verbose=0 if call.quiet else "auto")
        if not plan.chief:
            click.echo(f"this worker trained; the chief writes the run folder {result.run_dir}")
            return
        click.echo(f"run folder: {result.run_dir}")
        _print_metrics(result.metrics)
        for note in result.model.lesson_notes(result.metrics, result.history):
            click.echo(f"note: {note}")

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
            try:
                registry.models.entry(name)
            except registry.UnknownNameError as exc:
                raise click.UsageError(
                    str(exc).replace("Valid names", "Valid models"), ctx
                ) from None
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
    negative = [k for k, v in metrics.items() if k.endswith("bits_per_dim") and v < 0]
    if negative:
        click.echo(
            f"note: {', '.join(sorted(negative))} below 0: on continuous data these come from a "
            "density, not from probabilities, and a density can exceed 1 (a bits/dim of discrete "
            "data cannot be negative)."
        )


# -- the commands ------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genkeras")
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the full traceback of an error (also {DEBUG_ENV}=1).",
)
def main(debug):
    """genkeras: train, sample, evaluate and compare the generative models of the
    cs231n lecture (PixelRNN, PixelCNN, VAE, GAN).

    Start with:  genkeras run vae --epochs 5
    """


@main.group(cls=RunGroup)
def run():
    """Train MODEL and write a run folder (genkeras run MODEL --help for its options)."""


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
@reported
def evaluate(run_dir, batch_size, as_json):
    """Recompute the test metrics of the saved run in RUN_DIR."""
    from genkeras.run import lifecycle

    show_progress(not as_json)  # keep --json output parseable
    from genkeras.run.folder import unfinished
    from genkeras.run.runtime import check_cache

    check_cache()
    model, spec, record = lifecycle.load_run(run_dir)
    metrics = lifecycle.evaluate(model, spec, batch_size=batch_size)
    missing = unfinished(run_dir)
    if missing and not as_json:
        click.echo(
            f"note: {run_dir} is not a finished run ({'; '.join(missing)}): "
            f"genkeras run {record.model} --resume {run_dir} completes it",
            err=True,
        )
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
@reported
def sample(run_dir, num, output, seed, label, temperature, mean):
    """Draw new samples from the saved run in RUN_DIR."""
    import numpy as np

    from genkeras.run import lifecycle
    from genkeras.run.checkpoint import check_writable

    if not output.lower().endswith((".png", ".npz")):
        raise click.UsageError(f"-o {output}: the output must be a .png figure or an .npz file.")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise click.UsageError(f"-o {output}: folder {parent} does not exist.")
    check_writable(output, "-o", folder=False)
    model, spec, _ = lifecycle.load_run(run_dir)
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
    from genkeras import plots

    x = _draw(model, spec, num, seed, options, output)
    what = model.describe_samples(**options)
    if output.lower().endswith(".npz"):
        tmp = output[:-4] + ".tmp.npz"
        np.savez(tmp, x=x)
        os.replace(tmp, output)
    else:
        plots.samples_figure(x, spec, output, title=f"{num} {what}")
    click.echo(f"wrote {num} {what} to {output}")


#: Most images a .png grid shows (64 x 64 tiles): more could not be told apart.
MAX_FIGURE_SAMPLES = 4096
#: Samples drawn per call of the model (bounds the memory a draw takes).
SAMPLE_CHUNK = 10_000


def _draw(model, spec, num: int, seed: int, options: dict, output: str):
    """``num`` samples as a NumPy array, drawn ``SAMPLE_CHUNK`` at a time.

    Refuses, before drawing anything, a figure too big to read and an array
    that would not fit in half of the memory available now. Chunk ``i`` uses
    seed ``seed + i * 1_000_003``, so up to ``SAMPLE_CHUNK`` samples are what
    ``model.sample(num, seed)`` gives.
    """
    import numpy as np

    from genkeras import plots

    if not output.lower().endswith(".npz") and num > MAX_FIGURE_SAMPLES:
        raise click.UsageError(
            f"-n {num}: a .png shows at most {MAX_FIGURE_SAMPLES} samples legibly; write an "
            ".npz (-o samples.npz) for more."
        )
    needed = num * int(np.prod(spec.shape)) * 4  # float32
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed > available // 2:
        raise click.UsageError(
            f"-n {num}: the samples take {needed / 2**30:.1f} GiB, more than half of the "
            f"{available / 2**30:.1f} GiB of memory free now. Draw fewer (several runs of "
            "genkeras sample with different --seed)."
        )
    parts = []
    for i, start in enumerate(range(0, num, SAMPLE_CHUNK)):
        size = min(SAMPLE_CHUNK, num - start)
        parts.append(plots.to_numpy(model.sample(size, seed=seed + i * 1_000_003, **options)))
    return np.concatenate(parts)


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
        refused = len(reg.refused())
        broken = len(reg.broken()) - refused
        for count, what in ((broken, "broken"), (refused, "refused")):
            if count:
                click.echo(f"  ({count} {what} plugin(s): see genkeras plugins)")


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
                    f"{e.status.upper()}: {e.error.removeprefix('refused: ')}",
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
