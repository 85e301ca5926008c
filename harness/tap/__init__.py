"""The I/O around :mod:`harness.wire`: the recording TCP proxy and its event loop.

``harness.wire`` is sans-IO (bytes in, frames out); this package owns the
sockets and the background thread. A ``Tap`` sits between two endpoints of
a cell, forwards bytes unchanged, decodes them with the wire codec and
applies fault rules; ``ConnCounter`` names the connections ("c1", "c2" ...)
shared by every tap of one cell.
"""

from harness.tap.proxy import LIVE_DECODE_FROM, ConnCounter, Tap

__all__ = ["LIVE_DECODE_FROM", "ConnCounter", "Tap"]
