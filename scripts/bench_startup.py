#!/usr/bin/env python3
"""Start-to-ready time of each peer implementation, side by side (JVM start-up is in every Java cell).

For every implementation named (default: python, java, jms), against one
embedded broker: start ``receive --count 0`` on a fresh queue and time from
process start to its ``ready`` line (the consuming link is attached, so the
library, a connection and a link are all up), then SIGTERM it. Rounds
alternate between implementations so they share the machine's noise; the
medians and each median's ratio to the Python peer's are the figures. With
``--no-cds`` a Java peer also runs without its class-data archive
(``NAME-nocds``), to show what the archive saves.

    python scripts/bench_startup.py [--rounds 9] [--peers python,java,jms] [--no-cds]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.brokers.embedded import EmbeddedBroker  # noqa: E402
from harness.peers import PeerRegistry  # noqa: E402

READY_TIMEOUT_S = 60.0


def start_to_ready(argv: list[str]) -> float:
    """Seconds from starting ``argv`` to its first ``ready`` line; the process is then ended."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    assert proc.stdout is not None
    buf = b""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() - t0 < READY_TIMEOUT_S:
                if not sel.select(1.0):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                for line in buf.split(b"\n")[:-1]:
                    if json.loads(line).get("kind") == "ready":
                        return time.monotonic() - t0
        raise SystemExit(f"no ready line from {' '.join(argv[:3])}...: {buf[-300:]!r}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--peers", default="python,java,jms")
    ap.add_argument("--no-cds", action="store_true", help="also run Java peers without AppCDS")
    opts = ap.parse_args()
    reg = PeerRegistry()
    commands: dict[str, list[str]] = {}
    for name in opts.peers.split(","):
        argv = reg.get(name).argv()  # builds once, outside the timing
        commands[name] = argv
        if opts.no_cds and any(a.startswith("-XX:SharedArchiveFile=") for a in argv):
            commands[f"{name}-nocds"] = [a for a in argv if not a.startswith("-XX:SharedArchive")]
    times: dict[str, list[float]] = {name: [] for name in commands}
    with (
        tempfile.TemporaryDirectory(prefix="bench-startup-") as work,
        EmbeddedBroker(Path(work)) as broker,
    ):
        url = broker.url()
        for r in range(opts.rounds):
            for name, argv in commands.items():
                address = f"bench-startup-{name}-{r}"
                args = ["receive", "--url", url, "--address", address, "--count", "0"]
                times[name].append(start_to_ready([*argv, *args]))
    base = statistics.median(times["python"]) if "python" in times else None
    print(f"start-to-ready (receive, link attached), median of {opts.rounds} rounds:")
    for name, values in times.items():
        med = statistics.median(values)
        ratio = f"  {med / base:.2f}x python" if base else ""
        print(f"  {name:12s} {med * 1000:7.0f} ms  (min {min(values) * 1000:.0f}){ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
