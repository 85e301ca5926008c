"""One asyncio loop per process, on a daemon thread, for every tap.

The rest of the harness is plain blocking code (processes, pytest); the taps
need non-blocking sockets. Running them all on one background loop keeps
that split simple: callers submit coroutines and wait on the result with a
timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="interop-io", daemon=True).start()
            ready.wait(5)
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """Run ``coro`` on the I/O loop and wait at most ``timeout`` seconds for it."""
    fut = asyncio.run_coroutine_threadsafe(coro, get_loop())
    try:
        return fut.result(timeout)
    except TimeoutError:
        fut.cancel()
        raise
