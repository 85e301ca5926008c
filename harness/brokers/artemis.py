"""Provider ``artemis[-VERSION][:stock]``: Apache ActiveMQ Artemis as a local Java process.

``artemis`` is the newest pinned version (``artemis_dist.PINNED``),
``artemis-2.31`` / ``artemis-2.44.0`` an explicit one. The distribution is
fetched with Maven into the user's cache folder on first use
(``artemis_dist``); each broker lease gets an instance of its own in the
work folder (``artemis_instance``: ``artemis create``'s output, copied from a
template made once per version and profile, ``artemis_template``), on a free
port written into broker.xml.

Two profiles: the default makes bare addresses anycast (a queue per address,
point-to-point, what the tutorial's peers expect of a broker); ``:stock`` keeps
``artemis create``'s MULTICAST default, where a receiver without capabilities
gets a subscription queue of its own that goes away with its link. Results
record the profile (``describe()``), read back from the instance's broker.xml.

Readiness is the AMQP probe; SIGTERM stops the JVM cleanly; ``restart()`` is a
crash (SIGKILL) and a new JVM on the same instance and port.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from harness import orphan_guard
from harness.brokers import (
    artemis_dist,
    artemis_instance,
    artemis_template,
    artemis_xml,
    startup_log,
)
from harness.brokers.base import Broker, BrokerError, Provider, track, untrack
from harness.brokers.probe import wait_ready
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

__all__ = ["ArtemisBroker", "ArtemisProvider", "parse_spec"]

#: a JVM broker under a loaded 2-core machine: start-up is 6 s idle, far more under load
READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 20.0
#: ``stock``: as ``artemis create`` makes it; ``anycast``: bare addresses are queues
STOCK, ANYCAST = "stock", "anycast"

_SPEC = re.compile(r"^artemis(?:-(?P<version>\d+\.\d+(?:\.\d+)?))?(?::(?P<variant>[a-z]+))?$")
_counter = itertools.count(1)


def parse_spec(spec: str) -> tuple[str, str]:
    """``artemis[-VER][:stock]`` -> (pinned version, profile); ValueError of one line otherwise."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(
            f"bad broker {spec!r}: expected artemis, artemis-VERSION or artemis[-VERSION]:stock"
        )
    variant = m.group("variant") or ANYCAST
    if m.group("variant") and variant != STOCK:
        raise ValueError(f"unknown Artemis variant {variant!r} in {spec!r} (known: stock)")
    return artemis_dist.pick(m.group("version") or ""), variant


class ArtemisProvider(Provider):
    name = "artemis"

    @property
    def description(self) -> str:  # type: ignore[override]
        """The version this spec runs, the pinned ones, and which are fetched into the cache."""
        fetched = [v for v in artemis_dist.PINNED if artemis_dist.installed(v)]
        return (
            f"Apache ActiveMQ Artemis {self.version} (pinned: {', '.join(artemis_dist.PINNED)}; "
            f"fetched: {', '.join(fetched) or 'none'}; artemis-VER, :stock) by Maven, "
            "an instance per lease, anycast defaults"
        )

    def __init__(self, spec: str = "artemis") -> None:
        try:
            self.version, _ = parse_spec(spec)
        except ValueError:
            self.version = artemis_dist.NEWEST

    def unavailable(self) -> str | None:
        return artemis_dist.tool_problem(self.version)

    def create(self, spec: str, workdir: str) -> Broker:
        try:
            version, variant = parse_spec(spec)
        except ValueError as e:
            raise BrokerError(str(e)) from None
        return ArtemisBroker(spec, version, variant, workdir)


class ArtemisBroker(Broker):
    """One Artemis instance on 127.0.0.1: dynamic nodes, ANONYMOUS-RELAY, restart."""

    def __init__(self, name: str, version: str, variant: str, workdir: str) -> None:
        super().__init__()
        self.name = name
        self.version = version
        self.variant = variant
        self.capabilities = frozenset({DYNAMIC, ANONYMOUS_RELAY, RESTART})
        self.workdir = Path(workdir).resolve()
        self.n = next(_counter)
        self.instance: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self._saved_logs = ""
        self._profile: dict[str, object] = {"variant": variant}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------

    def _prepare(self) -> None:
        """Fetch the distribution if needed, create and configure the instance."""
        problem = artemis_dist.java_problem(self.version)
        if problem:
            raise BrokerError(problem)
        try:
            home = artemis_dist.fetch(self.version)
        except artemis_dist.DistError as e:
            raise BrokerError(str(e)) from None
        self.workdir.mkdir(parents=True, exist_ok=True)
        instance = self.workdir / f"artemis-{self.version}-{self.n}"
        shutil.rmtree(instance, ignore_errors=True)
        (self.port,) = self.lease_ports(1)
        try:
            artemis_template.instantiate(
                home,
                self.version,
                instance,
                self.host,
                self.port,
                self.variant == ANYCAST,
                artemis_dist.root() / self.version,
            )
        except artemis_instance.CreateError as e:
            shutil.rmtree(instance, ignore_errors=True)
            raise BrokerError(str(e)) from None
        self.instance = instance
        self._profile = self.profile()

    def _console(self) -> Path:
        assert self.instance is not None
        return self.instance / "log" / "console.log"

    def _alive(self) -> str | None:
        if self.proc is None:
            return "Artemis was stopped"
        rc = self.proc.poll()
        if rc is None:
            return None
        text = self.logs()
        why = artemis_instance.startup_failure(text)
        kept = startup_log.keep(f"artemis-{self.version}", text) if text.strip() else None
        where = f" (log: {kept})" if kept else f" (log: {self._console()})"
        return f"Artemis {self.version} exited with status {rc} during start-up: {why}{where}"

    def _launch(self, timeout: float) -> None:
        assert self.instance is not None
        started = time.monotonic()
        self._console().parent.mkdir(parents=True, exist_ok=True)
        with open(self._console(), "ab") as out:
            self.proc = subprocess.Popen(
                # the guard stops the JVM and removes the instance if this process is killed
                orphan_guard.guarded(
                    [str(self.instance / "bin" / "artemis"), "run"], cleanup=[str(self.instance)]
                ),
                cwd=self.instance,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        track(self)
        self.identity = wait_ready(self.host, self.port, timeout, alive=self._alive)
        self.identity.profile = self.profile()  # known failures match on its routing
        self.start_seconds = time.monotonic() - started

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Create the instance (first start) and run it until an AMQP open comes back."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return
            if self.instance is None:
                self._prepare()
            try:
                self._launch(max(timeout, READY_TIMEOUT_S))
            except BrokerError as e:
                logs = self.logs()
                self._stop_locked(remove=True)
                raise BrokerError(str(e), logs=logs) from None

    def _terminate(self, sig: int) -> None:
        """``sig`` to the JVM's process group, SIGKILL after the grace period; reaped."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.proc = None

    def _stop_locked(self, remove: bool) -> None:
        try:
            self._terminate(signal.SIGTERM)
        finally:
            untrack(self)
            if remove and self.instance is not None:
                self._saved_logs = self.logs()
                shutil.rmtree(self.instance, ignore_errors=True)
                self.instance = None
            if remove:
                self.release_ports()

    def stop(self) -> None:
        """SIGTERM (Artemis shuts down cleanly), then remove the instance. Idempotent."""
        with self._lock:
            self._stop_locked(remove=True)

    def restart(self, timeout: float = READY_TIMEOUT_S) -> None:
        """A crash (SIGKILL) and a new JVM on the same instance: same port, same journal."""
        with self._lock:
            if self.instance is None:
                raise BrokerError(f"Artemis {self.name} was never started")
            self._terminate(signal.SIGKILL)
            try:
                self._launch(max(timeout, READY_TIMEOUT_S))
            except BrokerError as e:
                logs = self.logs()
                self._stop_locked(remove=False)
                raise BrokerError(f"restart: {e}", logs=logs) from None

    def pids(self) -> list[int]:
        """The JVM's pid while it runs (empty after ``stop()``)."""
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    # -- artifacts ----------------------------------------------------------

    def logs(self) -> str:
        """The tail of the instance's console output (Artemis logs there and to log/artemis.log)."""
        if self.instance is None:
            return self._saved_logs
        try:
            with open(self._console(), errors="replace") as f:
                return "".join(f.readlines()[-200:])
        except OSError:
            return ""

    def profile(self) -> dict[str, object]:
        """The instance's profile as its broker.xml says: routing, fsync, journal, auto-delete."""
        found: dict[str, object] = {"variant": self.variant}
        if self.instance is not None:
            with contextlib.suppress(OSError):
                text = artemis_instance.broker_xml(self.instance).read_text(encoding="utf-8")
                found.update(artemis_xml.read_profile(text))
        return found

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d["pinned"] = self.version
        d["coordinates"] = artemis_dist.PINNED[self.version].artifact_spec
        d["profile"] = self.profile() if self.instance is not None else dict(self._profile)
        return d
