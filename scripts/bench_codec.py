"""Microseconds per frame for the codec's hot path: transfer, flow, disposition.

The tap decodes every frame on the forwarding path, so this is the number
that decides whether tracing slows a 20,000-message run down. Usage:

    python scripts/bench_codec.py [--frames N] [--chunk BYTES]

Frames are the ones proton writes for the at-least-once scenario (a small
message with an integer id and a {"sequence": i} body, credit, an accepted
disposition), fed in socket-sized chunks as the tap would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proton import Message  # noqa: E402

from harness.wire import Frame, FrameDecoder, encode_frame, encode_header  # noqa: E402


def _frames() -> dict[str, bytes]:
    msg = Message(id=12345, address="examples", body={"sequence": 12345}, durable=False).encode()
    return {
        "transfer": encode_frame(
            "transfer",
            {"handle": 0, "delivery_id": 12345, "delivery_tag": "3132333435", "message_format": 0},
            payload=msg,
        ),
        "flow": encode_frame(
            "flow",
            {
                "next_incoming_id": 12345,
                "incoming_window": 2147483647,
                "next_outgoing_id": 1,
                "outgoing_window": 2147483647,
                "handle": 0,
                "delivery_count": 12345,
                "link_credit": 10,
                "drain": False,
            },
        ),
        "disposition": encode_frame(
            "disposition",
            {"role": "receiver", "first": 12345, "settled": True, "state": {"type": "accepted"}},
        ),
    }


def _bench(frame: bytes, n: int, chunk: int, summary: bool) -> tuple[float, float]:
    """Best of 3: (CPU microseconds per frame, wall microseconds per frame).

    CPU time is the steadier figure on a shared machine; wall time is what a
    run feels.
    """
    stream = encode_header() + frame * n
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    best_cpu = best_wall = float("inf")
    for _ in range(3):
        dec = FrameDecoder()
        c0, w0 = time.process_time(), time.perf_counter()
        count = 0
        for c in chunks:
            for item in dec.feed(c):
                count += 1
                if summary and isinstance(item, Frame):
                    item.message  # noqa: B018
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        if count != n + 1:
            raise RuntimeError(f"decoded {count} items, expected {n + 1}")
    return best_cpu / n * 1e6, best_wall / n * 1e6


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line on stderr and exit 2, not argparse's usage block."""
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    p = _Parser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=20000, help="frames per measurement")
    p.add_argument("--chunk", type=int, default=65536, help="bytes per feed() call")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.frames < 1 or args.chunk < 1:
        print("error: --frames and --chunk must be positive", file=sys.stderr)
        return 2
    print(
        f"{args.frames} frames each, {args.chunk}-byte chunks, best of 3 (microseconds per frame)"
    )
    print(f"  {'frame':<14} {'bytes':>5} {'cpu':>7} {'wall':>7}")
    for name, frame in _frames().items():
        cpu, wall = _bench(frame, args.frames, args.chunk, summary=False)
        print(f"  {name:<14} {len(frame):5d} {cpu:7.2f} {wall:7.2f}")
    frame = _frames()["transfer"]
    cpu, wall = _bench(frame, args.frames, args.chunk, summary=True)
    print(f"  {'transfer+msg':<14} {len(frame):5d} {cpu:7.2f} {wall:7.2f}  (with Frame.message)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head: not an error
        sys.stderr.close()
        sys.exit(0)
