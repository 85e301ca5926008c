"""``interop run``: a selection through a session, the matrix printed, results.json written."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from harness.commands import CliError


def _selection(args: argparse.Namespace):
    from harness.selection import Selection

    return Selection(
        broker=args.broker,
        address_format=args.address_format,
        peers=args.peers,
        scenario=args.scenario,
        fault=args.fault,
        cells=args.cell or (),
        extra_peers=args.peer,
        peers_file=args.peers_file,
        known_files=args.known,
        count=args.count,
        timeout=args.timeout,
        pairs=args.pairs,
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


def default_jobs(cpus: int | None = None) -> int:
    """Cells run at once when ``-j`` is not given: one more than the CPUs, at most 4."""
    return min(4, (cpus if cpus is not None else os.cpu_count() or 1) + 1)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.cell_state import RunOptions
    from harness.commands.summary import append_step_summary
    from harness.env import cache_problem
    from harness.matrix.html_site import LivePages
    from harness.matrix.results import exit_code
    from harness.process import install_signal_handlers
    from harness.selection import SelectionError, record, shard
    from harness.session import Session, now_iso, print_progress

    install_signal_handlers()
    if args.jobs < 0:
        raise CliError("-j must be >= 0")
    # one cell more than the CPUs: a cell also waits (peers starting, reconnects, a broker
    # restart), and the spare cell fills those gaps; 6% less wall on 2 cores (bench_matrix)
    jobs = args.jobs or default_jobs()
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
    problem = cache_problem()  # builds and brokers' scratch folders go there: say so first
    if problem:
        raise CliError(problem)
    out = _out_dir(args.out)
    session.opts.out_dir = out
    pages = LivePages(out, session.peer_versions)
    session.opts.on_done = pages
    for n in session.notes:
        print(f"interop: {n}", file=sys.stderr)
    print(
        f"interop: {len(cells)} cells, {min(jobs, len(cells))} in parallel, artifacts in {out}/",
        file=sys.stderr,
    )
    started, started_at = time.monotonic(), now_iso()
    results = session.run(cells)
    run = session.result(results, "interop " + shlex.join(sys.argv[1:]), started, started_at)
    run.selection = record(_selection(args), session.cells, args.shard)
    run.save(out / "results.json")
    _write_pages(run, out, pages.written)
    append_step_summary(run)
    try:
        text = _render(run, args.format)
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
    except BrokenPipeError:  # `interop run | head`: the verdicts still decide the exit code
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print(f"results: {out / 'results.json'}  ({run.duration_s:.1f} s)", file=sys.stderr)
    print(f"report: {out / 'report.html'}", file=sys.stderr)
    return exit_code(run, args.strict)


def _render(run, fmt: str) -> str:
    from harness.matrix import report

    return report.render(run, fmt)


def _write_pages(run, out: Path, written: set[str]) -> None:
    """report.html and the cell pages not written yet; a failure here must not hide the verdicts."""
    from harness.matrix.html_site import write_site

    try:
        write_site(run, out, written=written)
    except Exception as e:  # noqa: BLE001 - the run's results are already saved
        print(f"interop: report.html not written: {type(e).__name__}: {e}", file=sys.stderr)
