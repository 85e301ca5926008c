"""The checks stage: what a finished cell is judged on.

Three sources, in this order: the protocol invariants every wire trace must
keep (harness.trace.invariants), the scenario's own patterns and outcome
checks, and how each peer ended (its exit code under the peer contract).
Each problem is a ``Failure`` with a stable rule id and one line that
quotes the trace, so a verdict always says which side deviated from what.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from harness.process import ManagedProcess
from harness.scenario import CellRun, Failure, PeerRun, Scenario
from harness.trace.model import FRAME, HARNESS, PEER, TraceEvent
from harness.trace.render import render_event

#: seconds the harness waits beyond a peer's own --timeout before killing it
KILL_MARGIN = 5.0

_EXIT_RULES = {1: "peer-outcome", 2: "peer-usage", 3: "peer-timeout"}


def last_frame_text(trace: Sequence[TraceEvent], label: str | None = None) -> str:
    """The last frame seen (on connections of ``label`` if given), rendered: where the trace stopped."""
    for ev in reversed(trace):
        if ev.kind == FRAME and ev.name != "empty" and (label is None or label in (ev.src, ev.dst)):
            return render_event(ev).strip()
    return "no frame at all"


def peer_event(label: str, t: float, obj: dict[str, Any]) -> TraceEvent:
    """A peer's output line as a trace event (the peer contract's ``kind``/``name``)."""
    kind = obj.get("kind")
    name = str(obj.get("name") if kind == "event" else kind)
    fields = {k: v for k, v in obj.items() if k not in ("kind", "name")}
    return TraceEvent(t=t, kind=PEER, name=name, src=label, fields=fields)


def peer_runs(
    procs: dict[str, ManagedProcess],
    impl_of: dict[str, str],
    killed: set[str],
    stopped: set[str],
) -> dict[str, PeerRun]:
    """What each started peer did, as the scenario's checks see it."""
    return {
        label: PeerRun(
            label=label,
            impl=impl_of[label],
            argv=p.argv,
            exit_code=p.returncode,
            result=p.result,
            lines=p.events(),
            stderr_tail=p.stderr_tail(),
            killed=label in killed,
            stopped=label in stopped,
        )
        for label, p in procs.items()
    }


def contract_output(procs: dict[str, ManagedProcess], impl_of: dict[str, str]) -> list[Failure]:
    """Peers that printed something other than JSON objects on stdout (the contract forbids it)."""
    return [
        Failure(
            "contract-output",
            f"{label} ({impl_of[label]}) printed non-JSON on stdout: {p.bad_lines[0][:120]!r}",
        )
        for label, p in procs.items()
        if p.bad_lines
    ]


def invariant_rules(scenario: Scenario) -> tuple[list[str], tuple[str, ...]]:
    """(rules, skip) the invariants run with on a cell of ``scenario``."""
    from harness.trace import invariants

    rules = list(invariants.DEFAULT_RULES) + sorted(
        scenario.extra_invariants - set(invariants.DEFAULT_RULES)
    )
    return rules, tuple(scenario.skip_invariants)


def assess(run: CellRun, timeout: float) -> list[Failure]:
    """Invariants, then the scenario's checks, then how each peer ended."""
    from harness.expect import violation_failure
    from harness.trace import invariants

    failures: list[Failure] = []
    found = run.violations
    if found is None:  # not found yet in the pass over a long trace (harness.read_once)
        found = invariants.check(run.trace, *invariant_rules(run.scenario))
    for v in found:
        failures.append(violation_failure(v, run))  # "broke 2.6.7 flow control (...): ..."
    if all(r.label in run.peers for r in run.scenario.roles):
        for check in run.scenario.checks:  # a half-started cell already says why it failed
            failures.extend(check(run))
    for label, p in run.peers.items():
        problem = _how_it_ended(run, label, p, timeout)
        if problem is not None:
            failures.append(problem)
    cause = wire_error(run.story)
    if cause and failures:  # the headline quotes the wire before the timeout that followed
        first = failures[0]
        failures[0] = dataclasses.replace(first, message=f"{cause}; then {first.message}")
    return malformed_frames(run.story) + failures


def malformed_frames(trace: Iterable[TraceEvent]) -> list[Failure]:
    """Bytes on the wire the tap could not decode, one failure per direction, first in line.

    The tap records its decoder's ``DecodeError`` as a ``decode-error`` event
    and keeps forwarding; whatever the peers made of those bytes, the cell's
    headline says who sent what: "malformed frame from broker on c1 at
    offset 8: unknown performative descriptor 0x99". TLS bytes are not
    malformed, only opaque, and do not count.
    """
    out = []
    for ev in trace:
        if ev.kind != HARNESS or ev.name != "decode-error":
            continue
        reason = str(ev.fields.get("reason", ""))
        if reason.startswith("TLS"):
            continue
        where = f" on {ev.conn}" if ev.conn else ""
        out.append(
            Failure(
                "wire-malformed",
                f"malformed frame from {ev.src}{where} at offset {ev.fields.get('offset')}: "
                f"{reason}",
            )
        )
    return out


#: performatives that carry an ``error`` (AMQP 1.0 2.7.6, 2.7.7, 2.7.9), as what their sender did
_ENDINGS = {"detach": "detached", "end": "ended the session", "close": "closed the connection"}


def _attach_text(ev: TraceEvent) -> str:
    """What an attach asked for: a dynamic source/target, or its address."""
    for side in ("source", "target"):
        terminus = ev.fields.get(side)
        if isinstance(terminus, dict) and terminus.get("dynamic"):
            return f"dynamic {side}"
    role = ev.fields.get("role")
    terminus = ev.fields.get("source" if role == "receiver" else "target")
    address = terminus.get("address") if isinstance(terminus, dict) else None
    return f"address {address}" if address else "no address"


def wire_error(trace: Iterable[TraceEvent]) -> str | None:
    """The first error condition on the wire, as one line a headline can lead with.

    A refused attach, an ended session or a closed connection carries the
    refusing side's condition and description (a detach, end or close with
    ``error``). They say why a cell failed better than the timeout that
    follows: "broker ended the session instead of answering client's attach
    (dynamic source): amqp:not-implemented "Dynamic sources not supported"".
    """
    by_name: dict[tuple[str | None, str | None, str], TraceEvent] = {}  # first attach per side
    by_handle: dict[tuple[str | None, str | None, int | None, Any], TraceEvent] = {}
    for ev in trace:
        if ev.kind != FRAME:
            continue
        if ev.name == "attach":
            by_name.setdefault((ev.conn, ev.src, str(ev.fields.get("name"))), ev)
            by_handle[(ev.conn, ev.src, ev.channel, ev.fields.get("handle"))] = ev
            continue
        error = ev.fields.get("error") if ev.name in _ENDINGS else None
        if not isinstance(error, dict) or not error.get("condition"):
            continue
        what = f"{ev.src} {_ENDINGS[ev.name]}"
        if ev.name == "detach":
            own = by_handle.get((ev.conn, ev.src, ev.channel, ev.fields.get("handle")))
            name = str(own.fields.get("name")) if own is not None else "?"
            asked = by_name.get((ev.conn, ev.dst, name))
            if own is not None and asked is not None and asked.t <= own.t:
                what = f"{ev.src} refused {ev.dst}'s attach ({_attach_text(asked)}) with a detach"
            else:
                what += f" link {name}"
        else:
            waiting = [
                a
                for (conn, src, name), a in by_name.items()
                if conn == ev.conn and src == ev.dst and (conn, ev.src, name) not in by_name
            ]
            if waiting:
                what += f" instead of answering {ev.dst}'s attach ({_attach_text(waiting[0])})"
        description = error.get("description")
        said = str(error["condition"]) + (f' "{description}"' if description else "")
        return f"{what}: {said} ({ev.conn} at {ev.t:.3f} s)"
    return None


def _how_it_ended(run: CellRun, label: str, p: PeerRun, timeout: float) -> Failure | None:
    who = f"{label} ({p.impl})"
    if p.stopped:
        return None  # ended by the harness after another peer failed; that failure speaks
    if p.killed:
        stopped = last_frame_text(run.trace, label)
        return Failure(
            "cell-timeout",
            f"{who} still running after {timeout + KILL_MARGIN:g} s; trace stopped at: {stopped}",
        )
    rc = p.exit_code
    if rc == 0:
        if p.result is None:
            return Failure("contract-output", f"{who} exited 0 without a result line")
        return None
    rule = _EXIT_RULES.get(rc or 0, "peer-crash")
    res = p.result or {}
    if rc == 3:
        waiting = next(
            (o.get("waiting_for") for _, o in reversed(p.lines) if o.get("kind") == "timeout"),
            None,
        )
        stopped = last_frame_text(run.trace, label)
        msg = f"{who} timed out waiting for {waiting or '?'}; trace stopped at: {stopped}"
    elif rc == 1:
        msg = f"{who} failed: {res.get('error') or p.stderr_tail.splitlines()[-1:] or 'exit 1'}"
    else:
        tail = p.stderr_tail.strip().splitlines()[-1:] or [""]
        msg = f"{who} exited with code {rc}: {tail[0][:200]}"
    return Failure(rule, msg)


_FIGURE_KEYS = ("duplicates", "resent", "reconnects", "confirmed", "received", "served", "replies")


def figures(run: CellRun) -> dict[str, Any]:
    """Numbers worth keeping with the verdict (message counts, duplicates, frames)."""
    figs: dict[str, Any] = {"count": run.count}
    for label, p in run.peers.items():
        res = p.result or {}
        for key in _FIGURE_KEYS:
            if isinstance(res.get(key), int):
                figs[f"{label}.{key}"] = res[key]
        if isinstance(res.get("reply_via"), str):  # which dynamic form gave the reply address
            figs[f"{label}.reply_via"] = res["reply_via"]
    if run.frames is not None:
        figs["frames"] = run.frames
    else:
        figs["frames"] = sum(1 for e in run.trace if e.kind == FRAME)
    figs["connections"] = len({e.conn for e in run.story if e.conn})
    return figs
