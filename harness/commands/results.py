"""Reading what runs left: traces, diffs, reports, comparisons, merges."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands import CliError


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
    from harness.matrix import report

    if args.format == "html":
        return _report_html(run, args)
    text = report.render(run, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


def _report_html(run, args: argparse.Namespace) -> int:
    """The report (to -o or stdout), and every cell's index.html rebuilt in its folder."""
    from harness.matrix.html_site import render_report, write_cell_pages

    p = Path(args.results)
    results_dir = p if p.is_dir() else p.parent
    out = Path(args.output) if args.output else None
    try:
        pages, missing = write_cell_pages(run, results_dir, out)
    except OSError as e:
        pages, missing = [], []
        print(f"interop: cell pages not written: {e.strerror or e}", file=sys.stderr)
    text = render_report(run, results_dir, out.parent if out else Path.cwd())
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    note = f"; {len(missing)} cell folder(s) missing" if missing else ""
    print(f"interop: {len(pages)} cell pages under {results_dir}/{note}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.matrix import compare

    old, new = _load_run(args.old), _load_run(args.new)
    changes = compare.compare(old, new)
    if args.format == "html":
        from harness.matrix.compare_html import render_compare_html

        text = render_compare_html(changes, args.old, args.new)
    else:
        text = compare.render_changes(changes, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return compare.compare_exit_code(changes)


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.matrix import merge
    from harness.matrix.scope import merge_records

    out_dir = Path(args.output).parent
    runs = [
        merge.rebase_artifacts(_load_run(p), p if Path(p).is_dir() else Path(p).parent, out_dir)
        for p in args.results
    ]
    try:
        merged = merge.merge(runs, args.results)
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        merged.save(args.output)
    except OSError as e:
        raise CliError(f"-o {args.output}: {e.strerror or e}") from None
    _, missing = merge_records([r.selection for r in runs])
    if missing:
        print(
            f"interop: merge: shard {', '.join(missing)} missing: the merged run is not the"
            " whole selection",
            file=sys.stderr,
        )
    print(
        f"merged {len(runs)} results, {len(merged.cells)} cells -> {args.output}", file=sys.stderr
    )
    return 0
