"""Named registries of models, GAN stabilizers and datasets, with plugin discovery.

genkeras keeps one :class:`Registry` per kind of component:

* ``models`` -- generative model families (``vae``, ``pixelcnn``, ``gan``, ...),
* ``stabilizers`` -- GAN training stabilizers (``minibatch-discrimination``, ...),
* ``datasets`` -- named datasets (``digits``, ``ring``, ...).

Components arrive in two ways, and both end in the same table:

1. In-process registration with the decorator::

       from genkeras import registry

       @registry.stabilizers.register("my-stabilizer")
       class MyStabilizer:
           ...

2. Entry points of installed distributions, one group per kind:
   ``genkeras.models``, ``genkeras.stabilizers`` and ``genkeras.datasets``.
   genkeras registers its own built-ins through these same groups (see its
   ``setup.cfg``), so a third-party plugin takes exactly the path every
   built-in takes.

Discovery is lazy: entry points are read on the first lookup, not at import.
An entry point whose import fails is recorded as *broken* with its error and
never breaks the other components or the CLI. Setting the environment variable
``GENKERAS_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point loading off (only
in-process registrations are then visible).

An entry point may name the component itself, or a :class:`Lazy` handle that
names it by import path. Handles keep ``genkeras list`` instant: the heavy
module (which imports TensorFlow) is only imported when the component is used.

Example:

>>> from genkeras.registry import Registry
>>> colours = Registry("colours", group=None)
>>> @colours.register("red")
... def red():
...     '''The colour red.'''
...     return "#ff0000"
>>> colours.get("red")()
'#ff0000'
>>> colours.names()
['red']
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

__all__ = [
    "Entry",
    "Lazy",
    "Registry",
    "UnknownNameError",
    "datasets",
    "models",
    "stabilizers",
    "autoload_enabled",
]

DISABLE_ENV = "GENKERAS_DISABLE_PLUGIN_AUTOLOAD"


def autoload_enabled() -> bool:
    """Returns whether entry-point plugins are loaded.

    Returns:
        ``False`` when the environment variable
        ``GENKERAS_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value
        (``1``, ``true``, ``yes``), ``True`` otherwise.
    """
    value = os.environ.get(DISABLE_ENV, "").strip().lower()
    return value not in ("1", "true", "yes", "on")


class UnknownNameError(KeyError, ValueError):
    """Raised when a name is not in a registry.

    Attributes:
        kind: The registry's kind (``"models"``, ...).
        name: The name that was looked up.
        valid: The names that are available.
    """

    def __init__(self, kind: str, name: str, valid: list[str], broken: str = ""):
        self.kind = kind
        self.name = name
        self.valid = valid
        message = (
            f"Unknown {kind[:-1] if kind.endswith('s') else kind} {name!r}. "
            f"Valid names: {', '.join(valid) if valid else '(none)'}."
        )
        if broken:
            message += f" {broken}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message.
        return self.args[0]


@dataclasses.dataclass(frozen=True)
class Lazy:
    """A handle to a component named by its import path, imported on first use.

    Args:
        target: ``"package.module:attribute"``.
        summary: One line shown by ``genkeras list`` without importing the
            target.
        config: For a model family, ``"package.module:attribute"`` of its
            config dataclass, in a module that does not import TensorFlow, so
            ``genkeras run NAME --help`` and option errors answer at once
            (optional: without it the family itself is imported).

    Example:

    >>> handle = Lazy("collections:OrderedDict", "An ordered dict.")
    >>> handle.load().__name__
    'OrderedDict'
    """

    target: str
    summary: str = ""
    config: str = ""

    def __post_init__(self):
        for name in ("target", "config") if self.config else ("target",):
            if ":" not in getattr(self, name):
                raise ValueError(
                    f"Lazy {name} must look like 'package.module:attribute'. "
                    f"Received: {name}={getattr(self, name)!r}"
                )

    def load(self) -> Any:
        """Imports the module and returns the named attribute."""
        return _import(self.target)


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _first_docstring_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclasses.dataclass
class Entry:
    """One row of a registry: a named component and where it came from.

    Attributes:
        name: The registered name.
        kind: The registry's kind.
        summary: One line describing the component.
        distribution: The distribution that provided it (``"genkeras"`` for
            built-ins, ``None`` for in-process registrations).
        version: That distribution's version.
        target: The entry point's ``module:attr`` value, if any.
        error: For a broken plugin, the error raised while loading it.
    """

    name: str
    kind: str
    summary: str = ""
    distribution: str | None = None
    version: str | None = None
    target: str | None = None
    error: str | None = None
    _obj: Any = dataclasses.field(default=None, repr=False)
    _loaded: bool = dataclasses.field(default=False, repr=False)

    @property
    def broken(self) -> bool:
        """Whether loading this component failed."""
        return self.error is not None

    def config_class(self) -> Any:
        """A model family's config dataclass, without importing the family if its handle names it.

        Raises:
            ImportError: If the config (or the family) fails to import.
        """
        if isinstance(self._obj, Lazy) and self._obj.config and not self._loaded:
            try:
                return _import(self._obj.config)
            except Exception as exc:  # noqa: BLE001 - reported like a broken plugin
                raise ImportError(
                    f"{self.kind[:-1]} {self.name!r} from {self.distribution}: its config "
                    f"{self._obj.config} failed to import: {type(exc).__name__}: {exc}"
                ) from exc
        return self.load().config_class

    def load(self) -> Any:
        """Returns the component, importing it (once) if it is a lazy handle."""
        if self.error is not None:
            raise ImportError(
                f"{self.kind[:-1]} {self.name!r} from {self.distribution} is broken: {self.error}"
            )
        if not self._loaded:
            obj = self._obj
            if isinstance(obj, Lazy):
                try:
                    obj = obj.load()
                except Exception as exc:  # noqa: BLE001 - reported, never raised blindly
                    self.error = f"{type(exc).__name__}: {exc}"
                    raise ImportError(
                        f"{self.kind[:-1]} {self.name!r} from {self.distribution} "
                        f"failed to import: {self.error}"
                    ) from exc
            self._obj = obj
            self._loaded = True
            if not self.summary:
                self.summary = _first_docstring_line(obj)
        return self._obj


class Registry:
    """A table of named components of one kind, filled by decorator and entry points.

    Args:
        kind: Plural name of what is registered (``"models"``).
        group: Entry-point group to discover (``"genkeras.models"``), or
            ``None`` for a registry without plugin discovery.
    """

    def __init__(self, kind: str, group: str | None):
        if not kind:
            raise ValueError(f"Registry kind must be non-empty. Received: kind={kind!r}")
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._broken: list[Entry] = []
        self._discovered = False

    # -- registration ------------------------------------------------------
    def register(
        self,
        name: str,
        obj: Any = None,
        *,
        summary: str = "",
        distribution: str | None = None,
        version: str | None = None,
    ) -> Callable[[Any], Any] | Any:
        """Registers ``obj`` under ``name``; usable as a decorator.

        Args:
            name: The public name (lower-case, dashes allowed).
            obj: The component. Omit it to use ``register`` as a decorator.
            summary: One line for ``genkeras list``; defaults to the first
                line of the component's docstring.
            distribution: Distribution that provides it (set by discovery).
            version: That distribution's version.

        Returns:
            ``obj`` (or a decorator returning its argument unchanged).

        Raises:
            ValueError: If ``name`` is empty or already registered.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"A registered name must be a non-empty string. Received: name={name!r}"
            )

        def decorator(target):
            if name in self._entries:
                existing = self._entries[name]
                raise ValueError(
                    f"{self.kind[:-1]} {name!r} is already registered "
                    f"(by {existing.distribution or 'in-process code'}). "
                    "Choose another name."
                )
            self._entries[name] = Entry(
                name=name,
                kind=self.kind,
                summary=summary
                or (target.summary if isinstance(target, Lazy) else _first_docstring_line(target)),
                distribution=distribution,
                version=version,
                target=target.target if isinstance(target, Lazy) else None,
                _obj=target,
                _loaded=not isinstance(target, Lazy),
            )
            return target

        if obj is None:
            return decorator
        return decorator(obj)

    def unregister(self, name: str) -> None:
        """Removes ``name`` (mainly for tests). Unknown names raise ``UnknownNameError``."""
        self._discover()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        del self._entries[name]

    # -- discovery ---------------------------------------------------------
    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        if self.group is None or not autoload_enabled():
            return
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            if ep.name in self._entries:
                existing = self._entries[ep.name]
                if existing.target == ep.value and existing.distribution == dist_name:
                    continue  # the same distribution seen twice on sys.path
                self._mark_broken(
                    ep,
                    dist_name,
                    version,
                    f"ValueError: name {ep.name!r} is already registered by "
                    f"{existing.distribution or 'in-process code'}",
                )
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break others
                self._mark_broken(ep, dist_name, version, f"{type(exc).__name__}: {exc}")
                continue
            self.register(ep.name, obj, distribution=dist_name, version=version)
            self._entries[ep.name].target = obj.target if isinstance(obj, Lazy) else ep.value

    def _mark_broken(self, ep, dist_name, version, error: str) -> None:
        self._broken.append(
            Entry(
                name=ep.name,
                kind=self.kind,
                distribution=dist_name,
                version=version,
                target=ep.value,
                error=error,
            )
        )

    def refresh(self) -> None:
        """Forgets discovered entry points so the next lookup reads them again."""
        self._entries = {k: v for k, v in self._entries.items() if v.distribution is None}
        self._broken = []
        self._discovered = False

    # -- lookup ------------------------------------------------------------
    def names(self) -> list[str]:
        """Returns the sorted names of the working components."""
        self._discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Returns the working components' entries, sorted by name."""
        self._discover()
        return [self._entries[n] for n in sorted(self._entries)]

    def broken(self) -> list[Entry]:
        """Returns the plugins that failed to load, with their errors."""
        self._discover()
        return list(self._broken)

    def entry(self, name: str) -> Entry:
        """Returns the :class:`Entry` for ``name``.

        Raises:
            UnknownNameError: If ``name`` is not registered.
        """
        self._discover()
        if name not in self._entries:
            broken = [e for e in self._broken if e.name == name]
            note = (
                f"(A plugin named {name!r} is installed but broken: {broken[0].error})"
                if broken
                else ""
            )
            raise UnknownNameError(self.kind, name, self.names(), note)
        return self._entries[name]

    def get(self, name: str) -> Any:
        """Returns the component registered as ``name``, importing it if needed.

        Raises:
            UnknownNameError: If ``name`` is not registered.
            ImportError: If the component fails to import.
        """
        return self.entry(name).load()

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, group={self.group!r})"


models = Registry("models", "genkeras.models")
stabilizers = Registry("stabilizers", "genkeras.stabilizers")
datasets = Registry("datasets", "genkeras.datasets")

ALL = {"models": models, "stabilizers": stabilizers, "datasets": datasets}
