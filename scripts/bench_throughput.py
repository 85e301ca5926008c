#!/usr/bin/env python3
"""Messages per second of each implementation through the embedded broker and RabbitMQ, side by side.

For every implementation and broker: a quiet ``receive`` of N messages is
started and waits until its link is attached (its ready line), then a quiet
``send`` of the same N messages to the same fresh queue; the figure is N
over the time from the sender's start until both have exited (process start
included, as a user of the peers sees it). Rounds alternate brokers and
implementations so they share the machine's noise; medians are reported,
with the ratio embedded / RabbitMQ for the same peers (>= 1.0: the
embedded broker is not what limits them).

    python scripts/bench_throughput.py [--count 20000] [--rounds 3]
        [--peers IMPL,...] [--brokers embedded,rabbitmq] [--receiver IMPL]

A pair that fails (a known library or broker limit) is reported with its
peer's last stderr line instead of a figure; the script goes on.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.brokers import registry as brokers  # noqa: E402
from harness.brokers.base import Broker  # noqa: E402
from harness.peers import PeerRegistry  # noqa: E402
from harness.process import ManagedProcess, ProcessError  # noqa: E402


class PairFailed(Exception):
    """One send/receive pair did not move every message (reason: the peer's own words)."""


def _scratch(prefix: str) -> str:
    """A broker's work folder, removed when the script ends (it used to stay in /tmp)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def _peer_args(broker: Broker, address: str, count: int, timeout: float) -> list[str]:
    return [
        "--url",
        broker.url(),
        "--address",
        address,
        "--count",
        str(count),
        "--quiet",
        "--timeout",
        f"{timeout:g}",
    ]


def _why(p: ManagedProcess, rc: int | None) -> str:
    res = p.result or {}
    said = res.get("error") or p.last_stderr_line() or "no reason given"
    return f"{p.label} exit {rc}: {' '.join(str(said).split())[:200]}"


def run_pair(broker: Broker, send: list[str], recv: list[str], count: int, timeout: float) -> float:
    """Seconds from the sender's start until both peers exited; ``PairFailed`` if one failed."""
    address = broker.address(f"bench-{uuid.uuid4().hex[:8]}")
    args = _peer_args(broker, address, count, timeout)
    receiver = ManagedProcess([*recv, "receive", *args], label="receiver").start()
    sender: ManagedProcess | None = None
    try:
        try:
            receiver.wait_ready(timeout=min(30.0, timeout))
        except ProcessError as e:
            raise PairFailed(str(e)) from None
        t0 = time.monotonic()
        sender = ManagedProcess([*send, "send", *args], label="sender").start()
        deadline = t0 + timeout + 5
        rcs = {}
        for p in (sender, receiver):
            try:
                rcs[p.label] = p.wait(max(0.1, deadline - time.monotonic()))
            except ProcessError:
                rcs[p.label] = None
        elapsed = time.monotonic() - t0
        for p in (sender, receiver):
            if rcs[p.label] != 0:
                raise PairFailed(_why(p, rcs[p.label]))
        return elapsed
    finally:
        for p in (sender, receiver):
            if p is not None:
                p.terminate(grace=1.0)


def _start(spec: str) -> Broker | str:
    reason = brokers.provider(spec).unavailable()
    if reason:
        return reason
    b = brokers.create(spec, _scratch(f"bench-throughput-{spec}-"))
    try:
        b.start(timeout=120.0)
    except Exception as e:  # noqa: BLE001 - one line, and the other broker still runs
        b.stop()
        return f"did not start: {' '.join(str(e).split())[:200]}"
    return b


def _table(
    impls: list[str], specs: list[str], rates: dict, errors: dict, count: int, rounds: int
) -> list[str]:
    head = f"{'impl':<8}" + "".join(f"{s:>16}" for s in specs)
    ratio = len(specs) >= 2
    if ratio:
        head += f"{specs[0] + '/' + specs[1]:>22}"
    lines = [
        f"{count} messages per pair, median of {rounds} rounds (msg/s, process start to exit):"
    ]
    lines.append(head)
    for name in impls:
        row = f"{name:<8}"
        med = {}
        for s in specs:
            got = rates[(name, s)]
            if got:
                med[s] = statistics.median(got)
                row += f"{med[s]:>16,.0f}"
            else:
                row += f"{'failed':>16}"
        if ratio:
            a, b = med.get(specs[0]), med.get(specs[1])
            row += f"{a / b:>22.2f}" if a and b else f"{'-':>22}"
        lines.append(row)
    for (name, s), why in sorted(errors.items()):
        lines.append(f"  {name} on {s}: {why}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", help="comma list (default: every available implementation)")
    ap.add_argument("--brokers", default="embedded,rabbitmq")
    ap.add_argument("--receiver", help="receive with this implementation for every sender")
    ap.add_argument("--timeout", type=float, default=300.0, help="per pair, seconds")
    args = ap.parse_args()
    if args.count < 1 or args.rounds < 1:
        print("error: --count and --rounds must be >= 1", file=sys.stderr)
        return 2
    reg = PeerRegistry()
    try:
        chosen = reg.select(args.peers.split(",") if args.peers else None)
        impls = [
            i
            for i in chosen
            if not i.unavailable()
            and i.supports("send", frozenset())
            and i.supports("receive", frozenset())
        ]
        recv_impl = reg.get(args.receiver) if args.receiver else None
        specs = brokers.parse_specs(args.brokers)
    except Exception as e:  # noqa: BLE001 - a bad name: one line, exit 2
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    argv = {i.name: i.argv() for i in impls}
    recv_argv = recv_impl.argv() if recv_impl is not None else None
    started: dict[str, Broker] = {}
    try:
        for spec in specs:
            b = _start(spec)
            if isinstance(b, str):
                print(f"{spec}: skipped: {b}")
            else:
                started[spec] = b
        rates: dict[tuple[str, str], list[float]] = {(n, s): [] for n in argv for s in started}
        errors: dict[tuple[str, str], str] = {}
        for r in range(args.rounds):
            order = list(started) if r % 2 == 0 else list(reversed(started))
            for name, send in argv.items():
                for spec in order:
                    if (name, spec) in errors:
                        continue
                    recv = recv_argv or send
                    try:
                        t = run_pair(started[spec], send, recv, args.count, args.timeout)
                    except PairFailed as e:
                        errors[(name, spec)] = str(e)
                        continue
                    rates[(name, spec)].append(args.count / t)
                    print(f"  round {r + 1}: {name:<7} {spec:<10} {args.count / t:8,.0f} msg/s")
        for line in _table(list(argv), list(started), rates, errors, args.count, args.rounds):
            print(line)
    finally:
        for b in started.values():
            b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
