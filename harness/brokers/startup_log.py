"""Why a broker did not start: the line of its log that says so, and a copy that outlives the run.

A broker that exits during start-up ends its log with whatever its runtime
prints last (RabbitMQ: an Erlang crash-dump notice), which says nothing
about the cause. The cause is earlier: an unknown key in the config file, a
port in use, a missing plugin. ``why()`` picks that line by a table of
telltales (first match wins), so the reason a person reads names the cause.

The broker's own folder is removed with it, so ``keep()`` copies the log to
the cache folder (``.cache/broker-logs/``, the newest 20 kept) and the
reason gives that path.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from harness.env import cache_dir

__all__ = ["KEEP", "TELLTALES", "describe", "keep", "why"]

#: how many start-up logs stay in the cache folder
KEEP = 20

#: lines that say why a start failed, most telling first
TELLTALES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"You've tried to set .*, but there is no setting with that name",  # rabbitmq.conf key
        r"Conf file attempted to set unknown variable",
        r"Plugin .* not found|plugins? .*(missing|not found)",
        r"(?i)eaddrinuse|address already in use",
        r"(?i)permission denied|eacces",
        r"Error during startup: .*",
        r"(?i)\bfatal\b|exception in thread",
    )
)

#: a RabbitMQ/Erlang log prefix: "2026-12-05 06:41:34.128523+00:00 [error] <0.153.0> "
_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:.]+\S*\s+\[\w+\]\s+(<[\d.]+>\s+)?")


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines():
        line = _PREFIX.sub("", raw.strip()).strip()
        if line and not line.startswith("==>"):
            out.append(line)
    return out


def why(text: str) -> str:
    """The one line of a start-up log that says why the broker stopped (at most 200 characters).

    The first line matching the most telling pattern; else the first ``[error]``
    line; else the last line.
    """
    lines = _lines(text)
    if not lines:
        return "no output"
    for pattern in TELLTALES:
        for line in lines:
            if pattern.search(line):
                return line[:200]
    errors = [
        _PREFIX.sub("", raw.strip()).strip()
        for raw in text.splitlines()
        if "[error]" in raw and _PREFIX.sub("", raw.strip()).strip()
    ]
    return (errors[0] if errors else lines[-1])[:200]


def keep(name: str, text: str) -> Path | None:
    """Copy a failed start's log into the cache folder; its path, or None if it cannot be written."""
    folder = cache_dir() / "broker-logs"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "broker"
    path = folder / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        old = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        return None
    return path


def describe(name: str, text: str) -> str:
    """``WHY (log: PATH)``: the telling line and where the whole log was kept."""
    path = keep(name, text) if text.strip() else None
    return why(text) + (f" (log: {path})" if path is not None else "")
