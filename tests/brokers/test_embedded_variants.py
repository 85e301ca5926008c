"""``embedded:NAME``: the embedded broker with one legal behaviour changed, on real sockets.

Why: a variant is only worth its name if the broker really behaves that way
(refuses ANONYMOUS, closes a silent peer, offers no relay, answers with
small frames, refuses or ignores a dynamic target but serves a dynamic
source); the interop cells on the variants (tests/interop/test_variants.py,
tests/scenarios/test_dynamic_target_refused.py) then prove the verdicts hold
on every such broker. Bad names are one line listing the known ones (exit 2
on the command line).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from proton.utils import BlockingConnection, LinkDetached

from harness import listing
from harness.brokers import registry
from harness.brokers.base import BrokerError
from harness.brokers.embedded import VARIANTS, EmbeddedBroker
from harness.brokers.probe import probe
from harness.capabilities import ANONYMOUS_RELAY
from harness.env import ROOT
from harness.wire.codec import Frame, FrameDecoder
from harness.wire.encode import encode_frame, encode_header

ISSUE_11 = {
    "presettled",
    "small-frames",
    "credit-trickle",
    "heartbeat",
    "no-relay",
    "batched-settle",
    "odd-dynamic",
    "sasl-plain",
}


@pytest.fixture
def variant(tmp_path) -> Iterator:
    started: list[EmbeddedBroker] = []

    def start(name: str) -> EmbeddedBroker:
        b = EmbeddedBroker(tmp_path / name, name=f"embedded:{name}")
        started.append(b)
        b.start()
        return b

    yield start
    for b in started:
        b.stop()


def test_every_variant_of_the_issue_is_there_and_listed():
    assert ISSUE_11 <= set(VARIANTS)
    table = listing.brokers_table()
    for v in VARIANTS.values():
        line = next(ln for ln in table.splitlines() if ln.startswith(f"embedded:{v.name} "))
        assert "available" in line and v.description in line


def test_an_unknown_variant_is_one_line_naming_the_known_ones():
    with pytest.raises(registry.UnknownBroker) as e:
        registry.parse_specs("embedded,embedded:nope")
    text = str(e.value)
    assert "\n" not in text and "unknown embedded broker variant 'nope'" in text
    assert all(f"embedded:{name}" in text for name in VARIANTS)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--broker", "embedded:nope", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "embedded:presettled" in proc.stderr


def test_sasl_plain_refuses_anonymous_and_wrong_passwords(variant):
    b = variant("sasl-plain")
    assert (b.user, b.password) == ("interop", "interop-secret")
    assert b.identity.product == "amqp-interop-broker"  # the harness's own probe used PLAIN
    assert "interop:interop-secret@" in b.url()
    with pytest.raises(BrokerError):
        probe(b.host, b.port, 3.0)
    with pytest.raises(BrokerError):
        probe(b.host, b.port, 3.0, user="interop", password="wrong")
    assert probe(b.host, b.port, 3.0, user="interop", password="interop-secret").product


def test_no_relay_offers_no_anonymous_relay_and_refuses_a_link_without_target(variant):
    b = variant("no-relay")
    assert "ANONYMOUS-RELAY" not in b.identity.offered_capabilities
    assert ANONYMOUS_RELAY not in b.capabilities
    conn = BlockingConnection(f"amqp://127.0.0.1:{b.port}", timeout=5)
    try:
        with pytest.raises(LinkDetached, match="not-implemented"):
            conn.create_sender(None)
        conn.create_sender("a-queue").close()  # a named target is fine
    finally:
        conn.close()


def _frames(sock: socket.socket, until: float) -> list[Frame]:
    """Frames the broker sends until it closes the connection or ``until`` (monotonic)."""
    return _read(sock, FrameDecoder(), until - time.monotonic(), to_close=True)


def test_heartbeat_advertises_1s_beats_and_closes_a_silent_peer_with_the_spec_error(variant):
    b = variant("heartbeat")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sock:
        # it asks for heartbeats (idle-time-out 1 s) but never sends one itself
        opening = encode_frame("open", {"container_id": "silent", "idle_time_out": 1000})
        sock.sendall(encode_header() + opening)
        t0 = time.monotonic()
        frames = _frames(sock, t0 + 10)
        waited = time.monotonic() - t0
    opened = next(f for f in frames if f.name == "open")
    assert opened.performative.fields["idle_time_out"] == 1000
    assert [f.name for f in frames].count("empty") >= 2  # the broker's heartbeats meanwhile
    close = frames[-1]
    assert close.name == "close", [f.name for f in frames]
    assert close.performative.fields["error"]["condition"] == "amqp:resource-limit-exceeded"
    assert 1.5 <= waited <= 6.0  # twice the advertised time-out (2.4.5), not at once


def test_small_frames_advertises_512_and_small_session_windows(variant):
    b = variant("small-frames")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sock:
        begin = {"next_outgoing_id": 0, "incoming_window": 100, "outgoing_window": 100}
        sock.sendall(
            encode_header()
            + encode_frame("open", {"container_id": "c"})
            + encode_frame("begin", begin)
        )
        frames = []
        deadline = time.monotonic() + 5
        while not any(f.name == "begin" for f in frames) and time.monotonic() < deadline:
            frames += _frames(sock, time.monotonic() + 0.3)
    fields = {f.name: f.performative.fields for f in frames if f.performative is not None}
    assert fields["open"]["max_frame_size"] == 512
    assert fields["begin"]["incoming_window"] <= 4 and fields["begin"]["outgoing_window"] <= 4


TEMP_QUEUE = "temp-queue"  # a JMS temporary queue: a sender whose target is dynamic (3.5.4)
REPLY = "reply"  # the tutorial's reply receiver: a dynamic source (3.5.3)


def _read(
    sock: socket.socket, decoder: FrameDecoder, wait: float, to_close: bool = False
) -> list[Frame]:
    """The frames the broker sends in the next ``wait`` seconds (one decoder per connection),
    or, ``to_close``, until its close frame."""
    out: list[Frame] = []
    sock.settimeout(0.2)
    until = time.monotonic() + wait
    while time.monotonic() < until:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            break
        out += [f for f in decoder.feed(data) if isinstance(f, Frame)]
        if to_close and any(f.name == "close" for f in out):
            break
    return out


def _ask_for_both(sock: socket.socket, decoder: FrameDecoder, wait: float) -> list[Frame]:
    """A dynamic target, then a dynamic source, on one session; the broker's frames for a while."""
    begin = {"next_outgoing_id": 0, "incoming_window": 100, "outgoing_window": 100}
    target = {"name": TEMP_QUEUE, "handle": 0, "role": "sender", "target": {"dynamic": True}}
    source = {"name": REPLY, "handle": 1, "role": "receiver", "source": {"dynamic": True}}
    sock.sendall(
        encode_header()
        + encode_frame("open", {"container_id": "c"})
        + encode_frame("begin", begin)
        + encode_frame("attach", {**target, "source": {"address": "me"}})
        + encode_frame("attach", {**source, "target": {}})
    )
    return _read(sock, decoder, wait)


def _attaches(frames: list[Frame]) -> dict[str, dict]:
    return {
        f.performative.fields["name"]: f.performative.fields for f in frames if f.name == "attach"
    }


def test_the_default_broker_answers_a_dynamic_target_with_an_address(embedded_broker):
    """The control: what the two dynamic-target variants below take away."""
    with socket.create_connection(("127.0.0.1", embedded_broker.port), timeout=5) as sock:
        answers = _attaches(_ask_for_both(sock, FrameDecoder(), 1.0))
    assert answers[TEMP_QUEUE]["target"]["address"]
    assert answers[REPLY]["source"]["address"]


def test_no_dynamic_target_refuses_it_the_spec_way_and_serves_dynamic_sources(variant):
    """2.6.3 (figure 2.33): an attach with a null target, then a detach with the error."""
    b = variant("no-dynamic-target")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sock:
        frames = _ask_for_both(sock, FrameDecoder(), 1.0)
    answers = _attaches(frames)
    assert answers[TEMP_QUEUE]["target"] is None
    detach = next(f.performative.fields for f in frames if f.name == "detach")
    assert detach["handle"] == answers[TEMP_QUEUE]["handle"] and detach["closed"] is True
    assert detach["error"]["condition"] == "amqp:not-implemented"
    assert detach["error"]["description"] == "dynamic targets are not supported"
    assert answers[REPLY]["source"]["address"]  # a dynamic receiver still gets its node
    assert "refuses dynamic targets" in VARIANTS["no-dynamic-target"].description


def test_silent_dynamic_target_never_answers_it_and_serves_dynamic_sources(variant):
    b = variant("silent-dynamic-target")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sock:
        decoder = FrameDecoder()
        answers = _attaches(_ask_for_both(sock, decoder, 1.5))
        assert TEMP_QUEUE not in answers  # asked first, and still unanswered 1.5 s later
        assert answers[REPLY]["source"]["address"]
        # the client gives up: its detach is answered, with a null target (no node was made)
        sock.sendall(encode_frame("detach", {"handle": 0, "closed": True}))
        frames = _read(sock, decoder, 1.0)
    assert _attaches(frames)[TEMP_QUEUE]["target"] is None
    detach = next(f.performative.fields for f in frames if f.name == "detach")
    assert detach["closed"] is True and detach.get("error") is None
    assert "unanswered" in VARIANTS["silent-dynamic-target"].description


def test_the_dynamic_target_option_takes_only_its_three_values():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "peers/python/broker.py"), "--dynamic-target", "maybe"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "invalid choice" in proc.stderr
