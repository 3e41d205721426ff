"""Sphinx configuration for the genkeras documentation.

Build it with ``tox -e docs`` (HTML with warnings as errors, nitpicky
cross-references, then a link check of every link inside the site). The build
needs no network: the figures are PNGs committed under ``_static/figures/``,
made by ``python docs/make_figures.py`` from the examples (see
``docs/figures.md``), and autodoc imports genkeras (and so TensorFlow) locally.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.abspath(".."))

import genkeras  # noqa: E402

project = "genkeras"
author = "the genkeras developers"
copyright = "2026, the genkeras developers"
version = release = genkeras.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- MyST (Markdown) -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # "page.md#a-heading" links resolve (and are checked)

# -- autodoc + napoleon (Google-style docstrings) ----------------------------------------
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" sections as fields, not duplicate attribute entries
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_mock_imports = []


def _plain_attribute_docstrings(app, what, name, obj, options, lines):
    """Keeps napoleon from reading an attribute's prose ``"Sentence: more"`` as ``type: text``.

    napoleon parses the first line of an attribute or property docstring as
    ``type: description``; genkeras writes prose there. An empty RST comment
    (``..``) as the first line gives napoleon no type to find and renders nothing.
    """
    if what in ("attribute", "property", "data") and lines and ":" in lines[0]:
        lines[:0] = ["..", ""]


def setup(app):
    """Registers the docstring hook before napoleon's (priority 500)."""
    app.connect("autodoc-process-docstring", _plain_attribute_docstrings, priority=400)


# -- cross-references ----------------------------------------------------------------------
# ``-n`` (nitpicky) makes every unresolved cross-reference a warning, and ``-W`` an
# error. The site is built offline (no intersphinx), so references to other
# projects' classes that appear in signatures are listed here instead.
nitpick_ignore_regex = [
    (r"py:.*", r"(keras|tf|tfd|tfp|tensorflow|tensorflow_probability|np|numpy|click)(\..*)?"),
    (r"py:.*", r"(matplotlib|sklearn|scipy|importlib|collections\.abc|typing|os)(\..*)?"),
    (r"py:.*", r"(dataclasses|pathlib|argparse)(\..*)?"),
    (r"py:class", r"(Any|Callable|Sequence|Iterable|Iterator|Mapping|Path|PathLike|Distribution)"),
    (r"py:class", r"(optional|array-like|array|callable|tensor|Tensor)"),
    # Sphinx splits the annotation of a dataclass field with a default factory
    # (``extras: dict[str, Any] = field(...)``) at the comma.
    (r"py:class", r"dict\[str"),
    # Hooks that AutoregressiveModel's docstring names but only its subclasses define.
    (r"py:meth", r"cache_(init|row|pixel|pad)"),
]

# -- link check: only links inside the site (the build runs offline) ---------------------
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]
linkcheck_anchors = True

# -- HTML -----------------------------------------------------------------------------------
html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"genkeras {release}"
html_theme_options = {
    "description": "The generative models of the cs231n lecture as real, tested Keras 3 code.",
    "fixed_sidebar": True,
    "page_width": "1200px",  # room for 100-column code listings
    "sidebar_width": "230px",
}
