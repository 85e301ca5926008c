"""The ``interop`` command.

Every sub-command turns bad input into one line on stderr and exit 2;
``run`` exits 1 when a cell failed unexpectedly. Tracebacks are for harness
bugs only (set ``INTEROP_DEBUG=1`` to see them for any error).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from harness.commands import USAGE_EXIT, CliError, parts, results, run

#: the status of a command whose output pipe was closed (128 + SIGPIPE)
BROKEN_PIPE_EXIT = 141


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: its usage block would bury the reason (sub-commands too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="interop",
        description="AMQP 1.0 interoperability harness: scenarios x peers x brokers, traced from the wire.",
    )
    p.add_argument("--version", action="version", version=_version())
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
    r.add_argument(
        "--address-format",
        metavar="FORMAT",
        help="how url: brokers address a queue, instead of what their open frame suggests: "
        "bare, rabbitmq-v1, rabbitmq-v2, or a template such as '/queues/{name}'",
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
    r.add_argument(
        "--pairs",
        metavar="all|with:IMPL|self|cover",
        help="peer pairs: all (default on embedded brokers), every pair with IMPL, each "
        "with itself, or a cover that puts every implementation in every role against "
        "another (default on real brokers)",
    )
    r.add_argument("--peers-file", help="TOML file of external peers ([peers.NAME] command=...)")
    r.add_argument("--known", action="append", default=[], help="extra known-failures JSON file")
    r.add_argument("--out", help="output folder (default: a new folder under ./interop-results/)")
    r.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        help="parallel cells (default: one more than the number of CPUs, at most 4)",
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
    co = sub.add_parser("conform", help="check one implementation against the peer contract")
    co.add_argument("impl", help="a peer name, or NAME=COMMAND for a program of yours")
    co.add_argument("--peer", action="append", default=[], metavar="NAME=COMMAND")
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
    c.add_argument("--format", default="text", choices=["text", "markdown", "html"])
    c.add_argument("-o", "--output", help="write to a file instead of stdout")

    m = sub.add_parser("merge", help="join shard results")
    m.add_argument("results", nargs="+")
    m.add_argument("-o", "--output", required=True)

    im = sub.add_parser(
        "images", help="broker images built locally (build NAME | list)", add_help=False
    )
    im.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _version() -> str:
    """``interop X.Y.Z (amqp-interop, Python A.B.C)`` from the installed distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("amqp-interop")
    except PackageNotFoundError:  # a clone on PYTHONPATH, never installed
        mine = "unknown"
    return f"interop {mine} (amqp-interop, Python {sys.version.split()[0]})"


def _quiet_broken_pipe() -> int:
    """stdout's reader went away (``interop trace FILE | head``): no message, status 141.

    Later writes (and the flush at exit) go to /dev/null, so Python prints no
    "Exception ignored ... BrokenPipeError" either. 141 = 128 + SIGPIPE, what
    a shell reports for a program a closed pipe stopped.
    """
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured): nothing to silence
        pass
    return BROKEN_PIPE_EXIT


def main(argv: list[str] | None = None) -> int:
    """The ``interop`` command: parse, dispatch, and turn errors into one line and a status."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return status


def _main(argv: list[str] | None = None) -> int:
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
    except BrokenPipeError:
        raise  # main() ends quietly: the reader of our output went away
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
        "run": run.cmd_run,
        "peer": parts.cmd_peer,
        "broker": parts.cmd_broker,
        "peers": parts.cmd_peers,
        "brokers": parts.cmd_brokers,
        "scenarios": parts.cmd_scenarios,
        "images": parts.cmd_images,
        "trace": results.cmd_trace,
        "diff": results.cmd_diff,
        "report": results.cmd_report,
        "compare": results.cmd_compare,
        "merge": results.cmd_merge,
        "conform": lambda a: __import__("harness.commands.conform").commands.conform.cmd_conform(a),
    }[args.command]
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
