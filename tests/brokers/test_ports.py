"""harness.brokers.ports: broker ports below the kernel's ephemeral range, one holder each."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.brokers import ports
from harness.brokers.ports import broker_port_range, lease_ports


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))


def test_the_range_ends_where_the_ephemeral_range_starts(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t60999\n")
    assert broker_port_range(str(f)) == range(40000 - ports.SPAN, 40000)
    f.write_text("nonsense")  # unreadable: the kernel's default
    assert broker_port_range(str(f)).stop == ports.DEFAULT_EPHEMERAL_LOW
    assert broker_port_range(str(tmp_path / "missing")).stop == ports.DEFAULT_EPHEMERAL_LOW
    f.write_text("1500 60999")
    assert broker_port_range(str(f)) == range(1024, 1500)


def test_the_kernel_never_hands_out_a_broker_port() -> None:
    """Why the range: bind(0), which every tap does, lands in the ephemeral range only."""
    pool = broker_port_range()
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            assert s.getsockname()[1] not in pool


def test_a_lease_holds_distinct_free_ports_until_released() -> None:
    lease = lease_ports(3)
    assert len(set(lease.ports)) == 3 and all(p in broker_port_range() for p in lease.ports)
    for p in lease.ports:  # free for the broker to bind
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    other = lease_ports(3)  # the same process, another broker: other ports
    assert not set(other.ports) & set(lease.ports)
    lease.release()
    lease.release()  # idempotent
    other.release()


def test_a_port_another_process_holds_or_something_listens_on_is_skipped() -> None:
    pool = range(broker_port_range().start, broker_port_range().start + 3)
    held = lease_ports(1, pool)
    taken = pool[(pool.index(held.ports[0]) + 1) % 3]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        # another harness process (the lock is per process): it gets the one port left
        code = (
            "from harness.brokers.ports import lease_ports; "
            f"print(lease_ports(1, range({pool.start}, {pool.stop})).ports[0])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        (left,) = set(pool) - {held.ports[0], taken}
        assert int(out.stdout) == left
        with pytest.raises(OSError, match=f"no 2 free ports for a broker in {pool.start}-"):
            lease_ports(2, pool)
    held.release()
    again = lease_ports(3, pool)  # all three free again: released and no listener
    assert sorted(again.ports) == list(pool)
    again.release()
