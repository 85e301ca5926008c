"""Run one cell: taps, peers in order, a bounded wait, assertions, artifacts.

The runner is the only place that knows the order of things in a cell:
listeners and consumers first (waiting for their ready line), a tap in
front of every connection, the rest after; then one deadline for the whole
cell, after which everything still running is killed and the failure says
where the trace stopped. It returns a ``CellResult`` and leaves a folder a
person can read without the harness.
"""

from __future__ import annotations

import json
import queue
import re
import shlex
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.brokers.base import RESTART, Broker, BrokerError
from harness.cells import Cell
from harness.matrix import known as known_mod
from harness.matrix.results import FAIL, PASS, UNSUPPORTED, CellResult
from harness.peers import PeerUnavailable, Registry
from harness.process import Clock, ManagedProcess, ProcessError
from harness.scenario import CellRun, Failure, PeerRun, Role
from harness.tap import ConnCounter, Tap
from harness.trace.jsonl import write_trace
from harness.trace.model import FRAME, HARNESS, PEER, TraceEvent
from harness.trace.render import render_event, render_trace
from harness.wire.faults import Call

#: seconds the harness waits beyond a peer's own --timeout before killing it
KILL_MARGIN = 5.0
#: a peer's --timeout is the cell's minus this, so the peer reports what it awaited first
PEER_MARGIN = 2.0
#: once a peer has failed, the others get this long to finish before the harness stops them
EARLY_STOP_GRACE = 2.0


class CellSkipped(Exception):
    """The cell cannot run here (a peer's toolchain or the broker is missing)."""


@dataclass
class RunOptions:
    out_dir: Path
    timeout: float | None = None  # overrides the scenario's
    count: int | None = None  # overrides the scenario's
    known: known_mod.KnownFailures | None = None
    rerun_prefix: str = "interop run"
    keep_passing_artifacts: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


def safe_name(cell_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", cell_id.replace("->", "_to_"))


class _Trace:
    """Thread-safe collector for the taps (loop thread) and peer readers."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self._lock = threading.Lock()

    def add(self, ev: TraceEvent) -> None:
        with self._lock:
            self.events.append(ev)

    def sorted(self) -> list[TraceEvent]:
        with self._lock:
            return sorted(self.events, key=lambda e: e.t)


def _peer_event(label: str, t: float, obj: dict[str, Any]) -> TraceEvent:
    kind = obj.get("kind")
    name = str(obj.get("name") if kind == "event" else kind)
    fields = {k: v for k, v in obj.items() if k not in ("kind", "name")}
    return TraceEvent(t=t, kind=PEER, name=name, src=label, fields=fields)


def last_frame_text(trace: list[TraceEvent], label: str | None = None) -> str:
    """The last frame seen (on connections of ``label`` if given), rendered: where the trace stopped."""
    for ev in reversed(trace):
        if ev.kind == FRAME and ev.name != "empty" and (label is None or label in (ev.src, ev.dst)):
            return render_event(ev).strip()
    return "no frame at all"


def _start_order(roles: tuple[Role, ...]) -> list[Role]:
    first = [r for r in roles if r.listen or r.ready]
    return first + [r for r in roles if r not in first]


def run_cell(
    cell: Cell,
    broker: Broker | None,
    registry: Registry,
    opts: RunOptions,
) -> CellResult:
    """Run ``cell`` against an already started ``broker`` (None for direct cells)."""
    sc = cell.scenario
    started = time.monotonic()
    cell_dir = opts.out_dir / safe_name(cell.id)
    cell_dir.mkdir(parents=True, exist_ok=True)
    rerun = (
        f"{opts.rerun_prefix} --broker {cell.broker or 'embedded'} --cell {shlex.quote(cell.id)}"
    )
    result = CellResult(
        id=cell.id,
        scenario=sc.name,
        fault=cell.fault.name,
        broker=cell.broker,
        roles=cell.role_map,
        verdict=FAIL,
        artifacts=cell_dir.name,
        rerun=rerun,
    )

    missing = cell.fault.needs - (broker.capabilities if broker else frozenset())
    if broker is not None and missing:
        result.verdict = UNSUPPORTED
        result.reason = f"broker {broker.name} lacks {', '.join(sorted(missing))} needed by fault plan {cell.fault.name}"
        _write_verdict(cell_dir, result, [])
        return result

    count = opts.count if opts.count is not None and sc.scalable_count else sc.count
    timeout = opts.timeout if opts.timeout is not None else sc.timeout
    clock = Clock()
    trace = _Trace()
    conns = ConnCounter()
    calls: queue.Queue[Call] = queue.Queue()
    plan = cell.fault.build(count)
    queue_name = f"{sc.name}-{uuid.uuid4().hex[:8]}"
    address = broker.address(queue_name) if broker else queue_name
    if broker is not None and cell.fault.needs & {RESTART}:
        broker.settle_queues()
    procs: dict[str, ManagedProcess] = {}
    impl_of = cell.role_map
    taps: list[Tap] = []
    failures: list[Failure] = []
    commands: list[str] = []
    trace.add(
        TraceEvent(
            t=clock.now(),
            kind=HARNESS,
            name="cell",
            fields={
                "id": cell.id,
                "fault": plan.describe(),
                "address": address,
                "count": count,
                "broker": broker.describe() if broker else None,
            },
        )
    )

    def on_call(action: Call) -> None:
        calls.put(action)

    def start_peer(role: Role, url: str) -> ManagedProcess:
        impl = registry.get(impl_of[role.label])
        try:
            prefix = impl.argv()
        except PeerUnavailable as e:
            raise CellSkipped(str(e)) from e
        argv = [
            *prefix,
            role.peer_role,
            "--url",
            url,
            "--address",
            address,
            "--count",
            str(count),
            "--timeout",
            f"{max(1.0, timeout - PEER_MARGIN):g}",
        ]
        if role.listen:
            argv.append("--listen")
        if broker is not None and broker.user is not None:
            argv += ["--user", broker.user]
            if broker.password is not None:
                argv += ["--password", broker.password]
        argv += list(role.args)
        commands.append(f"# {role.label} ({impl.name})\n{shlex.join(argv)}")
        label = role.label
        proc = ManagedProcess(
            argv,
            label=f"{label}({impl.name})",
            clock=clock,
            on_line=lambda t, obj: trace.add(_peer_event(label, t, obj)),
            stderr_path=cell_dir / f"{label}.stderr.txt",
        )
        proc.start()
        procs[label] = proc
        return proc

    def make_tap(upstream: tuple[str, int], client: str, server: str) -> Tap:
        tap = Tap(
            upstream,
            client=client,
            server=server,
            sink=trace.add,
            clock=clock.now,
            conns=conns,
            rules=plan.for_label(client),
            on_call=on_call,
        )
        tap.start()
        taps.append(tap)
        return tap

    deadline = started + timeout + KILL_MARGIN
    start_error: str | None = None
    failed_at: float | None = None
    stopped_early: set[str] = set()
    try:
        if sc.topology == "direct":
            listener = next(r for r in sc.roles if r.listen)
            lp = start_peer(listener, "amqp://127.0.0.1:0")
            ready = lp.wait_ready(timeout=min(15.0, timeout))
            port = int(str(ready.get("url", "")).rsplit(":", 1)[-1])
            for role in _start_order(sc.roles):
                if role is listener:
                    continue
                tap = make_tap(("127.0.0.1", port), role.label, listener.label)
                p = start_peer(role, f"amqp://127.0.0.1:{tap.port}")
                if role.ready:
                    p.wait_ready(timeout=min(15.0, timeout))
        else:
            assert broker is not None
            for role in _start_order(sc.roles):
                tap = make_tap((broker.host, broker.port), role.label, "broker")
                p = start_peer(role, f"amqp://127.0.0.1:{tap.port}")
                if role.ready:
                    p.wait_ready(timeout=max(1.0, min(timeout, deadline - time.monotonic())))
        # one deadline for the whole cell; restart requests from fault rules are served here
        while any(p.running() for p in procs.values()):
            try:
                action = calls.get(timeout=0.05)
            except queue.Empty:
                action = None
            if action is not None and action.what == "restart-broker" and broker is not None:
                trace.add(
                    TraceEvent(
                        t=clock.now(),
                        kind=HARNESS,
                        name="broker-restart",
                        fields={"rule": action.reason},
                    )
                )
                try:
                    broker.restart()
                    trace.add(TraceEvent(t=clock.now(), kind=HARNESS, name="broker-restarted"))
                except BrokerError as e:
                    failures.append(Failure("broker-restart", f"broker restart failed: {e}"))
            if time.monotonic() > deadline:
                break
            # a peer that failed ends the cell: the others would only wait for their timeout
            failed_at = failed_at or _first_failure(procs)
            if failed_at is not None and time.monotonic() > failed_at + EARLY_STOP_GRACE:
                for label, p in procs.items():
                    if p.running():
                        stopped_early.add(label)
                        trace.add(
                            TraceEvent(
                                t=clock.now(),
                                kind=HARNESS,
                                name="stopped",
                                fields={"peer": label, "because": "another peer failed"},
                            )
                        )
                break
    except CellSkipped:
        _stop_all(procs, taps)
        raise
    except (ProcessError, ValueError) as e:
        start_error = str(e)  # reported once the taps have decoded what they saw
    finally:
        if start_error is not None:  # the cell never got going: nobody timed out
            stopped_early.update(label for label, p in procs.items() if p.running())
        killed = {label for label, p in procs.items() if p.running()} - stopped_early
        for label in killed:
            trace.add(
                TraceEvent(
                    t=clock.now(),
                    kind=HARNESS,
                    name="timeout",
                    fields={"peer": label, "after_s": round(timeout + KILL_MARGIN, 1)},
                )
            )
        # give peers' last frames a moment to pass the taps before stopping them
        time.sleep(0.05)
        still_open = _stop_all(procs, taps)
        if still_open:
            trace.add(
                TraceEvent(
                    t=clock.now(),
                    kind=HARNESS,
                    name="still-open",
                    fields={"connections": still_open},
                )
            )

    events = trace.sorted()
    if start_error is not None:
        failures.append(
            Failure("peer-start", f"{start_error}; trace stopped at: {last_frame_text(events)}")
        )
    peers: dict[str, PeerRun] = {}
    for label, p in procs.items():
        peers[label] = PeerRun(
            label=label,
            impl=impl_of[label],
            argv=p.argv,
            exit_code=p.returncode,
            result=p.result,
            lines=p.events(),
            stderr_tail=p.stderr_tail(),
            killed=label in killed,
            stopped=label in stopped_early,
        )
        (cell_dir / f"{label}.stdout.jsonl").write_text(
            "".join(json.dumps(o) + "\n" for _, o in p.events())
        )
        if p.bad_lines:
            failures.append(
                Failure(
                    "contract-output",
                    f"{label} ({impl_of[label]}) printed "
                    f"non-JSON on stdout: {p.bad_lines[0][:120]!r}",
                )
            )
    run = CellRun(
        scenario=sc,
        fault=cell.fault.name,
        count=count,
        address=address,
        roles=dict(impl_of),
        peers=peers,
        trace=events,
        broker=broker.describe() if broker else None,
    )
    failures = _assert(run, failures, timeout)
    result.duration_s = time.monotonic() - started
    result.figures = _figures(run)
    write_trace(cell_dir / "trace.jsonl", events)
    (cell_dir / "trace.txt").write_text(render_trace(events) + "\n")
    (cell_dir / "commands.txt").write_text("\n".join(commands) + "\n")
    if failures:
        first = failures[0]
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        result.verdict, result.rule, result.reason = (
            FAIL,
            first.rule,
            f"[{first.rule}] {first.message}{more}",
        )
    else:
        result.verdict, result.reason = PASS, ""
    if opts.known is not None:
        identity = broker.identity if broker else {}
        versions = {name: registry.get(name).version() for name in cell.impls}
        verdict, reason, entry = known_mod.apply(
            result.verdict,
            result.reason,
            result,
            identity,
            versions,
            opts.known,
            rules=sorted({f.rule for f in failures}),
            messages=[f.message for f in failures],
        )
        result.verdict, result.reason, result.known = verdict, reason, entry
    _write_verdict(cell_dir, result, failures)
    return result


def _first_failure(procs: dict[str, ManagedProcess]) -> float | None:
    """When a peer has exited with a failure, the time we noticed it."""
    for p in procs.values():
        rc = p.returncode
        if rc is not None and rc != 0:
            return time.monotonic()
    return None


def _stop_all(procs: dict[str, ManagedProcess], taps: list[Tap]) -> list[str]:
    for p in procs.values():
        if p.running():
            p.terminate(grace=1.0)
        else:
            p.kill()  # reaps, and kills anything left in its group
    still_open: list[str] = []
    for tap in taps:
        still_open += tap.stop()
    return still_open


_EXIT_RULES = {1: "peer-outcome", 2: "peer-usage", 3: "peer-timeout"}


def _assert(run: CellRun, failures: list[Failure], timeout: float) -> list[Failure]:
    """Invariants, then the scenario's checks, then how each peer ended."""
    from harness.trace import invariants

    rules = list(invariants.DEFAULT_RULES) + sorted(
        run.scenario.extra_invariants - set(invariants.DEFAULT_RULES)
    )
    for v in invariants.check(run.trace, rules=rules, skip=tuple(run.scenario.skip_invariants)):
        failures.append(Failure(v.rule, v.message))
    if all(r.label in run.peers for r in run.scenario.roles):
        for check in run.scenario.checks:  # a half-started cell already says why it failed
            failures.extend(check(run))
    for label, p in run.peers.items():
        who = f"{label} ({p.impl})"
        stopped = last_frame_text(run.trace, label)
        if p.stopped:
            continue  # ended by the harness after another peer failed; that failure speaks
        if p.killed:
            failures.append(
                Failure(
                    "cell-timeout",
                    f"{who} still running after "
                    f"{timeout + KILL_MARGIN:g} s; trace stopped at: {stopped}",
                )
            )
            continue
        rc = p.exit_code
        if rc == 0:
            if p.result is None:
                failures.append(Failure("contract-output", f"{who} exited 0 without a result line"))
            continue
        rule = _EXIT_RULES.get(rc or 0, "peer-crash")
        res = p.result or {}
        if rc == 3:
            waiting = (
                next(
                    (
                        o.get("waiting_for")
                        for _, o in reversed(p.lines)
                        if o.get("kind") == "timeout"
                    ),
                    None,
                )
                or "?"
            )
            msg = f"{who} timed out waiting for {waiting}; trace stopped at: {stopped}"
        elif rc == 1:
            msg = f"{who} failed: {res.get('error') or p.stderr_tail.splitlines()[-1:] or 'exit 1'}"
        else:
            tail = p.stderr_tail.strip().splitlines()[-1:] or [""]
            msg = f"{who} exited with code {rc}: {tail[0][:200]}"
        failures.append(Failure(rule, msg))
    return failures


def _figures(run: CellRun) -> dict[str, Any]:
    figs: dict[str, Any] = {"count": run.count}
    for label, p in run.peers.items():
        res = p.result or {}
        for key in (
            "duplicates",
            "resent",
            "reconnects",
            "confirmed",
            "received",
            "served",
            "replies",
        ):
            if isinstance(res.get(key), int):
                figs[f"{label}.{key}"] = res[key]
    figs["frames"] = sum(1 for e in run.trace if e.kind == FRAME)
    figs["connections"] = len({e.conn for e in run.trace if e.conn})
    return figs


def _write_verdict(cell_dir: Path, result: CellResult, failures: list[Failure]) -> None:
    data = result.to_json()
    data["failures"] = [
        {"rule": f.rule, "message": f.message, "detail": f.detail} for f in failures
    ]
    (cell_dir / "verdict.json").write_text(json.dumps(data, indent=2) + "\n")
