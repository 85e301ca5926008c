#!/usr/bin/env python3
"""The pyamqp reference peer: every connecting role of peers/CONTRACT.md on the
pure-Python AMQP 1.0 stack inside azure-servicebus (``azure.servicebus._pyamqp``).

pyamqp has no reactor: a connection is pumped with ``Connection.listen`` and
the library calls back on attach, transfer and settlement. This peer runs one
loop per connection (pump, then let the role act), prints the contract's
events from those callbacks, and reconnects by itself (the library does not).
It speaks plain TCP (``use_tls=False``) with SASL ANONYMOUS, or PLAIN with
credentials. It cannot listen. Where the library falls short of the contract
the peer works around it and says so in peers/pyamqp/NOTES.md (credit is
tracked here, the remote open's container id and capabilities are kept here).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from args import USAGE, Fatal, Lost, Options, Output, UsageError, parse  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.1, 1.0


def main(argv: list[str]) -> int:
    try:
        opts = parse(argv)
    except UsageError as e:
        help_asked = str(e) == "help"
        print(USAGE if help_asked else f"{USAGE} ({e})", file=sys.stderr)
        return EXIT_OK if help_asked else EXIT_USAGE
    out = Output(opts.quiet)
    try:
        import engine  # azure-servicebus is imported here, after the arguments are good
    except ImportError as e:
        print(f"error: azure-servicebus is not installed: {e}", file=sys.stderr)
        out.last(None, {"role": opts.role, "ok": False, "error": f"missing module: {e}"})
        return EXIT_FAILED
    peer = Peer(opts, out, engine)
    return peer.run()


class Peer:
    """One run: the connection loop, the deadline, the signals, the result line."""

    def __init__(self, opts: Options, out: Output, engine: Any) -> None:
        self.opts, self.out, self.engine = opts, out, engine
        self.role = engine.make_role(self)
        self.conn_up = False
        self.ever_opened = False
        self.reconnects = 0
        self.done = False
        self.last_problem: str | None = None
        self._finish_lock = threading.Lock()

    # ------------------------------------------------------------ ending

    def finish(self, code: int, error: str | None = None, waiting_for: str | None = None) -> None:
        """Print the timeout line (if any) and the result, then exit at once."""
        if not self._finish_lock.acquire(blocking=False):
            time.sleep(3600)  # another thread is printing the result and exiting
        result: dict[str, Any] = {"role": self.opts.role, "ok": code == EXIT_OK}
        if error:
            result["error"] = " ".join(str(error).split())
        result.update(self.role.result())
        result["unreported"] = list(self.engine.UNREPORTED)
        result["options"] = self.opts.effective()
        self.out.last(waiting_for, result)
        os._exit(code)

    def waiting_for(self) -> str:
        if not self.conn_up:
            last = f" (last: {self.last_problem})" if self.last_problem else ""
            return f"the connection to {self.opts.host_port} (its AMQP open){last}"
        return self.role.waiting_for()

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        ok = self.done or self.role.countless
        self.finish(EXIT_OK if ok else EXIT_FAILED, None if ok else f"terminated by {name}")

    def _deadline(self) -> None:
        self.finish(EXIT_TIMEOUT, f"timed out after {self.opts.timeout:g} s", self.waiting_for())

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.opts.timeout > 0:
            timer = threading.Timer(self.opts.timeout, self._deadline)
            timer.daemon = True
            timer.start()
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                self.engine.Connection(self).run()
                self.finish(EXIT_OK)
            except Fatal as e:
                self.finish(EXIT_FAILED, str(e))
            except Lost as e:
                reason = " ".join(str(e).split()) or "the connection was lost"
                was_up, self.conn_up, self.last_problem = self.conn_up, False, reason
                self.out.event("disconnected", reason=reason)
                self.role.disconnected()
                if not self.opts.reconnect:
                    self.finish(EXIT_FAILED, f"disconnected: {reason}")
                if was_up:
                    backoff = FIRST_BACKOFF_S
                time.sleep(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF_S)
            except Exception as e:  # noqa: BLE001  a bug here or in pyamqp: say so, in the result
                import traceback

                traceback.print_exc()
                self.finish(EXIT_FAILED, f"internal error: {type(e).__name__}: {e}")

    def opened(self, container: str | None) -> None:
        if self.ever_opened:
            self.reconnects += 1
        self.ever_opened = self.conn_up = True
        self.last_problem = None
        self.out.event("connection_opened", container=container)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
