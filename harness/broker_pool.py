"""Brokers leased to cells: started on first use, shared, stopped when no cell needs them.

A broker takes from a fraction of a second (embedded) to half a minute
(RabbitMQ) to start, so cells share one per worker (a thread of ``interop
run`` or a pytest-xdist process). A broker that could not start is
remembered too, so every later cell of it reports the same one line
instead of trying again.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.brokers import registry as broker_registry
from harness.brokers.base import Broker, BrokerError, BrokerUnavailable
from harness.env import cache_dir


def scratch_dir(prefix: str) -> Path:
    """A new folder for brokers' scratch files, in the user's cache folder, not in /tmp.

    Its owner removes it when it stops; one left by a killed run stays where
    the user's caches are, not in a shared temporary folder.
    """
    base = cache_dir() / "scratch"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@dataclass
class BrokerLease:
    """The outcome of asking for a broker: the broker, or why there is none.

    ``unavailable`` means the provider cannot run here at all (a skip on a
    laptop); otherwise ``error`` is a broker that could have run but did not.
    """

    spec: str
    broker: Broker | None = None
    error: str | None = None
    unavailable: bool = False


class BrokerPool:
    """The brokers of one worker, by spec.

    ``on_create`` sees each broker before it starts, so a caller that may be
    interrupted from another thread (Ctrl-C in ``interop run``) can stop one
    that is still starting. ``workdir`` holds the brokers' scratch folders;
    a pool that made its own removes it on ``close()``.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        on_create: Callable[[Broker], None] | None = None,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = workdir or scratch_dir("brokers-")
        self.on_create = on_create
        self._leases: dict[str, BrokerLease] = {}
        self._lock = threading.Lock()

    def lease(self, spec: str) -> BrokerLease:
        """The broker for ``spec``, started on first use; never raises for a broker's own fault."""
        with self._lock:
            got = self._leases.get(spec)
            if got is not None and (got.broker is None or got.broker.exited() is None):
                return got
            if got is not None:  # it died under an earlier cell: a fresh one for the next
                with contextlib.suppress(Exception):
                    got.broker.stop()  # type: ignore[union-attr]
            lease = BrokerLease(spec)
            self._leases[spec] = lease
            try:
                lease.broker = broker_registry.start(spec, self.workdir, on_create=self.on_create)
            except BrokerUnavailable as e:
                lease.error, lease.unavailable = str(e), True
            except BrokerError as e:
                lease.error = str(e)
            return lease

    def held(self) -> list[str]:
        with self._lock:
            return list(self._leases)

    def brokers(self) -> list[Broker]:
        with self._lock:
            return [lease.broker for lease in self._leases.values() if lease.broker is not None]

    def release(self, spec: str) -> None:
        """Stop the broker of ``spec``: no cell of this worker needs it any more."""
        with self._lock:
            lease = self._leases.pop(spec, None)
        if lease is not None and lease.broker is not None:
            lease.broker.stop()

    def close(self) -> None:
        """Stop every broker and remove the scratch folder this pool made."""
        for spec in self.held():
            self.release(spec)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
