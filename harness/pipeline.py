"""The life of one cell, in stages.

    plan -> broker-lease -> broker-setup -> listeners -> taps -> peers -> drive
         -> teardown -> artifacts -> checks -> verdict

Each stage is a small function over the cell's shared state
(``harness.cell_state.CellState``), listed in ``STAGES`` in the order they
run. A stage can end the cell's story early with a verdict of its own
(``unsupported``: the broker lacks what the plan needs; ``skipped``: a
component is missing here), and then only the stages marked ``always``
(teardown, artifacts) still run. An exception inside a stage is the
harness's own fault, never the implementation's: the cell gets verdict
``error``, its reason names the stage, ``error.txt`` holds the traceback,
and teardown and artifacts still run, so every process is stopped and
everything the earlier stages saw is on disk.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness import artifacts, checks, drive, launch
from harness.broker_pool import BrokerLease
from harness.brokers.base import Broker
from harness.capabilities import DYNAMIC, DYNAMIC_TARGET
from harness.cell_state import CellSkipped, CellState, RunOptions, StageError
from harness.cells import DIRECT, Cell
from harness.checks import KILL_MARGIN
from harness.env import in_ci
from harness.matrix import known as known_mod
from harness.matrix.results import ERROR, FAIL, PASS, SKIPPED, UNSUPPORTED, CellResult
from harness.peers import PeerRegistry
from harness.process import ProcessError
from harness.scenario import CellRun, Failure
from harness.tap import LIVE_DECODE_FROM, ConnCounter, Tap

__all__ = ["KILL_MARGIN", "STAGES", "CellSkipped", "RunOptions", "Stage", "run_cell"]

#: a listener or consumer gets at most this long to print its ready line
READY_TIMEOUT = 15.0
#: after the peers are gone, the taps get at most this long to see their connections end
TAP_DRAIN_S = 1.0


@dataclass(frozen=True)
class Stage:
    """A named step of a cell; ``always`` steps run even after the story ended early."""

    name: str
    run: Callable[[CellState], None]
    always: bool = False


def run_cell(
    cell: Cell,
    broker: Broker | BrokerSource | None,
    registry: PeerRegistry,
    opts: RunOptions,
) -> CellResult:
    """Run ``cell``: ``broker`` is a started broker, a pool to lease one from, or None (direct)."""
    st = CellState.new(cell, registry, opts)
    st.source = broker
    for stage in STAGES:
        if st.stopped and not stage.always:
            continue
        begun, cpu = time.monotonic(), time.thread_time()
        try:
            stage.run(st)
        except CellSkipped as e:
            st.decide(FAIL if in_ci() else SKIPPED, str(e), "peer-missing")
        except Exception as e:  # noqa: BLE001 - the harness's own fault: verdict error
            if st.error is None:
                st.error = StageError(stage.name, e, traceback.format_exc())
        finally:
            st.stage_s[stage.name] = time.monotonic() - begun
            st.stage_cpu_s[stage.name] = time.thread_time() - cpu
    _finish(st)
    if opts.on_done is not None:
        opts.on_done(st)
    return st.result


class BrokerSource(Protocol):
    """Where cells lease brokers from (``harness.broker_pool.BrokerPool``)."""

    def lease(self, spec: str) -> BrokerLease: ...


# -- the stages, in order ------------------------------------------------------


def plan(st: CellState) -> None:
    """What runs where: counts, the deadline, fresh fault rules, the cell's own queue."""
    sc, opts = st.cell.scenario, st.opts
    fp = st.cell.fault
    default_count = fp.count if fp.count is not None and sc.scalable_count else sc.count
    st.count = opts.count if opts.count is not None and sc.scalable_count else default_count
    st.timeout = opts.timeout if opts.timeout is not None else (fp.timeout or sc.timeout)
    st.deadline = st.started + st.timeout + KILL_MARGIN
    st.armed = st.cell.fault.arm(st.count)
    st.queue_name = f"{sc.name}-{uuid.uuid4().hex[:8]}"
    launch.build_peers(st)


def lease_broker(st: CellState) -> None:
    """The cell's broker: one already started, or leased (started on first use) from the pool."""
    if st.cell.broker == DIRECT or st.source is None:
        return
    if isinstance(st.source, Broker):
        st.broker = st.source
        return
    with st.off_the_clock():  # a broker's first start: seconds for a JVM or a container
        lease = st.source.lease(st.cell.broker)
    if lease.error:
        # a broker missing here is a skip on a laptop; in CI, or one that failed, a failure
        verdict = SKIPPED if lease.unavailable and not in_ci() else FAIL
        st.decide(verdict, lease.error, "broker")
        return
    st.broker = lease.broker


def broker_needs(st: CellState) -> frozenset[str]:
    """What the scenario asks of the broker, given who plays its roles in this cell.

    ``dynamic`` is a broker answering a receiver's dynamic source. A requester that
    declares ``dynamic-target`` (Qpid JMS: a temporary queue) asks for a sender's dynamic
    target instead, so what a broker lacks for sources does not decide its cell: the cell
    runs, and the broker's answer on the wire (or its silence) gives the verdict.
    """
    needs = st.cell.scenario.broker_needs
    if DYNAMIC not in needs:
        return needs
    impl_of = st.cell.role_map
    askers = [r for r in st.cell.scenario.roles if DYNAMIC in r.needs and r.label in impl_of]
    if askers and all(
        DYNAMIC_TARGET in st.registry.get(impl_of[r.label]).capabilities for r in askers
    ):
        return needs - {DYNAMIC}
    return needs


def set_up_broker(st: CellState) -> None:
    """Refuse what the broker cannot do, then ask it for the cell's address.

    What it cannot do: a capability its provider does not claim, or one a
    known-failure entry with ``lacks`` says its product and version lack (with
    the reason and reference of that entry). Either way the cell never runs.
    """
    sc, plan_ = st.cell.scenario, st.cell.fault
    b = st.broker
    if b is not None:
        for needs, what in (
            (plan_.needs, f"fault plan {plan_.name}"),
            (broker_needs(st), f"scenario {sc.name}"),
        ):
            missing = set(needs - b.capabilities)
            entry = st.opts.known.lacking(needs, st.result, b.identity) if st.opts.known else None
            if entry is not None:
                missing.add(entry.lacks)
            if missing:
                reason = f"broker {b.name} lacks {', '.join(sorted(missing))} needed by {what}"
                if entry is not None:
                    reason += f": {entry.reason} [known: {entry.id}]"
                st.decide(UNSUPPORTED, reason)
                st.result.known = entry.id if entry is not None else None
                return
    st.address = b.address(st.queue_name) if b is not None else st.queue_name
    if b is not None and plan_.restarts_broker:
        b.settle_queues()  # after declaring this cell's queue: a crash must not outrun its write
    assert st.armed is not None
    st.note(
        "cell",
        id=st.cell.id,
        fault=st.armed.describe(),
        address=st.address,
        count=st.count,
        broker=b.describe() if b is not None else None,
    )


def start_listeners(st: CellState) -> None:
    """Direct cells: the listening peer first, on a port of its own choosing."""
    for role in st.cell.scenario.roles:
        if not role.listen:
            continue
        try:
            p = launch.start_peer(st, role, "amqp://127.0.0.1:0")
            ready = p.wait_ready(timeout=min(READY_TIMEOUT, st.timeout))
        except ProcessError as e:
            st.start_error = str(e)
            return
        port = str(ready.get("url", "")).rsplit(":", 1)[-1]
        if not port.isdigit():
            st.start_error = f"{role.label}: ready line has no usable url: {ready!r}"
            return
        st.listen_ports[role.label] = int(port)


def open_taps(st: CellState) -> None:
    """A recording proxy in front of every connecting peer: the broker, or the listener."""
    if st.start_error:
        return
    conns = ConnCounter()  # connection names c1, c2 ... shared by the cell's taps
    assert st.armed is not None
    for role in st.cell.scenario.roles:
        if role.listen:
            continue
        if st.broker is not None:
            upstream, server = (st.broker.host, st.broker.port), "broker"
        else:
            server, port = next(iter(st.listen_ports.items()))
            upstream = ("127.0.0.1", port)
        tap = Tap(
            upstream,
            client=role.label,
            server=server,
            sink=st.trace.add,
            clock=st.clock.now,
            conns=conns,
            rules=st.armed.for_label(role.label),
            on_call=st.calls.put,
            live=st.count >= LIVE_DECODE_FROM,
        )
        st.taps[role.label] = tap
        tap.start()


def start_peers(st: CellState) -> None:
    """The connecting peers: consumers first, the others while the consumers get ready.

    A consumer (a role with a ready line) must be attached before anyone
    sends. The other peers start at once anyway, so their start-up overlaps
    the consumers', but their taps hold their connections until every
    consumer has printed its ready line.
    """
    if st.start_error:
        return
    roles = [r for r in st.cell.scenario.roles if not r.listen]
    consumers = [r for r in roles if r.ready]
    others = [r for r in roles if not r.ready]
    if st.broker is None:
        limit = min(READY_TIMEOUT, st.timeout)
    else:
        limit = max(1.0, min(st.timeout, st.remaining()))
    try:
        started = [
            (role, launch.start_peer(st, role, launch.tap_url(st, role))) for role in consumers
        ]
        for role in others:
            if consumers:
                st.taps[role.label].hold()
            launch.start_peer(st, role, launch.tap_url(st, role))
        for _, p in started:
            p.wait_ready(timeout=limit)
    except ProcessError as e:
        st.start_error = str(e)
        return
    for role in others:
        st.taps[role.label].release()


def run_peers(st: CellState) -> None:
    """The scenario plays out (see ``harness.drive``)."""
    if st.start_error:
        return
    drive.drive(st)


def teardown(st: CellState) -> None:
    """Stop every peer and tap, whatever happened; note who timed out and what stayed open."""
    if st.start_error is not None:  # the cell never got going: nobody timed out
        st.stopped_early.update(label for label, p in st.procs.items() if p.running())
    st.killed = {label for label, p in st.procs.items() if p.running()} - st.stopped_early
    for label in sorted(st.killed):
        st.note("timeout", peer=label, after_s=round(st.timeout + KILL_MARGIN, 1))
    problems: list[BaseException] = []
    for p in st.procs.values():
        try:
            if p.running():
                p.terminate(grace=1.0)
            else:
                p.kill()  # reaps, and kills anything left in its group
        except Exception as e:  # noqa: BLE001 - stop the others first, then report
            problems.append(e)
    still_open: list[str] = []
    drained_by = time.monotonic() + TAP_DRAIN_S
    for tap in st.taps.values():
        try:
            # every peer is gone: each tap reads their last frames, then sees each connection end
            tap.wait_idle(drained_by - time.monotonic())
            still_open += tap.stop()
        except Exception as e:  # noqa: BLE001
            problems.append(e)
    if still_open:
        st.note("still-open", connections=still_open)
    st.events = st.trace.sorted()
    if problems:
        raise problems[0]


def write_artifacts(st: CellState) -> None:
    """The trace, peer output and commands on disk, as far as the cell got."""
    artifacts.write_run_artifacts(st)


def check(st: CellState) -> None:
    """Invariants, the scenario's patterns and outcomes, and how each peer ended."""
    impl_of = st.cell.role_map
    if st.start_error is not None:
        where = checks.last_frame_text(st.events)
        st.failures.append(Failure("peer-start", f"{st.start_error}; trace stopped at: {where}"))
    st.failures += checks.contract_output(st.procs, impl_of)
    run = CellRun(
        scenario=st.cell.scenario,
        plan=st.cell.fault,
        count=st.count,
        address=st.address,
        roles=dict(impl_of),
        peers=checks.peer_runs(st.procs, impl_of, st.killed, st.stopped_early),
        trace=st.events,
        broker=st.broker.describe() if st.broker is not None else None,
        story=st.story,
        frames=st.frames,
        violations=st.violations,
    )
    st.failures += checks.assess(run, st.timeout)
    for label, rule, why in st.stops:  # after the checks: what the peer got wrong leads
        where = checks.last_frame_text(st.events, label)
        st.failures.append(Failure(rule, f"{why}; trace stopped at: {where}"))
    st.result.figures = checks.figures(run)
    used = sorted({c for r in st.cell.scenario.roles for c in launch.dynamic_capabilities(st, r)})
    if used:  # which broker-specific capability made the dynamic source work
        st.result.figures["dynamic_capabilities"] = used


def judge(st: CellState) -> None:
    """pass or fail from the failures, then known failures turn it into xfail/xpass."""
    res = st.result
    if st.failures:
        first = st.failures[0]
        more = f" (+{len(st.failures) - 1} more)" if len(st.failures) > 1 else ""
        res.verdict, res.rule, res.reason = (
            FAIL,
            first.rule,
            f"[{first.rule}] {first.message}{more}",
        )
    else:
        res.verdict, res.rule, res.reason = PASS, None, ""
    if st.opts.known is None:
        return
    identity = st.broker.identity if st.broker is not None else {}
    versions = {name: st.registry.get(name).version() for name in st.cell.impls}
    res.verdict, res.reason, res.known = known_mod.apply(
        res.verdict,
        res.reason,
        res,
        identity,
        versions,
        st.opts.known,
        rules=sorted({f.rule for f in st.failures}),
        messages=[f.message for f in st.failures],
    )


STAGES: tuple[Stage, ...] = (
    Stage("plan", plan),
    Stage("broker-lease", lease_broker),
    Stage("broker-setup", set_up_broker),
    Stage("listeners", start_listeners),
    Stage("taps", open_taps),
    Stage("peers", start_peers),
    Stage("drive", run_peers),
    Stage("teardown", teardown, always=True),
    Stage("artifacts", write_artifacts, always=True),
    Stage("checks", check),
    Stage("verdict", judge),
)


def _finish(st: CellState) -> None:
    """The verdict of a harness fault, the duration, and verdict.json: written whatever happened."""
    res = st.result
    if st.error is not None:
        res.verdict, res.rule, res.reason, res.known = ERROR, None, st.error.reason, None
    res.duration_s = time.monotonic() - st.started
    try:
        artifacts.write_outcome(st)
    except OSError as e:  # the folder went away: the result still goes back to the caller
        if st.error is None:
            st.error = StageError("artifacts", e, traceback.format_exc())
            res.verdict, res.reason = ERROR, st.error.reason
    finally:
        st.trace.delete()  # a long trace's pages: trace.jsonl holds it, folded
