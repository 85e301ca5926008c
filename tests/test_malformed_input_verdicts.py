"""Malformed input from a foreign implementation ends in a clean verdict that says so.

A real cell (direct scenario, the Python sender through the tap) against an
external "listener" that answers the AMQP header with a frame no decoder can
read, and prints garbage on stdout (deep nesting, NaN, invalid UTF-8). The
verdict is ``fail`` (the implementation's fault, not the harness's), its
headline names the sender of the bad frame and the offset, and no traceback
appears anywhere in the reason.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import harness.scenarios as scenarios

from harness.cells import generate
from harness.checks import malformed_frames
from harness.peers import PeerRegistry, parse_peer_option
from harness.pipeline import RunOptions, run_cell
from harness.trace.model import HARNESS, TraceEvent

#: listens, prints a ready line, answers with a frame whose descriptor is unknown
GARBAGE_LISTENER = r"""
import json, socket, sys
w = sys.stdout.buffer.write
srv = socket.create_server(("127.0.0.1", 0))
srv.settimeout(20)
w(b'{"a":' * 5000 + b"\n")  # json.loads: RecursionError
w(b'{"kind": "event", "name": "x", "n": NaN}\n\xff\xfe\n')
w(json.dumps({"kind": "ready", "url": "amqp://127.0.0.1:%d" % srv.getsockname()[1]}).encode())
w(b"\n")
sys.stdout.flush()
c, _ = srv.accept()
c.settimeout(10)
c.recv(8)  # the client's protocol header
body = b"\x00\x53\x99\x45"  # described(0x99, empty list): no such performative
c.sendall(b"AMQP\x00\x01\x00\x00" + (8 + len(body)).to_bytes(4, "big") + b"\x02\x00\x00\x00" + body)
try:
    while c.recv(65536):
        pass
except OSError:
    pass
w(b'{"kind": "result", "ok": false, "received": 0}\n')
sys.exit(1)
"""


def test_a_malformed_frame_and_garbage_output_give_a_fail_that_says_so(tmp_path):
    prog = tmp_path / "garbage_listener.py"
    prog.write_text(textwrap.dedent(GARBAGE_LISTENER))
    bad = parse_peer_option(f"bad[listen]={sys.executable} {prog}")
    registry = PeerRegistry([bad])
    cells = [
        c
        for c in generate(scenarios.select(["direct"]), [registry.get("python"), bad], [""])
        if c.role_map == {"sender": "python", "receiver": "bad"}
    ]
    assert cells
    res = run_cell(cells[0], None, registry, RunOptions(out_dir=tmp_path, count=3, timeout=15))
    assert res.verdict == "fail", res.reason  # the implementation's fault, not an error
    assert "Traceback" not in res.reason
    artifacts = Path(res.artifacts)
    if not artifacts.is_absolute():
        artifacts = tmp_path / artifacts
    failures = json.loads((artifacts / "verdict.json").read_text())["failures"]
    said = {f["rule"]: f["message"] for f in failures}
    assert said["wire-malformed"] == (
        "malformed frame from receiver on c1 at offset 8: unknown performative descriptor 0x99"
    )
    assert said["contract-output"].startswith("receiver (bad) printed non-JSON on stdout: ")
    assert res.reason.startswith(("[contract-output] receiver (bad)", "[wire-malformed] "))


def test_malformed_frames_reads_the_taps_decode_errors():
    def err(reason: str, src: str = "broker") -> TraceEvent:
        fields = {"offset": 8, "reason": reason}
        return TraceEvent(
            t=1.0, kind=HARNESS, name="decode-error", conn="c2", src=src, fields=fields
        )

    trace = [err("frame size 3 < 8"), err("TLS-encrypted bytes follow; cannot decode", "sender")]
    [f] = malformed_frames(trace)
    assert f.rule == "wire-malformed"
    assert f.message == "malformed frame from broker on c2 at offset 8: frame size 3 < 8"
