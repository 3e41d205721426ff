"""Tests for genkeras.registry: decorator, duplicates, lazy handles, entry-point discovery."""

import importlib
import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest
from plugin_dists import build_and_install

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


def test_a_re_run_cell_redefining_its_component_replaces_it():
    """A notebook cell run twice defines the class again: the new one replaces the old."""
    reg = Registry("widgets", group=None)
    cell = "@reg.register('drift')\nclass Drift:\n    'A widget.'\n"
    first, second = {"reg": reg, "__name__": "__main__"}, {"reg": reg, "__name__": "__main__"}
    exec(cell, first)
    exec(cell, second)  # the re-run
    assert reg.get("drift") is second["Drift"] and reg.names() == ["drift"]

    class Drift:  # another class of that name elsewhere is still refused
        pass

    with pytest.raises(ValueError, match="already registered"):
        reg.register("drift", Drift)


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
        [genkeras.models]
        wobbly = broken_plugin:Wobbly
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
    with pytest.raises(UnknownNameError, match="^stabilizer 'shaky' from genkeras-tiny-plugin is"):
        stabs.get("shaky")  # not "Unknown ...": it is there, but broken
    models = Registry("models", "genkeras.models")
    with pytest.raises(UnknownNameError) as caught:
        models.entry("wobbly")
    assert str(caught.value) == (
        "model 'wobbly' from genkeras-tiny-plugin is installed but broken: "
        "ImportError: this plugin is broken"
    )


def test_autoload_can_be_disabled_without_losing_the_built_ins(plugin_path, monkeypatch):
    monkeypatch.setenv("GENKERAS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert not registry.autoload_enabled()
    datasets = Registry("datasets", "genkeras.datasets")
    stabs = Registry("stabilizers", "genkeras.stabilizers")
    assert "tiny" not in datasets.names() and "calm" not in stabs.names()
    assert stabs.broken() == []  # the broken plugin is not even read
    assert {"digits", "ring", "grid", "mnist"} <= set(datasets.names())
    assert {"r1-penalty", "pacgan", "wgan-gp"} <= set(stabs.names())
    assert datasets.entry("digits").distribution == "genkeras"


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


def test_in_process_registration_cannot_take_a_built_in_name():
    # The decorator reads the entry points first, so the built-in is always there to refuse it.
    stabs = Registry("stabilizers", "genkeras.stabilizers")
    with pytest.raises(ValueError, match="already registered by a genkeras built-in"):
        stabs.register("r1-penalty", object())
    assert stabs.entry("r1-penalty").distribution == "genkeras"


def test_registry_docstring_example_runs():
    import doctest

    assert doctest.testmod(registry).failed == 0


# -- real installed distributions (pip install --target), in both discovery orders ---------
@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """genkeras-test-alpha and -beta, each pip-installed into its own folder."""
    work = str(tmp_path_factory.mktemp("dists"))
    return {n: build_and_install(n, work) for n in ("genkeras-test-alpha", "genkeras-test-beta")}


def _on_path(monkeypatch, folders, first: bool):
    """Puts ``folders`` before (``first``) or after everything else on sys.path."""
    rest = [p for p in sys.path if p not in folders]
    monkeypatch.setattr(sys, "path", list(folders) + rest if first else rest + list(folders))
    importlib.invalidate_caches()


def _order(names):
    """The order importlib.metadata finds these distributions in."""
    found = [d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()]
    return sorted(names, key=found.index)


@pytest.mark.parametrize("plugin_first", [True, False])
def test_a_plugin_never_takes_a_built_in_name(installed, monkeypatch, plugin_first):
    _on_path(monkeypatch, [installed["genkeras-test-alpha"]], first=plugin_first)
    expected = (
        ["genkeras-test-alpha", "genkeras"] if plugin_first else ["genkeras", "genkeras-test-alpha"]
    )
    assert _order(["genkeras", "genkeras-test-alpha"]) == expected  # the order really differs
    stabs = Registry("stabilizers", "genkeras.stabilizers")
    datasets = Registry("datasets", "genkeras.datasets")
    for reg, name, target in (
        (stabs, "r1-penalty", "genkeras.stabilizers.gradient_penalty:R1Penalty"),
        (datasets, "ring", "genkeras.data:ring"),
    ):
        entry = reg.entry(name)
        assert (entry.distribution, entry.target) == ("genkeras", target)
        assert entry.status == "ok"
        (refused,) = [e for e in reg.broken() if e.name == name]
        assert refused.status == "refused" and refused.refused
        assert refused.distribution == "genkeras-test-alpha"
        assert "genkeras-test-alpha 1.0" in refused.error and "built-in" in refused.error
        assert "genkeras " in refused.error  # the built-in's distribution is named too
    assert datasets.get("ring")().name == "ring"  # the built-in loader, not the impostor
    assert "alpha-points" in datasets.names()  # the plugin's other names work


@pytest.mark.parametrize("alpha_first", [True, False])
def test_two_plugins_with_one_name_are_both_refused(installed, monkeypatch, alpha_first):
    folders = [installed["genkeras-test-alpha"], installed["genkeras-test-beta"]]
    _on_path(monkeypatch, folders if alpha_first else folders[::-1], first=True)
    names = ["genkeras-test-alpha", "genkeras-test-beta"]
    assert _order(names) == (names if alpha_first else names[::-1])
    stabs = Registry("stabilizers", "genkeras.stabilizers")
    assert "twin" not in stabs.names() and "beta-calm" in stabs.names()
    twins = sorted((e for e in stabs.refused() if e.name == "twin"), key=lambda e: e.distribution)
    assert [e.distribution for e in twins] == names
    for entry in twins:
        assert "genkeras-test-alpha 1.0" in entry.error and "genkeras-test-beta 2.0" in entry.error
    with pytest.raises(UnknownNameError, match="installed but refused"):
        stabs.get("twin")
    (shaky,) = [e for e in stabs.broken() if e.name == "shaky"]
    assert shaky.status == "broken" and "beta_broken is broken" in shaky.error


def test_gan_built_with_a_claimed_built_in_name_uses_the_built_in(installed, monkeypatch):
    pytest.importorskip("tensorflow")
    from genkeras.models.gan import GAN
    from genkeras.stabilizers.gradient_penalty import R1Penalty

    _on_path(monkeypatch, [installed["genkeras-test-alpha"]], first=True)
    registry.stabilizers.refresh()
    try:
        gan = GAN(
            (2,), config={"width": 4, "depth": 1, "latent_dim": 2, "stabilizers": ["r1-penalty"]}
        )
        assert type(gan.stabilizer_layers[0]) is R1Penalty
    finally:
        monkeypatch.undo()
        registry.stabilizers.refresh()


def test_cli_lists_refused_plugins_with_both_distributions(installed):
    path = os.pathsep.join([installed["genkeras-test-alpha"], installed["genkeras-test-beta"]])
    result = _cli(["plugins"], pythonpath=path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    r1 = next(ln for ln in lines if ln.startswith("r1-penalty"))
    assert "genkeras-test-alpha" in r1 and "REFUSED: " in r1 and "built-in" in r1
    assert "refused: " not in r1  # said once, not "REFUSED: refused: ..."
    twins = [ln for ln in lines if ln.startswith("twin")]
    assert len(twins) == 2 and all("REFUSED: " in ln for ln in twins)


def test_cli_with_autoload_disabled_keeps_the_built_in_models(installed):
    env = {"GENKERAS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    path = installed["genkeras-test-alpha"]
    listing = _cli(["list"], env_extra=env, pythonpath=path)
    assert listing.returncode == 0, listing.stderr
    for name in ("vae", "gan", "pixelcnn", "digits", "ring", "r1-penalty", "wgan-gp"):
        assert name in listing.stdout, name
    assert "alpha-points" not in listing.stdout
    helped = _cli(["run", "vae", "--help"], env_extra=env, pythonpath=path)
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "--latent-dim" in helped.stdout


def test_a_plugin_written_for_an_older_api_is_named_with_what_changed(tmp_path):
    """Issue 25: one line naming the plugin, its distribution and the change."""
    (tmp_path / "old_plugin.py").write_text(
        textwrap.dedent('''
        from genkeras.options import option  # genkeras 0.1's home of option()

        class Old:
            """A stabilizer of genkeras 0.1."""
        ''')
    )
    (tmp_path / "declared_plugin.py").write_text(
        textwrap.dedent('''
        class Declared:
            """Says which plugin API it was written for."""
            plugin_api = 1
        ''')
    )
    info = tmp_path / "genkeras_old_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: genkeras-old-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[genkeras.stabilizers]\nold = old_plugin:Old\ndeclared = declared_plugin:Declared\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        stabs = Registry("stabilizers", "genkeras.stabilizers")
        with pytest.raises(UnknownNameError) as caught:
            stabs.entry("old")
        message = str(caught.value)
        assert "stabilizer 'old' from genkeras-old-plugin is installed but broken" in message
        assert "option() is imported from genkeras.models.config" in message
        with pytest.raises(UnknownNameError, match="targets plugin API 1, and this genkeras"):
            stabs.entry("declared")
    finally:
        sys.path.remove(str(tmp_path))
        for mod in ("old_plugin", "declared_plugin"):
            sys.modules.pop(mod, None)
