"""sphinx-gallery hooks: run each example with its own output folder and show its PNGs.

The examples save their figures as PNG files into ``GENKERAS_EXAMPLE_OUT``
(most of them through :mod:`genkeras.plots`, which closes its figures), so
sphinx-gallery's matplotlib scraper, which looks at open figures, would miss
them. Instead:

* :func:`reset_example` runs before and after each example (``reset_modules``).
  Before, it points ``GENKERAS_EXAMPLE_OUT`` at a fresh
  ``auto_examples/figures/<example>/``; that folder keeps the figures under
  the names the script gave them, so a chapter can show one with
  ``auto_examples/figures/vae_digits/vae_manifold.png``.
* :func:`png_scraper` runs after every code block (``image_scrapers``) and
  shows, below that block, each PNG the block wrote or rewrote in that folder,
  copied to the path sphinx-gallery numbers (which also makes the thumbnail).

conf.py names both by their dotted path (``gallery_hooks.png_scraper``), so
Sphinx can pickle the configuration.
"""

from __future__ import annotations

import os
import pathlib
import shutil

DOCS = pathlib.Path(__file__).resolve().parent
GALLERY = DOCS / "auto_examples"
FIGURES = GALLERY / "figures"

#: PNGs already shown for the running example, with the mtime they had then.
_shown: dict[pathlib.Path, int] = {}


def figures_dir(example: str) -> pathlib.Path:
    """Where the gallery run of ``examples/<example>.py`` writes its figures."""
    return FIGURES / example


def reset_example(gallery_conf, fname, when):
    """Gives each example an empty ``GENKERAS_EXAMPLE_OUT``; clears Keras and pyplot after it."""
    if fname is None:
        return
    if when == "before":
        out = figures_dir(pathlib.Path(fname).stem)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        os.environ["GENKERAS_EXAMPLE_OUT"] = str(out)
        _shown.clear()
        return
    os.environ.pop("GENKERAS_EXAMPLE_OUT", None)
    _shown.clear()
    import matplotlib.pyplot as plt

    plt.close("all")
    import keras

    keras.utils.clear_session(free_memory=True)


def png_scraper(block, block_vars, gallery_conf):
    """Shows the PNGs the last code block wrote into ``GENKERAS_EXAMPLE_OUT``, oldest first."""
    from sphinx_gallery.scrapers import figure_rst

    out = os.environ.get("GENKERAS_EXAMPLE_OUT")
    if not out:
        return ""
    new = []
    for path in pathlib.Path(out).rglob("*.png"):
        mtime = path.stat().st_mtime_ns
        if _shown.get(path) != mtime:
            _shown[path] = mtime
            new.append((mtime, path))
    rst = ""
    for _, path in sorted(new):
        target = block_vars["image_path_iterator"].next()
        shutil.copyfile(path, target)
        title = f"{path.name} written by the example"
        rst += figure_rst([target], gallery_conf["src_dir"], fig_titles=title)
    return rst
