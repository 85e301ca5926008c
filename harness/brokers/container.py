"""Provider ``container:NAME``: a broker in a Docker container, started with testcontainers.

``NAME`` is a profile of ``harness/brokers/profiles.py``; ``container:NAME=IMAGE``
runs the profile with another image (a newer tag, a private build). Images of
profiles with a recipe are built here first (``harness/images.py``), others are
pulled by the engine.

The AMQP port is published on 127.0.0.1 only, on a host port chosen up front,
so ``docker restart`` brings the broker back on the same port (RESTART).
Every container is labelled ``amqp-interop=1`` and ``amqp-interop.owner=PID``:
``remove_leftover_containers()`` (``docker_engine.py``) finds what a killed run
left behind.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

from harness.brokers import conventions, fingerprints, startup_log
from harness.brokers.base import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    Provider,
    track,
    untrack,
)
from harness.brokers.docker_engine import (
    LABEL,
    LABEL_OWNER,
    engine_problem,
    one_line,
    pull_if_missing,
    remove_by_name,
    remove_leftover_containers,
)
from harness.brokers.probe import wait_ready
from harness.brokers.profiles import PROFILES, Profile
from harness.capabilities import RESTART

# the ryuk reaper image cannot be pulled without a registry; our labels and
# atexit hook do its job. Must be set before testcontainers is imported.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

__all__ = ["ContainerBroker", "ContainerProvider", "remove_leftover_containers"]

_counter = itertools.count(1)


def parse_spec(spec: str) -> tuple[Profile, str]:
    """``container:NAME[=IMAGE]`` -> (profile, image or "" for the profile's own)."""
    kind, _, rest = spec.partition(":")
    name, _, image = rest.partition("=")
    name = name.strip()
    if kind != "container" or name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise BrokerError(f"unknown container profile {name!r} in {spec!r} (known: {known})")
    return PROFILES[name], image.strip()


class ContainerProvider(Provider):
    name = "container"
    description = "a broker in a Docker container (testcontainers), profiles: " + ", ".join(
        sorted(PROFILES)
    )

    def unavailable(self) -> str | None:
        try:
            import docker  # noqa: F401
            import testcontainers.core.container  # noqa: F401
        except ImportError as e:
            return (
                f"Python package missing: {e.name} (pip install 'amqp-interop[containers]',"
                " or pip install -e '.[containers]' in a clone)"
            )
        return engine_problem()

    def create(self, spec: str, workdir: str) -> Broker:
        profile, image = parse_spec(spec)
        return ContainerBroker(spec, profile, workdir, image=image or None)


class ContainerBroker(Broker):
    """One container running a profile's broker."""

    def __init__(self, spec: str, profile: Profile, workdir: str, image: str | None = None) -> None:
        super().__init__()
        self.name = spec
        self.profile = profile
        self.workdir = os.path.abspath(workdir)
        self.image_override = image or ""
        self.image = image or profile.image
        self.user = profile.user
        self.password = profile.password
        self.capabilities = profile.capabilities
        #: the profile's convention, else the fingerprint's once the broker answered
        self.convention: conventions.Convention | None = profile.addressing
        self.n = next(_counter)
        self.container_name = f"amqp-interop-{profile.name}-{os.getpid()}-{self.n}"
        self.container: Any = None  # testcontainers DockerContainer
        self.container_id = ""
        self.start_seconds: float | None = None
        self._declared: set[str] = set()
        self._last_declare = 0.0
        self._saved_logs = ""
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------

    def _image(self) -> str:
        """The image to run; a local recipe's image is built first when missing."""
        if self.profile.recipe and not self.image_override:
            from harness import images

            try:
                self.image = images.build(self.profile.recipe)
                return self.image
            except images.ImageError as e:
                raise BrokerError(f"image for {self.name}: {e}", logs=e.output) from None
        pull_if_missing(self.image)
        return self.image

    def _alive(self) -> str | None:
        wrapped = self._wrapped()
        if wrapped is None:
            return "container was removed"
        try:
            wrapped.reload()
        except Exception as e:  # noqa: BLE001 - docker errors are many
            return f"container {self.container_name} vanished: {one_line(e)}"
        if wrapped.status in ("exited", "dead"):
            code = wrapped.attrs.get("State", {}).get("ExitCode")
            why = startup_log.describe(self.container_name, self.logs())
            return f"container {self.container_name} exited (status {code}) during start-up: {why}"
        return None

    def _wrapped(self) -> Any:
        if self.container is None:
            return None
        try:
            return self.container.get_wrapped_container()
        except Exception:  # noqa: BLE001
            return None

    def start(self, timeout: float | None = None) -> None:
        """Start the container and wait for an AMQP open (the profile's ready_timeout)."""
        problem = ContainerProvider().unavailable()
        if problem:
            raise BrokerUnavailable(problem)
        from testcontainers.core.container import DockerContainer

        with self._lock:
            if self.container is not None:
                return
            image = self._image()
            started = time.monotonic()
            labels = {
                LABEL: "1",
                LABEL_OWNER: str(os.getpid()),
                "amqp-interop.profile": self.profile.name,
            }
            for attempt in range(3):
                (self.port,) = self.lease_ports(1)
                c = DockerContainer(image).with_envs(**dict(self.profile.env))
                c.with_name(self.container_name).with_kwargs(labels=labels)
                if self.profile.command:
                    c.with_command(list(self.profile.command))
                # published on loopback only, on a port fixed now so a restart keeps it
                c.ports[f"{self.profile.amqp_port}/tcp"] = ("127.0.0.1", self.port)
                self.container = c
                track(self)
                try:
                    c.start()
                    break
                except Exception as e:  # noqa: BLE001 - docker raises many kinds
                    text = one_line(e)
                    self._remove()
                    if "port is already allocated" in text and attempt < 2:
                        continue  # another process took the port between our check and docker
                    raise BrokerError(f"container {self.name} did not start: {text}") from None
            wrapped = self._wrapped()
            self.container_id = wrapped.id if wrapped is not None else ""
            try:
                self._await_ready(timeout)
                self._adopt_identity()
                for queue in sorted(self._declared):
                    self._declare(queue)
            except BrokerError as e:
                logs = self.logs()
                self._save_logs()
                self._remove()
                raise BrokerError(f"{self.name}: {e}", logs=logs) from None
            self.start_seconds = time.monotonic() - started

    def restart(self, timeout: float | None = None) -> None:
        """A crash: ``docker kill`` then ``docker start``; same container, data and host port.

        A graceful ``docker restart`` makes RabbitMQ end its sessions with an
        error that clients treat as fatal; a crash just drops the sockets,
        which is what the restart fault is meant to test.
        """
        if RESTART not in self.capabilities:
            raise BrokerError(f"broker {self.name} cannot be restarted by the harness")
        with self._lock:
            wrapped = self._wrapped()
            if wrapped is None:
                raise BrokerError(f"container broker {self.name} is not running")
            try:
                wrapped.kill()
                wrapped.wait(timeout=30)
                wrapped.start()
            except Exception as e:  # noqa: BLE001
                raise BrokerError(
                    f"docker restart of {self.container_name} failed: {one_line(e)}",
                    logs=self.logs(),
                ) from None
            try:
                self._await_ready(timeout)
            except BrokerError as e:
                raise BrokerError(f"{self.name} after restart: {e}", logs=self.logs()) from None

    def _adopt_identity(self) -> None:
        """Who answered decides what the profile leaves open: addresses, dynamic capabilities."""
        if self.profile.addressing is None:
            self.convention = fingerprints.convention_for(self.identity)
        self.adopt_fingerprint(self.profile.dynamic_capabilities)

    def _addressing(self) -> conventions.Convention:
        return self.convention or fingerprints.convention_for(self.identity)

    def _await_ready(self, timeout: float | None) -> None:
        """The AMQP probe until an open comes back (the profile's budget unless given)."""
        budget = timeout if timeout is not None else self.profile.ready_timeout
        self.identity = wait_ready(
            self.host,
            self.port,
            budget,
            self.user,
            self.password,
            probe_timeout=self.profile.probe_timeout,
            alive=self._alive,
        )
        self.identity.profile = dict(self.profile.broker_profile)  # known failures match on it

    def _save_logs(self) -> None:
        text = self.logs()
        if not text:
            return
        self._saved_logs = text
        try:
            os.makedirs(self.workdir, exist_ok=True)
            with open(os.path.join(self.workdir, f"{self.container_name}.log"), "w") as f:
                f.write(text)
        except OSError:
            pass

    def _remove(self) -> None:
        c, self.container = self.container, None
        untrack(self)
        try:
            if c is None:
                return
            try:
                c.stop(force=True, delete_volume=True)
            except Exception:  # noqa: BLE001 - already gone, or the engine died: look by name
                remove_by_name(self.container_name)
        finally:
            self.release_ports()  # docker's proxy let go of it with the container

    def stop(self) -> None:
        """Remove the container (force), keeping its logs in the workdir. Idempotent."""
        with self._lock:
            if self.container is None:
                return
            self._save_logs()
            self._remove()

    # -- addresses ----------------------------------------------------------

    def _declare(self, queue: str) -> None:
        self._addressing().declare_queue(self.host, self.port, queue, self.user, self.password)

    def settle_queues(self) -> None:
        """Let the newest declared queue reach the disk before a crash-restart cell."""
        young = 2.0 - (time.monotonic() - self._last_declare)
        if young > 0:
            time.sleep(young)

    def address(self, queue: str) -> str:
        """The profile's address for ``queue``, declaring the queue first where the broker needs it."""
        with self._lock:
            if self.container is not None and queue not in self._declared:
                self._declare(queue)
                self._last_declare = time.monotonic()
            self._declared.add(queue)
        return self._addressing().address_for(queue)

    # -- artifacts ----------------------------------------------------------

    def logs(self) -> str:
        """The container's output (its last 400 lines), kept after the container is removed."""
        if self.container is None:
            return self._saved_logs
        try:
            out, err = self.container.get_logs()
        except Exception:  # noqa: BLE001
            return self._saved_logs
        text = (out + err).decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-400:])

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d["image"] = self.image
        if self.profile.broker_profile:
            d["profile"] = dict(self.profile.broker_profile)
        if self.convention is not None:
            d["convention"] = self.convention.name
        return d
