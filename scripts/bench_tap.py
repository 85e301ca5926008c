#!/usr/bin/env python3
"""How much the tap slows a run: tapped vs untapped throughput, side by side.

The Python send and receive peers move N messages (default 20,000) through
the embedded broker, once connected straight to it and once through a tap
each (recording every frame, as in a cell; decoded when the taps stop, which
is timed apart). Runs alternate so
both see the same machine noise; the ratio of medians is the figure.

    python scripts/bench_tap.py [--count 20000] [--rounds 3]
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
from harness.env import ROOT  # noqa: E402
from harness.process import Clock, ManagedProcess  # noqa: E402
from harness.tap import ConnCounter, Tap  # noqa: E402

PEER = [sys.executable, str(ROOT / "peers" / "python" / "peer.py")]


def one_run(broker: EmbeddedBroker, count: int, tapped: bool, n: int) -> tuple[float, int]:
    clock = Clock()
    events: list = []
    conns = ConnCounter()
    taps = []
    address = f"bench-{'tap' if tapped else 'direct'}-{n}"

    def url(label: str) -> str:
        if not tapped:
            return broker.url()
        tap = Tap(
            (broker.host, broker.port),
            client=label,
            server="broker",
            sink=events.append,
            clock=clock.now,
            conns=conns,
        )
        tap.start()
        taps.append(tap)
        return f"amqp://127.0.0.1:{tap.port}"

    common = ["--address", address, "--count", str(count), "--quiet", "--timeout", "300"]
    recv = ManagedProcess(
        [*PEER, "receive", "--url", url("receiver"), *common], label="receiver", clock=clock
    ).start()
    recv.wait_ready(30)
    t0 = time.monotonic()
    send = ManagedProcess(
        [*PEER, "send", "--url", url("sender"), *common], label="sender", clock=clock
    ).start()
    send.wait(300)
    recv.wait(300)
    elapsed = time.monotonic() - t0
    t1 = time.monotonic()
    for tap in taps:
        tap.stop()  # decodes what the taps recorded
    one_run.decode_s = time.monotonic() - t1  # type: ignore[attr-defined]
    assert send.result and send.result.get("ok"), send.result
    assert recv.result and recv.result.get("ok"), recv.result
    frames = sum(1 for e in events if e.kind == "frame")
    return count / elapsed, frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    direct, tapped, frames = [], [], 0
    with EmbeddedBroker(Path(tempfile.mkdtemp(prefix="bench-tap-"))) as broker:
        for r in range(args.rounds):
            d, _ = one_run(broker, args.count, False, r)
            t, frames = one_run(broker, args.count, True, r)
            direct.append(d)
            tapped.append(t)
            print(
                f"round {r + 1}: untapped {d:8.0f} msg/s   tapped {t:8.0f} msg/s   "
                f"ratio {t / d:.2f}   (then decoding: {one_run.decode_s:.2f} s)",
                flush=True,
            )
    md, mt = statistics.median(direct), statistics.median(tapped)
    print(
        f"median over {args.rounds} rounds, {args.count} messages: untapped {md:.0f} msg/s, "
        f"tapped {mt:.0f} msg/s ({frames} frames recorded), ratio {mt / md:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
