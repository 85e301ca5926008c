"""A real run's report, opened in headless Chromium: what a person sees.

Why: the pages are for people, and a page can be well-formed XML and still
show nothing useful (an SVG the browser does not draw, a highlight hidden
behind the trace, a link that leads nowhere). This runs ``interop run`` for
one passing and one failing cell (the deliberately broken peer that closes
without detaching), checks the files it leaves, then opens report.html and
the failing cell's page in Chromium: the DOM the browser built must hold the
matrix, the failing cell's link, its diagram and the highlighted step, and
the screenshots must show the verdict colours and the red band of the
failure. On a laptop without Chromium the browser tests skip with one line;
in CI (``.ci/run`` installs it) they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from harness.env import ROOT, require
from harness.matrix.results import RunResult

FAILING = "hello-world-nodetach-embedded"
PASSING = "hello-world-python-embedded"
#: verdict and highlight colours the pages use (harness.matrix.html_base, harness.trace.svg)
FAIL_RED, PASS_GREEN, BAND_RED = "ef9a9a", "c8e6c9", "ffcdd2"


def _run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command in its own process group; kill that group whatever happens."""
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"{argv[0]} still running after {timeout} s: {err[-2000:]}") from None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # helpers a browser may leave behind
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    assert proc.returncode in (0, 1), f"{argv[:3]} exited {proc.returncode}: {err[-2000:]}"
    return out


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-run") / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    broken = f"nodetach={sys.executable} peers/python/broken.py no-detach"
    argv = [sys.executable, "-m", "harness.cli", "run", "--peer", broken]
    argv += ["--peers", "python,nodetach", "--scenario", "hello-world", "--out", str(out)]
    _run(argv, timeout=120, env=env)
    return out


def test_the_run_leaves_a_report_and_a_page_with_a_diagram_per_cell(real_run: Path) -> None:
    run = RunResult.load(real_run / "results.json")
    assert {c.id: c.verdict for c in run.cells} == {FAILING: "fail", PASSING: "pass"}
    report = (real_run / "report.html").read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", report)
    for c in run.cells:
        page = (real_run / c.artifacts / "index.html").read_text()
        assert "<svg" in page and "https:" not in page and "http:" not in page
        assert f'href="{c.artifacts}/index.html"' in report


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        require("headless Chromium is not installed (Debian: apt-get install -y chromium)")
    assert path is not None
    return path


def _browse(page: Path, tmp: Path, *, screenshot: Path | None = None, height: int = 1400) -> str:
    """Open ``page`` in headless Chromium: its DOM (``--dump-dom``) or a screenshot."""
    home = tmp / "home"
    for d in ("config", "cache"):
        (home / d).mkdir(parents=True, exist_ok=True)
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu"]
    argv += ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    argv += [f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size=1280,{height}"]
    argv += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    # its singleton socket lives in TMPDIR and must have a short path: a folder of its own
    with tempfile.TemporaryDirectory(prefix="chromium-") as scratch:
        env = dict(
            os.environ,
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_CACHE_HOME=str(home / "cache"),
            TMPDIR=scratch,
        )
        return _run([*argv, page.as_uri()], timeout=90, env=env)


class _Dom(HTMLParser):
    """The elements of a dumped DOM: (tag, attributes), and the page's text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.words: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.words += data.split()

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(v in a.get(k.rstrip("_"), "").split() for k, v in attrs.items())
        ]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _pixels(png: Path) -> bytes:
    """The RGB bytes of a screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype)
        elif kind == b"IDAT":
            idat.append(body)
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    prev, out = bytearray(stride), bytearray()
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride) if kind else ():
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3)
        prev = line
    return bytes(out)


def _has(pixels: bytes, colour: str, at_least: int = 200) -> bool:
    return pixels.count(bytes.fromhex(colour)) >= at_least


def test_report_in_the_browser(real_run: Path, tmp_path: Path) -> None:
    dom = _Dom(_browse(real_run / "report.html", tmp_path))
    assert len(dom.find("table", class_="matrix")) == 1
    [failing] = [td for td in dom.find("td", class_="v-fail") if td.get("title")]  # the matrix
    assert failing["title"].startswith(f"{FAILING}: fail: [detach-before-close]")
    links = [a["href"] for a in dom.find("a") if a.get("href", "").endswith("index.html")]
    assert f"{FAILING}/index.html" in links
    assert all((real_run / unquote(h)).exists() for h in links)
    for words in ("2 cells: 1 pass, 1 fail", "amqp-interop-broker", "python-qpid-proton"):
        assert words in dom.text, words
    shot = tmp_path / "report.png"
    _browse(real_run / "report.html", tmp_path, screenshot=shot, height=900)
    pixels = _pixels(shot)
    assert _has(pixels, FAIL_RED) and _has(pixels, PASS_GREEN), "verdict colours not drawn"


def test_failing_cell_page_in_the_browser(real_run: Path, tmp_path: Path) -> None:
    page = real_run / FAILING / "index.html"
    dom = _Dom(_browse(page, tmp_path))
    assert dom.find("svg"), "no diagram"
    [spot] = dom.find("g", class_="spot-failed")
    assert {"href": f"#{spot['id']}"} in dom.find("a")
    assert "detach-before-close" in dom.text and "Based on:" in dom.text
    assert "interop run --broker embedded --cell hello-world-nodetach-embedded" in dom.text
    assert "trace.jsonl" in dom.text
    shot = tmp_path / "cell.png"
    _browse(page, tmp_path, screenshot=shot, height=2400)
    pixels = _pixels(shot)
    assert _has(pixels, BAND_RED, 2000), "the failure's red band is not on screen"
    assert _has(pixels, FAIL_RED), "the FAIL badge is not on screen"
