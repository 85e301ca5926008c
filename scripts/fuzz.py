"""Long fuzz run of every decoder that reads untrusted bytes; prints one row per target.

The suite's hypothesis tests run a few hundred inputs per property; this
script runs as many as you ask for, per target, and counts what happened:

    python scripts/fuzz.py [--runs N] [--targets frames,sasl,...] [--engine auto|atheris|hypothesis]
                           [--max-len BYTES] [--out DIR]

Targets: ``frames`` (the tap's stream decoder: protocol headers, framing,
chunking), ``performative`` (a frame body in an intact AMQP frame),
``sasl`` (a frame body in an intact SASL frame), ``values`` (an AMQP value
as a field of an open), ``message`` (a transfer payload's summary),
``peer-line`` (a peer's stdout line), ``trace-line`` (a line of a trace
file), ``probe-open`` (the properties and capabilities of a broker's open).

A target may raise only its own error type (``DecodeError``, the trace
reader's one-line ``ValueError``); anything else is a crash, and so is an
input that takes over a second. Crashing inputs are saved in ``--out``.
The last line is ``N targets, I inputs, C crashes`` and the exit status is
1 when C > 0.

Engines: ``atheris`` (coverage-guided libFuzzer, from PyPI; not a
dependency of the package: ``pip install atheris``) when importable, else
``hypothesis`` (random bytes and mutated valid encodings).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLOW_S = 1.0  # an input that takes longer than this counts as a crash (a hang in the making)


# --------------------------------------------------------------------------- targets


def _json_ok(item: object) -> None:
    fields = getattr(getattr(item, "performative", None), "fields", None)
    json.dumps(fields, allow_nan=False)
    json.dumps(getattr(item, "message", None), allow_nan=False)


def _feed(stream: bytes, step: int = 0) -> None:
    from harness.wire import FrameDecoder

    dec = FrameDecoder(max_frame_size=1 << 20)
    chunks = [stream[i : i + step] for i in range(0, len(stream), step)] if step else [stream]
    try:
        for c in chunks:
            for item in dec.feed(c):
                _json_ok(item)
        dec.eof()
    except Exception as e:
        for item in getattr(e, "items", []):
            _json_ok(item)
        reason = getattr(e, "reason", "")
        if "\n" in reason or len(reason) > 300:
            raise AssertionError(f"reason is not one short line: {reason[:80]!r}") from None
        raise


def t_frames(data: bytes) -> None:
    from harness.wire import encode_header

    mode = data[0] % 4 if data else 0
    step = data[1] % 9 if len(data) > 1 else 0
    prefix = (b"", encode_header(0), encode_header(3), b"")[mode]
    _feed(prefix + data[2:], step)


def _framed(body: bytes, ftype: int) -> bytes:
    from harness.wire import encode_header

    head = encode_header(3 if ftype else 0)
    return head + (8 + len(body)).to_bytes(4, "big") + bytes((2, ftype, 0, 0)) + body


def t_performative(data: bytes) -> None:
    _feed(_framed(data, 0))


def t_sasl(data: bytes) -> None:
    _feed(_framed(data, 1))


def t_values(data: bytes) -> None:
    elems = b"\xa1\x01c" + b"\x40" * 8 + data  # open: container-id, 8 nulls, properties = data
    lst = b"\xd0" + (len(elems) + 4).to_bytes(4, "big") + (10).to_bytes(4, "big") + elems
    _feed(_framed(b"\x00\x53\x10" + lst, 0))


def t_message(data: bytes) -> None:
    from harness.wire.message import summarize_message

    json.dumps(summarize_message(data), allow_nan=False)


def t_peer_line(data: bytes) -> None:
    from harness.peer_lines import parse_line

    obj = parse_line(data.decode("utf-8", "replace").rstrip("\r\n"))
    if obj is not None:
        json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")


_TRACE = Path(tempfile.gettempdir()) / f"fuzz-trace-{os.getpid()}.jsonl"


def t_trace_line(data: bytes) -> None:
    from harness.trace.jsonl import read_trace
    from harness.trace.svg import render_svg

    _TRACE.write_bytes(data)
    render_svg(read_trace(_TRACE))


class _Conn:
    """What the probe reads off proton's connection, converted the way proton converts it."""

    def __init__(self, props: bytes, caps: bytes) -> None:
        self._p, self._c = props, caps
        self.remote_container = "c"

    @staticmethod
    def _obj(b: bytes) -> object:
        from proton import Data

        d = Data()
        try:
            d.decode(b)
        except Exception:
            return None  # proton would not have accepted this open at all
        d.rewind()
        return d.get_object() if d.next() else None

    @property
    def remote_properties(self) -> object:
        return self._obj(self._p)

    @property
    def remote_offered_capabilities(self) -> object:
        from proton import SymbolList

        c = self._obj(self._c)
        return c and SymbolList(c)  # as proton.Connection does


def t_probe_open(data: bytes) -> None:
    from harness.brokers.probe import _identity

    cut = data[0] if data else 0
    ident = _identity(_Conn(data[1 : 1 + cut], data[1 + cut :]))
    json.dumps(ident.properties, allow_nan=False)


def _allowed() -> dict[str, tuple[type[BaseException], ...]]:
    from harness.wire import DecodeError

    return {
        "frames": (DecodeError,),
        "performative": (DecodeError,),
        "sasl": (DecodeError,),
        "values": (DecodeError,),
        "message": (),
        "peer-line": (),
        "trace-line": (ValueError,),
        "probe-open": (),
    }


TARGETS: dict[str, Callable[[bytes], None]] = {
    "frames": t_frames,
    "performative": t_performative,
    "sasl": t_sasl,
    "values": t_values,
    "message": t_message,
    "peer-line": t_peer_line,
    "trace-line": t_trace_line,
    "probe-open": t_probe_open,
}


def seeds(name: str) -> list[bytes]:
    """Valid inputs for a target: where mutation starts from."""
    from proton import Data, Message

    from harness.wire import encode_frame
    from tests.wire.proton_session import record_session

    if name == "frames":
        a = record_session(sasl="ANONYMOUS", big_body_size=3000)
        b = record_session(sasl=None, big_body_size=3000)
        return [b"\x02\x00" + bytes(a.client)[8:], b"\x02\x03" + bytes(a.server)[8:]] + [
            b"\x01\x00" + bytes(b.client)[8:],
            b"\x01\x05" + bytes(b.server)[8:],
        ]
    if name in ("performative", "sasl"):
        names = ["sasl_init", "sasl_outcome"] if name == "sasl" else ["open", "attach", "flow"]
        fields = {
            "sasl_init": {"mechanism": "PLAIN", "initial_response": b"\x00u\x00p"},
            "sasl_outcome": {"code": 0},
            "open": {"container_id": "c", "properties": {"product": "x"}},
            "attach": {"name": "l", "handle": 0, "role": "receiver", "source": {"address": "q"}},
            "flow": {"incoming_window": 1, "next_outgoing_id": 0, "outgoing_window": 1},
        }
        return [encode_frame(n, fields[n])[8:] for n in names]
    if name in ("values", "probe-open"):
        d = Data()
        d.put_map()
        d.enter()
        d.put_symbol("product")
        d.put_object([1, "x", {"k": b"\xff"}])
        d.exit()
        return [d.encode(), b"\x05" + d.encode()]
    if name == "message":
        return [Message(id=1, address="q", body={"sequence": 1}).encode()]
    if name == "peer-line":
        return [b'{"kind": "event", "name": "message", "id": 1, "body": {"sequence": 1}}']
    line = {"t": 0.5, "kind": "frame", "name": "open", "conn": "c1", "channel": 0, "fields": {}}
    return [json.dumps(line).encode() + b"\n"]


# --------------------------------------------------------------------------- counting


def _shape(e: BaseException) -> str:
    """An exception's kind: its type and reason with the numbers taken out."""
    text = re.sub(r"0x[0-9a-f]+|\d+", "N", str(getattr(e, "reason", None) or e))
    text = re.sub(r"'.*?'", "'...'", text)
    return f"{type(e).__name__}: {text[:60]}"


class Tally:
    """What one target did: inputs, distinct allowed errors, crashes (saved), time."""

    def __init__(self, name: str, out: Path) -> None:
        self.name, self.out = name, out
        self.allowed = _allowed()[name]
        self.fn = TARGETS[name]
        self.inputs = 0
        self.errors: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        self.slowest = 0.0
        for s in seeds(name):  # warm up (imports, caches): the first call is not the input's time
            try:
                self.fn(s)
            except Exception:
                pass
        self.t0 = time.monotonic()

    def run(self, data: bytes) -> None:
        self.inputs += 1
        t = time.perf_counter()
        try:
            self.fn(data)
        except self.allowed as e:
            self.errors[_shape(e)] += 1
        except Exception as e:  # anything else is the finding
            self._crash(_shape(e), data)
        took = time.perf_counter() - t
        if took > SLOW_S:  # on a loaded machine one slow run proves little: the best of three
            took = min(took, *(self._time(data) for _ in range(2)))
        self.slowest = max(self.slowest, took)
        if took > SLOW_S:
            self._crash(f"slow: {took:.1f} s", data)

    def _time(self, data: bytes) -> float:
        t = time.perf_counter()
        try:
            self.fn(data)
        except Exception:
            pass
        return time.perf_counter() - t

    def _crash(self, shape: str, data: bytes) -> None:
        self.crashes[shape] += 1
        if self.crashes[shape] <= 3:
            path = self.out / f"crash-{self.name}-{len(self.crashes)}-{self.crashes[shape]}.bin"
            path.write_bytes(data)

    def row(self) -> dict[str, object]:
        return {
            "target": self.name,
            "inputs": self.inputs,
            "distinct_errors": len(self.errors),
            "crashes": sum(self.crashes.values()),
            "crash_kinds": dict(self.crashes),
            "slowest_ms": round(self.slowest * 1000, 1),
            "seconds": round(time.monotonic() - self.t0, 1),
        }


# --------------------------------------------------------------------------- engines


def run_hypothesis(tally: Tally, runs: int, max_len: int) -> None:
    """Random bytes and mutated seeds, ``runs`` inputs, no shrinking (every input is counted)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from tests.wire.amqp_strategies import mutate, mutation

    base = seeds(tally.name)
    inputs = st.binary(max_size=max_len) | st.builds(
        mutate, st.sampled_from(base), st.lists(mutation, min_size=1, max_size=6)
    )

    @settings(
        max_examples=runs,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def fuzz(data: bytes) -> None:
        tally.run(data)

    fuzz()


def run_atheris(tally: Tally, runs: int, max_len: int) -> None:
    """Coverage-guided: libFuzzer mutates from the seeds; stops after ``runs`` inputs."""
    import atheris

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{tally.name}-"))
    for i, s in enumerate(seeds(tally.name)):
        (corpus / f"seed{i}").write_bytes(s)

    def one(data: bytes) -> None:
        tally.run(data)
        if tally.inputs >= runs:
            (tally.out / f"{tally.name}.json").write_text(json.dumps(tally.row()))
            os._exit(0)

    argv = [sys.argv[0], f"-max_len={max_len}", "-timeout=30", "-rss_limit_mb=4096", str(corpus)]
    atheris.Setup(argv, one)
    atheris.Fuzz()


def _child(name: str, runs: int, max_len: int, out: Path) -> int:
    """One target under atheris, in this process (libFuzzer ends the process when done)."""
    import atheris

    with atheris.instrument_imports(include=["harness"]):
        import harness.brokers.probe  # noqa: F401
        import harness.peer_lines  # noqa: F401
        import harness.trace.jsonl  # noqa: F401
        import harness.wire.codec  # noqa: F401
    run_atheris(Tally(name, out), runs, max_len)
    return 0


def _in_child(name: str, args: argparse.Namespace) -> dict[str, object]:
    """Run one atheris target in a child process; a child that dies is a crash too."""
    log = args.out / f"{name}.log"
    argv = [sys.executable, __file__, "--child", name, "--runs", str(args.runs)]
    argv += ["--max-len", str(args.max_len), "--out", str(args.out)]
    t0 = time.monotonic()
    with open(log, "wb") as fp:
        rc = subprocess.run(argv, stdout=fp, stderr=fp, timeout=args.budget, check=False).returncode
    stats = args.out / f"{name}.json"
    if rc == 0 and stats.exists():
        return json.loads(stats.read_text())
    return {
        "target": name,
        "inputs": "?",
        "distinct_errors": "?",
        "crashes": 1,
        "crash_kinds": {f"child exited {rc} (see {log})": 1},
        "slowest_ms": "?",
        "seconds": round(time.monotonic() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000, help="inputs per target")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    ap.add_argument("--max-len", type=int, default=4096, help="longest input in bytes")
    ap.add_argument("--out", type=Path, default=None, help="where crashing inputs go")
    ap.add_argument("--budget", type=float, default=3600.0, help="seconds per target at most")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out = args.out or Path(tempfile.mkdtemp(prefix="fuzz-"))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:
        return _child(args.child, args.runs, args.max_len, args.out)
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"fuzz.py: unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return 2
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    print(f"engine {engine}, {args.runs} inputs per target, crashing inputs in {args.out}")
    print(f"{'target':<14}{'inputs':>9}{'errors':>8}{'crashes':>9}{'slowest ms':>12}{'s':>8}")
    rows = []
    for name in names:
        if engine == "atheris":
            row = _in_child(name, args)
        else:
            tally = Tally(name, args.out)
            run_hypothesis(tally, args.runs, args.max_len)
            row = tally.row()
        rows.append(row)
        print(
            f"{name:<14}{row['inputs']:>9}{row['distinct_errors']:>8}{row['crashes']:>9}"
            f"{row['slowest_ms']:>12}{row['seconds']:>8}"
        )
        for kind, n in dict(row["crash_kinds"]).items():  # type: ignore[call-overload]
            print(f"  crash x{n}: {kind}")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    crashes = sum(int(r["crashes"]) for r in rows)  # type: ignore[call-overload]
    total = sum(r["inputs"] for r in rows if isinstance(r["inputs"], int))
    print(f"{len(rows)} targets, {total} inputs, {crashes} crashes")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
