"""How an Artemis reached through ``url:`` routes a bare address: anycast or multicast.

Why probe: Artemis' answering attach looks the same whether a bare address
becomes a queue (``default-address-routing-type`` ANYCAST, the artemis
provider) or a topic (MULTICAST, what ``artemis create`` leaves), and nothing
in the open frame says which. A ``url:`` broker has no profile, so the suite
asks the broker itself: one message to a fresh address with no receiver
attached, then a receiver on it. An anycast address made a queue on the
sender's attach and keeps the message; a multicast address had no
subscription when it arrived and dropped it, so nothing comes within the
wait. The probe leaves one empty address (``interop-routing-probe-UUID``)
behind on an anycast broker whose auto-delete is off.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from proton import Message, ProtonException, Timeout
from proton.utils import BlockingConnection

__all__ = ["ANYCAST", "MULTICAST", "probe_routing"]

ANYCAST, MULTICAST = "anycast", "multicast"
#: how long an anycast queue's message may take to arrive (it is there already)
ARRIVAL_WAIT_S = 1.0


def _probe(url: str, kwargs: dict[str, Any], timeout: float) -> str:
    conn = BlockingConnection(url, timeout=timeout, **kwargs)
    try:
        address = f"interop-routing-probe-{uuid.uuid4().hex[:12]}"
        sender = conn.create_sender(address)
        sender.send(Message(body="routing probe"), timeout=timeout)
        sender.close()
        receiver = conn.create_receiver(address, credit=1)
        try:
            receiver.receive(timeout=ARRIVAL_WAIT_S)
        except Timeout:
            return MULTICAST
        receiver.accept()
        return ANYCAST
    finally:
        try:
            conn.close()
        except ProtonException:
            pass


def probe_routing(
    host: str, port: int, user: str | None, password: str | None, timeout: float = 5.0
) -> str | None:
    """``anycast`` or ``multicast``; None when the probe could not tell (an error, a stall).

    Bounded: the probe runs in a thread of its own and is given up after
    ``timeout`` plus the arrival wait (proton's close can outlive its timeout).
    """
    kwargs: dict[str, Any] = {"allow_insecure_mechs": True}
    if user is not None:
        kwargs.update(user=user, password=password or "", allowed_mechs="PLAIN")
    else:
        kwargs["allowed_mechs"] = "ANONYMOUS"
    url = f"amqp://[{host}]:{port}" if ":" in host else f"amqp://{host}:{port}"
    got: dict[str, str] = {}

    def run() -> None:
        try:
            got["routing"] = _probe(url, kwargs, timeout)
        except Exception:  # noqa: BLE001 - any failure means "not known", never a broken start
            pass

    t = threading.Thread(target=run, name=f"routing-probe-{port}", daemon=True)
    t.start()
    t.join(2 * timeout + ARRIVAL_WAIT_S)
    return got.get("routing")
