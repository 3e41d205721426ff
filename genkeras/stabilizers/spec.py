"""Stabilizer spec strings: ``"name"`` or ``"name:key=value,key=value"``.

A GAN's stabilizers are chosen by spec strings (``--stabilizer`` on the command
line, ``GANConfig.stabilizers`` in Python). This module parses them without
importing TensorFlow, so a malformed spec is refused before training starts.

Syntax:

* ``name`` -- the stabilizer with its defaults;
* ``name:key=value,key=value`` -- options, separated by commas. Keys may use
  ``-`` or ``_`` (``anneal-steps`` is ``anneal_steps``);
* a value is ``true``/``false`` (also ``yes``/``no``, ``on``/``off``), an
  integer, a float, or else text;
* a **list** value is written in square brackets, its items separated by
  commas: ``name:sizes=[64,64],rates=[0.1,0.2]``; items are parsed like
  values, lists may nest (``[[1,2],[3]]``) and ``[]`` is the empty list.
  Commas inside brackets never separate options. On a shell command line,
  quote a spec with brackets: ``--stabilizer 'name:sizes=[64,64]'``.

Example:

>>> parse_spec("minibatch-discrimination:kernels=50,dims=5")
('minibatch-discrimination', {'kernels': 50, 'dims': 5})
>>> parse_spec("feature-matching")
('feature-matching', {})
>>> parse_spec("demo:sizes=[64,32],names=[a,b],empty=[],rate=0.5")
('demo', {'sizes': [64, 32], 'names': ['a', 'b'], 'empty': [], 'rate': 0.5})
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_spec", "metric_prefix", "parse_spec", "parse_value", "split_top_level"]


def split_top_level(text: str, spec: str = "") -> list[str]:
    """Splits ``text`` at the commas that are not inside square brackets.

    Args:
        text: The text to split (an option list, or a list's inside).
        spec: The whole spec, for error messages.

    Returns:
        The stripped parts (empty parts are kept, so ``"a,,b"`` has three).

    Raises:
        ValueError: For unbalanced brackets.
    """
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Unbalanced ']' in stabilizer spec. Received: spec={spec!r}")
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        raise ValueError(f"Unclosed '[' in stabilizer spec. Received: spec={spec!r}")
    parts.append(text[start:].strip())
    return parts


def parse_value(text: str, spec: str = "") -> Any:
    """Parses an option value.

    Args:
        text: ``true``/``false`` (or yes/no, on/off), an int, a float, a list
            ``[item,item,...]`` of such values, or text.
        spec: The whole spec, for error messages.

    Returns:
        A ``bool``, ``int``, ``float``, ``list`` or ``str``.

    Raises:
        ValueError: For unbalanced brackets or an empty list item.
    """
    stripped = text.strip()
    if stripped.startswith("[") or stripped.endswith("]"):
        if not (stripped.startswith("[") and stripped.endswith("]")):
            raise ValueError(
                f"A list value is written [item,item,...]. Received: spec={spec or text!r}"
            )
        inner = stripped[1:-1]
        if not inner.strip():
            return []
        items = split_top_level(inner, spec or text)
        if any(not item for item in items):
            raise ValueError(f"A list value has an empty item. Received: spec={spec or text!r}")
        return [parse_value(item, spec) for item in items]
    lowered = stripped.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(stripped)
        except ValueError:
            pass
    return stripped


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Splits ``"name:key=value,key=value"`` into the name and a dict of options.

    Args:
        spec: A stabilizer spec string (see the module docstring for the syntax).

    Returns:
        ``(name, options)``.

    Raises:
        ValueError: For an empty name, an option without ``=``, a repeated
            key or unbalanced brackets.
    """
    if not isinstance(spec, str):
        raise ValueError(f"A stabilizer spec must be a string. Received: spec={spec!r}")
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"A stabilizer spec needs a name before ':'. Received: spec={spec!r}")
    options: dict[str, Any] = {}
    for item in filter(None, split_top_level(rest, spec)):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"Stabilizer options look like key=value. Received: spec={spec!r}")
        if key in options:
            raise ValueError(f"Option {key!r} is given twice. Received: spec={spec!r}")
        options[key] = parse_value(value, spec)
    return name, options


def format_spec(name: str, options: dict[str, Any] | None = None) -> str:
    """The inverse of :func:`parse_spec`: ``("a", {"k": [1, 2]})`` -> ``"a:k=[1,2]"``.

    Example:

    >>> format_spec("demo", {"sizes": [64, 32], "flag": True})
    'demo:sizes=[64,32],flag=true'
    >>> parse_spec(format_spec("demo", {"sizes": [64, 32], "flag": True}))
    ('demo', {'sizes': [64, 32], 'flag': True})
    """

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(value(x) for x in v) + "]"
        return str(v)

    if not options:
        return name
    return name + ":" + ",".join(f"{k}={value(v)}" for k, v in options.items())


def metric_prefix(name: str) -> str:
    """Turns a registry name into a metric prefix (``feature-matching`` -> ``feature_matching``)."""
    return name.replace("-", "_").replace(".", "_")
