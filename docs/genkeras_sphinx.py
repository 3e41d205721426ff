"""genkeras's own Sphinx extension: the API documented once, and the CLI reference.

**Every API object once, under its own module.** ``automodule`` is replaced by
a version that, for a module with ``__all__``, documents only the names the
module itself defines: ``genkeras.data`` re-exports ``DataSpec`` from
``genkeras.data.spec``, and ``DataSpec`` is documented there alone. So each
object has one anchor, and the ``[source]`` links of the API pages and the
``[docs]`` links back from the highlighted sources (``sphinx.ext.viewcode``)
meet. A reference to a re-exported name (``genkeras.data.DataSpec``,
``genkeras.run.RunConfig``) resolves to the defining module's entry (the
``missing-reference`` handler below). After reading, the build warns -- an
error under ``-W`` -- for an object documented twice under two names, and for a
public object (in its module's ``__all__``, with a docstring) documented nowhere.

**The CLI reference** (``docs/cli.md``) is written by hand around tables
generated from the click objects of :mod:`genkeras.cli`, so an option is
described once (its dataclass field) and shown where it applies:

``{genkeras-options} RunConfig``
    the options that a dataclass of :mod:`genkeras.run.config` adds to every
    ``genkeras run MODEL`` (``RunConfig``, ``Invocation``);
``{genkeras-command} run vae``
    the usage line, the summary, the run defaults and the model's own options
    of ``genkeras run vae``; the directive's content lines are its usage
    examples, each parsed by click at build time (an unknown option warns);
``{genkeras-command} sample``
    the same for a top-level command (its arguments and all its options).

After reading, the build warns if a built-in model or a top-level command has
no ``genkeras-command`` on the page.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import re
import shlex

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.ext.autodoc._directive import AutodocDirective
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)
PACKAGE = "genkeras"


# -- the API, once ---------------------------------------------------------------------------
@functools.cache
def _assigned(module_name: str) -> frozenset[str]:
    """The names a module's source assigns at its top level (``X = ...``, ``X: int = ...``)."""
    module = importlib.import_module(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def _defines(module, name: str, value) -> bool:
    """Whether ``module`` defines ``name`` (rather than importing it from elsewhere)."""
    if inspect.isclass(value) or inspect.isfunction(value):
        return getattr(value, "__module__", None) == module.__name__
    return name in _assigned(module.__name__)  # data: assigned in this module's source


def own_members(module) -> list[str] | None:
    """The names of ``module.__all__`` the module defines itself (``None``: no ``__all__``)."""
    names = getattr(module, "__all__", None)
    if names is None:
        return None
    own = []
    for name in names:
        try:
            value = getattr(module, name)
        except AttributeError:
            continue
        if _defines(module, name, value):
            own.append(name)
    return own


class Automodule(AutodocDirective):
    """``automodule`` documenting only the members a module defines (see the module docstring).

    A module without ``__all__`` gets autodoc's own choice (members defined
    in the module). ``:members:`` or ``:no-members:`` given on the directive win.
    """

    def run(self):
        if "members" not in self.options and "no-members" not in self.options:
            own = own_members(importlib.import_module(self.arguments[0]))
            if own is None:
                self.options["members"] = None  # all, as autodoc picks them
            elif own:
                self.options["members"] = ", ".join(own)
            else:
                self.options["no-members"] = None  # what autodoc reads as the flag
        return super().run()


def _resolve_python(path: str):
    """The object at a dotted path (``genkeras.data.DataSpec.summary``), or ``None``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(path: str) -> str | None:
    """Where the object a re-exported path names is defined: ``genkeras.data.spec.DataSpec``."""
    head, _, tail = path.partition(".")
    if head != PACKAGE:
        return None
    parts = path.split(".")
    # The longest prefix that is a class or function: its real home, plus the rest.
    for cut in range(len(parts), 1, -1):
        obj = _resolve_python(".".join(parts[:cut]))
        if inspect.isclass(obj) or inspect.isfunction(obj):
            module = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", None)
            if module and qualname:
                real = ".".join([module, qualname, *parts[cut:]])
                return real if real != path else None
    return None


def _candidates(node) -> list[str]:
    """The full names a Python reference may mean, most specific first (as Sphinx searches)."""
    target = node.get("reftarget", "").removeprefix(".").removeprefix("~")
    module, cls = node.get("py:module"), node.get("py:class")
    found = []
    if module and cls:
        found.append(f"{module}.{cls}.{target}")
    if module:
        found.append(f"{module}.{target}")
    found.append(target)
    return found


def _entry_for(objects, path: str):
    """The documented entry of the object ``path`` names, by its own module or by identity."""
    if path in objects:
        return path
    real = _canonical(path)
    if real in objects:
        return real
    obj = _resolve_python(path)
    if obj is None or inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
        return None
    # A re-exported constant (``COVARIANCE_TYPES``): the documented entry holding the same object.
    name = path.rpartition(".")[2]
    for fullname, entry in objects.items():
        if entry.objtype == "data" and fullname.rpartition(".")[2] == name:
            if _resolve_python(fullname) is obj:
                return fullname
    return None


def _missing_reference(app, env, node, contnode):
    """Resolves a Python reference to a re-exported name at the object's own entry.

    ``genkeras.data.DataSpec`` (or ``DataSpec`` inside :mod:`genkeras.data`)
    finds ``genkeras.data.spec.DataSpec``; a name in a module docstring that is a
    method of exactly one class of that module (``:meth:`optimize``` in
    :mod:`genkeras.models.base`) finds that method. The role (``func``, ``attr``)
    is not insisted on: the link goes to the one object the name means.
    """
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    objects = env.get_domain("py").objects
    found = None
    for path in _candidates(node):
        if path.startswith(PACKAGE + ".") or path == PACKAGE:
            found = _entry_for(objects, path)
            if found:
                break
    module = node.get("py:module") or ""
    target = node.get("reftarget", "").removeprefix(".").removeprefix("~")
    if found is None and module.startswith(PACKAGE) and "." not in target:
        members = [n for n in objects if n.startswith(module + ".") and n.endswith("." + target)]
        if len(members) == 1:
            found = members[0]
    if found is None:
        return None
    entry = objects[found]
    return make_refnode(
        app.builder, node.get("refdoc", ""), entry.docname, entry.node_id, contnode, found
    )


def _walk_package():
    import pkgutil

    package = importlib.import_module(PACKAGE)
    yield package
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


_IDENTIFIED = ("class", "exception", "function", "method", "classmethod", "staticmethod")


def _check_documented_once(app, env):
    """Warns for an object documented under two names, or a public one documented nowhere."""
    objects = env.get_domain("py").objects
    seen: dict[int, str] = {}
    for fullname, entry in sorted(objects.items()):
        if entry.aliased or not fullname.startswith(PACKAGE + ".") or entry.objtype == "module":
            continue
        obj = _resolve_python(fullname)
        if entry.objtype not in _IDENTIFIED or obj is None:
            continue
        obj = inspect.unwrap(getattr(obj, "__func__", obj))
        if id(obj) in seen:
            LOGGER.warning(
                "%s is documented twice: as %s and as %s (document it under its own module only)",
                getattr(obj, "__qualname__", fullname),
                seen[id(obj)],
                fullname,
                location=entry.docname,
                type="genkeras",
                subtype="duplicate",
            )
        else:
            seen[id(obj)] = fullname
    for module in _walk_package():
        for name in own_members(module) or ():
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                documented = bool(value.__doc__)
            else:  # a constant is documented by a ``#:`` comment
                docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
                documented = ("", name) in docs
            if not documented:
                continue  # autodoc skips what has no documentation: the author's call
            fullname = f"{module.__name__}.{name}"
            if fullname not in objects:
                LOGGER.warning(
                    "%s is public (in __all__) but documented on no API page",
                    fullname,
                    type="genkeras",
                    subtype="undocumented",
                )


# -- the CLI reference ------------------------------------------------------------------------
def _root():
    from genkeras.cli import main

    return main


def _builtin_models() -> list[str]:
    from genkeras import registry

    return [e.name for e in registry.models.entries() if e.builtin]


def _top_commands() -> list[str]:
    import click

    main = _root()
    with click.Context(main) as ctx:
        return main.list_commands(ctx)


def _command(path: list[str]):
    """``["run", "vae"]`` -> (the click command, its context, the words of its usage)."""
    import click

    command = _root()
    ctx = click.Context(command, info_name="genkeras")
    for word in path:
        sub = command.get_command(ctx, word)
        if sub is None:
            raise ValueError(f"genkeras {' '.join(path)}: no command {word!r}")
        ctx = click.Context(sub, info_name=word, parent=ctx)
        command = sub
    return command, ctx


_DEFAULT_IN_HELP = re.compile(r"\s*\[default: ([^\]]+)\]")


def _describe_range(kind) -> str:
    """``IntRange(min=1)`` -> ``"≥ 1"``; ``FloatRange(0, 1, max_open=True)`` -> ``"in [0, 1)"``."""
    low, high = kind.min, kind.max
    if low is not None and high is not None:
        left, right = "(" if kind.min_open else "[", ")" if kind.max_open else "]"
        return f"in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"{'>' if kind.min_open else '≥'} {low:g}"
    return f"{'<' if kind.max_open else '≤'} {high:g}"


def _describe_type(param) -> str:
    """What value an option takes, in words: "integer ≥ 1", "one of a, b", "flag"."""
    import click

    kind = param.type
    if param.is_flag and not param.secondary_opts:
        return "flag"
    if param.is_flag:
        return "on/off"
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(map(str, kind.choices))
    if isinstance(kind, click.Path):
        return "file" if not kind.dir_okay else "folder" if not kind.file_okay else "path"
    if isinstance(kind, click.IntRange):
        return f"integer {_describe_range(kind)}"
    if isinstance(kind, click.FloatRange):
        return f"number {_describe_range(kind)}"
    return {"integer": "integer", "float": "number"}.get(kind.name, "text")


def _default_text(param) -> str | None:
    """The default as the help shows it (``[default: the model's]`` in the help wins)."""
    found = _DEFAULT_IN_HELP.search(param.help or "")
    if found:
        return found.group(1)
    if param.is_flag and not param.secondary_opts:
        return None
    default = param.default
    if default is None or default == () or (callable(default)):
        return None
    if param.is_flag:
        return param.opts[0] if default else param.secondary_opts[0]
    return str(default)


def _option_names(param) -> list[str]:
    names = list(param.opts)
    if param.secondary_opts:
        names = [f"{param.opts[0]}/{param.secondary_opts[0]}"]
    return names


def _paragraph(*children, **attributes) -> nodes.paragraph:
    return nodes.paragraph("", "", *children, **attributes)


def _table(header: list[str], rows: list[list[list[nodes.Node]]], classes=()) -> nodes.table:
    """A docutils table; its column widths are left to the browser (``colwidths-auto``)."""
    table = nodes.table(classes=["colwidths-auto", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in header:
        row += nodes.entry("", _paragraph(nodes.Text(title)))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            for block in cell:
                entry += block
            row += entry
        body += row
    return table


def _options_table(params, prefix: str) -> nodes.table:
    """Two columns: the option and what it takes; what it does and its default."""
    rows = []
    for param in params:
        anchor = f"{prefix}-{param.name.replace('_', '-')}"
        names: list[nodes.Node] = []
        for i, name in enumerate(_option_names(param)):
            if i:
                names.append(nodes.Text(", "))
            names.append(nodes.literal(name, name))
        what = _describe_type(param) + (", repeatable" if param.multiple else "")
        option = [
            _paragraph(*names, ids=[anchor], classes=["genkeras-option"]),
            _paragraph(nodes.Text(what), classes=["genkeras-option-value"]),
        ]
        help_text = _DEFAULT_IN_HELP.sub("", param.help or "").replace(" (repeatable)", "")
        does = [nodes.Text(help_text.strip())]
        default = _default_text(param)
        if default:
            # A value is shown as code; a phrase from the help ("the model's") as text.
            said = _DEFAULT_IN_HELP.search(param.help or "") and " " in default
            shown = nodes.Text(default) if said else nodes.literal(default, default)
            does += [nodes.Text(" Default: "), shown, nodes.Text(".")]
        rows.append([option, [_paragraph(*does)]])
    return _table(["option", "what it does"], rows, classes=["genkeras-cli-table"])


def _dataclass(name: str):
    from genkeras.run import config

    cls = getattr(config, name, None)
    if cls is None or not dataclasses.is_dataclass(cls):
        raise ValueError(f"genkeras.run.config has no option dataclass {name!r}")
    return cls


def _record(env, docname: str, what: str) -> None:
    if not hasattr(env, "genkeras_cli"):
        env.genkeras_cli = {}
    env.genkeras_cli.setdefault(docname, set()).add(what)


class OptionsDirective(SphinxDirective):
    """``{genkeras-options} RunConfig``: the options one run-config dataclass adds."""

    required_arguments = 1

    def run(self):
        from genkeras.run.options import click_options

        cls = _dataclass(self.arguments[0])
        _record(self.env, self.env.docname, f"options {cls.__name__}")
        params = click_options(cls)
        prefix = {"RunConfig": "run", "Invocation": "run"}.get(cls.__name__, cls.__name__.lower())
        return [_options_table(params, prefix)]


class CommandDirective(SphinxDirective):
    """``{genkeras-command} run vae`` (content: usage examples): one command's reference."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"no-summary": directives.flag}

    def _check_example(self, line: str) -> None:
        import click

        words = shlex.split(line)
        if words[:1] != ["genkeras"]:
            raise self.error(f"an example must start with 'genkeras': {line!r}")
        try:
            ctx = _root().make_context("genkeras", words[1:], resilient_parsing=False)
            command = _root()
            while isinstance(command, click.Group):
                args = [*ctx._protected_args, *ctx.args]
                if not args:
                    break
                sub_name, sub, rest = command.resolve_command(ctx, args)
                ctx = sub.make_context(sub_name, rest, parent=ctx)
                command = sub
        except click.ClickException as exc:
            LOGGER.warning(
                "CLI example %r does not parse: %s",
                line,
                exc.format_message(),
                location=self.get_location(),
                type="genkeras",
                subtype="cli",
            )

    def run(self):
        path = self.arguments[0].split()
        command, ctx = _command(path)
        _record(self.env, self.env.docname, "command " + " ".join(path))
        out: list[nodes.Node] = []
        if "no-summary" not in self.options:
            text = inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")
            out.append(_paragraph(nodes.Text(text)))
        is_model = path[:1] == ["run"] and len(path) == 2
        usage = " ".join(["genkeras", *path, *command.collect_usage_pieces(ctx)])
        line = [nodes.strong("Usage:", "Usage:"), nodes.Text(" "), nodes.literal(usage, usage)]
        if is_model:
            line += [
                nodes.Text(": the "),
                nodes.reference("", "common run options", refid="common-run-options"),
                nodes.Text(", the "),
                nodes.reference("", "run folder options", refid="run-folder-options"),
                nodes.Text(" and the model's own, below."),
            ]
        out.append(_paragraph(*line, classes=["genkeras-usage"]))
        own = [p for p in command.params if p.name != "help"]
        if is_model:
            from genkeras import registry

            config_class = registry.models.entry(path[1]).config_class()
            fields = {f.name for f in dataclasses.fields(config_class)}
            own = [p for p in own if p.name in fields]
            defaults = getattr(config_class, "run_defaults", {}) or {}
            if defaults:
                parts: list[nodes.Node] = [
                    nodes.strong("Run defaults:", "Run defaults:"),
                    nodes.Text(" "),
                ]
                for i, (key, value) in enumerate(defaults.items()):
                    if i:
                        parts.append(nodes.Text(", "))
                    flag = "--" + key.replace("_", "-")
                    parts.append(nodes.literal(f"{flag} {value}", f"{flag} {value}"))
                parts.append(nodes.Text("."))
                out.append(_paragraph(*parts))
        examples = [line.strip() for line in self.content if line.strip()]
        for line in examples:
            self._check_example(line)
        if examples:
            text = "\n".join(examples)
            label = "Examples:" if len(examples) > 1 else "Example:"
            out.append(_paragraph(nodes.strong(label, label), classes=["genkeras-examples"]))
            out.append(nodes.literal_block(text, text, language="bash"))
        arguments = [p for p in own if p.param_type_name == "argument"]
        options = [p for p in own if p.param_type_name == "option"]
        for argument in arguments:
            name = argument.human_readable_name
            out.append(
                _paragraph(nodes.literal(name, name), nodes.Text(f": {_ARGUMENTS.get(name, '')}"))
            )
        if options:
            prefix = "-".join(path)
            out.append(_options_table(options, prefix))
        elif is_model:
            out.append(_paragraph(nodes.Text("No options of its own.")))
        return out


#: What a command's positional argument is (click arguments carry no help).
_ARGUMENTS = {"RUN_DIR": "a run folder written by genkeras run."}


def _purge(app, env, docname):
    getattr(env, "genkeras_cli", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    if hasattr(other, "genkeras_cli"):
        if not hasattr(env, "genkeras_cli"):
            env.genkeras_cli = {}
        env.genkeras_cli.update(other.genkeras_cli)


def _check_cli_complete(app, env):
    rendered = getattr(env, "genkeras_cli", {})
    if not rendered:
        return  # no CLI page in this build
    shown = set().union(*rendered.values())
    wanted = [f"command run {m}" for m in _builtin_models()]
    wanted += [f"command {c}" for c in _top_commands() if c != "run"]
    wanted += ["options RunConfig", "options Invocation"]
    for what in wanted:
        if what not in shown:
            LOGGER.warning(
                "the CLI reference does not show %r (add a genkeras-%s directive)",
                what.split(" ", 1)[1],
                what.split(" ", 1)[0],
                type="genkeras",
                subtype="cli",
            )


def _check_consistency(app, env):
    _check_documented_once(app, env)
    _check_cli_complete(app, env)


def _register_automodule(app, config):
    # autodoc registers its directives when the config is read: replace ``automodule`` after.
    app.add_directive("automodule", Automodule, override=True)


def setup(app):
    app.connect("config-inited", _register_automodule, priority=900)
    app.add_directive("genkeras-options", OptionsDirective)
    app.add_directive("genkeras-command", CommandDirective)
    app.connect("missing-reference", _missing_reference)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-check-consistency", _check_consistency)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
