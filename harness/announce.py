"""First-run work announces itself: one line on stderr with the time it took.

Why: compiling a peer, installing its packages or building a broker image
happens once per machine, inside whatever command needed it first. Without a
word the user sees an unexplained pause (or a slower first test run); with
one line they know what happened, that it cost seconds once, and where it
is kept.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["announced"]


@contextmanager
def announced(what: str, note: str = "") -> Iterator[None]:
    """Time the block; when it succeeds print ``interop: WHAT in N.N s; NOTE`` on stderr.

    A failure prints nothing here: its one-line reason travels with the exception.
    """
    started = time.monotonic()
    yield
    line = f"interop: {what} in {time.monotonic() - started:.1f} s"
    if note:
        line += f"; {note}"
    print(line, file=sys.stderr, flush=True)
