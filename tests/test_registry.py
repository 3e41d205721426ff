"""Tests for genkeras.registry: decorator, duplicates, lazy handles, entry-point discovery."""

import os
import subprocess
import sys
import textwrap

import pytest

from genkeras import registry
from genkeras.registry import Lazy, Registry, UnknownNameError


def test_register_decorator_and_lookup():
    reg = Registry("widgets", group=None)

    @reg.register("spam")
    def spam():
        """Makes spam."""
        return 1

    assert reg.get("spam") is spam
    assert reg.names() == ["spam"]
    assert reg.entry("spam").summary == "Makes spam."
    assert "spam" in reg and "eggs" not in reg


def test_duplicate_name_is_refused():
    reg = Registry("widgets", group=None)
    reg.register("spam", object())
    with pytest.raises(ValueError, match="already registered"):
        reg.register("spam", object())


def test_unknown_name_lists_valid_names():
    reg = Registry("widgets", group=None)
    reg.register("a", 1)
    reg.register("b", 2)
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'c'. Valid names: a, b"):
        reg.get("c")


def test_empty_name_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        Registry("widgets", group=None).register("", 1)


def test_lazy_handle_imports_on_first_use():
    reg = Registry("widgets", group=None)
    reg.register("od", Lazy("collections:OrderedDict", "An ordered dict."))
    entry = reg.entry("od")
    assert entry.summary == "An ordered dict."
    assert not entry._loaded
    from collections import OrderedDict

    assert reg.get("od") is OrderedDict


def test_lazy_handle_import_error_is_reported():
    reg = Registry("widgets", group=None)
    reg.register("nope", Lazy("genkeras_no_such_module:thing", "missing"))
    with pytest.raises(ImportError, match="genkeras_no_such_module"):
        reg.get("nope")
    assert reg.entry("nope").broken


def test_lazy_target_must_name_an_attribute():
    with pytest.raises(ValueError, match="package.module:attribute"):
        Lazy("collections")


def test_builtins_come_through_entry_points():
    entry = registry.models.entry("vae")
    assert entry.distribution == "genkeras"
    assert entry.target == "genkeras.models.vae:VAE"
    assert registry.datasets.entry("digits").distribution == "genkeras"


# -- a real plugin distribution, discovered through importlib.metadata -------------------
@pytest.fixture
def plugin_path(tmp_path):
    """Lays out an installed distribution (dist-info + modules) in a sys.path folder.

    ``importlib.metadata`` finds ``*.dist-info`` folders on ``sys.path`` exactly as
    it finds pip-installed ones, so this exercises the real discovery path.
    """
    (tmp_path / "tiny_plugin.py").write_text(
        textwrap.dedent('''
        """A test plugin."""
        import numpy as np
        from genkeras.data import DataSpec

        def tiny():
            """Sixteen 2-D points from a test plugin."""
            x = np.arange(32, dtype="float32").reshape(16, 2)
            return DataSpec("tiny", x[:12], x[12:])

        class Calm:
            """A do-nothing stabilizer from a test plugin."""
    ''')
    )
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('this plugin is broken')\n")
    info = tmp_path / "genkeras_tiny_plugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: genkeras-tiny-plugin\nVersion: 1.2.3\nSummary: Test plugin\n"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""
        [genkeras.datasets]
        tiny = tiny_plugin:tiny
        [genkeras.stabilizers]
        calm = tiny_plugin:Calm
        shaky = broken_plugin:Shaky
    """)
    )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for mod in ("tiny_plugin", "broken_plugin"):
        sys.modules.pop(mod, None)


def test_entry_point_plugins_are_discovered(plugin_path):
    datasets = Registry("datasets", "genkeras.datasets")
    stabs = Registry("stabilizers", "genkeras.stabilizers")
    assert "tiny" in datasets.names() and "digits" in datasets.names()
    entry = datasets.entry("tiny")
    assert (entry.distribution, entry.version) == ("genkeras-tiny-plugin", "1.2.3")
    assert datasets.get("tiny")().x_train.shape == (12, 2)
    assert "calm" in stabs.names()
    broken = stabs.broken()
    assert [b.name for b in broken] == ["shaky"]
    assert "this plugin is broken" in broken[0].error
    with pytest.raises(UnknownNameError, match="installed but broken"):
        stabs.get("shaky")


def test_autoload_can_be_disabled(plugin_path, monkeypatch):
    monkeypatch.setenv("GENKERAS_DISABLE_PLUGIN_AUTOLOAD", "1")
    datasets = Registry("datasets", "genkeras.datasets")
    assert datasets.names() == []
    assert not registry.autoload_enabled()


def _cli(args, env_extra=None, pythonpath=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    code = (
        "import sys; from genkeras.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='genkeras')\n"
        "except SystemExit as e:\n"
        "    print('TF_IMPORTED=' + str('tensorflow' in sys.modules)); raise\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_plugins_reports_broken_plugin_and_keeps_working(plugin_path):
    result = _cli(["plugins"], pythonpath=plugin_path)
    assert result.returncode == 0, result.stderr
    assert "genkeras-tiny-plugin" in result.stdout
    assert "calm" in result.stdout and "1.2.3" in result.stdout
    assert "BROKEN" in result.stdout and "this plugin is broken" in result.stdout
    listing = _cli(["list"], pythonpath=plugin_path)
    assert listing.returncode == 0, listing.stderr
    assert "tiny" in listing.stdout and "vae" in listing.stdout
    assert "broken plugin" in listing.stdout


def test_cli_list_and_help_do_not_import_tensorflow():
    for args in (["list"], ["--help"], ["plugins"], ["run", "--help"]):
        result = _cli(args)
        assert result.returncode == 0, result.stderr
        assert "TF_IMPORTED=False" in result.stdout, args
