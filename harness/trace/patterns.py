"""Sequence patterns: an ordered-subsequence matcher over a trace.

A scenario states the handshake it expects as a list of steps, in the order
they must happen, and the matcher finds them in the trace with anything else
allowed in between::

    hello = Pattern("hello world handshake", [
        frame("open", src="hello"),
        any_order(                               # clients pipeline: no order promised here
            frame("open", dst="hello"),
            frame("attach", src="hello", role="receiver", source__address=capture("queue")),
        ),
        frame("attach", dst="hello", role="sender"),               # the answer, then only
        frame("attach", src="hello", role="sender", target__address=ref("queue")),
        never(frame("transfer", src="hello")),   # nothing sent before the credit
        frame("flow", dst="hello", link_credit=gt(0)),
        frame("transfer", src="hello", message__body="Hello World!"),
        frame("close", src="hello"),
    ], client="hello")
    result = match(hello, events)          # per connection by default
    assert result.ok, result.explain()

Order across the two directions is only meaningful one way: a frame that the
tap saw *before* the other side's frame cannot have been caused by it. Peers
send open, begin, attach and flow without waiting for the remote open, so say
what may happen in either order with ``any_order(...)``.

Field keywords are ``__`` paths into the event's fields; a plain value must be
equal, a predicate (``gt(0)``, ``one_of(...)``, ``present()``, ``capture``,
``ref`` ...) decides otherwise. A failed match explains itself: the pattern
with a marker at the step reached, what was expected, what came instead and
where the trace stopped -- the text a person reads first when a cell fails.

Scopes: ``"connection"`` (each tapped connection on its own; the pattern must
match within one), ``"trace"`` (the whole trace in time order: stories across
reconnects) and ``"link"`` (only the frames of one link: its attaches, flows,
transfers, detaches and the dispositions of its deliveries).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent
from harness.trace.render import render_event

__all__ = [
    "AnyOrder",
    "Forbid",
    "LinkIndex",
    "LinkInfo",
    "MatchResult",
    "Never",
    "Pattern",
    "Predicate",
    "Step",
    "absent",
    "all_of",
    "any_of",
    "any_order",
    "assert_match",
    "between",
    "capture",
    "client_of",
    "conn",
    "contains",
    "forbid",
    "frame",
    "ge",
    "gt",
    "harness",
    "header",
    "index_links",
    "le",
    "lt",
    "match",
    "matches",
    "ne",
    "never",
    "nonempty",
    "not_",
    "one_of",
    "peer",
    "present",
    "ref",
]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
SCOPES = ("connection", "trace", "link")
# events examined per view before the matcher stops retrying captures at later
# positions (the first, greedy pass always completes: it is linear in the view)
_SEARCH_BUDGET = 2_000_000


# --------------------------------------------------------------------- predicates


class _Ctx:
    """Captures visible to one test: those bound earlier plus this step's new ones."""

    __slots__ = ("bound", "new")

    def __init__(self, bound: dict[str, Any]) -> None:
        self.bound = bound
        self.new: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        if name in self.new:
            return self.new[name]
        return self.bound.get(name, MISSING)


class Predicate:
    """A test on one field value, with the text it shows in explanations."""

    def __init__(self, text: str, test: Callable[[Any], bool]) -> None:
        self.text = text
        self._test = test

    def check(self, value: Any, ctx: _Ctx) -> bool:
        """Whether ``value`` passes; a missing field never passes (see ``absent()``)."""
        if value is MISSING:
            return False
        try:
            return bool(self._test(value))
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return self.text


def _equal(expected: Any, value: Any) -> bool:
    # True == 1 in Python; on the wire a bool and a number are different things
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected is value
    return bool(expected == value)


def _check(spec: Any, value: Any, ctx: _Ctx) -> bool:
    if isinstance(spec, Predicate):
        return spec.check(value, ctx)
    if value is MISSING:
        return spec is None
    return _equal(spec, value)


def _show(spec: Any) -> str:
    if isinstance(spec, Predicate):
        return spec.text
    if isinstance(spec, str) and spec and all(c.isprintable() and not c.isspace() for c in spec):
        return spec  # a bare word reads better than a quoted one in a handshake
    return repr(spec)


def gt(x: Any) -> Predicate:
    """Greater than ``x``."""
    return Predicate(f">{x!r}", lambda v: v > x)


def ge(x: Any) -> Predicate:
    """Greater than or equal to ``x``."""
    return Predicate(f">={x!r}", lambda v: v >= x)


def lt(x: Any) -> Predicate:
    """Less than ``x``."""
    return Predicate(f"<{x!r}", lambda v: v < x)


def le(x: Any) -> Predicate:
    """Less than or equal to ``x``."""
    return Predicate(f"<={x!r}", lambda v: v <= x)


def between(lo: Any, hi: Any) -> Predicate:
    """``lo <= value <= hi``."""
    return Predicate(f"in [{lo!r}, {hi!r}]", lambda v: lo <= v <= hi)


class _Ne(Predicate):
    def __init__(self, x: Any) -> None:
        super().__init__(f"!={x!r}", lambda v: True)
        self.x = x

    def check(self, value: Any, ctx: _Ctx) -> bool:
        return not _check(self.x, value, ctx)


def ne(x: Any) -> Predicate:
    """Not equal to ``x`` (a missing field is not equal)."""
    return _Ne(x)


def one_of(*values: Any) -> Predicate:
    """Equal to one of ``values``."""
    return Predicate(
        "one of (" + ", ".join(map(repr, values)) + ")",
        lambda v: any(_equal(x, v) for x in values),
    )


class _Present(Predicate):
    def __init__(self) -> None:
        super().__init__("present", lambda v: True)

    def check(self, value: Any, ctx: _Ctx) -> bool:
        return value is not MISSING and value is not None


class _Absent(Predicate):
    def __init__(self) -> None:
        super().__init__("absent", lambda v: True)

    def check(self, value: Any, ctx: _Ctx) -> bool:
        return value is MISSING or value is None


def present() -> Predicate:
    """The field is there and not null."""
    return _Present()


def absent() -> Predicate:
    """The field is missing or null (AMQP does not tell the two apart)."""
    return _Absent()


def nonempty() -> Predicate:
    """Present and not an empty string/list/map: a dynamic address, for example."""
    return Predicate("non-empty", lambda v: v is not None and (not hasattr(v, "__len__") or len(v)))


def contains(x: Any) -> Predicate:
    """A list (capabilities) or string that contains ``x``."""
    return Predicate(f"contains {x!r}", lambda v: x in v)


def matches(regex: str) -> Predicate:
    """A string matching ``regex`` (``re.search``)."""
    pat = re.compile(regex)
    return Predicate(f"~/{regex}/", lambda v: isinstance(v, str) and pat.search(v) is not None)


class _Combo(Predicate):
    def __init__(self, text: str, specs: Sequence[Any], mode: str) -> None:
        super().__init__(text, lambda v: True)
        self.specs, self.mode = list(specs), mode

    def check(self, value: Any, ctx: _Ctx) -> bool:
        if self.mode == "any":
            return any(_check(s, value, ctx) for s in self.specs)
        if self.mode == "all":
            return all(_check(s, value, ctx) for s in self.specs)
        return not _check(self.specs[0], value, ctx)


def any_of(*specs: Any) -> Predicate:
    """Any of the values/predicates holds."""
    return _Combo("any of (" + ", ".join(map(_show, specs)) + ")", specs, "any")


def all_of(*specs: Any) -> Predicate:
    """All of the values/predicates hold."""
    return _Combo("all of (" + ", ".join(map(_show, specs)) + ")", specs, "all")


def not_(spec: Any) -> Predicate:
    """The value/predicate does not hold."""
    return _Combo(f"not {_show(spec)}", [spec], "not")


class _Capture(Predicate):
    def __init__(self, name: str, spec: Any) -> None:
        extra = "" if spec is None else f", {_show(spec)}"
        super().__init__(f"capture({name}{extra})", lambda v: True)
        self.name, self.spec = name, spec

    def check(self, value: Any, ctx: _Ctx) -> bool:
        if value is MISSING:
            return False
        if self.spec is not None and not _check(self.spec, value, ctx):
            return False
        bound = ctx.lookup(self.name)
        if bound is not MISSING:
            return _equal(bound, value)
        ctx.new[self.name] = value
        return True


class _Ref(Predicate):
    def __init__(self, name: str) -> None:
        super().__init__(f"ref({name})", lambda v: True)
        self.name = name

    def check(self, value: Any, ctx: _Ctx) -> bool:
        bound = ctx.lookup(self.name)
        return bound is not MISSING and value is not MISSING and _equal(bound, value)


def capture(name: str, spec: Any = None) -> Predicate:
    """Bind the value to ``name`` on the first match (optionally also testing ``spec``);
    once bound, later uses of the same name require an equal value."""
    return _Capture(name, spec)


def ref(name: str) -> Predicate:
    """Equal to the value captured as ``name`` earlier in the pattern."""
    return _Ref(name)


# -------------------------------------------------------------------------- steps


@dataclass
class Step:
    """One expected event: its kind, name, endpoints and field tests."""

    kind: str
    name: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)  # src, dst, channel
    fields: dict[str, Any] = field(default_factory=dict)  # "__" paths

    def test(self, event: TraceEvent, bound: dict[str, Any]) -> dict[str, Any] | None:
        """New captures (possibly empty) when ``event`` fits this step, else None."""
        if event.kind != self.kind:
            return None
        ctx = _Ctx(bound)
        if self.name is not None and not _check(self.name, event.name, ctx):
            return None
        for key, spec in self.attrs.items():
            value = getattr(event, key)
            if not _check(spec, MISSING if value is None else value, ctx):
                return None
        for path, spec in self.fields.items():
            if not _check(spec, event.get(path, MISSING), ctx):
                return None
        return ctx.new

    def describe(self) -> str:
        """The step as one line of a handshake: ``frame attach src=hello role=receiver``."""
        words = [self.kind]
        attrs = dict(self.attrs)
        if self.kind == PEER:  # peer LABEL NAME reads as the peer's event line
            words.append(_show(attrs.pop("src", "*")))
        if self.name is not None:
            words.append(_show(self.name))
        for key, spec in attrs.items():
            words.append(f"{key}={_show(spec)}")
        for path, spec in self.fields.items():
            words.append(f"{path}={_show(spec)}")
        return " ".join(words)

    def __repr__(self) -> str:
        return self.describe()


def _step(kind: str, name: Any, src: Any, dst: Any, channel: Any, fields: dict) -> Step:
    attrs = {k: v for k, v in (("src", src), ("dst", dst), ("channel", channel)) if v is not None}
    return Step(kind, name, attrs, dict(fields))


def frame(
    name: Any = None, /, *, src: Any = None, dst: Any = None, channel: Any = None, **fields: Any
) -> Step:
    """A wire frame: performative ``name`` (None: any), from ``src`` to ``dst`` labels.

    ``name`` is positional only, so ``frame("attach", name="L")`` tests the link name.
    """
    return _step(FRAME, name, src, dst, channel, fields)


def header(name: Any = None, /, *, src: Any = None, dst: Any = None) -> Step:
    """A protocol header ("amqp", "sasl")."""
    return _step(HEADER, name, src, dst, None, {})


def peer(label: Any = None, name: Any = None, /, **fields: Any) -> Step:
    """A peer's event: ``peer("receiver", "message", id=1)``."""
    return _step(PEER, name, label, None, None, fields)


def conn(name: Any = None, /, *, src: Any = None, dst: Any = None, **fields: Any) -> Step:
    """A tap connection event: ``conn("cut")``, ``conn("close", by="broker")``."""
    return _step(CONN, name, src, dst, None, fields)


def harness(name: Any = None, /, **fields: Any) -> Step:
    """Something the harness did: ``harness("broker-restart")``."""
    return _step(HARNESS, name, None, None, None, fields)


@dataclass
class Never:
    """Inside a pattern: no event fitting ``step`` between the neighbouring steps' matches.

    Leading, the window starts at the beginning of the scope; trailing, it runs
    to its end. Used alone with :func:`match` it forbids ``step`` everywhere.
    """

    step: Step

    def describe(self) -> str:
        """``never <step>``, as listed in explanations."""
        return f"never {self.step.describe()}"

    def __repr__(self) -> str:
        return self.describe()


def never(step: Step) -> Never:
    """Forbid ``step`` between the surrounding steps of a pattern."""
    return Never(step)


@dataclass
class AnyOrder:
    """Inside a pattern: all of ``steps``, in any order, after the previous step;
    the next step must come after all of them.

    Peers pipeline frames (a client sends open, begin and attach before the
    broker's open arrives), so what happens on two sides at once is stated as a
    group rather than as an order the wire does not promise. Members are
    matched greedily, each at its earliest unused event.
    """

    steps: list[Step]

    def describe(self) -> str:
        """``any order: <step> & <step>`` on one line."""
        return "any order: " + " & ".join(s.describe() for s in self.steps)

    def __repr__(self) -> str:
        return self.describe()


def any_order(*steps: Step) -> AnyOrder:
    """``any_order(frame("open", dst="c"), frame("attach", src="c"))``: both, either first."""
    if not steps or not all(isinstance(st, Step) for st in steps):
        raise TypeError("any_order() takes one or more frame(...)/peer(...) steps")
    return AnyOrder(list(steps))


# ------------------------------------------------------------------------ patterns


@dataclass
class Pattern:
    """A named, ordered list of steps; ``scope``/``client`` are defaults for :func:`match`."""

    description: str
    steps: list[Step | Never | AnyOrder]
    scope: str = "connection"
    client: Any = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")
        for s in self.steps:
            if not isinstance(s, Step | Never | AnyOrder):
                raise TypeError(f"pattern step must be frame(...), peer(...), never(...): {s!r}")
        if not any(isinstance(s, Step | AnyOrder) for s in self.steps):
            raise ValueError("a pattern needs at least one positive step")

    def describe(self) -> str:
        """The whole pattern, one numbered line per step (for docs and failure messages)."""
        lines = [f'pattern "{self.description}":']
        for i, s in enumerate(self.steps):
            if isinstance(s, AnyOrder):
                lines.append(f"  {i + 1:>2}. any order:")
                lines += [f"          {m.describe()}" for m in s.steps]
            else:
                lines.append(f"  {i + 1:>2}. {s.describe()}")
        return "\n".join(lines)


@dataclass
class Forbid:
    """Something that must not happen: ``step`` in the window after ``after`` (or the
    start of the scope) and before ``before`` (or its end), in every view of the scope."""

    description: str
    step: Step
    after: Step | None = None
    before: Step | None = None
    scope: str = "connection"
    client: Any = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")

    def describe(self) -> str:
        """What is forbidden and in which window."""
        lines = [f'forbidden "{self.description}":', f"  never {self.step.describe()}"]
        if self.after is not None:
            lines.append(f"  after  {self.after.describe()}")
        if self.before is not None:
            lines.append(f"  before {self.before.describe()}")
        return "\n".join(lines)


def forbid(
    description: str,
    step: Step,
    *,
    after: Step | None = None,
    before: Step | None = None,
    scope: str = "connection",
    client: Any = None,
) -> Forbid:
    """``forbid("no transfer before credit", frame("transfer"), before=frame("flow"))``."""
    return Forbid(description, step, after, before, scope, client)


# --------------------------------------------------------------------- link index


# (conn, side that began it, its channel, trace index of that begin or -1)
SessionId = tuple[str, str | None, int, int]
# (conn, link name, sending side)
LinkKey = tuple[str, str, str | None]


@dataclass
class LinkInfo:
    """One link of one connection: who sends, who receives, and its events."""

    conn: str
    name: str
    sender: str | None
    receiver: str | None
    indices: list[int] = field(default_factory=list)  # trace indices of its frames

    @property
    def key(self) -> LinkKey:
        """(conn, name, sending side): a link name alone is unique only per direction."""
        return (self.conn, self.name, self.sender)


@dataclass
class LinkIndex:
    """Which frames belong to which link, and which session each frame is on.

    Handles are per direction and per session, delivery ids per session and
    direction, so a frame's link is found through the attach that mapped its
    handle on its channel, and a disposition's through the delivery ids of the
    link's transfers. Shared by the ``link`` scope and the invariants.
    """

    links: dict[LinkKey, LinkInfo] = field(default_factory=dict)
    link_of: dict[int, list[LinkKey]] = field(default_factory=dict)
    session_of: dict[int, SessionId] = field(default_factory=dict)
    # (session, sending side, delivery id) -> (link key, index of its first transfer)
    deliveries: dict[tuple[SessionId, str | None, int], tuple[LinkKey, int]] = field(
        default_factory=dict
    )
    # trace index of every transfer frame -> (session, sending side, delivery id)
    delivery_of: dict[int, tuple[SessionId, str | None, int]] = field(default_factory=dict)

    def links_of(self, conn_id: str) -> list[LinkInfo]:
        """The links of one connection, in order of their first attach."""
        return [info for info in self.links.values() if info.conn == conn_id]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def index_links(events: Sequence[TraceEvent]) -> LinkIndex:
    """Build the :class:`LinkIndex` of a trace (all connections)."""
    idx = LinkIndex()
    sessions: dict[tuple[str, str | None, int], SessionId] = {}
    handles: dict[tuple[str, str | None, int, int], LinkKey] = {}
    current: dict[tuple[str, str | None, int, int], int] = {}  # handle -> delivery in progress
    for i, e in enumerate(events):
        if e.kind != FRAME or e.conn is None:
            continue
        ch = e.channel if e.channel is not None else 0
        here = (e.conn, e.src, ch)
        if e.name == "begin":  # a session is named by the begin that started it
            rc = _int(e.fields.get("remote_channel"))
            mine = (e.conn, e.src, ch, i)
            sessions[here] = sessions.get((e.conn, e.dst, rc), mine) if rc is not None else mine
        sid = sessions.get(here, (*here, -1))
        idx.session_of[i] = sid
        keys: list[LinkKey] = []
        handle = _int(e.fields.get("handle"))
        if e.name == "attach":
            role = e.fields.get("role")
            sender = e.src if role == "sender" else e.dst
            key = (e.conn, str(e.fields.get("name")), sender)
            if key not in idx.links:
                receiver = e.dst if role == "sender" else e.src
                idx.links[key] = LinkInfo(e.conn, key[1], sender, receiver)
            if handle is not None:
                handles[(e.conn, e.src, ch, handle)] = key
            keys.append(key)
        elif e.name in ("flow", "transfer", "detach") and handle is not None:
            key = handles.get((e.conn, e.src, ch, handle))
            if key is not None:
                keys.append(key)
                if e.name == "transfer":
                    hk = (e.conn, e.src, ch, handle)
                    did = _int(e.fields.get("delivery_id"))
                    if did is None:
                        did = current.get(hk)
                    if did is not None:
                        idx.deliveries.setdefault((sid, e.src, did), (key, i))
                        idx.delivery_of[i] = (sid, e.src, did)
                        if e.fields.get("more") and not e.fields.get("aborted"):
                            current[hk] = did
                        else:
                            current.pop(hk, None)
            if e.name == "detach":
                handles.pop((e.conn, e.src, ch, handle), None)
        elif e.name == "disposition":
            first = _int(e.fields.get("first"))
            last = _int(e.fields.get("last"))
            if first is not None:
                last = first if last is None or last < first else min(last, first + 100000)
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                for did in range(first, last + 1):
                    found = idx.deliveries.get((sid, sender, did))
                    if found is not None and found[0] not in keys:
                        keys.append(found[0])
        if keys:
            idx.link_of[i] = keys
            for key in keys:
                idx.links[key].indices.append(i)
    return idx


# -------------------------------------------------------------------------- views


def client_of(events: Sequence[TraceEvent], conn_id: str) -> tuple[str | None, str | None]:
    """(client label, server label) of a connection: the tap's accept event, or
    the side that sent the first header/frame."""
    for e in events:
        if e.conn == conn_id and e.kind == CONN and e.name in ("accept", "connect", "refused"):
            return e.src, e.dst
    for e in events:
        if e.conn == conn_id and e.kind in (HEADER, FRAME):
            return e.src, e.dst
    return None, None


def _conn_ids(events: Sequence[TraceEvent]) -> list[str]:
    seen: dict[str, None] = {}
    for e in events:
        if e.conn is not None and e.kind in (FRAME, HEADER, CONN):
            seen.setdefault(e.conn, None)
    return list(seen)


@dataclass
class _View:
    label: str  # "c1 (hello->broker)", "link L on c1", "whole trace"
    conn: str | None
    indices: list[int]


def _label_ok(spec: Any, value: str | None) -> bool:
    if spec is None:
        return True
    return _check(spec, MISSING if value is None else value, _Ctx({}))


def _views(
    events: Sequence[TraceEvent],
    scope: str,
    client: Any,
    server: Any,
    conn_id: str | None,
    link: Any,
) -> tuple[list[_View], str]:
    """The event subsets a pattern is tried on, and a note on what was available."""
    if scope == "trace":
        return [_View("whole trace", None, list(range(len(events))))], ""
    conns = []
    for cid in _conn_ids(events):
        c, s = client_of(events, cid)
        if (conn_id is None or cid == conn_id) and _label_ok(client, c) and _label_ok(server, s):
            conns.append((cid, c, s))
    available = ", ".join(
        f"{cid} {c}->{s}" for cid in _conn_ids(events) for c, s in [client_of(events, cid)]
    )
    loose = [i for i, e in enumerate(events) if e.conn is None]
    views: list[_View] = []
    if scope == "connection":
        for cid, c, s in conns:
            indices = sorted([i for i, e in enumerate(events) if e.conn == cid] + loose)
            views.append(_View(f"{cid} ({c}->{s})", cid, indices))
        return views, available
    idx = index_links(events)
    for cid, _c, _s in conns:
        conn_events = [i for i, e in enumerate(events) if e.conn == cid and e.kind == CONN]
        for info in idx.links_of(cid):
            if not _label_ok(link, info.name):
                continue
            indices = sorted(set(info.indices + conn_events + loose))
            label = f"link {info.name} on {cid} ({info.sender}->{info.receiver})"
            views.append(_View(label, cid, indices))
    links = ", ".join(f"{i.name} on {i.conn}" for i in idx.links.values())
    return views, f"{available}; links: {links or 'none'}"


# ------------------------------------------------------------------------ results


@dataclass
class MatchResult:
    """What :func:`match` found; ``explain()`` is the text to show on failure."""

    ok: bool
    pattern: Pattern | Forbid
    scope: str
    view: str | None = None
    # per step: a trace index (a tuple of them for any_order groups; None for never-steps)
    indices: list[int | tuple[int, ...] | None] = field(default_factory=list)
    events: list[TraceEvent | tuple[TraceEvent, ...] | None] = field(default_factory=list)
    captures: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def explain(self) -> str:
        """Multi-line text: the steps with what matched them, or where and why it failed."""
        return self.text


@dataclass
class _Attempt:
    k: int  # index of the failing step (== number of steps satisfied)
    kind: str  # "missing" | "never"
    pos: int  # view position where the failing step was looked for (window start)
    matched: list[Pos]  # view positions per satisfied step
    caps: dict[str, Any]
    bad: int | None = None  # view position of the forbidden event
    until: int | None = None  # view position of the step closing a never window
    member: int | None = None  # the missing member of an any_order group


# where a step matched: a position, the positions of an any_order group, or None (never)
Pos = int | tuple[int, ...] | None


def _last(p: Pos) -> int | None:
    return max(p) if isinstance(p, tuple) else p


def _search(
    steps: Sequence[Step | Never | AnyOrder], view: list[TraceEvent], caps0: dict[str, Any]
) -> tuple[list[Pos], dict[str, Any]] | _Attempt:
    """Find the steps in order in ``view``; the matched positions or the best failure.

    Steps are matched at their earliest position, which is optimal for a plain
    subsequence; only steps that bind new captures are retried at later
    positions (a different value may let later steps match).
    """
    n = len(steps)
    best: list[_Attempt | None] = [None]
    work = [0]

    def fail(a: _Attempt) -> None:
        if best[0] is None or a.k > best[0].k:
            best[0] = a

    def rec(k: int, pos: int, caps: dict[str, Any], matched: list[Pos]) -> Any:
        j = k
        nevers: list[tuple[int, Step]] = []
        while j < n and isinstance(steps[j], Never):
            nevers.append((j, steps[j].step))  # type: ignore[union-attr]
            j += 1
        pad: list[Pos] = [None] * len(nevers)

        def violation(start: int, end: int, c: dict[str, Any]) -> tuple[int, int] | None:
            if nevers:
                work[0] += end - start
            for q in range(start, end):
                for ni, ns in nevers:
                    if ns.test(view[q], c) is not None:
                        return ni, q
            return None

        if j == n:
            v = violation(pos, len(view), caps)
            if v is not None:
                fail(_Attempt(v[0], "never", pos, matched, caps, bad=v[1]))
                return None
            return matched + pad, caps
        step = steps[j]
        if isinstance(step, AnyOrder):
            used: list[int] = []
            group_caps = dict(caps)
            for m, member in enumerate(step.steps):
                for p in range(pos, len(view)):
                    if p in used:
                        continue
                    binds = member.test(view[p], group_caps)
                    if binds is not None:
                        used.append(p)
                        group_caps.update(binds)
                        break
                else:
                    fail(_Attempt(j, "missing", pos, matched + pad, group_caps, member=m))
                    return None
            v = violation(pos, min(used), group_caps)
            if v is not None:
                fail(_Attempt(v[0], "never", pos, matched, caps, bad=v[1], until=min(used)))
                return None
            return rec(j + 1, max(used) + 1, group_caps, matched + pad + [tuple(used)])
        assert isinstance(step, Step)
        seen: set[str] = set()
        for p in range(pos, len(view)):
            work[0] += 1
            binds = step.test(view[p], caps)
            if binds is None:
                continue
            frozen = repr(sorted(binds.items(), key=lambda kv: kv[0])) if binds else ""
            if frozen in seen:
                continue
            new_caps = {**caps, **binds}
            v = violation(pos, p, new_caps)
            if v is not None:
                fail(_Attempt(v[0], "never", pos, matched, caps, bad=v[1], until=p))
                return None
            found = rec(j + 1, p + 1, new_caps, matched + pad + [p])
            if found is not None:
                return found
            if not binds or work[0] > _SEARCH_BUDGET:
                return None
            seen.add(frozen)
        if not seen:
            fail(_Attempt(j, "missing", pos, matched + pad, caps))
        return None

    found = rec(0, 0, dict(caps0), [])
    if found is not None:
        return found
    assert best[0] is not None
    return best[0]


def _noise(e: TraceEvent) -> bool:
    return e.kind == FRAME and e.name == "empty"


def _stopped_at(view: list[TraceEvent]) -> str:
    for e in reversed(view):
        if e.kind in (FRAME, CONN, HEADER) and not _noise(e):
            return "trace stopped at: " + render_event(e).strip()
    return "trace stopped at: (no frames in this scope)"


def _fmt_caps(caps: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in caps.items())


def _step_lines(
    i: int, s: Step | Never | AnyOrder, mark: str, width: int, at: Pos | str, vevents: list
) -> list[str]:
    """The listing line(s) of one step: what it expects and what it matched."""

    def shown(p: int | None) -> str:
        return render_event(vevents[p]).strip() if p is not None else "(held)"

    if isinstance(s, AnyOrder):
        lines = [f"{mark} {i + 1:>2}. any order:" + (f"  {at}" if isinstance(at, str) else "")]
        for m, member in enumerate(s.steps):
            where = shown(at[m]) if isinstance(at, tuple) and m < len(at) else ""
            lines.append(f"           {member.describe():<{width - 4}}  {where}".rstrip())
        return lines
    where = at if isinstance(at, str) else shown(_last(at))
    return [f"{mark} {i + 1:>2}. {s.describe():<{width}}  {where}".rstrip()]


def _explain_pattern(
    pattern: Pattern,
    view: _View | None,
    vevents: list[TraceEvent],
    outcome: tuple[list[Pos], dict[str, Any]] | _Attempt,
    tried: str,
) -> str:
    steps = pattern.steps
    n = len(steps)
    width = min(64, max(len(s.describe()) for s in steps if not isinstance(s, AnyOrder)) + 4)
    where = f" on {view.label}" if view else ""
    lines: list[str] = []
    if not isinstance(outcome, _Attempt):
        positions, caps = outcome
        lines.append(f'pattern "{pattern.description}" matched{where} ({n} steps)')
        for i, s in enumerate(steps):
            lines += _step_lines(i, s, "   ", width, positions[i], vevents)
        if caps:
            lines.append(f"captured: {_fmt_caps(caps)}")
        return "\n".join(lines)
    a = outcome
    lines.append(f'pattern "{pattern.description}" did not match{where}{tried}')
    lines.append(f"matched {a.k} of {n} steps:")
    for i, s in enumerate(steps):
        mark = " >>" if i == a.k else "   "
        at: Pos | str = ""
        if i < a.k:
            at = a.matched[i] if i < len(a.matched) else None
        elif i == a.k:
            at = "<- violated here" if a.kind == "never" else "<- expected here"
        lines += _step_lines(i, s, mark, width, at, vevents)
    if a.caps:
        lines.append(f"captured: {_fmt_caps(a.caps)}")
    if a.kind == "missing":
        step = steps[a.k]
        if isinstance(step, AnyOrder):
            assert a.member is not None
            step = step.steps[a.member]
            lines.append(f"expected step {a.k + 1} (any order group): {step.describe()}")
        else:
            lines.append(f"expected step {a.k + 1}: {step.describe()}")
        assert isinstance(step, Step)
        early = next((e for e in vevents[: a.pos] if step.test(e, a.caps) is not None), None)
        if early is not None:
            lines.append(
                "  (out of order: it came earlier, at " + render_event(early).strip() + ")"
            )
        rest = [e for e in vevents[a.pos :] if not _noise(e)][:5]
        if rest:
            lines.append(f"came instead (next {len(rest)}):")
            lines += ["  " + render_event(e) for e in rest]
        else:
            lines.append("came instead: nothing (no further events in this scope)")
    else:
        assert a.bad is not None
        lines.append(f"step {a.k + 1} violated: {steps[a.k].describe()}")
        prev = next((_last(p) for p in reversed(a.matched) if p is not None), None)
        start = render_event(vevents[prev]).strip() if prev is not None else "the start"
        end = render_event(vevents[a.until]).strip() if a.until is not None else "the end"
        lines.append(f"  window: after {start}")
        lines.append(f"          until {end}")
        lines.append("but came:")
        lines.append("  " + render_event(vevents[a.bad]))
    lines.append(_stopped_at(vevents))
    return "\n".join(lines)


def _forbid_check(
    fb: Forbid, vevents: list[TraceEvent], caps0: dict[str, Any]
) -> tuple[int | None, int | None, int | None, dict[str, Any]]:
    """(after position, before position, offending position, captures) in one view."""
    caps = dict(caps0)
    start = 0
    after_at = None
    if fb.after is not None:
        for p, e in enumerate(vevents):
            binds = fb.after.test(e, caps)
            if binds is not None:
                caps.update(binds)
                after_at, start = p, p + 1
                break
        else:
            return None, None, None, caps  # the window never opens
    end = len(vevents)
    before_at = None
    if fb.before is not None:
        for p in range(start, len(vevents)):
            binds = fb.before.test(vevents[p], caps)
            if binds is not None:
                before_at = end = p
                break
    for p in range(start, end):
        if fb.step.test(vevents[p], caps) is not None:
            return after_at, before_at, p, caps
    return after_at, before_at, None, caps


def _explain_forbid(
    fb: Forbid,
    view: _View | None,
    vevents: list[TraceEvent],
    found: tuple[int | None, int | None, int | None, dict[str, Any]] | None,
    nviews: int,
) -> str:
    where = f" on {view.label}" if view else ""
    if found is None or found[2] is None:
        return f'forbidden "{fb.description}" did not happen ({nviews} scope(s) checked)'
    after_at, before_at, bad, caps = found
    lines = [f'forbidden "{fb.description}" happened{where}:', f"  never  {fb.step.describe()}"]
    if fb.after is not None:
        assert after_at is not None
        at = render_event(vevents[after_at]).strip()
        lines.append(f"  after  {fb.after.describe():<50} first at {at}")
    if fb.before is not None:
        at = render_event(vevents[before_at]).strip() if before_at is not None else "never came"
        lines.append(f"  before {fb.before.describe():<50} first at {at}")
    if caps:
        lines.append(f"captured: {_fmt_caps(caps)}")
    lines.append("but came:")
    lines.append("  " + render_event(vevents[bad]))
    earlier = [e for e in vevents[:bad] if not _noise(e)][-3:]
    if earlier:
        lines.append("after:")
        lines += ["  " + render_event(e) for e in earlier]
    lines.append(_stopped_at(vevents))
    return "\n".join(lines)


def _to_trace(view: _View, p: Pos) -> int | tuple[int, ...] | None:
    if isinstance(p, tuple):
        return tuple(view.indices[q] for q in p)
    return view.indices[p] if p is not None else None


def _events_at(
    events: list[TraceEvent], i: int | tuple[int, ...] | None
) -> TraceEvent | tuple[TraceEvent, ...] | None:
    if isinstance(i, tuple):
        return tuple(events[q] for q in i)
    return events[i] if i is not None else None


def match(
    pattern: Pattern | Forbid | Never,
    events: Sequence[TraceEvent],
    scope: str | None = None,
    *,
    client: Any = None,
    server: Any = None,
    conn: str | None = None,
    link: Any = None,
    bind: dict[str, Any] | None = None,
) -> MatchResult:
    """Match a pattern (or check a forbidden step) against a trace.

    ``scope`` defaults to the pattern's. ``client``/``server`` restrict the
    connections tried by endpoint label (a value or a predicate), ``conn`` to one
    connection id, ``link`` to links by name; ``bind`` pre-binds captures.
    A :class:`Pattern` must match in at least one view; a :class:`Forbid` (or a
    bare ``never(step)``) must hold in every view.
    """
    if isinstance(pattern, Never):
        pattern = Forbid(f"never {pattern.step.describe()}", pattern.step)
    scope = scope or pattern.scope
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}")
    client = client if client is not None else pattern.client
    events = list(events)
    caps0 = dict(bind or {})
    views, available = _views(events, scope, client, server, conn, link)

    if isinstance(pattern, Forbid):
        for view in views:
            vevents = [events[i] for i in view.indices]
            found = _forbid_check(pattern, vevents, caps0)
            if found[2] is not None:
                text = _explain_forbid(pattern, view, vevents, found, len(views))
                return MatchResult(False, pattern, scope, view.label, text=text, captures=found[3])
        text = _explain_forbid(pattern, None, [], None, len(views))
        return MatchResult(True, pattern, scope, None, text=text)

    if not views:
        what = "link" if scope == "link" else "connection"
        wanted = []
        if client is not None:
            wanted.append(f"client {_show(client)}")
        if server is not None:
            wanted.append(f"server {_show(server)}")
        if conn is not None:
            wanted.append(f"id {conn}")
        if link is not None:
            wanted.append(f"link name {_show(link)}")
        text = (
            f'pattern "{pattern.description}" did not match: no {what}'
            f"{' with ' + ', '.join(wanted) if wanted else ''} in the trace "
            f"(available: {available or 'none'})\n" + pattern.describe()
        )
        return MatchResult(False, pattern, scope, None, text=text)

    best: tuple[_View, list[TraceEvent], _Attempt] | None = None
    for view in views:
        vevents = [events[i] for i in view.indices]
        outcome = _search(pattern.steps, vevents, caps0)
        if not isinstance(outcome, _Attempt):
            positions, caps = outcome
            indices = [_to_trace(view, p) for p in positions]
            text = _explain_pattern(pattern, view, vevents, outcome, "")
            return MatchResult(
                True,
                pattern,
                scope,
                view.label,
                indices,
                [_events_at(events, i) for i in indices],
                caps,
                text,
            )
        if best is None or outcome.k > best[2].k:
            best = (view, vevents, outcome)
    assert best is not None
    view, vevents, attempt = best
    tried = f" (best of {len(views)} tried)" if len(views) > 1 else ""
    text = _explain_pattern(pattern, view, vevents, attempt, tried)
    indices = [_to_trace(view, p) for p in attempt.matched]
    return MatchResult(
        False,
        pattern,
        scope,
        view.label,
        indices,
        [_events_at(events, i) for i in indices],
        attempt.caps,
        text,
    )


def assert_match(
    pattern: Pattern | Forbid | Never, events: Iterable[TraceEvent], **kw: Any
) -> MatchResult:
    """:func:`match`, raising ``AssertionError(explain())`` when it fails (for tests)."""
    result = match(pattern, list(events), **kw)
    if not result.ok:
        raise AssertionError(result.explain())
    return result
