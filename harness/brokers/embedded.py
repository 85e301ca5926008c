"""The embedded reference broker: peers/python/broker.py as a subprocess.

The default broker: no installation, ready in well under a second, and it
does everything the scenarios need (dynamic addresses, ANONYMOUS-RELAY,
redelivery). With a store directory it keeps its messages across a restart
on the same port, which the broker-restart fault plan relies on.

``embedded:NAME`` is the same broker with one legal behaviour changed
(``VARIANTS``: a row of the broker's behaviour options each), so that every
verdict can be shown to hold on a broker that does what the AMQP 1.0
specification allows rather than what one broker happens to do.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import resources
from harness.brokers.base import Broker, BrokerError, Provider
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.process import ManagedProcess, ProcessError

BROKER_SCRIPT = resources.peer_file("python", "broker.py")


@dataclass(frozen=True)
class Variant:
    """``embedded:NAME``: one legal behaviour changed, as options of peers/python/broker.py."""

    name: str
    description: str
    args: tuple[str, ...]
    relay: bool = True  # offers ANONYMOUS-RELAY
    user: str | None = None  # credentials the broker requires (peers get them)
    password: str | None = None


#: the variants, in the order ``interop brokers`` lists them
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "presettled",
            "delivers pre-settled whenever the receiver's attach allows it (mixed or settled)",
            ("--presettle",),
        ),
        Variant(
            "small-frames",
            "max-frame-size 512, session windows of 4 frames, deliveries split over transfers",
            ("--max-frame-size", "512", "--session-window", "4", "--split", "16"),
        ),
        Variant(
            "credit-trickle",
            "grants senders link credit 1 at a time, replenished after each transfer",
            ("--credit", "1"),
        ),
        Variant(
            "heartbeat",
            "1 s idle-time-out, heartbeats to peers that ask; closes a silent peer (2.4.5)",
            ("--idle-timeout", "1"),
        ),
        Variant(
            "no-relay",
            "offers no ANONYMOUS-RELAY (a server attaches a link per reply address)",
            ("--no-relay",),
            relay=False,
        ),
        Variant(
            "batched-settle",
            "accepts in ranged dispositions (first..last), the later range first",
            ("--batch-settle", "8"),
        ),
        Variant(
            "odd-dynamic",
            "dynamic addresses that are long and hold '/', ':' and non-ASCII characters",
            ("--odd-dynamic",),
        ),
        Variant(
            "sasl-plain",
            "refuses ANONYMOUS: SASL PLAIN with user 'interop' only",
            ("--sasl-plain", "interop:interop-secret"),
            user="interop",
            password="interop-secret",
        ),
        Variant(
            "no-dynamic-target",
            "refuses dynamic targets (2.6.3: null target, detach amqp:not-implemented);"
            " serves dynamic sources: JMS temporary queues unsupported, dynamic receivers pass",
            ("--dynamic-target", "refuse"),
        ),
        Variant(
            "silent-dynamic-target",
            "leaves a dynamic target's attach unanswered;"
            " serves dynamic sources: JMS temporary queues unsupported, dynamic receivers pass",
            ("--dynamic-target", "ignore"),
        ),
    )
}


def variant_of(spec: str) -> Variant | None:
    """The variant ``embedded:NAME`` names (None for plain ``embedded``); ValueError
    with one line listing the known ones for an unknown name."""
    kind, sep, name = spec.partition(":")
    if kind != "embedded" or not sep:
        return None
    if name not in VARIANTS:
        known = ", ".join(f"embedded:{n}" for n in VARIANTS)
        raise ValueError(f"unknown embedded broker variant {name!r} (known: {known})")
    return VARIANTS[name]


class EmbeddedBroker(Broker):
    capabilities = frozenset({DYNAMIC, ANONYMOUS_RELAY, RESTART})
    ours = True

    def __init__(self, workdir: str | Path, name: str = "embedded") -> None:
        super().__init__()
        self.name = name
        self.variant = variant_of(name)
        if self.variant is not None:
            if not self.variant.relay:
                self.capabilities = self.capabilities - {ANONYMOUS_RELAY}
            self.user, self.password = self.variant.user, self.variant.password
        self.workdir = Path(workdir)
        self.store = self.workdir / "store"
        self.proc: ManagedProcess | None = None
        self.starts = 0
        self.start_seconds: float | None = None

    def _spawn(self, port: int, timeout: float, *, again: bool = False) -> None:
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
            *(self.variant.args if self.variant is not None else ()),
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
                if again and time.monotonic() < deadline and not proc.running():
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

        left = max(1.0, deadline - time.monotonic())
        self.identity = wait_ready(
            self.host, self.port, left, user=self.user, password=self.password
        )
        self.start_seconds = time.monotonic() - t0

    def start(self, timeout: float = 20.0) -> None:
        """Start on a leased port (harness.brokers.ports): a restart binds it again."""
        if self.proc is not None and self.proc.running():
            return
        (port,) = self._ports.ports if self._ports is not None else self.lease_ports(1)
        try:
            self._spawn(port, timeout)
        except BrokerError:
            self.release_ports()
            raise

    def restart(self, timeout: float = 20.0) -> None:
        port = self.port
        if self.proc is not None:
            self.proc.kill()  # a crash: its store keeps what it accepted
        self._spawn(port, timeout, again=True)

    def stop(self) -> None:
        try:
            if self.proc is not None:
                self.proc.terminate(grace=2.0)
                self.proc = None
        finally:
            self.release_ports()

    def logs(self) -> str:
        return self.proc.stderr_tail(50) if self.proc else ""

    def exited(self) -> str | None:
        if self.proc is None or self.proc.running():
            return None
        tail = self.proc.stderr_tail(5).strip().splitlines()
        last = f": {tail[-1].strip()[:200]}" if tail else ""
        return f"exited with code {self.proc.returncode}{last}"


class EmbeddedProvider(Provider):
    name = "embedded"
    description = "reference broker from peers/python (subprocess)"

    def unavailable(self) -> str | None:
        if not BROKER_SCRIPT.exists():
            return f"{BROKER_SCRIPT} is missing"
        return None

    def create(self, spec: str, workdir: str) -> Broker:
        return EmbeddedBroker(workdir, name=spec)
