"""The embedded reference broker: peers/python/broker.py as a subprocess.

The default broker: no installation, ready in well under a second, and it
does everything the scenarios need (dynamic addresses, ANONYMOUS-RELAY,
redelivery). With a store directory it keeps its messages across a restart
on the same port, which the broker-restart fault plan relies on.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.brokers.base import Broker, BrokerError, Provider
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.env import ROOT
from harness.process import ManagedProcess, ProcessError

BROKER_SCRIPT = ROOT / "peers" / "python" / "broker.py"


class EmbeddedBroker(Broker):
    capabilities = frozenset({DYNAMIC, ANONYMOUS_RELAY, RESTART})

    def __init__(self, workdir: str | Path, name: str = "embedded") -> None:
        super().__init__()
        self.name = name
        self.workdir = Path(workdir)
        self.store = self.workdir / "store"
        self.proc: ManagedProcess | None = None
        self.starts = 0
        self.start_seconds: float | None = None

    def _spawn(self, port: int, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(exist_ok=True)
        self.starts += 1
        argv = [
            sys.executable,
            str(BROKER_SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--store",
            str(self.store),
            "--timeout-free",  # its lifetime is ours: no idle exit
        ]
        proc = ManagedProcess(
            argv,
            label="broker",
            stderr_path=self.workdir / f"broker-{self.starts}.log",
        )
        t0 = time.monotonic()
        proc.start()
        self.proc = proc
        deadline = t0 + timeout
        while True:
            try:
                ready = proc.wait_ready(timeout=max(0.1, deadline - time.monotonic()))
                break
            except ProcessError as e:
                # a restart may race the old socket's release: retry on the same port until the deadline
                if port and time.monotonic() < deadline and not proc.running():
                    proc = ManagedProcess(
                        argv,
                        label="broker",
                        stderr_path=self.workdir / f"broker-{self.starts}-retry.log",
                    )
                    proc.start()
                    self.proc = proc
                    time.sleep(0.05)
                    continue
                proc.kill()
                raise BrokerError(
                    f"embedded broker did not start: {e}", logs=proc.stderr_tail()
                ) from e
        url = str(ready.get("url", ""))
        try:
            self.port = int(url.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            proc.kill()
            raise BrokerError(f"embedded broker printed a bad ready line: {ready}") from None
        from harness.brokers.probe import wait_ready

        self.identity = wait_ready(self.host, self.port, max(1.0, deadline - time.monotonic()))
        self.start_seconds = time.monotonic() - t0

    def start(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.running():
            return
        self._spawn(0, timeout)

    def restart(self, timeout: float = 20.0) -> None:
        port = self.port
        if self.proc is not None:
            self.proc.kill()  # a crash: its store keeps what it accepted
        self._spawn(port, timeout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate(grace=2.0)
            self.proc = None

    def logs(self) -> str:
        return self.proc.stderr_tail(50) if self.proc else ""


class EmbeddedProvider(Provider):
    name = "embedded"
    description = "reference broker from peers/python (subprocess, port 0)"

    def unavailable(self) -> str | None:
        if not BROKER_SCRIPT.exists():
            return f"{BROKER_SCRIPT} is missing"
        return None

    def create(self, spec: str, workdir: str) -> Broker:
        return EmbeddedBroker(workdir, name=spec)
