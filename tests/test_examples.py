"""Every example in ``examples/`` runs in quick mode and writes its figures.

Each script runs in a fresh interpreter (as a reader would run it) with
``GENKERAS_EXAMPLE_QUICK=1`` (tiny epochs and steps) and
``GENKERAS_EXAMPLE_OUT`` pointing at a temporary folder; the test checks that
it exits 0 and wrote at least one non-empty PNG. The full versions of the same
scripts make the figures the docs show (``docs/make_figures.py``), so an
example that rots fails here first.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))

#: Examples whose quick mode takes more than a minute on a 2-core CPU (marked slow).
#: None does: on an idle 2-core machine the nine take 7-26 s each, 105 s in all
#: (`tox -e examples`); under heavy load from other jobs they took 33-226 s.
SLOW: frozenset[str] = frozenset()

#: A generous ceiling so a hung example fails instead of stalling the suite.
TIMEOUT_S = 900


def example_env(out_dir: pathlib.Path) -> dict[str, str]:
    """The environment an example runs in: quick mode, quiet TF, headless plots."""
    env = dict(os.environ)
    env.update(
        GENKERAS_EXAMPLE_QUICK="1",
        GENKERAS_EXAMPLE_OUT=str(out_dir),
        TF_CPP_MIN_LOG_LEVEL="2",
        MPLBACKEND="Agg",
    )
    return env


def _params():
    return [
        pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.stem in SLOW else [])
        for path in EXAMPLES
    ]


def test_examples_exist():
    """The lecture's concepts each have an example (the list grows, never shrinks)."""
    names = {p.stem for p in EXAMPLES}
    assert {"vae_digits", "write_a_plugin"} <= names, names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_a_tutobook(path):
    """A header docstring with Title/Description/Accelerator and prose sections."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    header = ast.get_docstring(tree, clean=False) or ""
    for field in ("Title:", "Description:", "Accelerator:"):
        assert field in header, f"{path.name}: header docstring lacks {field!r}"
    sections = [
        node
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and node.value.value.lstrip().startswith("## ")
    ]
    assert sections, f'{path.name}: no \'"""## Section"""\' prose blocks'
    assert "GENKERAS_EXAMPLE_QUICK" in source, f"{path.name}: ignores quick mode"
    assert "GENKERAS_EXAMPLE_OUT" in source, f"{path.name}: ignores the output folder"


@pytest.mark.parametrize("path", _params())
def test_example_runs_in_quick_mode(path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=example_env(out),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, (
        f"{path.name} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}"
        f"\n--- stderr ---\n{proc.stderr[-5000:]}"
    )
    figures = [p for p in out.rglob("*.png") if p.stat().st_size > 0]
    assert figures, f"{path.name} wrote no PNG into GENKERAS_EXAMPLE_OUT ({out})"
    stray = [p.name for p in tmp_path.iterdir() if p.name != "out"]
    assert not stray, f"{path.name} wrote outside GENKERAS_EXAMPLE_OUT: {stray}"
