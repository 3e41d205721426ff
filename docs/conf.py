"""Sphinx configuration for the genkeras documentation.

Build it with ``tox -e docs``: sphinx-gallery runs every ``examples/*.py`` in
quick mode (``GENKERAS_EXAMPLE_QUICK=1``, tiny epochs) and renders it with its
figures and ``.py``/``.ipynb`` downloads, the HTML is built with warnings as
errors, and ``docs/check_site.py`` checks the result (no CDN, MathJax bundled,
notebooks, CLI options intact, every link and anchor inside the site). The
API pages and the CLI reference's tables come from ``docs/genkeras_sphinx.py``
(every object documented once, under its own module; the options generated
from the click commands). The build needs no network: MathJax is copied
into ``_static`` by ``sphinx-mathjax-offline``, there is no intersphinx, and the
figures are made on this machine by the examples (or, for the few that need a
full-mode run, are committed PNGs under ``_static/figures/``; see
``docs/figures.md``).

A plain ``sphinx-build docs OUT`` runs the gallery in quick mode too; set
``GENKERAS_EXAMPLE_QUICK=0`` to execute the examples in full (about an hour on
a laptop CPU). The executed gallery is cached in ``docs/auto_examples``: an
unchanged example is not run again, and switching between quick and full mode
starts the gallery afresh.
"""

import os
import pathlib
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GENKERAS_EXAMPLE_QUICK", "1")
DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS))  # gallery_hooks, genkeras_sphinx

from sphinx.transforms import SphinxTransform  # noqa: E402

import genkeras  # noqa: E402

project = "genkeras"
author = "the genkeras developers"
copyright = "2026, the genkeras developers"
version = release = genkeras.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static/mathjax: math renders offline
    "sphinx.ext.viewcode",
    "genkeras_sphinx",  # docs/genkeras_sphinx.py: the API once, the CLI reference's tables
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # docs/examples.md is the gallery's entry page (thumbnails grouped by chapter),
    # so sphinx-gallery's own generated index of the same thumbnails is not built.
    "auto_examples/index.rst",
]
templates_path = ["_templates"]

# Smart quotes turn ``--`` into an en dash. In the chapters' prose that is the
# dash the authors meant, but in click's help text on the CLI page it breaks every
# option ("genkeras run vae –epochs 5" fails when pasted into a shell), so they are
# off for the pages listed here (see ``_NoSmartQuotes`` below).
NO_SMARTQUOTES = {"cli"}

# -- MyST (Markdown) -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # "page.md#a-heading" links resolve (and are checked)

# -- autodoc + napoleon (Google-style docstrings) ----------------------------------------
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" sections as fields, not duplicate attribute entries
# No "members" default: docs/genkeras_sphinx.py's automodule picks a module's members (the
# names of its __all__ it defines itself), and a default "members" would override that list.
autodoc_default_options = {"member-order": "bysource"}
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


class _NoSmartQuotes(SphinxTransform):
    """Turns smart quotes off for the documents in ``NO_SMARTQUOTES``.

    Runs just before Sphinx's ``SphinxSmartQuotes`` (priority 750), which skips a
    document whose ``settings.smart_quotes`` is False.
    """

    default_priority = 740

    def apply(self, **kwargs):
        if self.env.docname in NO_SMARTQUOTES:
            self.document.settings.smart_quotes = False


def setup(app):
    """Registers the docstring hook before napoleon's (priority 500), the quotes switch and
    the header's sections (``_page_context``, defined below)."""
    app.connect("autodoc-process-docstring", _plain_attribute_docstrings, priority=400)
    app.add_transform(_NoSmartQuotes)
    app.connect("html-page-context", _page_context)


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
    # A Keras layer's ``call``, named in docstrings (RowLSTM.state_gates) but
    # undocumented, so autodoc has no target for it.
    (r"py:meth", r"call"),
]

# -- link check ----------------------------------------------------------------------------
# ``docs/check_site.py links`` checks every link inside the built site and its anchor
# (tox -e docs). Sphinx's linkcheck builder is for the external links only, run online by
# hand: sphinx-build -b linkcheck docs OUT.
linkcheck_anchors = True

# -- the examples gallery (sphinx-gallery) --------------------------------------------------
QUICK = os.environ["GENKERAS_EXAMPLE_QUICK"] not in ("", "0")
_GALLERY = DOCS / "auto_examples"
_MODE_FILE = _GALLERY / ".genkeras-mode"
_MODE = "quick" if QUICK else "full"
_EXAMPLES = sorted(p.stem for p in (DOCS.parent / "examples").glob("*.py"))
# sphinx-gallery re-runs only examples whose source changed; a gallery executed in
# the other mode is stale as a whole.
if _MODE_FILE.exists() and _MODE_FILE.read_text().strip() != _MODE:
    shutil.rmtree(_GALLERY)
_GALLERY.mkdir(exist_ok=True)
_MODE_FILE.write_text(_MODE + "\n")
(_GALLERY / ".gitignore").write_text("*\n")  # generated: never committed

# The example pages are the only reStructuredText documents (the rest are MyST
# Markdown, which rst_prolog does not touch): each says how it was executed.
rst_prolog = (
    """
.. note::

   This page was executed when these docs were built, in quick mode
   (``GENKERAS_EXAMPLE_QUICK=1``: a few epochs and steps), so its numbers and figures
   come from a tiny run. Run the script, or the notebook, without that variable for
   the full experiment.
"""
    if QUICK
    else ""
)

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # execute every example
    "image_scrapers": ("gallery_hooks.png_scraper",),
    "reset_modules": ("matplotlib", "gallery_hooks.reset_example"),
    "remove_config_comments": True,
    "download_all_examples": True,
    "show_memory": False,
    "show_signature": False,
    "line_numbers": False,
    "capture_repr": (),  # examples print what they report; no stray reprs
    "min_reported_time": 1,
    "backreferences_dir": "auto_examples/backreferences",
    "doc_module": ("genkeras",),
    "write_computation_times": False,  # each example page shows its own running time
}

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_css_files = ["genkeras.css"]
html_title = f"genkeras {release}"  # the navbar shows it on every page
html_last_updated_fmt = None
html_show_sourcelink = False
# The header names the sections and the left sidebar lists every page of the root
# toctree under its caption (Lessons, How-to, Reference), so every top-level page is one
# click from every page. Each section: its title, the page it opens, and the pages (or
# folder prefixes) it covers, for the header's "current" mark.
GENKERAS_SECTIONS = (
    ("Lessons", "autoregressive", ("autoregressive", "vae", "gans")),
    ("Examples", "examples", ("examples", "auto_examples/", "figures")),
    ("How-to", "plugins", ("plugins", "writing-a-plugin", "scaling")),
    ("CLI", "cli", ("cli",)),
    ("API", "api/index", ("api/", "_modules/")),
    ("Results", "results", ("results",)),
)


def _section_of(pagename: str) -> str | None:
    for title, _, covers in GENKERAS_SECTIONS:
        if any(pagename == c or (c.endswith("/") and pagename.startswith(c)) for c in covers):
            return title
    return None


def _page_context(app, pagename, templatename, context, doctree):
    """Gives the header template the sections and the one this page belongs to."""
    context["genkeras_sections"] = GENKERAS_SECTIONS
    context["genkeras_section"] = _section_of(pagename)


html_theme_options = {
    "navbar_align": "left",
    "navbar_center": ["genkeras-navbar"],
    "navbar_end": ["theme-switcher"],
    "navbar_persistent": ["search-button-field"],
    "show_prev_next": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "primary_sidebar_end": [],
    # The in-page table of contents on every page; an example's downloads beside it.
    "secondary_sidebar_items": {
        "**": ["page-toc"],
        **{f"auto_examples/{name}": ["page-toc", "sg_download_links"] for name in _EXAMPLES},
    },
    "footer_start": ["copyright"],
    "footer_center": ["genkeras-version"],
    "footer_end": ["sphinx-version", "theme-version"],
    "pygments_light_style": "default",
    "pygments_dark_style": "github-dark",
}
html_sidebars = {"**": ["genkeras-sidebar-nav"], "search": [], "genindex": []}

# sphinx-copybutton: copy commands without their prompts or the output below them.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = False
copybutton_exclude = ".linenos, .gp, .go"
