"""Every example in ``examples/`` is a sphinx-gallery script that runs in quick mode.

Each script runs in a fresh interpreter (as a reader would run it) with
``GENKERAS_EXAMPLE_QUICK=1`` (tiny epochs and steps) and
``GENKERAS_EXAMPLE_OUT`` pointing at a temporary folder; the test checks that
it exits 0 and wrote at least one non-empty PNG. The docs build executes the
same scripts, in the same quick mode, into the examples gallery (sphinx-gallery,
``tox -e docs``), and the chapters' full-mode figures come from full runs of them
(``docs/make_figures.py``), so an example that rots fails here first.

The format check reads the file the way sphinx-gallery does: a header docstring
with an RST title, a one-paragraph description (the thumbnail's tooltip) and
an ``:Accelerator:`` field, then ``# %%`` text cells of RST prose between the
code, at least one of them with a section heading.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re
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


#: A text cell: ``# %%`` and the comment lines under it.
TEXT_CELL = re.compile(r"^# %%[^\n]*\n((?:#[^\n]*\n)+)", re.M)
#: An RST section heading inside a text cell: a line, then a line of dashes at least as long.
HEADING = re.compile(r"^# (\S[^\n]*)\n# (-{3,})$", re.M)
#: A single-backtick span (RST "interpreted text", rendered in italics): Markdown's
#: inline code, which RST writes with double backticks. Roles (:math:`x`) and
#: links (`text <url>`_) are not matched.
SINGLE_BACKTICKS = re.compile(r"(?<![\w`:])`(?=[^`\s])[^`]*?(?<=[^`\s])`(?![\w`_])")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_a_gallery_script(path):
    """A sphinx-gallery header (title, description, fields) and RST prose cells."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    header = ast.get_docstring(tree) or ""
    lines = header.splitlines()
    assert len(lines) > 2 and lines[0].strip(), f"{path.name}: header docstring lacks a title"
    assert set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), (
        f"{path.name}: the title must be underlined with '=' (RST)"
    )
    paragraphs = header.split("\n\n")
    assert len(paragraphs) > 2 and not paragraphs[1].startswith(":"), (
        f"{path.name}: a description paragraph must follow the title"
    )
    for field in (":Author:", ":Accelerator:"):
        assert field in header, f"{path.name}: header docstring lacks {field!r}"
    strings = [
        node
        for node in tree.body[1:]
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert not strings, (
        f"{path.name}: prose in a string at line {strings[0].lineno if strings else 0}; "
        "sphinx-gallery shows it as code: write it as a '# %%' text cell"
    )
    cells = TEXT_CELL.findall(source)
    assert cells, f"{path.name}: no '# %%' text cells"
    headings = [m for cell in cells for m in HEADING.finditer(cell)]
    assert headings, f"{path.name}: no text cell with a section heading"
    for title, underline in (m.groups() for m in headings):
        assert len(underline) >= len(title), f"{path.name}: underline shorter than {title!r}"
    for cell in cells:
        # The prose without its "# " prefixes or the bodies of indented directives.
        prose = "\n".join(line[2:] for line in cell.splitlines() if not line.startswith("#    "))
        single = SINGLE_BACKTICKS.findall(prose)
        assert not single, f"{path.name}: {single[0]} renders in italics; write ``code``"
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
