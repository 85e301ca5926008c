"""Traces: the frames on the wire and the peers' events of one cell, on one clock.

The library is sans-IO apart from JSONL reading/writing: it takes lists of
``TraceEvent`` and returns text, match results and violations, so it is tested
on hand-made traces without sockets.
"""

from harness.trace.jsonl import append, read_trace, write_trace
from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent
from harness.trace.render import render_event, render_trace

__all__ = [
    "CONN",
    "FRAME",
    "HARNESS",
    "HEADER",
    "PEER",
    "TraceEvent",
    "append",
    "read_trace",
    "render_event",
    "render_trace",
    "write_trace",
]
