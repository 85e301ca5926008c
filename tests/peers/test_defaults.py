"""Every peer uses the option defaults of peers/CONTRACT.md, and reports them.

The expected values live in ONE place, peers/defaults.json. This module checks
that CONTRACT.md's "Defaults" table says the same, then runs each peer (Python,
C++, rhea, and the recorder around the example handler) and compares the
``options`` object of its result line with that file:

- with no options at all, against a silent listener on the default URL
  (127.0.0.1:5672): the peer connects there, is stopped with SIGTERM, and its
  result names every default, ``url`` included;
- with nothing but ``--url``, against the embedded broker: send + receive,
  hello, serve + request run to completion on the default address with the
  default count and request lines.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from harness import resources
from harness.brokers.embedded import EmbeddedBroker
from harness.env import cache_dir, require
from harness.toolchains import cpp, js
from tests.peers.proc import WAIT_S, Proc

DEFAULTS_JSON = resources.defaults_file()
CONTRACT = resources.contract()
PY_PEER = resources.peer_file("python", "peer.py")
RECORDER = resources.peer_file("python", "recorder.py")
EXAMPLE = "peers/python/examples/my_receiver.py:MyReceiver"
ROLES = ["hello", "send", "receive", "serve", "request"]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5672


def load_defaults() -> dict[str, dict[str, Any]]:
    """peers/defaults.json: option key -> role -> default value."""
    return json.loads(DEFAULTS_JSON.read_text())["defaults"]


DEFAULTS = load_defaults()


def expected(role: str, **changed: Any) -> dict[str, Any]:
    """The ``options`` a peer of ``role`` reports when given only the ``changed`` ones."""
    return {key: by_role[role] for key, by_role in DEFAULTS.items()} | changed


def contract_table() -> tuple[list[str], dict[str, dict[str, Any]]]:
    """CONTRACT.md's Defaults table: (its role columns, option key -> role -> value)."""
    text = CONTRACT.read_text()
    assert "\n## Defaults\n" in text, "CONTRACT.md has no '## Defaults' section"
    section = text.split("\n## Defaults\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]

    def cells(row: str) -> list[str]:
        return [c.strip() for c in row.strip().strip("|").split("|")]

    roles = [c.strip("`") for c in cells(rows[0])[2:]]
    table: dict[str, dict[str, Any]] = {}
    for row in rows[2:]:
        key, values = cells(row)[1].strip("`"), cells(row)[2:]
        assert len(values) == len(roles), row
        table[key] = {
            role: json.loads(value.removeprefix("`").removesuffix("`"))
            for role, value in zip(roles, values, strict=True)
        }
    return roles, table


def test_contract_table_is_defaults_json() -> None:
    roles, table = contract_table()
    assert roles == ROLES
    assert set(table) == set(DEFAULTS), "CONTRACT.md and defaults.json list different options"
    for key, by_role in DEFAULTS.items():
        assert table[key] == by_role, f"CONTRACT.md's default of {key!r} differs from defaults.json"


# ---------------------------------------------------------------- peers


@pytest.fixture(scope="module", params=["python", "cpp", "js"])
def peer(request: pytest.FixtureRequest) -> list[str]:
    """argv prefix of one reference peer; skipped (failed in CI) without its toolchain."""
    if request.param == "python":
        return [sys.executable, str(PY_PEER)]
    toolchain = cpp if request.param == "cpp" else js
    reason = toolchain.unavailable()
    if reason:
        require(f"{request.param} peer unavailable: {reason}")
    try:
        return toolchain.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"{request.param} peer build failed: {e}")
        raise


def start(procs: list[Proc], argv: list[str]) -> Proc:
    p = Proc(argv)
    procs.append(p)
    return p


def result_of(p: Proc, code: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Wait for exit; check the exit code and the single last result line."""
    got, lines, err = p.finish()
    assert lines and lines[-1]["kind"] == "result", f"{p.argv[1:]}: {lines[-3:]}; {err}"
    assert [x["kind"] for x in lines].count("result") == 1
    assert got == code, f"{p.argv[1:]} exited {got}: {lines[-1]}; stderr: {err}"
    return lines[-1], lines


def stop(p: Proc, code: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """SIGTERM (the contract's way to end a peer that runs until killed); its result."""
    p.popen.send_signal(signal.SIGTERM)
    return result_of(p, code)


def events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [x for x in lines if x.get("kind") == "event" and x.get("name") == name]


# ------------------------------------------------- no options: the default URL


@contextmanager
def default_url_listener() -> Iterator[threading.Event]:
    """A TCP listener on the default URL that accepts and never answers.

    The event is set at the first connection. Another test (an xdist worker) may
    hold the port for a moment: wait for it; skip if something else keeps it.
    """
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    deadline = time.monotonic() + 15
    while True:
        try:
            srv.bind((DEFAULT_HOST, DEFAULT_PORT))
            break
        except OSError as e:
            if time.monotonic() > deadline:
                srv.close()
                pytest.skip(f"{DEFAULT_HOST}:{DEFAULT_PORT} is in use: {e}")
            time.sleep(0.2)
    srv.listen()
    srv.settimeout(0.2)
    connected = threading.Event()
    done = threading.Event()
    accepted: list[socket.socket] = []

    def loop() -> None:
        while not done.is_set():
            try:
                accepted.append(srv.accept()[0])
                connected.set()
            except OSError:
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield connected
    finally:
        done.set()
        thread.join(timeout=2)
        for c in accepted:
            c.close()
        srv.close()


def run_without_options(procs: list[Proc], argv: list[str], role: str) -> dict[str, Any]:
    """Run ``argv`` with no options; once it has connected to the default URL, stop it."""
    with default_url_listener() as connected:
        p = start(procs, argv)
        if not connected.wait(WAIT_S):
            p.kill()
            raise AssertionError(f"{argv[1:]} did not connect to the default URL: {p.finish()}")
        # serve runs until killed by default: SIGTERM is its normal end (exit 0)
        return stop(p, 0 if role == "serve" else 1)[0]


@pytest.mark.parametrize("role", ROLES)
def test_no_options_at_all(procs: list[Proc], peer: list[str], role: str) -> None:
    result = run_without_options(procs, [*peer, role], role)
    assert result["options"] == expected(role)


def test_recorder_no_options_at_all(procs: list[Proc]) -> None:
    argv = [sys.executable, str(RECORDER), EXAMPLE, "receive"]
    result = run_without_options(procs, argv, "receive")
    assert result["options"] == expected("receive")


# ------------------------------------------ only --url: the roles run to the end


@pytest.fixture
def url(embedded_broker: EmbeddedBroker) -> str:
    return embedded_broker.url()


def test_send_and_receive_with_defaults(procs: list[Proc], peer: list[str], url: str) -> None:
    receiver = start(procs, [*peer, "receive", "--url", url])
    receiver.wait_line("ready")
    sender = start(procs, [*peer, "send", "--url", url])
    sent, _ = result_of(sender)
    got, lines = result_of(receiver)
    assert sent["options"] == expected("send", url=url)
    assert got["options"] == expected("receive", url=url)
    count = DEFAULTS["count"]["send"]
    assert (sent["count"], sent["confirmed"]) == (count, count)
    assert (got["count"], got["received"], got["missing"]) == (count, count, [])
    address = DEFAULTS["address"]["receive"]
    assert [e["address"] for e in events(lines, "link_opened")] == [address]


def test_hello_with_defaults(procs: list[Proc], peer: list[str], url: str) -> None:
    result, lines = result_of(start(procs, [*peer, "hello", "--url", url]))
    assert result["options"] == expected("hello", url=url)
    assert result["received"] == ["Hello World!"]
    address = DEFAULTS["address"]["hello"]
    assert {e["address"] for e in events(lines, "link_opened")} == {address}


def test_serve_and_request_with_defaults(procs: list[Proc], peer: list[str], url: str) -> None:
    server = start(procs, [*peer, "serve", "--url", url])
    server.wait_line("ready")
    client, lines = result_of(start(procs, [*peer, "request", "--url", url]))
    assert client["options"] == expected("request", url=url)
    lines_sent = DEFAULTS["requests"]["request"]
    assert [e["body"] for e in events(lines, "sent")] == lines_sent
    replies = {e["request"]: e["body"] for e in events(lines, "message")}
    assert replies == {text: text.upper() for text in lines_sent}
    assert client["replies"] == len(lines_sent)
    served, _ = stop(server, 0)  # --count 0 by default: until killed
    assert served["options"] == expected("serve", url=url)
    assert served["served"] == len(lines_sent)


def test_recorder_receive_with_defaults(procs: list[Proc], url: str) -> None:
    receiver = start(procs, [sys.executable, str(RECORDER), EXAMPLE, "receive", "--url", url])
    receiver.wait_line("ready")
    sent, _ = result_of(start(procs, [sys.executable, str(PY_PEER), "send", "--url", url]))
    got, _ = result_of(receiver)
    assert got["options"] == expected("receive", url=url)
    count = DEFAULTS["count"]["receive"]
    assert (sent["confirmed"], got["received"], got["missing"]) == (count, count, [])


# ---------------------------------------------------- defaults that depend on others


def test_until_killed_has_no_deadline(procs: list[Proc], peer: list[str], url: str) -> None:
    """receive --count 0 runs until killed: no default deadline, as serve's default."""
    p = start(procs, [*peer, "receive", "--url", url, "--count", "0"])
    p.wait_line("ready")
    result, _ = stop(p, 0)
    assert result["options"] == expected("receive", url=url, count=0, timeout=0)


def test_counted_serve_has_the_default_deadline(
    procs: list[Proc], peer: list[str], url: str
) -> None:
    p = start(procs, [*peer, "serve", "--url", url, "--count", "3", "--address", "defaults-serve"])
    p.wait_line("ready")
    result, _ = stop(p, 1)  # no request came: not done
    deadline = DEFAULTS["timeout"]["send"]  # the deadline of the roles that end by themselves
    assert result["options"] == expected(
        "serve", url=url, count=3, address="defaults-serve", timeout=deadline
    )


def test_address_from_the_url_path(procs: list[Proc], peer: list[str], url: str) -> None:
    """As in the tutorial's ``-a localhost:5672/examples``: the path is the address."""
    p = start(procs, [*peer, "receive", "--url", f"{url}/defaults-path", "--count", "0"])
    p.wait_line("ready")
    result, lines = stop(p, 0)
    assert result["options"] == expected(
        "receive", url=url, address="defaults-path", count=0, timeout=0
    )
    assert [e["address"] for e in events(lines, "link_opened")] == ["defaults-path"]
