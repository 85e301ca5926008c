#!/usr/bin/env python3
"""Throughput of the Python reference peers through the embedded broker.

Starts the broker, then a quiet ``receive`` and a quiet ``send`` of N messages at the same
time, and reports messages/s for each side (from process start to exit, so the figure
includes interpreter start-up, as the harness sees it) and for the whole transfer.

    python scripts/bench_python_peers.py [--count 20000] [--runs 1] [--events] [--json]

Why: the design sets a reference (proton Python against RabbitMQ, about 7,300 msg/s
sending) and the peers' per-message overhead should stay small; run this after changing
peer.py or broker.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BROKER = ROOT / "peers" / "python" / "broker.py"
PEER = ROOT / "peers" / "python" / "peer.py"


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}


def run_once(count: int, timeout: float, quiet: bool = True) -> dict[str, float]:
    """One broker, one sender, one receiver; returns the measured rates."""
    procs: list[subprocess.Popen[str]] = []
    try:
        broker = _start([sys.executable, str(BROKER)])
        procs.append(broker)
        assert broker.stdout is not None
        url = json.loads(broker.stdout.readline())["url"]
        common = ["--url", url, "--address", "bench", "--count", str(count)]
        common += ["--quiet"] if quiet else []
        common += ["--timeout", str(timeout)]
        started = time.monotonic()
        receiver = _start([sys.executable, str(PEER), "receive", *common])
        sender = _start([sys.executable, str(PEER), "send", *common])
        procs += [receiver, sender]
        ended: dict[str, float] = {}
        outputs: dict[str, str] = {}
        for name, proc in (("send", sender), ("receive", receiver)):
            out, err = proc.communicate(timeout=timeout + 10)
            ended[name] = time.monotonic()
            outputs[name] = out
            if proc.returncode != 0:
                raise RuntimeError(f"{name} exited {proc.returncode}: {out[-400:]} {err[-400:]}")
        sent, received = _last_json(outputs["send"]), _last_json(outputs["receive"])
        if sent.get("confirmed") != count or received.get("received") != count:
            raise RuntimeError(f"incomplete run: {sent} {received}")
        total = max(ended.values()) - started
        return {
            "send_s": ended["send"] - started,
            "receive_s": ended["receive"] - started,
            "send_rate": count / (ended["send"] - started),
            "receive_rate": count / (ended["receive"] - started),
            "overall_rate": count / total,
        }
    finally:
        for proc in procs:
            _kill(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    parser.add_argument(
        "--events", action="store_true", help="without --quiet: every per-message event printed"
    )
    opts = parser.parse_args(argv)
    if opts.count <= 0 or opts.runs <= 0:
        parser.error("--count and --runs must be positive")
    for run in range(1, opts.runs + 1):
        try:
            figures = run_once(opts.count, opts.timeout, quiet=not opts.events)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            sys.stderr.write(f"error: run {run}: {exc}\n")
            return 1
        if opts.json:
            print(json.dumps({"run": run, "count": opts.count, **figures}), flush=True)
        else:
            print(
                f"run {run}: {opts.count} messages; "
                f"send {figures['send_rate']:,.0f} msg/s ({figures['send_s']:.2f} s), "
                f"receive {figures['receive_rate']:,.0f} msg/s ({figures['receive_s']:.2f} s), "
                f"overall {figures['overall_rate']:,.0f} msg/s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
