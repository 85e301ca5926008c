"""The tables of ``interop peers`` and ``interop brokers``.

Why a module: a reason why something is unavailable can be a long sentence
(a missing header and the package that has it, a Python package and the
extra that installs it). Padded into a column it pushed every later column
out of line. Here each row keeps its short columns aligned, and a reason goes
on its own indented line below the row, whole: it often ends in a command to
copy (``pip install ...``), which a wrap would cut in two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CONTAINERS_HINT", "Row", "brokers_table", "peers_table", "render", "state"]

#: how to get the container provider's Python packages: the project's own extra
CONTAINERS_HINT = (
    "pip install 'amqp-interop[containers]', or pip install -e '.[containers]' in a clone"
)

#: the reason line's indent under the row it explains
INDENT = "    "


@dataclass(frozen=True)
class Row:
    """One line of a listing: short ``cells`` (aligned), a free-form last column, a reason."""

    cells: Sequence[str]
    description: str = ""
    #: why the thing is unavailable (None: it is available); printed on its own line
    reason: str | None = None


def render(rows: Sequence[Row]) -> str:
    """The rows as text: columns padded to their widest cell, each reason on a line below its row."""
    ncols = max((len(r.cells) for r in rows), default=0)
    widths = [
        max((len(r.cells[i]) for r in rows if i < len(r.cells)), default=0) for i in range(ncols)
    ]
    lines: list[str] = []
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r.cells)]
        lines.append("  ".join([*cells, r.description]).rstrip())
        if r.reason:
            lines.append(INDENT + " ".join(r.reason.split()))
    return "\n".join(lines) + ("\n" if lines else "")


def state(reason: str | None) -> str:
    """The state column: one word, so it never pushes the columns after it."""
    return "unavailable" if reason else "available"


def peers_table(impls: Sequence) -> str:
    """``interop peers``: name, state, version, capabilities, description; reasons below."""
    rows = []
    for impl in impls:
        reason = impl.unavailable()
        version = impl.version() if not reason else "-"
        caps = "[" + ",".join(sorted(impl.capabilities)) + "]"
        rows.append(Row([impl.name, state(reason), version, caps], impl.description, reason))
    return render(rows)


#: the spec each provider is asked about in ``interop brokers``
_EXAMPLE_SPEC = {"container": "container:rabbitmq-3.10", "url": "url:amqp://127.0.0.1:5672"}


def _embedded_variants(reason: str | None) -> list[Row]:
    """``embedded:NAME`` rows: the embedded broker with one legal behaviour changed."""
    from harness.brokers.embedded import VARIANTS

    return [Row([f"embedded:{v.name}", state(reason)], v.description) for v in VARIANTS.values()]


def brokers_table() -> str:
    """``interop brokers``: provider, state, description; reasons below; container profiles."""
    from harness.brokers import registry

    rows = []
    for name in registry.provider_names():
        try:
            prov = registry.provider(_EXAMPLE_SPEC.get(name, name))
            reason, desc = prov.unavailable(), prov.description
        except ImportError as e:
            hint = f" ({CONTAINERS_HINT})" if name == "container" else ""
            reason, desc = f"Python package missing: {e.name or e}{hint}", ""
        rows.append(Row([name, state(reason)], desc, reason))
        if name == "embedded":
            rows += _embedded_variants(reason)
    text = render(rows)
    if "container" in registry.provider_names():
        try:
            from harness.brokers.profiles import PROFILES
        except ImportError:
            return text
        text += "container profiles: " + ", ".join(sorted(PROFILES)) + "\n"
    return text
