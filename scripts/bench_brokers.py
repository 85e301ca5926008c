#!/usr/bin/env python3
"""Start-up time of each broker provider: from start() to a successful AMQP open.

    python scripts/bench_brokers.py [--rounds 3] [--brokers embedded,rabbitmq,container:rabbitmq-3.10]

Providers that cannot run here are reported with their reason. Rounds
alternate between providers so they share the machine's noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.brokers import registry  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--brokers", default="embedded,rabbitmq,container:rabbitmq-3.10")
    args = ap.parse_args()
    specs = registry.parse_specs(args.brokers)
    usable = []
    for spec in specs:
        reason = registry.provider(spec).unavailable()
        if reason:
            print(f"{spec}: unavailable here: {reason}")
        else:
            usable.append(spec)
    starts: dict[str, list[float]] = {s: [] for s in usable}
    stops: dict[str, list[float]] = {s: [] for s in usable}
    for _ in range(args.rounds):
        for spec in usable:
            b = registry.create(spec, tempfile.mkdtemp(prefix="bench-brokers-"))
            t0 = time.monotonic()
            b.start()
            starts[spec].append(time.monotonic() - t0)
            t1 = time.monotonic()
            b.stop()
            stops[spec].append(time.monotonic() - t1)
    for spec in usable:
        print(
            f"{spec:<28} start {statistics.median(starts[spec]):6.2f} s   "
            f"stop {statistics.median(stops[spec]):5.2f} s   "
            f"(median of {args.rounds}; starts: {', '.join(f'{x:.2f}' for x in starts[spec])})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
