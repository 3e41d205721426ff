"""Checks the built HTML documentation as a reader offline would see it.

Two checks, run by tox after ``sphinx-build -b html docs BUILD``::

    python docs/check_site.py html BUILD       # tox -e docs: the files themselves
    python docs/check_site.py browser BUILD    # tox -e docs-browser: headless Chromium

``html`` reads the built files: no ``<script src>`` (or stylesheet) on any page
points at a CDN or any ``http(s)`` URL, the MathJax bundle is in ``_static``,
every example has its gallery page with a ``.py`` and an ``.ipynb`` download,
every image a page shows exists, every page shows the version, and no
command-line option lost its ``--`` to an en dash (``–epochs``).

``browser`` serves BUILD on a loopback port and loads pages in Debian's headless
Chromium (``/usr/bin/chromium`` and ``/usr/bin/chromedriver``: ``apt-get install
chromium chromium-driver``, or ``python docs/check_site.py install-chromium``
as root), with every host name but the loopback address unresolvable, so a
page that needs the network fails here as it would on a train. At a 1280-px
wide window it checks that MathJax typeset every formula of the VAE chapter
(no literal ``\\mathrm{KL}`` left), that every page loaded only loopback
resources, that no code listing or display formula of any page needs a
horizontal scroll and no table is wider than the text column, and saves a full-page
screenshot of each chapter and of one example into ``BUILD/screenshots/``.
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
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
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
const article = document.querySelector('.bd-article') || document.body;
const width = article.clientWidth;
const clipped = [...article.querySelectorAll('pre')]
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
  .map((pre) => ({
    first: pre.innerText.split('\\n')[0].slice(0, 80),
    overflow: pre.scrollWidth - pre.clientWidth,
  }));
const wide = [...article.querySelectorAll('table')]
  .filter((t) => t.getBoundingClientRect().width > width + 1)
  .map((t) => ({first: t.innerText.slice(0, 60), width: t.getBoundingClientRect().width}));
const wideMath = [...article.querySelectorAll('div.math, div.math mjx-container')]
  .filter((m) => m.scrollWidth > m.clientWidth + 1)
  .map((m) => ({first: m.textContent.trim().slice(0, 60),
                overflow: m.scrollWidth - m.clientWidth}));
const math = article.querySelectorAll('.math').length;
const typeset = article.querySelectorAll('.math mjx-container').length;
// The page's text outside code and outside MathJax's output: where TeX source is left
// only if MathJax did not typeset it.
const bare = article.cloneNode(true);
bare.querySelectorAll('code, pre, mjx-container').forEach((el) => el.remove());
const prose = bare.textContent;
const resources = performance.getEntriesByType('resource').map((r) => r.name);
return {
  width, clipped, wide, wideMath, math, typeset, resources,
  pres: article.querySelectorAll('pre').length,
  rawKL: prose.includes('\\\\mathrm{KL}'),
  height: document.documentElement.scrollHeight,
};
"""


def _screenshot(driver, path: pathlib.Path, height: int) -> None:
    """A full-page PNG via the DevTools protocol (Selenium's own shot is the viewport only)."""
    import base64

    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def check_browser(build: pathlib.Path) -> None:
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
    with _serve(build) as base:
        driver = _driver(profile)
        try:
            driver.set_script_timeout(60)
            pages = sorted(
                p.relative_to(build).with_suffix("").as_posix()
                for p in build.rglob("*.html")
                if not ({"_static", "_modules", "_sources", "screenshots"} & set(p.parts))
                and p.stem not in SKIP_PAGES
            )
            for name in pages:
                start = time.perf_counter()
                driver.get(f"{base}/{name}.html")
                state = driver.execute_async_script(_WAIT_FOR_MATHJAX)
                m = driver.execute_script(_MEASURE)
                seconds = time.perf_counter() - start
                print(
                    f"{name + '.html':36} {seconds:5.1f} s  {m['typeset']:3}/{m['math']:3} "
                    f"formulas typeset ({state}), {m['pres']:2} listings, "
                    f"{len(m['clipped'])} clipped, "
                    f"column {m['width']} px, page {m['height']} px"
                )
                for url in m["resources"]:
                    fail.check(url.startswith(base), f"{name}: loaded {url}")
                for pre in m["clipped"]:
                    fail.append(
                        f"{name}: listing {pre['first']!r} needs a horizontal scroll "
                        f"({pre['overflow']} px)"
                    )
                for formula in m["wideMath"]:
                    fail.append(
                        f"{name}: formula {formula['first']!r} is cut off or needs a horizontal "
                        f"scroll ({formula['overflow']} px)"
                    )
                for table in m["wide"]:
                    fail.append(
                        f"{name}: table {table['first']!r} is {table['width']:.0f} px, "
                        f"wider than the {m['width']} px column"
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
                if name in CHAPTERS or name == "auto_examples/vae_digits":
                    _screenshot(driver, shots / f"{name.replace('/', '-')}.png", m["height"])
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    print(f"screenshots: {', '.join(sorted(p.name for p in shots.glob('*.png')))} in {shots}")
    fail.report(f"headless Chromium on {build}")


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
    parser.add_argument("check", choices=("html", "browser", "install-chromium"))
    parser.add_argument("build", nargs="?", type=pathlib.Path, help="the HTML build folder")
    args = parser.parse_args(argv)
    if args.check == "install-chromium":
        install_chromium()
        return
    if args.build is None or not (args.build / "index.html").is_file():
        parser.error(f"{args.build} is not an HTML build folder")
    if args.check == "html":
        check_html(args.build)
    else:
        check_browser(args.build)


if __name__ == "__main__":
    main()
