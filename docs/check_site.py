"""Checks the built HTML documentation as a reader offline would see it.

Three checks, run by tox after ``sphinx-build -b html docs BUILD``::

    python docs/check_site.py html BUILD       # tox -e docs: the files themselves
    python docs/check_site.py links BUILD      # tox -e docs: every link inside the site
    python docs/check_site.py browser BUILD    # tox -e docs-browser: headless Chromium

``html`` reads the built files: no ``<script src>`` (or stylesheet) on any page
points at a CDN or any ``http(s)`` URL, the MathJax bundle is in ``_static``,
every example has its gallery page with a ``.py`` and an ``.ipynb`` download,
every image a page shows exists, every page shows the version, no
command-line option lost its ``--`` to an en dash (``–epochs``).

``links`` follows every ``<a href>`` that stays inside the site, on every page
including the highlighted module sources: the file must exist and its
``#anchor`` must be an ``id`` of the target page (the ``[source]`` and ``[docs]``
links between the API pages and the sources, the tables of contents,
cross-references, downloads). It fails, naming the page and the link, on a
broken one. External links are counted, not followed (the build is offline).

``browser`` serves BUILD on a loopback port and loads every page in Debian's
headless Chromium (``/usr/bin/chromium`` and ``/usr/bin/chromedriver``:
``apt-get install chromium chromium-driver``, or ``python docs/check_site.py
install-chromium`` as root), with every host name but the loopback address
unresolvable, so a page that needs the network fails here as it would on a
train. It measures the header at 1024, 1280 and 1440 px (one row), then loads
every page at 1280 px and at a 390-px phone width and checks that: MathJax
typeset every formula (no literal ``\\mathrm{KL}`` left), only loopback
resources were loaded, no word is broken inside a table cell (a break after a
hyphen or a slash is a break between words), a table wider than the column
scrolls in its own container, a display formula wider than the column scrolls
instead of being cut off, the page never scrolls sideways, every figure has a
gap below it; at 1280 px also that no code listing needs a horizontal scroll,
the left sidebar links every page of the root toctree, and a jump to each of
the first headings of the page puts the heading below the sticky header. It
saves a full-page screenshot of every page at both widths into
``BUILD/screenshots/1280/`` and ``BUILD/screenshots/390/`` (``--pages REGEX``
and ``--no-screenshots`` narrow a run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html.parser
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
CHAPTERS = ("autoregressive", "vae", "gans")
#: Pages the browser check loads: all but the indexes and the highlighted module sources.
SKIP_PAGES = ("genindex", "search", "py-modindex")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 900)


class _Page(html.parser.HTMLParser):
    """Collects what the checks need from one HTML file."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or "") and attrs.get("href"):
            self.stylesheets.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(path: pathlib.Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _remote(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url, re.I)) or "cdn." in url.lower()


class Failures(list):
    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.append(message)
        return ok

    def report(self, what: str) -> None:
        if self:
            print(f"{what}: {len(self)} problem(s)", file=sys.stderr)
            for line in self:
                print(f"  - {line}", file=sys.stderr)
            raise SystemExit(1)
        print(f"{what}: all checks passed")


#: Folders of a build that hold no pages a reader follows links from.
_NOT_PAGES = {"_static", "_sources", "_images", "_downloads", "screenshots", ".chromium-profile"}
#: Link schemes that leave the site (not checked: the build is offline).
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|//)", re.I)


def site_pages(build: pathlib.Path) -> list[pathlib.Path]:
    """Every HTML page of a build a reader can land on (module sources included)."""
    return sorted(
        p for p in build.rglob("*.html") if not (_NOT_PAGES & set(p.relative_to(build).parts))
    )


def check_links(build: pathlib.Path) -> tuple[dict[str, int], list[str]]:
    """Checks every relative link and anchor of the site.

    Every ``<a href>`` that stays inside the site (no scheme such as ``https:``
    or ``mailto:``) must name a file of the build, and its ``#anchor``, if any,
    must be an ``id`` (or ``<a name>``) of the target page: ``[docs]`` and
    ``[source]`` back-links, the in-page tables of contents, cross-references,
    gallery downloads, footnotes. External links are counted, not followed.

    Returns:
        ``(counts, problems)``: how many links of each kind were seen
        (``pages``, ``internal``, ``anchors``, ``external``), and one line per
        broken link naming the page, the link and what is missing.
    """
    build = build.resolve()
    pages = site_pages(build)
    parsed: dict[pathlib.Path, _Page] = {}

    def page(path: pathlib.Path) -> _Page:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    counts = {"pages": len(pages), "internal": 0, "anchors": 0, "external": 0}
    problems = []
    for path in pages:
        name = path.relative_to(build).as_posix()
        for href in page(path).links:
            if _EXTERNAL.match(href):
                counts["external"] += 1
                continue
            counts["internal"] += 1
            target_part, _, anchor = href.partition("#")
            target_part = urllib.parse.unquote(target_part.split("?")[0])
            anchor = urllib.parse.unquote(anchor)
            target = (path.parent / target_part).resolve() if target_part else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.is_relative_to(build):
                problems.append(f"{name}: link {href!r} points to a missing file")
                continue
            if not anchor:
                continue
            counts["anchors"] += 1
            if target.suffix != ".html":
                problems.append(f"{name}: link {href!r} has an anchor into a non-HTML file")
            elif anchor not in page(target).ids:
                where = target.relative_to(build).as_posix()
                problems.append(f"{name}: link {href!r}: no id {anchor!r} in {where}")
    return counts, problems


def links_main(build: pathlib.Path) -> None:
    """``check_site.py links BUILD``: the link check alone, failing on a broken link."""
    counts, problems = check_links(build)
    fail = Failures(problems)
    fail.report(
        f"links of {build}: {counts['internal']} inside the site ({counts['anchors']} with an "
        f"anchor) on {counts['pages']} pages checked, {counts['external']} external not followed"
    )


def check_html(build: pathlib.Path) -> None:
    """The checks on the built files (see the module docstring)."""
    fail = Failures()
    pages = sorted(p for p in build.rglob("*.html") if "_static" not in p.parts)
    fail.check(len(pages) > 10, f"only {len(pages)} HTML pages in {build}")
    options = (build / "_static/documentation_options.js").read_text()
    version = re.search(r"VERSION: '([^']+)'", options)
    version = version.group(1) if version else "?"
    for path in pages:
        name = path.relative_to(build).as_posix()
        page = _parse(path)
        text = "".join(page.text)
        for src in page.scripts:
            fail.check(not _remote(src), f"{name}: <script src={src!r}> needs the network")
        for href in page.stylesheets:
            fail.check(not _remote(href), f"{name}: stylesheet {href!r} needs the network")
        for src in page.images:
            if not _remote(src) and not src.startswith("data:"):
                target = (path.parent / src.split("#")[0]).resolve()
                fail.check(target.is_file(), f"{name}: image {src} is missing")
        if name not in ("genindex.html", "search.html", "py-modindex.html"):
            fail.check(f"genkeras {version}" in text, f"{name}: the version {version} is not shown")
        # An en dash glued to a word is an option whose "--" smart quotes ate.
        for match in re.finditer(r"\S*–[a-z][\w-]*", text):
            fail.append(f"{name}: {match.group(0)!r} (an option's -- turned into an en dash)")

    mathjax = build / "_static/mathjax/tex-chtml.js"
    fail.check(mathjax.is_file(), f"the MathJax bundle {mathjax} is missing")
    fonts = build / "_static/mathjax/output/chtml/fonts/woff-v2"
    fail.check(any(fonts.glob("*.woff")), f"MathJax's fonts are missing from {fonts}")
    vae = _parse(build / "vae.html")
    fail.check(
        any(src.split("?")[0].endswith("_static/mathjax/tex-chtml.js") for src in vae.scripts),
        f"vae.html does not load the bundled MathJax: {vae.scripts}",
    )

    cli = "".join(_parse(build / "cli.html").text)
    fail.check("--epochs" in cli, "cli.html does not contain '--epochs'")
    fail.check("–epochs" not in cli, "cli.html contains '–epochs' (an en dash)")

    notebooks = {}
    for name in EXAMPLES:
        path = build / "auto_examples" / f"{name}.html"
        if not fail.check(path.is_file(), f"no gallery page for examples/{name}.py"):
            continue
        page = _parse(path)
        for ext in ("py", "ipynb"):
            links = [h for h in page.links if h.endswith(f"/{name}.{ext}")]
            if fail.check(len(links) >= 1, f"{path.name}: no .{ext} download"):
                target = (path.parent / links[0]).resolve()
                fail.check(target.is_file(), f"{path.name}: download {links[0]} is missing")
                if ext == "ipynb":
                    notebooks[name] = target
        shown = [src for src in page.images if "sphx_glr_" in src]
        fail.check(bool(shown), f"{path.name}: shows no figure made by the example")
    downloads = sorted(p.stem for p in (build / "_downloads").rglob("*.ipynb"))
    fail.check(
        downloads == EXAMPLES,
        f"expected one .ipynb download per example {EXAMPLES}, found {downloads}",
    )
    fail.report(f"built HTML in {build} ({len(pages)} pages, {len(notebooks)} notebooks)")


# -- the browser check ------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def _serve(build: pathlib.Path):
    """Serves ``build`` on ``127.0.0.1`` (an ephemeral port) for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _driver(profile: pathlib.Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        # No network but loopback: every other host name fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const started = Date.now();
if (!document.querySelector('.math')) { done('no math'); return; }
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), (e) => done('error: ' + e));
  } else if (Date.now() - started > 20000) {
    done('MathJax never started');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

_MEASURE = """
const phone = arguments[0];
const article = document.querySelector('.bd-article') || document.body;
const width = article.clientWidth;
const header = document.querySelector('.bd-header');
const headerBox = header ? header.getBoundingClientRect() : {height: 0, bottom: 0};
// The header's rows: the distinct vertical positions of its visible links and buttons.
const headerItems = header ? [...header.querySelectorAll('a, button, input')].filter((el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
}) : [];
const rowTops = [];
for (const el of headerItems) {
  const r = el.getBoundingClientRect();
  const middle = (r.top + r.bottom) / 2;
  if (!rowTops.some((t) => Math.abs(t - middle) < 12)) rowTops.push(middle);
}
const clipped = [...article.querySelectorAll('pre')]
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
  .map((pre) => ({
    first: pre.innerText.split('\\n')[0].slice(0, 80),
    overflow: pre.scrollWidth - pre.clientWidth,
  }));
// A table wider than the column must scroll inside its own container.
const wide = [...article.querySelectorAll('table')]
  .filter((t) => t.getBoundingClientRect().width > width + 1)
  .map((t) => {
    let box = t.parentElement;
    const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    while (box && box !== article && !scrolls(box)) {
      box = box.parentElement;
    }
    return {first: t.innerText.slice(0, 60), width: t.getBoundingClientRect().width,
            scrolls: Boolean(box && box !== article)};
  });
// Display formulas: wider than their box must mean a scroll bar, never a clipped formula.
const wideMath = [...article.querySelectorAll('div.math, mjx-container[display="true"]')]
  .filter((m) => m.scrollWidth > m.clientWidth + 1)
  .map((m) => ({first: m.textContent.trim().slice(0, 60),
                overflow: m.scrollWidth - m.clientWidth,
                scrolls: ['auto', 'scroll'].includes(getComputedStyle(m).overflowX)}));
// Words broken inside a table cell: a word whose letters sit on two lines, except
// where the line breaks after a hyphen or a slash (the browser's ordinary places).
const split = [];
for (const cell of article.querySelectorAll('td, th')) {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const re = /\\S+/g;
    for (let m = re.exec(node.textContent); m; m = re.exec(node.textContent)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
        .map((r) => Math.round(r.top)));
      if (tops.size < 2) continue;
      let at = -1;  // the first character on the next line
      let previous = null;
      for (let i = 0; i < m[0].length; i++) {
        const one = document.createRange();
        one.setStart(node, m.index + i);
        one.setEnd(node, m.index + i + 1);
        const r = [...one.getClientRects()].filter((q) => q.width > 0)[0];
        if (!r) continue;
        if (previous !== null && Math.abs(r.top - previous) > 2) { at = i; break; }
        previous = r.top;
      }
      if (at > 0 && '-/'.includes(m[0][at - 1])) continue;
      split.push(at > 0 ? m[0].slice(0, at) + '/' + m[0].slice(at) : m[0]);
    }
  }
}
// Figures: a gap below each (its caption included) before the next block.
const tight = [];
for (const figure of article.querySelectorAll('figure')) {
  const next = figure.nextElementSibling;
  if (!next) continue;
  const gap = next.getBoundingClientRect().top - figure.getBoundingClientRect().bottom
    + parseFloat(getComputedStyle(next).marginTop || 0) * 0;
  if (gap < 12) tight.push({src: (figure.querySelector('img') || {}).src || '', gap});
}
// The smallest displayed image (width in px), to spot unreadable figures.
const images = [...article.querySelectorAll('img')].map((img) => ({
  src: img.getAttribute('src'), shown: img.getBoundingClientRect().width,
  natural: img.naturalWidth}));
const math = article.querySelectorAll('.math').length;
const typeset = article.querySelectorAll('.math mjx-container').length;
// The page's text outside code and outside MathJax's output: where TeX source is left
// only if MathJax did not typeset it.
const bare = article.cloneNode(true);
bare.querySelectorAll('code, pre, mjx-container').forEach((el) => el.remove());
const prose = bare.textContent;
const resources = performance.getEntriesByType('resource').map((r) => r.name);
const sidebar = document.querySelector('.bd-sidebar-primary');
const sidebarShown = Boolean(sidebar && sidebar.getBoundingClientRect().width > 0
  && getComputedStyle(sidebar).visibility !== 'hidden');
const sidebarLinks = sidebar ? [...sidebar.querySelectorAll('a.reference.internal')]
  .map((a) => a.getAttribute('href')) : [];
// Where a link lands: the first headings, and the first API entries (``dt`` ids).
const anchors = [
  ...[...article.querySelectorAll('section[id] > h2, section[id] > h3')]
    .slice(0, 6).map((h) => h.parentElement.id),
  ...[...article.querySelectorAll('dl.py > dt[id]')].slice(0, 3).map((dt) => dt.id),
];
return {
  width, clipped, wide, wideMath, math, typeset, resources, split, tight, images,
  sidebarShown, sidebarLinks, anchors,
  header: headerBox.height, headerBottom: headerBox.bottom, headerRows: rowTops.length,
  pres: article.querySelectorAll('pre').length,
  rawKL: prose.includes('\\\\mathrm{KL}'),
  height: document.documentElement.scrollHeight,
  pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
};
"""

#: Scrolls to ``#id`` as a link would and returns where its heading lands, below the header.
_LAND = """
const id = arguments[0];
location.hash = '#' + encodeURIComponent(id);
const target = document.getElementById(id);
const heading = target.tagName === 'SECTION' ? target.querySelector('h1, h2, h3, h4') : target;
const header = document.querySelector('.bd-header');
return {top: heading.getBoundingClientRect().top,
        headerBottom: header ? header.getBoundingClientRect().bottom : 0};
"""

#: Window widths (px) the reader check uses: a laptop, and a phone.
DESKTOP, PHONE = 1280, 390
#: Widths at which the header's rows and height are measured.
HEADER_WIDTHS = (1024, 1280, 1440)


def _set_width(driver, width: int, height: int = 900) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _screenshot(driver, path: pathlib.Path, width: int, height: int) -> None:
    """A full-page PNG via the DevTools protocol (Selenium's own shot is the viewport only)."""
    import base64

    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 30000), "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def _load(driver, url: str) -> str:
    driver.get(url)
    return driver.execute_async_script(_WAIT_FOR_MATHJAX)


def _top_pages(build: pathlib.Path) -> list[str]:
    """The pages of the root toctree (what the sidebar must link on every page)."""
    text = (build / "index.html").read_text(encoding="utf-8")
    body = text.split('<article class="bd-article"', 1)[-1]
    found = re.findall(
        r'<li class="toctree-l1[^"]*"><a class="reference internal" href="([^"#]+)"', body
    )
    return sorted(set(found))


def check_browser(build: pathlib.Path, shots_too: bool = True, only: str = "") -> None:
    """The checks in headless Chromium (see the module docstring)."""
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not pathlib.Path(exe).exists():
            raise SystemExit(
                f"{exe} not found: apt-get install chromium chromium-driver "
                "(or, as root: python docs/check_site.py install-chromium)"
            )
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not go online
    shots = build / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir()
    fail = Failures()
    profile = build / ".chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    top = _top_pages(build)
    totals = {"split": 0, "anchors": 0, "tight": 0, "scrolled": []}
    with _serve(build) as base:
        driver = _driver(profile)
        try:
            driver.set_script_timeout(60)
            # The header: one row at every desktop width.
            for width in HEADER_WIDTHS:
                _set_width(driver, width)
                _load(driver, f"{base}/vae.html")
                m = driver.execute_script(_MEASURE, False)
                print(f"header at {width} px: {m['header']:.0f} px, {m['headerRows']} row(s)")
                fail.check(
                    m["headerRows"] == 1,
                    f"the header has {m['headerRows']} rows at {width} px ({m['header']:.0f} px)",
                )
            pages = sorted(
                p.relative_to(build).with_suffix("").as_posix()
                for p in site_pages(build)
                if "_modules" not in p.parts and p.stem not in SKIP_PAGES
            )
            pages = [name for name in pages if re.search(only, name)]
            for width in (DESKTOP, PHONE):
                _set_width(driver, width)
                for name in pages:
                    start = time.perf_counter()
                    state = _load(driver, f"{base}/{name}.html")
                    m = driver.execute_script(_MEASURE, width == PHONE)
                    seconds = time.perf_counter() - start
                    _report_page(fail, totals, name, width, m, state, seconds, base, top)
                    if shots_too:
                        _screenshot(
                            driver,
                            shots / str(width) / f"{name.replace('/', '-')}.png",
                            width,
                            m["height"],
                        )
                    if width == DESKTOP:
                        for anchor in m["anchors"]:
                            land = driver.execute_script(_LAND, anchor)
                            totals["anchors"] += 1
                            fail.check(
                                land["top"] >= land["headerBottom"] - 1,
                                f"{name}#{anchor}: the heading lands at {land['top']:.0f} px, "
                                f"under the header (bottom {land['headerBottom']:.0f} px)",
                            )
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    print(
        f"{len(list(shots.rglob('*.png')))} screenshots in {shots}/{DESKTOP} and /{PHONE}; "
        f"{totals['split']} words split in table cells, {totals['tight']} figures without a "
        f"gap below, {totals['anchors']} anchor jumps checked"
    )
    # Not a failure: a formula wider than the column scrolls (on a phone, most do).
    desktop = [line for line in totals["scrolled"] if f" at {DESKTOP} px" in line]
    print(
        f"display formulas that scroll sideways: {len(totals['scrolled'])} "
        f"({len(desktop)} at {DESKTOP} px{': ' if desktop else ''}{'; '.join(desktop)})"
    )
    fail.report(f"headless Chromium on {build}")


def _report_page(fail, totals, name, width, m, state, seconds, base, top) -> None:
    where = f"{name} at {width} px"
    print(
        f"{name + '.html':36} {width:4} px {seconds:5.1f} s  {m['typeset']:3}/{m['math']:3} "
        f"formulas ({state}), {len(m['clipped'])}/{m['pres']} listings scroll, "
        f"{len(m['split'])} split words, column {m['width']} px, page {m['height']} px"
    )
    totals["split"] += len(m["split"])
    totals["tight"] += len(m["tight"])
    for url in m["resources"]:
        fail.check(url.startswith(base), f"{name}: loaded {url}")
    if m["split"]:
        fail.append(f"{where}: words broken inside table cells: {', '.join(m['split'][:8])}")
    fail.check(
        m["pageOverflow"] <= 1,
        f"{where}: the page scrolls sideways ({m['pageOverflow']} px wider than the window)",
    )
    for table in m["wide"]:
        fail.check(
            table["scrolls"],
            f"{where}: table {table['first']!r} is {table['width']:.0f} px, wider than the "
            f"{m['width']} px column, and does not scroll",
        )
    for formula in m["wideMath"]:
        if fail.check(
            formula["scrolls"],
            f"{where}: formula {formula['first']!r} is cut off ({formula['overflow']} px)",
        ):
            totals["scrolled"].append(
                f"{where}: {formula['first'][:40]!r} +{formula['overflow']} px"
            )
    for figure in m["tight"]:
        fail.append(f"{where}: no gap below the figure {figure['src']} ({figure['gap']:.0f} px)")
    if width == DESKTOP:
        for pre in m["clipped"]:
            fail.append(
                f"{where}: listing {pre['first']!r} needs a horizontal scroll "
                f"({pre['overflow']} px)"
            )
        fail.check(m["sidebarShown"], f"{where}: no navigation sidebar")
        linked = {urllib.parse.urljoin("/" + name, href).lstrip("/") for href in m["sidebarLinks"]}
        for page in top:
            path = urllib.parse.urljoin("/index.html", page).lstrip("/")
            fail.check(
                path in linked or path == f"{name}.html",
                f"{where}: the sidebar does not link {page} (one click from every page)",
            )
    if m["math"]:
        fail.check(state == "typeset", f"{name}: MathJax did not finish: {state}")
        fail.check(
            m["typeset"] == m["math"],
            f"{name}: {m['math'] - m['typeset']} of {m['math']} formulas not typeset",
        )
    fail.check(not m["rawKL"], f"{name}: literal \\mathrm{{KL}} text on the page")
    if name == "vae":
        fail.check(m["typeset"] > 0, "vae: no formula typeset by MathJax")


def install_chromium() -> None:
    """Installs Debian's chromium and chromium-driver if missing (needs root and apt-get)."""
    if pathlib.Path(CHROMIUM).exists() and pathlib.Path(CHROMEDRIVER).exists():
        print(f"{CHROMIUM} and {CHROMEDRIVER} are installed")
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("install Debian's chromium and chromium-driver packages (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    subprocess.run([*install, "chromium", "chromium-driver"], check=True, env=env)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("html", "links", "browser", "install-chromium"))
    parser.add_argument("build", nargs="?", type=pathlib.Path, help="the HTML build folder")
    parser.add_argument("--pages", default="", help="browser: only pages matching this regex")
    parser.add_argument(
        "--no-screenshots", action="store_true", help="browser: measure without screenshots"
    )
    args = parser.parse_args(argv)
    if args.check == "install-chromium":
        install_chromium()
        return
    if args.build is None or not (args.build / "index.html").is_file():
        parser.error(f"{args.build} is not an HTML build folder")
    if args.check == "html":
        check_html(args.build)
    elif args.check == "links":
        links_main(args.build)
    else:
        check_browser(args.build, shots_too=not args.no_screenshots, only=args.pages)


if __name__ == "__main__":
    main()
