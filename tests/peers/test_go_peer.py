"""The go-amqp (Azure) reference peer against the contract (peers/CONTRACT.md).

The shared tests of a connect-only peer (tests/peers/connecting.py) run on it,
plus the build: into the cache folder only, once per digest, with the go-amqp
version it linked reported by ``version()``. Skipped (failed in CI) without Go.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness.env import ROOT, cache_dir, require
from harness.toolchains import go
from tests.peers.connecting import *  # noqa: F403  the shared tests, run on this peer
from tests.peers.proc import Proc
from tests.peers.test_cpp_peer import check_output, events, run


@pytest.fixture(scope="module")
def peer() -> list[str]:
    reason = go.unavailable()
    if reason:
        require(f"go peer unavailable: {reason}")
    try:
        return go.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"go peer build failed: {e}")
        raise


@pytest.fixture
def unreported() -> list[str]:
    return ["sendable"]  # go-amqp waits for credit inside its send call and never says so


def test_build_is_cached_and_leaves_the_repository_alone(peer: list[str]) -> None:
    assert go.build(cache_dir() / "peers") == peer
    assert peer[0].startswith(str(cache_dir()))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "peers/go"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.stdout.strip() == "" or status.returncode != 0, status.stdout


def test_version_is_the_linked_module(peer: list[str]) -> None:
    text = go.version()
    assert text.startswith(f"go-amqp {go.pinned()}, go1."), text
    assert go.pinned() >= "v1.4.0"  # SendWithReceipt (accepted vs released), DynamicAddress


def test_missing_go_is_one_line_with_the_way_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GO", "/nonexistent/go")
    reason = go.unavailable()
    assert reason is not None and "install Go" in reason and "\n" not in reason


def test_too_old_go_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(go, "_go_version", lambda path: "go1.19.8")
    monkeypatch.setattr(go, "_go", lambda: "/usr/bin/go")
    reason = go.unavailable()
    assert reason is not None and "go1.19.8 is older than go" in reason


#: a listening sender that answers every receiver with proton's default snd-settle-mode, mixed
#: (the reference listeners now take a receiver's unsettled, AMQP 1.0 2.7.3)
MIXED_LISTENER = """
from proton.handlers import MessagingHandler
from proton.reactor import Container

class Listener(MessagingHandler):
    def on_start(self, event):
        acceptor = event.container.listen("127.0.0.1:0")
        port = acceptor._selectable._delegate.getsockname()[1]
        print('{"kind": "ready", "url": "amqp://127.0.0.1:%d"}' % port, flush=True)
        event.container.schedule(30, self)

    def on_link_opening(self, event):
        event.link.source.address = event.link.remote_source.address

    def on_timer_task(self, event):
        event.container.stop()

Container(Listener()).run()
"""


def test_a_refused_settlement_mode_ends_the_receiver_at_once(
    peer: list[str], procs: list[Proc]
) -> None:
    """A listening sender answers the go receiver's unsettled with mixed (proton's default).

    go-amqp then detaches the link itself and fails the attach (link.go setSettleModes);
    the same listener gives the same answer on every new connection, so the peer ends
    with exit 1 and go-amqp's words instead of reconnecting until its --timeout.
    """
    listener = Proc([sys.executable, "-c", MIXED_LISTENER])
    procs.append(listener)
    url = listener.wait_line("ready")["url"]
    started = time.monotonic()
    code, lines, err = run(peer + ["receive", "--url", url, "--count", "3", "--timeout", "20"])
    assert code == 1, (lines[-1:], err)
    assert time.monotonic() - started < 10  # not the 20 s of a reconnect loop
    result = check_output(lines, "receive")
    assert 'sender settlement mode "unsettled" requested, received "mixed"' in result["error"]
    assert result["reconnects"] == 0 and result["received"] == 0
    [refused] = events(lines, "link_error")
    assert refused["link"].startswith("receive-") and refused["condition"] is None
