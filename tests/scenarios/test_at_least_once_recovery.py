"""at-least-once's recovery check on hand-made traces: when a lost connection owes a recovery.

Seen on Artemis in a container under load: the broker's restart was asked for, the
broker went on confirming for a while, the sender got every message accepted and
only then lost its connection; back, it had nothing to send, so it attached, detached
and ended at once. Its "accepted" events were read a few milliseconds after the tap
saw the connection go, so by them it looked undone, and the check asked for a transfer
it had no reason to send.
"""

from __future__ import annotations

import harness.scenarios as scenarios

from harness.scenario import CellRun, PeerRun
from tests.trace.builders import TraceBuilder

SC = scenarios.all_scenarios()["at-least-once"]
RESTART = SC.fault("restart")


def _run(tb: TraceBuilder, count: int, sender: dict) -> CellRun:
    peers = {
        "sender": PeerRun("sender", "pyamqp", [], 0, sender, []),
        "receiver": PeerRun("receiver", "java", [], 0, {"ok": True, "received": count}, []),
    }
    return CellRun(SC, RESTART, count, "q", {"sender": "pyamqp", "receiver": "java"},
                   peers, tb.events, None)  # fmt: skip


def _sender_story(events_before_loss: bool, accepted_on_wire: int, resend: bool) -> CellRun:
    tb = TraceBuilder(step=0.005)
    c = tb.conn("sender")
    c.open()
    c.attach_pair("s", "sender")
    for d in range(3):
        c.c("transfer", handle=0, delivery_id=d, message={"id": d + 1})
    tb.harness("broker-restart", rule="restart the broker after transfer #2 from sender")
    if accepted_on_wire:
        c.s("disposition", role="receiver", first=0, last=accepted_on_wire - 1,
            state={"type": "accepted"})  # fmt: skip
    if events_before_loss:
        for i in range(accepted_on_wire):
            tb.peer("sender", "accepted", id=i + 1)
    c.close(first="broker")
    if not events_before_loss:
        for i in range(accepted_on_wire):
            tb.peer("sender", "accepted", id=i + 1)  # read just after the tap saw the loss
    back = tb.conn("sender")
    back.open()
    back.c("attach", name="s", handle=1, role="sender", target={"address": "q"})
    if resend:
        back.c("transfer", handle=1, delivery_id=0, message={"id": 3})
    back.c("detach", handle=1, closed=True)
    back.c("end")
    confirmed = 3 if accepted_on_wire == 3 or resend else accepted_on_wire
    result = {"ok": confirmed == 3, "confirmed": confirmed, "reconnects": 1}
    return _run(tb, 3, result)


def _recovery_failures(run: CellRun) -> list:
    [check] = [c for c in SC.checks if getattr(c, "rule", "") == "sender-recovery"]
    return check(run)


def test_every_id_accepted_on_the_wire_before_the_loss_owes_no_resend() -> None:
    assert _recovery_failures(_sender_story(False, 3, resend=False)) == []


def test_an_id_still_unconfirmed_at_the_loss_must_be_sent_again() -> None:
    failures = _recovery_failures(_sender_story(False, 2, resend=False))
    assert failures and "sends again what was not confirmed" in str(failures[0])
    assert _recovery_failures(_sender_story(False, 2, resend=True)) == []
