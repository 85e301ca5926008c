"""The probe reads a broker's open frame: whatever the broker sends, an identity or a BrokerError.

A ``url`` broker is anybody's server, so its open frame is untrusted input.
Properties that are not a map, capabilities that are not symbols, binary
values: the probe must return an identity with plain JSON values, or fail
with ``BrokerError`` on one line; never proton's TypeError (which ended
``interop run --broker url:...`` as "internal error").
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proton import Data

from harness.brokers.base import BrokerError
from harness.brokers.probe import _CLEANUP_GRACE, probe
from harness.wire import encode_frame, encode_header

from ..wire.amqp_strategies import amqp_value, mutate, mutation, put_value

cfg = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _open(caps: bytes = b"\x40", props: bytes = b"\x40") -> bytes:
    """An open frame with these encoded offered-capabilities and properties fields."""
    elems = b"\xa1\x01c" + b"\x40" * 6 + caps + b"\x40" + props
    lst = b"\xd0" + (len(elems) + 4).to_bytes(4, "big") + (10).to_bytes(4, "big") + elems
    body = b"\x00\x53\x10" + lst
    return (8 + len(body)).to_bytes(4, "big") + b"\x02\x00\x00\x00" + body


def _encoded(put: tuple) -> bytes:
    d = Data()
    put_value(d, put)
    return d.encode()


def _broker_saying(reply: bytes, hold: float = 0.5) -> int:
    """A one-connection server: SASL ANONYMOUS accepted, then ``reply`` after the AMQP header.

    It answers the client's close, or hangs up after ``hold`` seconds of silence.
    """
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def run() -> None:
        try:
            c, _ = srv.accept()
        except OSError:
            srv.close()
            return
        with c, srv:
            c.settimeout(max(hold, 3.0))
            try:
                c.recv(65536)
                mechs = encode_frame("sasl_mechanisms", {"sasl_server_mechanisms": ["ANONYMOUS"]})
                c.sendall(encode_header(3) + mechs)
                c.recv(65536)
                c.sendall(encode_frame("sasl_outcome", {"code": 0}) + encode_header(0) + reply)
                c.settimeout(hold)
                seen = b""
                while b"\x00\x53\x18" not in seen and (data := c.recv(65536)):
                    seen += data  # answer the client's close at once: no wait for a timeout
                c.sendall(encode_frame("close"))
            except OSError:
                pass

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def _probe(reply: bytes) -> None:
    port = _broker_saying(reply)
    try:
        ident = probe("127.0.0.1", port, timeout=1)
    except BrokerError as e:
        assert "\n" not in str(e)
        return
    json.dumps(ident.properties, allow_nan=False)
    assert all(isinstance(c, str) for c in ident.offered_capabilities)
    assert isinstance(ident.product, str) and isinstance(ident.version, str)


@cfg
@given(amqp_value, amqp_value)
def test_any_properties_and_capabilities(props, caps) -> None:
    _probe(_open(caps=_encoded(caps[0]), props=_encoded(props[0])))


@settings(cfg, max_examples=10)
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_open_frames(muts) -> None:
    good = _open(props=b"\xc1\x11\x02\xa3\x07product\xa1\x06broker")
    _probe(mutate(good, muts))


def test_the_opens_that_used_to_raise() -> None:
    for caps, props in [
        (b"\x40", b"\xc0\x03\x02\x50\x01"),  # properties: a list
        (b"\x52\x05", b"\x40"),  # offered capabilities: an int
        (b"\xc0\x04\x01\xc0\x01\x00", b"\x40"),  # capabilities: a list holding a list
        (b"\x40", b"\xc1\x0d\x02\xa3\x07product\xa0\x01\xff"),  # binary product
    ]:
        port = _broker_saying(_open(caps, props))
        ident = probe("127.0.0.1", port, timeout=3)
        json.dumps(ident.properties)
        assert "memory at" not in ident.product
    big_char = b"\xc1\x0b\x02\xa3\x07product\x73\xff\xff\xff\xff"  # a char beyond Unicode
    json.dumps(probe("127.0.0.1", _broker_saying(_open(props=big_char)), timeout=3).properties)
    bad_utf8 = _open().replace(b"\xa1\x01c", b"\xa1\x01\xff")  # container-id not UTF-8
    assert probe("127.0.0.1", _broker_saying(bad_utf8), timeout=3).container_id == ""


def test_a_broker_stalled_mid_frame_is_a_timeout() -> None:
    """Half an open frame, then silence on an open socket: proton's close() waited for good."""
    port = _broker_saying(_open()[:20], hold=20.0)
    started = time.monotonic()
    with pytest.raises(BrokerError, match="no AMQP open from .* within 1 s"):
        probe("127.0.0.1", port, timeout=1)
    # bounded by the probe's timeout and cleanup grace, not by the server (it holds on 20 s)
    assert time.monotonic() - started < 1 + _CLEANUP_GRACE + 10
