"""The protonj2 (Java) reference peer's listen mode against the contract (peers/CONTRACT.md).

protonj2's client cannot listen; the peer serves ``--listen`` on protonj2's engine over a
java.nio socket (peers/java/NOTES.md). Each listening role is tested here with the Python
peer as the connecting party: direct_recv, direct_send, and server_direct (the listener names
the address of the client's dynamic reply source); helloworld_direct connects to itself. Skipped (failed in CI) without Java/Maven.
"""

from __future__ import annotations

import pytest

from harness.env import cache_dir, require
from harness.peers import PeerRegistry, PeerUnavailable
from harness.toolchains import java
from tests.peers.connecting import PY_PEER
from tests.peers.listening import (  # noqa: F401  the shared listen tests, run on this peer
    listen,
    test_listens_for_the_python_peer,
    test_send_listener_answers_a_drain,
    test_send_listener_answers_the_settle_mode_asked,
)
from tests.peers.proc import Proc
from tests.peers.test_cpp_peer import check_output, events, run


@pytest.fixture(scope="module")
def peer() -> list[str]:
    reason = java.unavailable()
    if reason:
        require(f"java peer unavailable: {reason}")
    try:
        return java.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"java peer build failed: {e}")
        raise


def test_send_listener_fails_when_the_receiver_leaves_early(
    peer: list[str], procs: list[Proc]
) -> None:
    """The connector takes 5 of 500 and closes: the listener did not confirm all, exit 1."""
    listener, url = listen(
        procs, peer + ["send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "500"]
    )
    o_code, _, o_err = run(PY_PEER + ["receive", "--url", url, "--count", "5"])
    l_code, l_lines, _ = listener.finish(timeout=15)
    assert o_code == 0, o_err
    assert l_code == 1
    result = check_output(l_lines, "send")
    assert 5 <= result["confirmed"] < 500 and "500 messages" in result["error"]


@pytest.mark.parametrize("requester", ["python", "pyamqp"])
def test_serve_listens_and_answers_a_dynamic_reply_source(
    peer: list[str], procs: list[Proc], requester: str
) -> None:
    """server_direct: the client's reply receiver asks for a dynamic source; the listener names it.

    Azure _pyamqp's requester reconnects when the listener closes while it detaches: the
    listener leaves the close to the requester.
    """
    try:
        client = PeerRegistry().get(requester).argv()
    except PeerUnavailable as e:
        require(f"peer {requester} unavailable: {e}")
    listener, url = listen(
        procs, peer + ["serve", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "4"]
    )
    code, lines, err = run(client + ["request", "--url", url, "--no-reconnect"])
    l_code, l_lines, l_err = listener.finish(timeout=15)
    assert (code, l_code) == (0, 0), (lines[-1:], l_lines[-1:], err, l_err)
    result = check_output(lines, "request")
    assert result["replies"] == 4 and result["reply_to"].startswith("dynamic-")
    assert check_output(l_lines, "serve")["served"] == 4


def test_hello_listens_and_connects_to_itself(peer: list[str]) -> None:
    """helloworld_direct: the client half sends to the engine half of the same process."""
    code, lines, err = run(peer + ["hello", "--listen", "--url", "amqp://127.0.0.1:0"])
    assert code == 0, (lines[-1:], err)
    assert check_output(lines, "hello")["received"] == ["Hello World!"]
    assert events(lines, "accepted") and events(lines, "connection_closed")


def test_request_listen_is_a_usage_error(peer: list[str]) -> None:
    code, lines, err = run(peer + ["request", "--listen", "--url", "amqp://127.0.0.1:0"])
    assert code == 2 and lines == []
    assert len(err.strip().splitlines()) == 1 and "--listen" in err
