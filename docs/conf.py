"""Sphinx configuration for the genkeras documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "genkeras"
author = "the genkeras developers"
copyright = "2026, the genkeras developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "colon_fence"]
napoleon_google_docstring = True
autodoc_mock_imports = []
html_theme = "alabaster"
exclude_patterns = ["_build"]
