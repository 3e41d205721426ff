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
never breaks the other components or the CLI.

Names are resolved by one rule, whatever order the distributions are found in
(``sys.path`` order):

1. A name of a genkeras **built-in** (an entry point of the ``genkeras``
   distribution itself) always belongs to the built-in. A plugin that claims
   it is *refused*, and listed with both distributions named.
2. A name claimed by **two or more third-party distributions** is given to
   none of them: each is refused, naming all of them (uninstall all but one).
3. In-process registration (the decorator) refuses a name that is already
   taken, built-in or plugin, with a ``ValueError``; a plugin discovered
   again after :meth:`Registry.refresh` that claims an in-process name is
   refused.

Setting the environment variable ``GENKERAS_DISABLE_PLUGIN_AUTOLOAD=1`` turns
off third-party entry points only -- the way to rule out a misbehaving
plugin. The built-ins stay (they are read from the ``genkeras``
distribution's own entry points), and so do in-process registrations.

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
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any

from genkeras.plugin_api import check_declared, migration_hint

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "Entry",
    "Lazy",
    "Registry",
    "UnknownNameError",
    "datasets",
    "models",
    "stabilizers",
    "autoload_enabled",
    "is_builtin",
]

DISABLE_ENV = "GENKERAS_DISABLE_PLUGIN_AUTOLOAD"
#: The distribution whose entry points are the built-ins.
BUILTIN_DISTRIBUTION = "genkeras"


def _normalize(name: str | None) -> str:
    """A distribution name in the PEP 503 normal form (``Gen_Keras`` -> ``gen-keras``)."""
    return re.sub(r"[-_.]+", "-", name or "").lower()


def is_builtin(distribution: str | None) -> bool:
    """Whether ``distribution`` is genkeras itself (whose entry points are the built-ins)."""
    return _normalize(distribution) == BUILTIN_DISTRIBUTION


def autoload_enabled() -> bool:
    """Returns whether entry-point plugins are loaded.

    Returns:
        ``False`` when the environment variable
        ``GENKERAS_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value
        (``1``, ``true``, ``yes``, ``on``), ``True`` otherwise. Either way the
        built-ins are loaded.
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

    def __init__(self, kind: str, name: str, valid: list[str], broken: str = "", message=None):
        self.kind = kind
        self.name = name
        self.valid = valid
        if message is None:
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


def _label(distribution: str | None, version: str | None) -> str:
    return f"{distribution or '?'} {version or ''}".strip()


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
        error: For a broken plugin, the error raised while loading it; for a
            refused one, why it was refused (naming both distributions).
        refused: Whether the plugin was refused because its name is taken
            (see the module docstring's rule); it was never imported.
    """

    name: str
    kind: str
    summary: str = ""
    distribution: str | None = None
    version: str | None = None
    target: str | None = None
    error: str | None = None
    refused: bool = False
    _obj: Any = dataclasses.field(default=None, repr=False)
    _loaded: bool = dataclasses.field(default=False, repr=False)

    @property
    def broken(self) -> bool:
        """Whether this component cannot be used (its import failed, or it was refused)."""
        return self.error is not None

    @property
    def status(self) -> str:
        """``"ok"``, ``"broken"`` (import failed) or ``"refused"`` (name conflict)."""
        if self.refused:
            return "refused"
        return "broken" if self.error is not None else "ok"

    @property
    def builtin(self) -> bool:
        """Whether this is one of genkeras's own built-ins."""
        return is_builtin(self.distribution)

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
                    self.error += migration_hint(self.error)
                    raise ImportError(
                        f"{self.kind[:-1]} {self.name!r} from {self.distribution} "
                        f"failed to import: {self.error}"
                    ) from exc
            refused = check_declared(obj)
            if refused:
                self.error = refused
                raise ImportError(
                    f"{self.kind[:-1]} {self.name!r} from {self.distribution}: {refused}"
                )
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

        Entry points are discovered first, so a name taken by a built-in or an
        installed plugin is refused here, whatever the import order.

        Args:
            name: The public name (lower-case, dashes allowed).
            obj: The component. Omit it to use ``register`` as a decorator.
            summary: One line for ``genkeras list``; defaults to the first
                line of the component's docstring.
            distribution: Distribution that provides it (``None``: in-process code).
            version: That distribution's version.

        Returns:
            ``obj`` (or a decorator returning its argument unchanged).

        Raises:
            ValueError: If ``name`` is empty or already registered. In-process
                code may register a *redefinition* of its own component (the
                same module and qualified name, as a re-run notebook cell
                makes): it replaces the old one.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"A registered name must be a non-empty string. Received: name={name!r}"
            )
        self._discover()

        def decorator(target):
            if name in self._entries and _redefinition(self._entries[name], target, distribution):
                self._add(name, target, summary, distribution, version)  # a re-run cell
                return target
            if name in self._entries:
                existing = self._entries[name]
                owner = existing.distribution or "in-process code"
                if existing.builtin:
                    owner = "a genkeras built-in (built-in names are reserved)"
                raise ValueError(
                    f"{self.kind[:-1]} {name!r} is already registered by {owner}. "
                    "Choose another name."
                )
            self._add(name, target, summary, distribution, version)
            return target

        if obj is None:
            return decorator
        return decorator(obj)

    def _add(self, name, target, summary="", distribution=None, version=None, value=None):
        self._entries[name] = Entry(
            name=name,
            kind=self.kind,
            summary=summary
            or (target.summary if isinstance(target, Lazy) else _first_docstring_line(target)),
            distribution=distribution,
            version=version,
            target=target.target if isinstance(target, Lazy) else value,
            _obj=target,
            _loaded=not isinstance(target, Lazy),
        )

    def unregister(self, name: str) -> None:
        """Removes ``name`` (mainly for tests). Unknown names raise ``UnknownNameError``."""
        self._discover()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        del self._entries[name]

    # -- discovery ---------------------------------------------------------
    def _candidates(self) -> dict[str, list[tuple[Any, str | None, str | None]]]:
        """Entry points of this group by name: ``{name: [(ep, distribution, version)]}``.

        Built-ins first, then third-party ones (sorted by distribution name),
        so nothing below depends on the order ``sys.path`` lists them in.
        Third-party entry points are skipped when autoloading is off.
        """
        autoload = autoload_enabled()
        found: dict[str, list] = {}
        seen = set()
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            key = (ep.name, ep.value, _normalize(dist_name))
            if key in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add(key)
            if not autoload and not is_builtin(dist_name):
                continue
            found.setdefault(ep.name, []).append((ep, dist_name, version))
        for rows in found.values():
            rows.sort(key=lambda row: (not is_builtin(row[1]), _normalize(row[1]), row[0].value))
        return found

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        if self.group is None:
            return
        for name, rows in sorted(self._candidates().items()):
            builtins = [row for row in rows if is_builtin(row[1])]
            plugins = [row for row in rows if not is_builtin(row[1])]
            if builtins:
                winner = builtins[0]
                owner = f"genkeras {winner[2] or ''}".strip()
                for ep, dist_name, version in plugins:
                    self._refuse(
                        ep,
                        dist_name,
                        version,
                        f"refused: {name!r} is the name of a built-in {self.kind[:-1]} of "
                        f"{owner}; {_label(dist_name, version)} cannot take it",
                    )
                self._entries.pop(name, None)  # built-ins win, even over in-process code
                self._load(*winner)
            elif name in self._entries:  # registered in-process before a refresh()
                for ep, dist_name, version in plugins:
                    self._refuse(
                        ep,
                        dist_name,
                        version,
                        f"refused: {name!r} is registered by in-process code; "
                        f"{_label(dist_name, version)} cannot take it",
                    )
            elif len(plugins) > 1:
                claimants = ", ".join(_label(d, v) for _, d, v in plugins)
                for ep, dist_name, version in plugins:
                    self._refuse(
                        ep,
                        dist_name,
                        version,
                        f"refused: {name!r} is claimed by several plugins ({claimants}), so "
                        "none of them is used; uninstall all but one",
                    )
            else:
                self._load(*plugins[0])

    def _load(self, ep, dist_name, version) -> None:
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break others
            error = f"{type(exc).__name__}: {exc}"
            self._mark_broken(ep, dist_name, version, error + migration_hint(error))
            return
        refused = None if isinstance(obj, Lazy) else check_declared(obj)
        if refused:
            self._mark_broken(ep, dist_name, version, refused)
            return
        self._add(ep.name, obj, distribution=dist_name, version=version, value=ep.value)

    def _mark_broken(self, ep, dist_name, version, error: str, refused: bool = False) -> None:
        self._broken.append(
            Entry(
                name=ep.name,
                kind=self.kind,
                distribution=dist_name,
                version=version,
                target=ep.value,
                error=error,
                refused=refused,
            )
        )

    def _refuse(self, ep, dist_name, version, reason: str) -> None:
        self._mark_broken(ep, dist_name, version, reason, refused=True)

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
        """Returns the plugins that cannot be used, with why.

        Both kinds: those whose import failed (``entry.status == "broken"``)
        and those refused because their name is taken
        (``entry.status == "refused"``; ``entry.error`` names both
        distributions).
        """
        self._discover()
        return list(self._broken)

    def refused(self) -> list[Entry]:
        """Returns the plugins refused because of a name conflict (a subset of :meth:`broken`)."""
        return [e for e in self.broken() if e.refused]

    def entry(self, name: str) -> Entry:
        """Returns the :class:`Entry` for ``name``.

        Raises:
            UnknownNameError: If ``name`` is not registered.
        """
        self._discover()
        if name not in self._entries:
            broken = [e for e in self._broken if e.name == name]
            what = self.kind[:-1]
            if broken and not broken[0].refused:  # there, but it cannot be used
                entry = broken[0]
                raise UnknownNameError(
                    self.kind,
                    name,
                    self.names(),
                    message=f"{what} {name!r} from {entry.distribution} is installed but broken: "
                    f"{entry.error}",
                )
            note = (
                f"(A plugin named {name!r} from {broken[0].distribution} is installed but "
                f"refused: {broken[0].error.removeprefix('refused: ')})"
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


def _redefinition(existing, target, distribution) -> bool:
    """Whether ``target`` redefines ``existing``: in-process code, same module and qualname."""
    if existing.builtin or existing.distribution or distribution or not existing._loaded:
        return False
    old = existing._obj
    return (
        getattr(old, "__module__", None) == getattr(target, "__module__", object())
        and getattr(old, "__qualname__", None) == getattr(target, "__qualname__", object())
        and old is not target
    )
