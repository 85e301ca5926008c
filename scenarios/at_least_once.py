"""At-least-once (tutorial: simple_send.py, simple_recv.py) with the connection cut.

The sender sends messages with ids 1..N and counts those the broker
accepts; when its connection drops it resends everything after the last
confirmed one. The receiver accepts each message and drops ids it has
already seen. Fault plans cut the connections mid-stream, withhold a
disposition, or restart the broker; whatever happens, every id must arrive
at least once, and the duplicates that at-least-once allows are counted.
"""

from harness.capabilities import RESTART
from harness.expect import attach, expect, outcome
from harness.fault_plans import NO_FAULTS, FaultPlan, spread_cuts
from harness.scenario import Role, Scenario
from harness.trace.basis import BROKER, context, spec, tutorial
from harness.trace.patterns import Pattern, conn, frame, gt, harness, present
from harness.wire.faults import CutAfter, CutBeforeSettle, DelayFrames, RestartAfter

#: how long slow-credit holds the broker's first flow to the sender: a sender that does not
#: wait for credit sends within milliseconds of its attach, so a fraction of a second shows it
CREDIT_DELAY_S = 0.3


def _k(count: int, fraction: float) -> int:
    return max(1, min(count, int(count * fraction)))


FAULTS = (
    NO_FAULTS,
    FaultPlan(
        "cut1",
        "cut the sender's connection after half of the transfers",
        rules=lambda n: {"sender": [CutAfter("transfer", _k(n, 0.5), "sender")]},
        cuts=frozenset({"sender"}),
        duplicates_allowed=True,
    ),
    FaultPlan(
        "cut3",
        "cut the sender at 1/4 and 3/4, the receiver at 1/2",
        rules=lambda n: {
            "sender": [
                CutAfter("transfer", _k(n, 0.25), "sender"),
                CutAfter("transfer", _k(n, 0.75), "sender"),
            ],
            "receiver": [CutAfter("transfer", _k(n, 0.5), "broker")],
        },
        cuts=frozenset({"sender", "receiver"}),
        duplicates_allowed=True,
    ),
    FaultPlan(
        "settle",
        "cut the receiver between a transfer and its disposition",
        rules=lambda n: {"receiver": [CutBeforeSettle(_k(n, 0.5), "receiver")]},
        cuts=frozenset({"receiver"}),
        duplicates_allowed=True,
    ),
    FaultPlan(
        "slow-credit",
        f"hold the broker's first flow to the sender for {CREDIT_DELAY_S:g} s: "
        "nothing may be sent before it",
        rules=lambda n: {"sender": [DelayFrames("flow", CREDIT_DELAY_S, src="broker", times=1)]},
        credit_delay_s=CREDIT_DELAY_S,
    ),
    FaultPlan(
        "restart",
        "restart the broker on the same port after half of the transfers",
        rules=lambda n: {"sender": [RestartAfter(_k(n, 0.5), "sender")]},
        needs=frozenset({RESTART}),
        restarts_broker=True,
        duplicates_allowed=True,
    ),
)

#: cuts of the long run, and the message count it is meant for
LONG_CUTS, LONG_COUNT = 20, 100_000

#: The long at-least-once run (scripts/bench_long.py): 20 cuts spread evenly over the
#: run, sender and receiver taking turns. Not in FAULTS, so never in the default
#: matrix: at 100,000 messages a cell takes minutes.
LONG = FaultPlan(
    "long",
    f"{LONG_CUTS} cuts spread over the run, sender and receiver taking turns",
    rules=lambda n: spread_cuts(n, LONG_CUTS, {"sender": "sender", "receiver": "broker"}),
    cuts=frozenset({"sender", "receiver"}),
    duplicates_allowed=True,
    count=LONG_COUNT,
    timeout=1800.0,
)

SEND, RECV = "simple_send.py", "simple_recv.py"

# The broker must settle what the sender sent unsettled (2.6.12); which outcome
# it gives is its own business as far as the spec goes (the outcome checks count
# what was confirmed).
flow = Pattern(
    "at-least-once: the sender attaches, gets credit, sends; the broker settles",
    [
        attach(src="sender", role="sender").because(
            tutorial(SEND, "the sender attaches to the queue", "sender")
        ),
        frame("flow", dst="sender", link_credit=gt(0)).because(spec("2.6.7", BROKER)),
        frame("transfer", src="sender").because(tutorial(SEND, "messages are sent", "sender")),
        frame("disposition", dst="sender", role="receiver", state=present()).because(
            spec("2.6.12", BROKER)
        ),
    ],
    client="sender",
)

_RESUME = {
    "sender": tutorial(SEND, "after a reconnect it sends again what was not confirmed", "sender"),
    "receiver": tutorial(RECV, "after a reconnect it grants credit again", "receiver"),
}


def _recovery(label: str, cause) -> Pattern:
    tool = SEND if label == "sender" else RECV
    return Pattern(
        f"at-least-once: after the {label}'s connection is lost it reconnects, re-attaches and goes on",
        [
            cause.because(context("the fault plan took the connection away")),
            frame("open", src=label).because(tutorial(tool, "it reconnects", label)),
            attach(src=label).because(tutorial(tool, "it attaches its link again", label)),
            (
                frame("transfer", src=label)
                if label == "sender"
                else frame("flow", src=label, link_credit=gt(0))
            ).because(_RESUME[label]),
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


def _lost_at(run, label: str, t: float) -> float:
    """When the peer's connection actually went: its first connection to close at or after ``t``.

    A restart is noted when the harness asks for it; a container's broker may go on
    answering for a while after that.
    """
    for e in run.story:
        if e.t >= t and e.kind == "conn" and e.name in ("close", "cut") and label in (e.src, e.dst):
            return e.t
    return t


def _done_on_wire(run, label: str, t: float) -> bool:
    """Whether, on the wire before ``t``, every id was accepted from the sender (``label`` sender)
    or delivered to the receiver. The peer's own events lag the wire by the time its output
    takes to be read, so a peer done just before a cut can look undone by them."""
    ids: set = set()
    sent: dict[tuple[str | None, object], object] = {}
    for e in run.trace:
        if e.t >= t:
            break
        if e.kind != "frame":
            continue
        msg_id = (e.fields.get("message") or {}).get("id") if e.name == "transfer" else None
        if label == "receiver" and e.name == "transfer" and e.dst == "receiver":
            ids.add(msg_id)
        elif label == "sender" and e.name == "transfer" and e.src == "sender":
            sent[(e.conn, e.fields.get("delivery_id"))] = msg_id
        elif label == "sender" and e.name == "disposition" and e.dst == "sender":
            state = e.fields.get("state") or {}
            first = e.fields.get("first")
            last = e.fields.get("last")
            if state.get("type") == "accepted" and isinstance(first, int):
                for d in range(first, (last if isinstance(last, int) else first) + 1):
                    ids.add(sent.get((e.conn, d)))
    ids.discard(None)
    return len(ids) >= run.count


def _faulted(label: str):
    """The recovery story, checked when the plan cut this peer's connection mid-work."""

    def check(run):
        if not run.plan.loses_connection(label):
            return []
        if run.plan.restarts_broker:
            when = [e.t for e in run.story if e.kind == "harness" and e.name == "broker-restart"]
            cause = harness("broker-restart")
        else:
            cuts = [
                e
                for e in run.story
                if e.kind == "conn" and e.name == "cut" and label in (e.src, e.dst)
            ]
            when = [e.t for e in cuts]
            cause = conn("cut", src=cuts[0].src, dst=cuts[0].dst) if cuts else None
        if cause is None or not when or _done_before(run, label, when[0]):
            return []
        failures = expect(f"{label}-recovery", _recovery(label, cause))(run)
        if not failures:
            return []  # it recovered: whether it had to is moot (and costs a read of the wire)
        if _done_on_wire(run, label, _lost_at(run, label, when[0])):
            return []  # done when the connection went, though its events came a little later
        res = run.result(label)
        if res.get("ok") and not res.get("reconnects"):
            return []  # the cut came after the peer had what it needed (its events lag the wire)
        return failures

    check.rule = f"{label}-recovery"  # type: ignore[attr-defined]
    # for the audit and the docs: the story as a cut tells it (a restart starts it alike)
    check.patterns = (_recovery(label, conn("cut")),)  # type: ignore[attr-defined]
    return check


def _nothing_lost(run):
    """Every id arrived and was confirmed; what is missing is attributed from the wire."""
    n = run.count
    sent, got = run.result("sender"), run.result("receiver")
    missing = got.get("missing")
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        side, where = _lost_where(run, missing)
        return side, (
            f"receiver ({run.roles['receiver']}) never got {len(missing)} ids: {shown}; {where}"
        )
    if got.get("received") != n:
        return "receiver", (
            f"receiver ({run.roles['receiver']}) got {got.get('received')} distinct ids of {n}"
        )
    if sent.get("confirmed") != n:
        return (
            "sender",
            f"sender ({run.roles['sender']}) had {sent.get('confirmed')} of {n} confirmed",
        )
    return None


def _lost_where(run, missing) -> tuple[str, str]:
    """Who lost the ``missing`` ids, as the trace shows: (side, what happened to them)."""
    want = {str(i) for i in missing}
    sent, delivered = set(), set()
    for e in run.trace:
        if e.kind == "frame" and e.name == "transfer":
            key = str(e.get("message__id"))
            if key in want and e.src == "sender":
                sent.add(key)
            elif key in want and e.dst == "receiver":
                delivered.add(key)
    accepted = {str(e.fields.get("id")) for e in run.peer_events("sender", "accepted")} & want
    if delivered:
        return "receiver", (
            f"{len(delivered)} of them were transferred to the receiver, which did not count them"
        )
    if accepted:
        return BROKER, (
            f"the broker accepted {len(accepted)} of them from the sender and never "
            "transferred them to the receiver"
        )
    if sent:
        return "sender", (
            f"the sender transferred {len(sent)} of them, got no acceptance and did not "
            "send them again until confirmed"
        )
    return "sender", "the sender never transferred them"


def _waited_for_credit(run):
    """A plan that holds the first credit back: no transfer may come sooner (2.6.7)."""
    delay = run.plan.credit_delay_s
    if delay <= 0:
        return None
    held = [e.t for e in run.story if e.kind == "harness" and e.name == "fault"]
    first = next(  # the first transfer follows a story event (an attach): in the story
        (
            e.t
            for e in run.story
            if e.kind == "frame" and e.name == "transfer" and e.src == "sender"
        ),
        None,
    )
    if held and first is not None and first < held[0] + 0.9 * delay:
        return (
            f"sender ({run.roles['sender']}) transferred {first - held[0]:.2f} s after "
            f"its first credit was held back for {delay:g} s: before it had any credit"
        )
    return None


def _duplicates_reported(run):
    """The receiver reports how many duplicates it dropped."""
    got = run.result("receiver")
    if not isinstance(got.get("duplicates"), int):
        return f"receiver ({run.roles['receiver']}) did not report its duplicate count"
    return None


def _no_duplicates_without_loss(run):
    """Under a plan that allows no duplicates, nothing may arrive twice unless a peer resent.

    An accepted delivery is consumed (AMQP 1.0 part 3, 3.4.2): a broker that hands
    the same id out again on a connection that was never lost deviates, unless the
    sender itself sent it twice (a resend after a reconnect the plan did not cause).
    """
    if run.plan.duplicates_allowed:
        return None
    got, sent = run.result("receiver"), run.result("sender")
    dups = got.get("duplicates")
    if not isinstance(dups, int) or dups == 0:
        return None
    if sent.get("resent") or sent.get("reconnects") or got.get("reconnects"):
        return None
    return (
        f"receiver ({run.roles['receiver']}) got {dups} duplicate ids under plan "
        f"{run.plan.name}, which loses no connection, and the sender resent none: "
        "the broker delivered accepted messages again"
    )


SCENARIO = Scenario(
    name="at-least-once",
    description="ids 1..N, resend unconfirmed after reconnect, drop duplicates; nothing lost",
    roles=(
        Role("sender", "send", needs=frozenset({"reconnect"})),
        Role("receiver", "receive", ready=True, needs=frozenset({"reconnect"})),
    ),
    # the tutorial's simple_send and simple_recv default (-m 100): every plan cuts at a
    # fraction of N on the wire, so 100 transfers still put each cut mid-stream; scale is
    # the long plan's and --count's business
    count=100,
    timeout=60.0,
    faults=FAULTS,
    opt_in_faults=(LONG,),
    checks=(
        expect("send-flow", flow),
        _faulted("sender"),
        _faulted("receiver"),
        outcome("nothing-lost", _nothing_lost, spec("3.4", "receiver")),
        outcome(
            "duplicates-counted",
            _duplicates_reported,
            tutorial(RECV, "duplicates are dropped and counted", "receiver"),
        ),
        outcome("no-duplicates-without-loss", _no_duplicates_without_loss, spec("3.4.2", BROKER)),
        outcome("credit-before-send", _waited_for_credit, spec("2.6.7", "sender")),
    ),
    # the receiver asks for unsettled deliveries: a pre-settled one is lost with a cut
    extra_invariants=frozenset({"detach-before-close", "unsettled-receive"}),
)
