"""What the HTML pages of a run share: escaping, links, the page frame and its style.

Every page is one file with its CSS inline, no scripts and no reference to
anything on the network, so a run folder can be archived and opened from
disk years later. Every text that came from a peer, a broker or the wire
(reasons, link names, addresses, bodies, tracebacks) goes through :func:`esc`,
and the output is well-formed XML as well as HTML so tools can parse it.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from .report import MARKS, xml_text

#: verdict -> (background, text colour); also the matrix cells' classes
COLOURS: dict[str, tuple[str, str]] = {
    "pass": ("#c8e6c9", "#1b5e20"),
    "fail": ("#ef9a9a", "#7f0000"),
    "error": ("#b39ddb", "#311b92"),
    "xfail": ("#fff3c4", "#6d5d00"),
    "xpass": ("#ffcc80", "#8a4b00"),
    "unsupported": ("#e0e0e0", "#424242"),
    "skipped": ("#f5f5f5", "#777777"),
}

STYLE = (
    """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100em; }
h1 { font-size: 1.5em; margin: 0 0 0.3em; }
h2 { font-size: 1.2em; margin: 1.4em 0 0.4em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: center; }
th.row { text-align: left; font-weight: normal; white-space: nowrap; }
table.facts th, table.facts td, table.details td { text-align: left; vertical-align: top; }
table.facts th { background: #f4f4f4; font-weight: 600; white-space: nowrap; }
td a { color: inherit; text-decoration: none; display: block; }
.none { color: #aaa; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.6em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; }
.summary { font-weight: bold; font-size: 1.1em; }
.chip { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.8em;
        margin: 0 0.3em 0.3em 0; font-weight: 600; }
.failure { border-left: 4px solid #c62828; padding: 0.2em 0 0.2em 0.8em; margin: 0.8em 0; }
.failure.error { border-color: #5e35b1; }
.cite { color: #555; font-size: 0.9em; }
.missing { color: #b71c1c; font-style: italic; }
.diagram, .scroll { overflow-x: auto; }
.diagram { border: 1px solid #ddd; }
table.matrix td { min-width: 3.5em; }
nav { margin-bottom: 1em; font-size: 0.9em; }
"""
    + "".join(f".v-{v} {{ background: {bg}; color: {fg}; }}\n" for v, (bg, fg) in COLOURS.items())
    + ".v-fail, .v-error, .v-xpass { font-weight: bold; }\n"
)


def esc(text: object) -> str:
    """Escape for text and attribute values (quotes too), valid in HTML and XML."""
    return escape(xml_text(text), quote=True)


def href(path: str, *, folder: bool = False) -> str:
    """A relative link: percent-encoded (cell ids contain ``>``), then escaped for the attribute."""
    if folder and not path.endswith("/"):
        path += "/"
    return esc(quote(path, safe="/#"))


def chip(verdict: str, text: str | None = None) -> str:
    """A verdict as a coloured badge: ``FAIL``, or ``text`` in the verdict's colours."""
    label = text if text is not None else MARKS.get(verdict, verdict)
    return f'<span class="chip v-{esc(verdict)}">{esc(label)}</span>'


def facts_table(rows: Iterable[tuple[str, str]]) -> list[str]:
    """A two-column table of already-escaped HTML values, rows with an empty value left out."""
    out = ['<table class="facts">']
    out += [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows if v]
    out.append("</table>")
    return out


def page(title: str, body: list[str]) -> str:
    """A whole document: doctype, inline style, the body lines."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>"]) + "\n"
