"""At-least-once (tutorial: simple_send.py, simple_recv.py) with the connection cut.

The sender sends messages with ids 1..N and counts those the broker
accepts; when its connection drops it resends everything after the last
confirmed one. The receiver accepts each message and drops ids it has
already seen. Fault plans cut the connections mid-stream, withhold a
disposition, or restart the broker; whatever happens, every id must arrive
at least once, and the duplicates that at-least-once allows are counted.
"""

from harness.brokers.base import RESTART
from harness.expect import attach, expect, outcome
from harness.scenario import NO_FAULTS, FaultSpec, Role, Scenario
from harness.trace.patterns import Pattern, conn, frame, gt, harness
from harness.wire.faults import CutAfter, CutBeforeSettle, DelayFrames, FaultPlan, RestartAfter


def _k(count: int, fraction: float) -> int:
    return max(1, min(count, int(count * fraction)))


def cut_once(count: int) -> FaultPlan:
    return FaultPlan(
        "cut1",
        {"sender": [CutAfter("transfer", _k(count, 0.5), "sender")]},
        "cut the sender's connection after half of the transfers",
    )


def cut_three_times(count: int) -> FaultPlan:
    return FaultPlan(
        "cut3",
        {
            "sender": [
                CutAfter("transfer", _k(count, 0.25), "sender"),
                CutAfter("transfer", _k(count, 0.75), "sender"),
            ],
            "receiver": [CutAfter("transfer", _k(count, 0.5), "broker")],
        },
        "cut the sender at 1/4 and 3/4, the receiver at 1/2",
    )


def cut_before_settle(count: int) -> FaultPlan:
    return FaultPlan(
        "settle",
        {"receiver": [CutBeforeSettle(_k(count, 0.5), "receiver")]},
        "cut the receiver between a transfer and its disposition",
    )


def slow_credit(count: int) -> FaultPlan:
    return FaultPlan(
        "slow-credit",
        {"sender": [DelayFrames("flow", 1.0, src="broker", times=1)]},
        "hold the broker's first flow to the sender for 1 s: nothing may be sent before it",
    )


def restart_broker(count: int) -> FaultPlan:
    return FaultPlan(
        "restart",
        {"sender": [RestartAfter(_k(count, 0.5), "sender")]},
        "restart the broker on the same port after half of the transfers",
    )


FAULTS = (
    NO_FAULTS,
    FaultSpec("cut1", cut_once, "cut mid-stream once"),
    FaultSpec("cut3", cut_three_times, "cut three times (sender, receiver, sender)"),
    FaultSpec("settle", cut_before_settle, "cut between transfer and disposition"),
    FaultSpec("slow-credit", slow_credit, "the first credit arrives 1 s late"),
    FaultSpec("restart", restart_broker, "broker restart", needs=frozenset({RESTART})),
)

flow = Pattern(
    "at-least-once: the sender attaches, gets credit, sends; the broker accepts",
    [
        attach(src="sender", role="sender"),
        frame("flow", dst="sender", link_credit=gt(0)),
        frame("transfer", src="sender"),
        frame("disposition", dst="sender", state__type="accepted"),
    ],
    client="sender",
)


def _recovery(label: str, cause) -> Pattern:
    return Pattern(
        f"at-least-once: after the {label}'s connection is lost it reconnects, re-attaches and goes on",
        [
            cause,
            frame("open", src=label),
            attach(src=label),
            frame("transfer", src=label)
            if label == "sender"
            else frame("flow", src=label, link_credit=gt(0)),
        ],
        scope="trace",
    )


def _done_before(run, label: str, t: float) -> bool:
    """Whether the peer had finished its part before ``t`` (then a cut needs no recovery)."""
    if label == "sender":
        ids = {e.fields.get("id") for e in run.peer_events("sender", "accepted") if e.t < t}
    else:
        ids = {
            e.fields.get("id")
            for e in run.peer_events("receiver", "message")
            if e.t < t and not e.fields.get("duplicate")
        }
    return len(ids - {None}) >= run.count


def _faulted(label: str):
    """The recovery story, checked when the plan cut this peer's connection mid-work."""

    def check(run):
        if run.fault == "none":
            return []
        if run.fault == "restart":
            when = [e.t for e in run.trace if e.kind == "harness" and e.name == "broker-restart"]
            cause = harness("broker-restart")
        else:
            cuts = [
                e
                for e in run.trace
                if e.kind == "conn" and e.name == "cut" and label in (e.src, e.dst)
            ]
            when = [e.t for e in cuts]
            cause = conn("cut", src=cuts[0].src, dst=cuts[0].dst) if cuts else None
        if cause is None or not when or _done_before(run, label, when[0]):
            return []
        res = run.result(label)
        if res.get("ok") and not res.get("reconnects"):
            return []  # the cut came after the peer had what it needed (its events lag the wire)
        return expect(f"{label}-recovery", _recovery(label, cause))(run)

    return check


def _nothing_lost(run):
    n = run.count
    sent, got = run.result("sender"), run.result("receiver")
    missing = got.get("missing")
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        return f"receiver ({run.roles['receiver']}) never got {len(missing)} ids: {shown}"
    if got.get("received") != n:
        return f"receiver ({run.roles['receiver']}) got {got.get('received')} distinct ids of {n}"
    if sent.get("confirmed") != n:
        return f"sender ({run.roles['sender']}) had {sent.get('confirmed')} of {n} confirmed"
    return None


def _waited_for_credit(run):
    """slow-credit: the flow is held 1 s at the tap, so no transfer may come sooner."""
    if run.fault != "slow-credit":
        return None
    held = [e.t for e in run.trace if e.kind == "harness" and e.name == "fault"]
    sent = [
        e.t for e in run.trace if e.kind == "frame" and e.name == "transfer" and e.src == "sender"
    ]
    if held and sent and sent[0] < held[0] + 0.9:
        return (
            f"sender ({run.roles['sender']}) transferred {sent[0] - held[0]:.2f} s after "
            "its first credit was held back for 1 s: before it had any credit"
        )
    return None


def _duplicates_reported(run):
    got = run.result("receiver")
    if not isinstance(got.get("duplicates"), int):
        return f"receiver ({run.roles['receiver']}) did not report its duplicate count"
    return None


SCENARIO = Scenario(
    name="at-least-once",
    description="ids 1..N, resend unconfirmed after reconnect, drop duplicates; nothing lost",
    roles=(
        Role("sender", "send", needs=frozenset({"reconnect"})),
        Role("receiver", "receive", ready=True, needs=frozenset({"reconnect"})),
    ),
    count=1000,
    timeout=60.0,
    faults=FAULTS,
    checks=(
        expect("send-flow", flow),
        _faulted("sender"),
        _faulted("receiver"),
        outcome("nothing-lost", _nothing_lost),
        outcome("duplicates-counted", _duplicates_reported),
        outcome("credit-before-send", _waited_for_credit),
    ),
)
