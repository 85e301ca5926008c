"""Deliberately broken peers: the harness's own proof that it catches mistakes.

Each variant breaks one rule the suite checks, and the harness's tests run
it through a real cell and expect the cell to fail naming that rule:

    broken.py send-before-credit ROLE=send  [contract options]
    broken.py ignore-dynamic     ROLE=request
    broken.py no-resend          ROLE=send
    broken.py no-detach          ROLE=hello

``send-before-credit`` cannot be built on proton (its engine holds a
transfer back until credit arrives), so it speaks AMQP itself over a raw
socket with the harness's frame encoder: SASL ANONYMOUS, open, begin,
attach, and a transfer straight after the attach, before any flow.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import peer as ref  # noqa: E402  the reference peer, subclassed below

BREAKS = ("send-before-credit", "ignore-dynamic", "no-resend", "no-detach")


class NoResend(ref.Send):
    """Forgets the tutorial's ``sent = confirmed``: after a reconnect it goes on
    from where it was, so what was in flight at the cut is never sent again."""

    def after_disconnect(self, event: Any) -> None:
        self.credit.spent(0)


class IgnoreDynamic(ref.Request):
    """Opens the dynamic receiver but puts a made-up address in ``reply_to``."""

    def on_link_opened(self, event: Any) -> None:
        super().on_link_opened(event)
        if self.reply_to is not None:
            self.reply_to = f"replies-{os.getpid()}"


class NoDetach(ref.Hello):
    """Closes the connection with its links still attached."""

    @staticmethod
    def close_cleanly(conn: Any) -> None:
        conn.close()


class RawSendBeforeCredit:
    """A minimal hand-written AMQP client that transfers before it has credit."""

    def __init__(self, opts: Any, out: ref.Output) -> None:
        self.opts, self.out = opts, out

    def run(self) -> int:
        from harness.wire import FrameDecoder, encode_frame, encode_header

        host, port = ref.check_url(self.opts.url)
        deadline = time.monotonic() + (self.opts.timeout or float("inf"))  # 0: no deadline
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError as e:
            self.out.result({"role": "send", "ok": False, "error": f"connect: {e}"})
            return ref.EXIT_FAILED
        sock.settimeout(0.5)
        decoder = FrameDecoder()

        def wait_for(name: str) -> Any:
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return None
                for item in decoder.feed(data):
                    if getattr(item, "name", None) == name:
                        return item
            return None

        sock.sendall(encode_header(3))
        wait_for("sasl_mechanisms")
        sock.sendall(encode_frame("sasl_init", {"mechanism": "ANONYMOUS"}))
        wait_for("sasl_outcome")
        # the bug: everything in one write, transfers straight after the attach,
        # without waiting for the receiver's flow (so before any credit exists)
        from proton import Message

        chunks = [
            encode_header(0),
            encode_frame("open", {"container_id": f"broken-{os.getpid()}"}),
            encode_frame(
                "begin", {"next_outgoing_id": 0, "incoming_window": 2048, "outgoing_window": 2048}
            ),
            encode_frame(
                "attach",
                {
                    "name": f"broken-sender-{os.getpid()}",
                    "handle": 0,
                    "role": "sender",
                    "target": {"address": self.opts.address},
                    "initial_delivery_count": 0,
                },
            ),
        ]
        sent = 0
        for i in range(1, self.opts.count + 1):
            payload = Message(id=i, body={"sequence": i}).encode()
            chunks.append(
                encode_frame(
                    "transfer",
                    {
                        "handle": 0,
                        "delivery_id": i - 1,
                        "delivery_tag": i.to_bytes(4, "big"),
                        "message_format": 0,
                        "settled": False,
                    },
                    payload=payload,
                )
            )
            sent += 1
        sock.sendall(b"".join(chunks))
        self.out.event(
            "link_opened", link="broken-sender", role="sender", address=self.opts.address
        )
        for i in range(1, sent + 1):
            self.out.event("sent", id=i)
        wait_for("disposition")
        sock.sendall(encode_frame("detach", {"handle": 0, "closed": True}))
        sock.sendall(encode_frame("close", {}))
        wait_for("close")
        sock.close()
        self.out.result(
            {
                "role": "send",
                "ok": True,
                "count": self.opts.count,
                "sent": sent,
                "confirmed": sent,
                "resent": 0,
                "reconnects": 0,
            }
        )
        return ref.EXIT_OK


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BREAKS:
        sys.stderr.write(f"usage: broken.py {{{','.join(BREAKS)}}} ROLE [options]\n")
        return ref.EXIT_USAGE
    which, rest = argv[0], argv[1:]
    try:
        opts = ref.parse_options(rest)
    except ref.UsageError as exc:
        ref.usage_exit(str(exc))
    out = ref.Output(quiet=opts.quiet)
    if which == "send-before-credit":
        return RawSendBeforeCredit(opts, out).run()
    cls = {"no-resend": NoResend, "ignore-dynamic": IgnoreDynamic, "no-detach": NoDetach}[which]
    return ref.run_peer(cls(opts, out))


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
