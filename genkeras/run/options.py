"""Options as data: a dataclass field per option, checked in one place, turned into CLI options.

Every option set of genkeras -- the common run options
(:class:`genkeras.run.config.RunConfig`) and each model family's
hyperparameters (:class:`genkeras.models.config.ModelConfig` subclasses) -- is a
dataclass whose fields are declared with :func:`option`. From that one
declaration come

* the value checks (:func:`check_fields`, called by the dataclasses'
  ``__post_init__``): type, choices and range, with messages of the form
  ``"latent_dim must be at least 1. Received: latent_dim=0"``;
* construction from a dict that refuses unknown keys (:func:`from_dict`);
* the ``genkeras run`` options (:func:`click_options`): ``latent_dim`` becomes
  ``--latent-dim`` with its type, range, choices, default and help.

This module imports neither TensorFlow nor click at import time, so options
are checked before TensorFlow starts.

Example:

>>> import dataclasses
>>> @dataclasses.dataclass
... class Demo:
...     width: int = option(8, "Hidden units.", min=1)
...     def __post_init__(self):
...         check_fields(self)
>>> Demo(width=2.0).width
2
>>> Demo(width=0)
Traceback (most recent call last):
...
ValueError: width must be at least 1. Received: width=0
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any

__all__ = [
    "OptionSpec",
    "check_fields",
    "click_options",
    "from_dict",
    "option",
    "option_specs",
]


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002 - the word click and argparse use
    *,
    choices: typing.Sequence[Any] | None = None,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    min_open: bool = False,
    max_open: bool = False,
    flag: bool = False,
    cli_name: str | None = None,
    path: bool = False,
):
    """Declares one option as a dataclass field.

    Args:
        default: The default value (``None`` for "decided elsewhere", e.g. by
            the model family; say so in ``help``).
        help: One line for ``--help``.
        choices: The allowed values.
        min: Smallest allowed value (inclusive unless ``min_open``).
        max: Largest allowed value (inclusive).
        min_open: Whether ``min`` itself is excluded.
        max_open: Whether ``max`` itself is excluded.
        flag: For a boolean, a plain ``--name`` flag instead of ``--name/--no-name``.
        cli_name: The option's name on the command line without dashes
            (default: the field name with ``_`` turned into ``-``; for a tuple
            field, that name without a trailing ``s``, as the option repeats).
        path: The value is a folder path (the CLI shows it as ``DIRECTORY``).

    Returns:
        A ``dataclasses.field``.
    """
    metadata = {
        "help": help,
        "choices": None if choices is None else tuple(choices),
        "min": min,
        "max": max,
        "min_open": bool(min_open),
        "max_open": bool(max_open),
        "flag": bool(flag),
        "cli_name": cli_name,
        "path": bool(path),
    }
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """What one field declares, with its type resolved.

    Attributes:
        name: The field name.
        kind: ``int``, ``float``, ``str`` or ``bool``: the type of one value.
        optional: Whether ``None`` is allowed.
        repeated: Whether the field holds a tuple of values.
        default: The default value.
        help: The help line.
        choices: Allowed values, or ``None``.
        min: Smallest value, or ``None``.
        max: Largest value, or ``None``.
        min_open: Whether ``min`` is excluded.
        max_open: Whether ``max`` is excluded.
        flag: A plain boolean flag on the command line.
        cli_name: The command-line name without dashes.
        path: A folder path.
    """

    name: str
    kind: type
    optional: bool
    repeated: bool
    default: Any
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    flag: bool = False
    cli_name: str = ""
    path: bool = False


def _resolve(hint) -> tuple[type, bool, bool]:
    """Returns ``(kind, optional, repeated)`` for a field's type hint."""
    optional = False
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or (origin is not None and type(None) in args):
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        hint = rest[0] if len(rest) == 1 else hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        inner = args[0] if args else str
        return inner, optional, True
    if hint not in (int, float, str, bool):
        raise TypeError(f"Unsupported option type {hint!r}: use int, float, str, bool or tuple.")
    return hint, optional, False


def option_specs(config_class) -> list[OptionSpec]:
    """Returns the :class:`OptionSpec` of every field of an option dataclass, in order."""
    hints = typing.get_type_hints(config_class)
    specs = []
    for f in dataclasses.fields(config_class):
        kind, optional, repeated = _resolve(hints[f.name])
        meta = dict(f.metadata)
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        cli_name = meta.get("cli_name") or f.name.replace("_", "-")
        if repeated and not meta.get("cli_name") and cli_name.endswith("s"):
            cli_name = cli_name[:-1]
        specs.append(
            OptionSpec(
                name=f.name,
                kind=kind,
                optional=optional or default is None,
                repeated=repeated,
                default=default,
                help=meta.get("help", ""),
                choices=meta.get("choices"),
                min=meta.get("min"),
                max=meta.get("max"),
                min_open=bool(meta.get("min_open")),
                max_open=bool(meta.get("max_open")),
                flag=bool(meta.get("flag")),
                cli_name=cli_name,
                path=bool(meta.get("path")),
            )
        )
    return specs


def _fail(name: str, what: str, value: Any) -> typing.NoReturn:
    raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")


def _coerce_one(spec: OptionSpec, value: Any) -> Any:
    name, kind = spec.name, spec.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        _fail(name, "true or false", value)
    if kind is int:
        if isinstance(value, bool):
            _fail(name, "an integer", value)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                _fail(name, "an integer", value)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
            _fail(name, "an integer", value)
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            _fail(name, "a number", value)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                _fail(name, "a number", value)
        if not isinstance(value, (int, float)):
            _fail(name, "a number", value)
        value = float(value)
        if not math.isfinite(value):
            _fail(name, "a finite number", value)
        return value
    if not isinstance(value, str):
        _fail(name, "a string", value)
    return value


def _check_range(spec: OptionSpec, value: Any) -> None:
    name = spec.name
    if spec.choices is not None and value not in spec.choices:
        _fail(name, "one of " + ", ".join(map(str, spec.choices)), value)
    low, high = spec.min, spec.max
    above = low is None or (value > low if spec.min_open else value >= low)
    below = high is None or (value < high if spec.max_open else value <= high)
    if above and below:
        return
    if low is not None and high is not None:
        left, right = "(" if spec.min_open else "[", ")" if spec.max_open else "]"
        _fail(name, f"in {left}{low}, {high}{right}", value)
    if low is not None:
        _fail(name, f"greater than {low}" if spec.min_open else f"at least {low}", value)
    _fail(name, f"less than {high}" if spec.max_open else f"at most {high}", value)


def coerce(spec: OptionSpec, value: Any) -> Any:
    """Checks and converts one value for ``spec``; raises ``ValueError`` naming the option."""
    if value is None:
        if spec.optional:
            return None
        _fail(spec.name, "set", value)
    if spec.repeated:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            value = (value,)
        values = tuple(_coerce_one(spec, v) for v in value)
        for v in values:
            _check_range(spec, v)
        return values
    value = _coerce_one(spec, value)
    _check_range(spec, value)
    return value


def check_fields(obj) -> None:
    """Checks and converts every field of an option dataclass in place.

    Call it from ``__post_init__``. Integers given as integral floats become
    ints, a single string for a tuple field becomes a 1-tuple.

    Raises:
        ValueError: ``"<name> must be <what>. Received: <name>=<value>"``.
    """
    for spec in option_specs(type(obj)):
        setattr(obj, spec.name, coerce(spec, getattr(obj, spec.name)))


def from_dict(config_class, values: Mapping[str, Any] | None):
    """Builds an option dataclass from a dict, refusing unknown keys.

    Args:
        config_class: The dataclass.
        values: Field values; missing fields take their defaults. An
            instance of ``config_class`` is returned as it is.

    Returns:
        An instance of ``config_class``.

    Raises:
        ValueError: For an unknown key or a value of the wrong type, outside
            its choices or its range.
    """
    if isinstance(values, config_class):
        return values
    values = dict(values or {})
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown {config_class.__name__} option(s): {', '.join(unknown)}. "
            f"Valid options: {', '.join(known)}."
        )
    return config_class(**values)


def click_options(config_class, exclude: typing.Collection[str] = ()) -> list:
    """Turns the fields of an option dataclass into ``click.Option`` objects.

    ``latent_dim: int = option(2, "...", min=1)`` becomes
    ``--latent-dim INTEGER RANGE`` with default 2; booleans become
    ``--name/--no-name`` (or a plain flag), choices a ``click.Choice``, tuples a
    repeatable option. The parameter name of each option is the field name.

    Args:
        config_class: The dataclass.
        exclude: Field names to leave out.

    Returns:
        A list of ``click.Option``.
    """
    import click

    params = []
    for spec in option_specs(config_class):
        if spec.name in exclude:
            continue
        flag = "--" + spec.cli_name
        help_text = spec.help
        if spec.kind is bool and not spec.repeated:
            decls = [flag] if spec.flag else [f"{flag}/--no-{spec.cli_name}"]
            params.append(
                click.Option(
                    decls + [spec.name],
                    is_flag=True if spec.flag else None,
                    default=bool(spec.default),
                    show_default=not spec.flag,
                    help=help_text,
                )
            )
            continue
        click_type = _click_type(click, spec)
        if spec.repeated:
            params.append(
                click.Option(
                    [flag, spec.name],
                    type=click_type,
                    multiple=True,
                    default=tuple(spec.default or ()),
                    show_default=False,
                    help=help_text + " (repeatable)",
                )
            )
            continue
        params.append(
            click.Option(
                [flag, spec.name],
                type=click_type,
                default=spec.default,
                show_default=spec.default is not None,
                help=help_text,
            )
        )
    return params


def _click_type(click, spec: OptionSpec):
    if spec.choices is not None:
        return click.Choice([str(c) for c in spec.choices])
    if spec.path:
        return click.Path(file_okay=False)
    if spec.kind is int and (spec.min is not None or spec.max is not None):
        return click.IntRange(
            min=spec.min, max=spec.max, min_open=spec.min_open, max_open=spec.max_open
        )
    if spec.kind is float and (spec.min is not None or spec.max is not None):
        return click.FloatRange(
            min=spec.min, max=spec.max, min_open=spec.min_open, max_open=spec.max_open
        )
    return {int: click.INT, float: click.FLOAT}.get(spec.kind, click.STRING)
