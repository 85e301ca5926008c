#!/usr/bin/env python3
"""Messages per second of each implementation's sender and receiver, side by side.

For every available implementation (python, cpp, js), against one embedded
broker: a quiet ``send`` of N messages into an empty queue (timed from process
start until every message is confirmed and the peer exits), then a quiet
``receive`` draining that queue. Rounds alternate between implementations so
they share the machine's noise; the medians are the figures.

    python scripts/bench_peers.py [--count 10000] [--rounds 3] [--peers python,cpp,js]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.brokers.embedded import EmbeddedBroker  # noqa: E402
from harness.peers import PeerRegistry  # noqa: E402
from harness.process import ManagedProcess  # noqa: E402


def timed(argv: list[str], label: str) -> float:
    t0 = time.monotonic()
    p = ManagedProcess(argv, label=label).start()
    rc = p.wait(600)
    elapsed = time.monotonic() - t0
    if rc != 0:
        raise SystemExit(f"{label} exited {rc}: {p.last_stderr_line()}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", default="python,cpp,js")
    args = ap.parse_args()
    reg = PeerRegistry()
    impls = [i for i in reg.select(args.peers.split(",")) if not i.unavailable()]
    prefix = {i.name: i.argv() for i in impls}
    send: dict[str, list[float]] = {i.name: [] for i in impls}
    recv: dict[str, list[float]] = {i.name: [] for i in impls}
    with EmbeddedBroker(Path(tempfile.mkdtemp(prefix="bench-peers-"))) as broker:
        for r in range(args.rounds):
            for name, argv in prefix.items():
                q = [
                    "--url",
                    broker.url(),
                    "--address",
                    f"bench-{name}-{r}",
                    "--count",
                    str(args.count),
                    "--quiet",
                    "--timeout",
                    "600",
                ]
                send[name].append(args.count / timed([*argv, "send", *q], f"{name}-send"))
                recv[name].append(args.count / timed([*argv, "receive", *q], f"{name}-receive"))
    print(
        f"{args.count} messages through the embedded broker, median of {args.rounds} rounds "
        "(process start to exit):"
    )
    for name in prefix:
        print(
            f"  {name:<7} send {statistics.median(send[name]):8.0f} msg/s   "
            f"receive {statistics.median(recv[name]):8.0f} msg/s   "
            f"({reg.get(name).version()})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
