"""Without cproton (a differently built proton), the Data-method path decodes the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.wire import Frame, FrameDecoder
from harness.wire.proton_adapter import FAST_PATH

from .proton_session import record_session

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import json, sys
import proton  # noqa: F401  (proton itself needs cproton)
sys.modules["cproton"] = None  # now our "import cproton" fails
from harness.wire import Frame, FrameDecoder
from harness.wire.proton_adapter import FAST_PATH
assert not FAST_PATH
out = []
for item in FrameDecoder().feed(sys.stdin.buffer.read()):
    if isinstance(item, Frame):
        out.append([item.name, item.performative.fields if item.performative else None,
                    item.message])
print(json.dumps(out))
"""


def _fast(data: bytes) -> list:
    out = []
    for item in FrameDecoder().feed(data):
        if isinstance(item, Frame):
            p = item.performative
            out.append([item.name, p.fields if p else None, item.message])
    return json.loads(json.dumps(out))


def test_fallback_path_matches_fast_path():
    assert FAST_PATH
    rec = record_session(sasl="ANONYMOUS", big_body_size=5000)
    for data in (bytes(rec.client), bytes(rec.server)):
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=data,
            capture_output=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert json.loads(proc.stdout) == _fast(data)
