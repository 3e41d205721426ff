"""Stabilizer spec strings: ``"name"`` or ``"name:key=value,key=value"``.

A GAN's stabilizers are chosen by spec strings (``--stabilizer`` on the command
line, ``GANConfig.stabilizers`` in Python). This module parses them without
importing TensorFlow, so a malformed spec is refused before training starts.

Example:

>>> parse_spec("minibatch-discrimination:kernels=50,dims=5")
('minibatch-discrimination', {'kernels': 50, 'dims': 5})
>>> parse_spec("feature-matching")
('feature-matching', {})
"""

from __future__ import annotations

from typing import Any

__all__ = ["metric_prefix", "parse_spec", "parse_value"]


def parse_value(text: str) -> Any:
    """Parses an option value: ``true``/``false`` (or yes/no, on/off), an int, a float or text."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Splits ``"name:key=value,key=value"`` into the name and a dict of options.

    Option keys may use ``-`` or ``_`` (``anneal-steps`` is ``anneal_steps``).

    Args:
        spec: A stabilizer spec string.

    Returns:
        ``(name, options)``.

    Raises:
        ValueError: For an empty name or an option without ``=``.
    """
    if not isinstance(spec, str):
        raise ValueError(f"A stabilizer spec must be a string. Received: spec={spec!r}")
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"A stabilizer spec needs a name before ':'. Received: spec={spec!r}")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Stabilizer options look like key=value. Received: spec={spec!r}")
        options[key.strip().replace("-", "_")] = parse_value(value)
    return name, options


def metric_prefix(name: str) -> str:
    """Turns a registry name into a metric prefix (``feature-matching`` -> ``feature_matching``)."""
    return name.replace("-", "_").replace(".", "_")
