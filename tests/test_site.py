"""The built documentation site, opened in a real browser (headless Chromium).

`mkdocs build --strict` (.ci/run) writes the site to site/; this test serves it over
http://127.0.0.1, lets Chromium render pages (JavaScript included: the maths is typeset by KaTeX
in the browser) and checks that each page shows its heading, its equations typeset (KaTeX's
elements, no KaTeX error) and its figures loaded (every <img> with naturalWidth > 0), not a blank
or an error page. It also writes a PNG screenshot of each page (to $CAI_SITE_SCREENSHOTS, or to
pytest's temporary directory) for a person to look at.

Without a built site or without Chromium the test skips and says why, except when
CAI_REQUIRE_SITE=1 (set by .ci/run after it builds the site): then it fails.

Debian's Chromium: `apt-get install -y chromium`. The figure check needs the loaded images'
sizes, which the DOM that `--dump-dom` prints does not carry; the test's server therefore appends
to every HTML page it serves a small script that writes them into a `data-` attribute of <body>
once the page has loaded (the site itself is unchanged).
"""

import functools
import http.server
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

ROOT = pathlib.Path(__file__).parent.parent
SITE = ROOT / "site"
REQUIRED = os.environ.get("CAI_REQUIRE_SITE") == "1"

# page -> (its <h1>, the fewest typeset formulas, the fewest figures)
PAGES = {
    "": ("control-as-inference", 3, 0),
    "model/": ("The model, step by step", 30, 0),
    "exact-vs-variational/": ("Exact versus variational inference", 5, 1),
    "api/tabular/": ("control_as_inference.tabular", 0, 0),
}
# an API page must document these names (mkdocstrings' headings)
API_NAMES = ["TabularMDP", "infer", "Posterior", "soft_value_iteration", "infer_summary"]

PROBE = b"""<script>
window.addEventListener("load", () => setTimeout(() => {
  const images = [...document.images].map((i) => [i.getAttribute("src"), i.naturalWidth]);
  document.body.dataset.images = JSON.stringify(images);
}, 500));
</script>"""


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"CAI_REQUIRE_SITE=1 but {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    _unavailable("no Chromium on PATH (Debian: apt-get install -y chromium)")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves site/, with PROBE appended to HTML pages."""

    def send_head(self):
        path = pathlib.Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(b"</body>", PROBE + b"</body>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return _Body(body)

    def log_message(self, *args):
        pass


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self, *args):
        data, self.data = self.data, b""
        return data

    def close(self):
        pass


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").is_file():
        _unavailable(f"no built site at {SITE} (build it: mkdocs build --strict)")
    handler = functools.partial(_Handler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> pathlib.Path:
    folder = os.environ.get("CAI_SITE_SCREENSHOTS")
    path = pathlib.Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _chrome(url: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",  # run the page's scripts (KaTeX) before dumping
            *args,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.mark.parametrize("page", list(PAGES), ids=[p.strip("/") or "index" for p in PAGES])
def test_page_renders(page, server, shots):
    heading, formulas, figures = PAGES[page]
    url = server + page
    out = _chrome(url, "--dump-dom")
    assert out.returncode == 0, f"chromium failed on {url}:\n{out.stderr[-2000:]}"
    dom = out.stdout
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", dom, flags=re.S)
    assert h1, f"{url}: no <h1>; the page starts {_text(dom)[:300]!r}"
    assert heading in _text(h1.group(1)), f"{url}: <h1> is {_text(h1.group(1))!r}"
    assert len(_text(dom)) > 500, f"{url}: almost no text: {_text(dom)[:300]!r}"
    assert "404" not in _text(h1.group(1))

    typeset = dom.count('class="katex"') + dom.count('class="katex-display"')
    assert typeset >= formulas, f"{url}: {typeset} typeset formulas, expected >= {formulas}"
    assert "katex-error" not in dom, f"{url}: KaTeX could not typeset a formula"
    untypeset = re.findall(r'class="arithmatex">\s*\\[(\[]', dom)
    assert not untypeset, f"{url}: {len(untypeset)} formulas left as TeX source"

    probe = re.search(r'data-images="([^"]*)"', dom)
    assert probe, f"{url}: the page's load event never fired (images not probed)"
    images = json.loads(probe.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    content = [(src, width) for src, width in images if "assets/" not in src]
    assert len(content) >= figures, f"{url}: {len(content)} figures, expected >= {figures}"
    broken = [src for src, width in images if width == 0]
    assert not broken, f"{url}: images that did not load: {broken}"

    if page.startswith("api/"):
        missing = [
            name for name in API_NAMES if f'id="control_as_inference.tabular.{name}"' not in dom
        ]
        assert not missing, f"{url}: API entries missing: {missing}"

    png = shots / f"{page.strip('/').replace('/', '-') or 'index'}.png"
    out = _chrome(url, f"--screenshot={png}", "--window-size=1280,2000")
    assert out.returncode == 0 and png.is_file(), f"no screenshot of {url}:\n{out.stderr[-2000:]}"
    assert png.stat().st_size > 20_000, f"{png}: {png.stat().st_size} bytes, a blank page?"


def test_error_page_is_detected(server):
    """Negative control: a page that does not exist fails the heading check."""
    dom = _chrome(server + "no-such-page/", "--dump-dom").stdout
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", dom, flags=re.S)
    assert h1 is None or "The model" not in _text(h1.group(1))
    assert 'class="katex"' not in dom


def test_strict_build_fails_on_a_raising_example(tmp_path):
    """Negative control of the build itself: a page whose executed block raises fails
    `mkdocs build --strict` (markdown-exec logs a warning; strict turns it into an error), and
    the same page with a block that runs builds. (Not with --quiet: mkdocs then drops the
    warning before strict mode counts it, and the build passes.)"""
    if importlib.util.find_spec("markdown_exec") is None:
        _unavailable("the docs extra is not installed (pip install '.[docs]')")
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: control\nstrict: true\nplugins:\n  - markdown-exec\n"
        "markdown_extensions:\n  - pymdownx.superfences\n"
    )
    page = tmp_path / "docs" / "index.md"
    build = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    for code, expected in (("print(1)", 0), ("raise RuntimeError('boom')", 1)):
        page.write_text(f'# control\n\n```python exec="on" result="text"\n{code}\n```\n')
        out = subprocess.run(build, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == expected, f"{code}: exit {out.returncode}\n{out.stderr[-2000:]}"
    assert "boom" in out.stderr
