"""The docs site's own checks fail when they should: docs/check_site.py and docs/genkeras_sphinx.py.

The link check is run on a small hand-written site (no Sphinx build): it must
pass on good links and fail, naming the page and the link, on a deliberately
broken one -- a missing page, a missing anchor, an anchor of a ``[docs]``
back-link from a module source page.
"""

import importlib.util
import pathlib
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _module(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check_site = _module("check_site")


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


@pytest.fixture
def site(tmp_path):
    """A three-page site whose every link resolves."""
    (tmp_path / "api").mkdir()
    (tmp_path / "_modules").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.css").write_text("")
    (tmp_path / "index.html").write_text(
        _page(
            '<h1 id="top">genkeras</h1>'
            '<a href="#top">self</a> <a href="api/core.html#genkeras.run.config.RunConfig">'
            'RunConfig</a> <a href="api/">api index</a> <a href="https://keras.io/#x">keras</a>'
            '<a href="mailto:a@b.c">mail</a> <a href="_static/x.css">css</a>'
        )
    )
    (tmp_path / "api" / "index.html").write_text(_page('<a href="../index.html#top">home</a>'))
    (tmp_path / "api" / "core.html").write_text(
        _page('<dt id="genkeras.run.config.RunConfig">RunConfig</dt><a name="old-anchor"></a>')
    )
    (tmp_path / "_modules" / "config.html").write_text(
        _page('<a href="../api/core.html#genkeras.run.config.RunConfig">[docs]</a>')
    )
    return tmp_path


def test_good_links_pass(site):
    counts, problems = check_site.check_links(site)
    assert problems == []
    assert counts["pages"] == 4
    assert counts["external"] == 2  # https and mailto: counted, not followed
    assert counts["anchors"] == 4
    assert counts["internal"] == 6


@pytest.mark.parametrize(
    "href, missing",
    [
        ("api/core.html#genkeras.models.gan.VAEConfig", "no id 'genkeras.models.gan.VAEConfig'"),
        ("#nowhere", "no id 'nowhere' in index.html"),
        ("api/missing.html", "points to a missing file"),
        ("../outside.html", "points to a missing file"),
    ],
)
def test_a_broken_link_fails(site, href, missing):
    index = site / "index.html"
    index.write_text(index.read_text().replace("</body>", f'<a href="{href}">bad</a></body>'))
    _, problems = check_site.check_links(site)
    assert len(problems) == 1
    assert problems[0].startswith(f"index.html: link {href!r}")
    assert missing in problems[0]


def test_a_dead_back_link_of_a_module_source_fails(site):
    """The ``[docs]`` link of a highlighted source page must land on the object's entry."""
    source = site / "_modules" / "config.html"
    source.write_text(source.read_text().replace("run.config.RunConfig", "run.RunConfig"))
    _, problems = check_site.check_links(site)
    assert problems == [
        "_modules/config.html: link '../api/core.html#genkeras.run.RunConfig': "
        "no id 'genkeras.run.RunConfig' in api/core.html"
    ]


def test_the_command_exits_non_zero_on_a_broken_link(site, capsys):
    check_site.main(["links", str(site)])
    assert "all checks passed" in capsys.readouterr().out
    (site / "api" / "index.html").write_text(_page('<a href="core.html#gone">x</a>'))
    with pytest.raises(SystemExit) as stop:
        check_site.main(["links", str(site)])
    assert stop.value.code == 1
    assert "api/index.html: link 'core.html#gone': no id 'gone'" in capsys.readouterr().err


def test_api_members_are_the_ones_a_module_defines():
    """``genkeras.data`` re-exports ``DataSpec``; only ``genkeras.data.spec`` documents it."""
    pytest.importorskip("sphinx")
    ext = _module("genkeras_sphinx")
    import genkeras.data
    import genkeras.data.spec
    import genkeras.run

    own = ext.own_members(genkeras.data)
    assert "load" in own and "Loader" in own
    assert "DataSpec" not in own and "digits" not in own
    assert "DataSpec" in ext.own_members(genkeras.data.spec)
    assert ext.own_members(genkeras.run) == []  # a package of re-exports documents none
    assert ext._canonical("genkeras.data.DataSpec") == "genkeras.data.spec.DataSpec"
    assert ext._canonical("genkeras.data.DataSpec.summary") == "genkeras.data.spec.DataSpec.summary"
    assert ext._canonical("genkeras.data.spec.DataSpec") is None  # already its own name
