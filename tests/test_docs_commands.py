"""Every concrete ``genkeras`` command printed in the README and the docs parses.

A command a reader copies must at least name real subcommands and options: each
one found in a shell block or an inline code span is parsed by the real CLI
with ``--help`` appended, which stops before anything runs but after click has
matched every option (an unknown option or model exits 2).
"""

import pathlib
import re
import shlex

import pytest
from click.testing import CliRunner

from genkeras.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A placeholder or an elision: such a line shows a pattern, not a command to type.
PATTERN = re.compile(r"[A-Z]{2,}|\.\.\.|\[|<")


def _commands(text: str) -> list[str]:
    """The ``genkeras ...`` commands of a Markdown page (blocks and inline spans)."""
    found = []
    for block in re.findall(r"```(?:bash|console|shell|sh)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.removeprefix("$ ").split(" #")[0]
            for part in re.split(r"&&|;", line):
                part = re.sub(r"^\S*/bin/genkeras ", "genkeras ", part.strip())
                if part.startswith("genkeras "):
                    found.append(" ".join(part.split()))
    for span in re.findall(r"`(genkeras [^`]+)`", text):
        found.append(" ".join(span.split()))
    return [c for c in found if not PATTERN.search(c)]


COMMANDS = sorted({(p.name, c) for p in PAGES for c in _commands(p.read_text())})


def test_the_pages_print_commands():
    """The extraction finds the README's main command and the GAN configurations."""
    found = {c for _, c in COMMANDS}
    assert "genkeras run vae --out runs/vae" in found
    assert any(c.startswith("genkeras run gan --dataset digits") for c in found)
    assert any("--epochs 417" in c for c in found)


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_a_printed_command_parses(page, command):
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, f"{page}: {command}\n{result.output}"
