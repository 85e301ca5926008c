"""The ``interop`` command.

Every sub-command turns bad input into one line on stderr and exit 2;
``run`` exits 1 when a cell failed unexpectedly. Tracebacks are for harness
bugs only (set ``INTEROP_DEBUG=1`` to see them for any error).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import NoReturn

USAGE_EXIT = 2


class CliError(Exception):
    """A user error: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: its usage block would bury the reason (sub-commands too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="interop",
        description="AMQP 1.0 interoperability harness: scenarios x peers x brokers, traced from the wire.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run the matrix and print it (default: every scenario, every "
        "available peer, embedded broker)",
    )
    r.add_argument(
        "--broker",
        default="embedded",
        help="comma list: embedded, rabbitmq, container:NAME, url:amqp://HOST:PORT",
    )
    r.add_argument("--peers", help="comma list of implementations (default: every available one)")
    r.add_argument("--scenario", help="comma list of scenarios (default: all)")
    r.add_argument("--fault", help="comma list of fault plans (default: all of each scenario)")
    r.add_argument("--cell", action="append", help="run only this cell id (repeatable)")
    r.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="add an external peer: NAME=COMMAND, NAME[listen,reconnect]=COMMAND, "
        "or NAME=handler:MODULE:CLASS[:ROLES]",
    )
    r.add_argument("--peers-file", help="TOML file of external peers ([peers.NAME] command=...)")
    r.add_argument("--known", action="append", default=[], help="extra known-failures JSON file")
    r.add_argument("--out", help="output folder (default: a new folder under ./interop-results/)")
    r.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        help="parallel cells (default: number of CPUs, at most 4)",
    )
    r.add_argument(
        "--strict", action="store_true", help="an XPASS (stale known failure) fails the run"
    )
    r.add_argument("--shard", help="K/N: run only the K-th of N slices of the cells")
    r.add_argument("--count", type=int, help="override each scenario's message count")
    r.add_argument("--timeout", type=float, help="override each cell's timeout (seconds)")
    r.add_argument(
        "--format", default="text", choices=["text", "markdown"], help="how to print the matrix"
    )
    r.add_argument("--list", action="store_true", help="list the cells and exit")

    pe = sub.add_parser("peer", help="run one reference peer (the peer contract)", add_help=False)
    pe.add_argument("impl")
    pe.add_argument("rest", nargs=argparse.REMAINDER)

    b = sub.add_parser("broker", help="run a broker in the foreground and print its URL")
    b.add_argument("provider")

    sub.add_parser("peers", help="list peer implementations, availability and versions")
    sub.add_parser("brokers", help="list broker providers and availability")
    sub.add_parser("scenarios", help="list scenarios and their fault plans")

    t = sub.add_parser("trace", help="print a cell's trace (or draw it)")
    t.add_argument("file")
    t.add_argument("--svg", metavar="OUT", help="write a sequence diagram as SVG")
    t.add_argument("--conn", help="only this connection (c1, c2 ...)")
    t.add_argument("--frames", action="store_true", help="only wire frames")

    d = sub.add_parser("diff", help="compare two implementations' handshakes")
    d.add_argument("a")
    d.add_argument("b")

    rp = sub.add_parser("report", help="render results.json")
    rp.add_argument("results")
    rp.add_argument("--format", default="text", choices=["text", "markdown", "html", "junit"])
    rp.add_argument("-o", "--output", help="write to a file instead of stdout")

    c = sub.add_parser("compare", help="verdict changes between two runs")
    c.add_argument("old")
    c.add_argument("new")

    m = sub.add_parser("merge", help="join shard results")
    m.add_argument("results", nargs="+")
    m.add_argument("-o", "--output", required=True)

    im = sub.add_parser(
        "images", help="broker images built locally (build NAME | list)", add_help=False
    )
    im.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return USAGE_EXIT
    try:
        return _dispatch(args)
    except CliError as e:
        print(f"interop: error: {e}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print("interop: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("INTEROP_DEBUG"):
            raise
        from harness.brokers.base import BrokerError

        if isinstance(e, BrokerError | ValueError | OSError):
            print(f"interop: error: {e}", file=sys.stderr)
            return USAGE_EXIT if isinstance(e, ValueError) else 1
        print(
            f"interop: internal error: {type(e).__name__}: {e} (INTEROP_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    handler = {
        "run": cmd_run,
        "peer": cmd_peer,
        "broker": cmd_broker,
        "peers": cmd_peers,
        "brokers": cmd_brokers,
        "scenarios": cmd_scenarios,
        "trace": cmd_trace,
        "diff": cmd_diff,
        "report": cmd_report,
        "compare": cmd_compare,
        "merge": cmd_merge,
        "images": cmd_images,
    }[args.command]
    return handler(args)


# -- run ---------------------------------------------------------------------


def _selection(args: argparse.Namespace):
    from harness.selection import Selection

    return Selection(
        broker=args.broker,
        peers=args.peers,
        scenario=args.scenario,
        fault=args.fault,
        cells=args.cell or (),
        extra_peers=args.peer,
        peers_file=args.peers_file,
        known_files=args.known,
        count=args.count,
        timeout=args.timeout,
        only_available_peers=True,
    )


def _out_dir(text: str | None) -> Path:
    out = Path(text) if text else Path("interop-results") / time.strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"--out {out}: {e.strerror or e}") from None
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from harness.cell_state import RunOptions
    from harness.matrix.results import exit_code
    from harness.process import install_signal_handlers
    from harness.selection import SelectionError, shard
    from harness.session import Session, now_iso, print_progress

    install_signal_handlers()
    if args.jobs < 0:
        raise CliError("-j must be >= 0")
    jobs = args.jobs or min(4, os.cpu_count() or 1)
    try:
        # the folder is made only once the selection is known to be good
        session = Session.from_selection(
            _selection(args), RunOptions(out_dir=Path()), jobs=jobs, progress=print_progress
        )
        cells = shard(args.shard, session.cells)
    except SelectionError as e:
        raise CliError(str(e)) from None
    if args.list:
        for c in cells:
            print(c.id)
        return 0
    if not cells:
        raise CliError("no cells to run for this selection")
    out = _out_dir(args.out)
    session.opts.out_dir = out
    for n in session.notes:
        print(f"interop: {n}", file=sys.stderr)
    print(
        f"interop: {len(cells)} cells, {min(jobs, len(cells))} in parallel, artifacts in {out}/",
        file=sys.stderr,
    )
    started, started_at = time.monotonic(), now_iso()
    results = session.run(cells)
    run = session.result(results, "interop " + shlex.join(sys.argv[1:]), started, started_at)
    run.save(out / "results.json")
    try:
        text = _render(run, args.format)
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
    except BrokenPipeError:  # `interop run | head`: the verdicts still decide the exit code
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print(f"results: {out / 'results.json'}  ({run.duration_s:.1f} s)", file=sys.stderr)
    return exit_code(run, args.strict)


def _render(run, fmt: str) -> str:
    from harness.matrix import report

    return report.render(run, fmt)


# -- single parts --------------------------------------------------------------


def cmd_peer(args: argparse.Namespace) -> int:
    from harness.peers import PeerRegistry, PeerUnavailable, UsageError

    try:
        impl = PeerRegistry().get(args.impl)
        argv = impl.argv() + list(args.rest)
    except UsageError as e:
        raise CliError(str(e)) from None
    except PeerUnavailable as e:
        print(f"interop: {e}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 1  # pragma: no cover


def cmd_broker(args: argparse.Namespace) -> int:
    import signal
    import tempfile

    from harness.brokers import registry as brokers
    from harness.brokers.base import BrokerError

    try:
        prov = brokers.provider(args.provider)
    except ValueError as e:
        raise CliError(str(e)) from None
    reason = prov.unavailable()
    if reason:
        print(f"interop: broker {args.provider} is not available here: {reason}", file=sys.stderr)
        return 1
    stop = [False]

    def on_signal(signum: int, frame: object) -> None:
        stop[0] = True

    # the broker's scratch folder (its store, its logs) goes when the broker does
    with tempfile.TemporaryDirectory(prefix="interop-broker-") as workdir:
        broker = prov.create(args.provider, workdir)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            broker.start()
            ident = broker.identity
            print(broker.url(), flush=True)
            print(
                f"interop: {args.provider}: {ident.product} {ident.version} "
                f"(capabilities offered: {', '.join(ident.offered_capabilities) or 'none'}); "
                "Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            while not stop[0]:
                time.sleep(0.2)
        except BrokerError as e:
            print(f"interop: {e}", file=sys.stderr)
            return 1
        finally:
            broker.stop()
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    from harness.listing import peers_table
    from harness.peers import PeerRegistry

    print(peers_table(list(PeerRegistry().impls.values())), end="")
    return 0


def cmd_brokers(args: argparse.Namespace) -> int:
    from harness.listing import brokers_table

    print(brokers_table(), end="")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    import scenarios

    for s in scenarios.all_scenarios().values():
        roles = " x ".join(
            f"{r.label}({r.peer_role}{', listens' if r.listen else ''})" for r in s.roles
        )
        print(f"{s.name:<18} {s.topology:<7} {roles}")
        print(f"{'':<18} faults: {', '.join(f.name for f in s.faults)}")
        print(f"{'':<18} {s.description}")
    return 0


def _read_trace(path: str):
    from harness.trace.jsonl import read_trace

    p = Path(path)
    if p.is_dir():
        p = p / "trace.jsonl"
    if not p.exists():
        raise CliError(f"{path}: no such trace file")
    return read_trace(p)


def cmd_trace(args: argparse.Namespace) -> int:
    from harness.trace.model import FRAME
    from harness.trace.render import render_trace

    events = _read_trace(args.file)
    if args.svg:
        from harness.trace.svg import render_svg

        Path(args.svg).write_text(render_svg(events))
        print(f"wrote {args.svg}", file=sys.stderr)
        return 0
    keep = (lambda e: e.kind == FRAME) if args.frames else None
    print(render_trace(events, conn=args.conn, keep=keep))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.trace.diff import diff_traces, render_diff

    a, b = _read_trace(args.a), _read_trace(args.b)
    print(render_diff(diff_traces(a, b)))
    return 0


def _load_run(path: str):
    from harness.matrix.results import RunResult

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise CliError(f"{path}: no such results file")
    try:
        return RunResult.load(p)
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_report(args: argparse.Namespace) -> int:
    run = _load_run(args.results)
    text = _render(run, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.matrix import compare

    old, new = _load_run(args.old), _load_run(args.new)
    changes = compare.compare(old, new)
    print(compare.render_changes(changes))
    return compare.compare_exit_code(changes)


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.matrix import merge

    runs = [_load_run(p) for p in args.results]
    try:
        merged = merge.merge(runs)
    except ValueError as e:
        raise CliError(str(e)) from None
    merged.save(args.output)
    print(
        f"merged {len(runs)} results, {len(merged.cells)} cells -> {args.output}", file=sys.stderr
    )
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from harness import images

    try:
        return images.main(args.rest or ["--help"])
    except SystemExit as e:  # argparse: usage errors exit 2, --help exits 0
        return int(e.code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
