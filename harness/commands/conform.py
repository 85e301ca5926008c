"""``interop conform IMPL``: one implementation through the peer contract, requirement by requirement.

For someone adding an implementation (peers/CONTRACT.md): it runs the
candidate, a registered peer or ``NAME=COMMAND``, the way the harness will,
and prints one line per requirement with PASS, FAIL (what it saw) or SKIP:

- bad arguments: exit 2, nothing on stdout, one ``usage:``/``error:`` line on stderr;
- ``--timeout`` against a server that accepts and never answers: a ``timeout``
  line naming what it waited for, a result with ok false, exit 3, promptly;
- ``--listen`` where the implementation declares it (a ``ready`` line with the
  real port), a usage error where it does not;
- each role it declares, against a fresh embedded broker, with nothing but
  ``--url`` (so the option defaults are checked too), paired with the Python
  reference peer: exit 0, JSON Lines only, event names in the vocabulary,
  the events the role must report (unless the result's ``unreported`` lists
  them), one result line, last, with the role's fields and ``options``
  equal to peers/defaults.json (``request`` also gets ``--dynamic-capability``);
- stdout hygiene: every line of every run above (and of one refused
  connection, where libraries log the most) is a JSON object.

Exit status 0 when every requirement passed, 1 when one failed.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness import resources
from harness.commands import CliError
from harness.commands.conform_output import (
    REQUIRED_EVENTS,
    RESULT_FIELDS,
    Run,
    output_problem,
    shown,
)
from harness.commands.conform_stdout import SEEN, check_stdout
from harness.peer_lines import parse_line

BAD_ARGUMENTS = {
    "usage-no-role": [],
    "usage-unknown-role": ["bogus"],
    "usage-unknown-option": ["send", "--bogus"],
    "usage-bad-count": ["receive", "--count", "ten"],
    "usage-bad-url": ["send", "--url", "http://127.0.0.1:5672"],
}
RUN_S = 30.0
#: how long the Python partner may go on once the candidate's run has failed: that decides
#: the requirement, and the partner would only wait out its timeout for what never comes
PARTNER_AFTER_FAILURE_S = 0.5
PROBE = {"dynamic_capabilities": ["amqp-interop:conform"]}  # request's --dynamic-capability
PY_PEER = resources.python_script("python", "peer.py")


class Proc:
    """A peer process read as JSON Lines; killed (its process group) when done with."""

    def __init__(self, argv: list[str]) -> None:
        self.run = SEEN.add(Run(argv))  # the stdout-hygiene requirement looks at every run
        self.t0 = time.monotonic()
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._buf = b""

    def _take(self, raw: bytes) -> None:
        text = raw.decode(errors="replace").strip()
        if not text:
            return
        obj = parse_line(text)  # the peer under test is foreign: never raises
        if obj is not None:
            self.run.lines.append(obj)
        else:
            self.run.bad.append(text)

    def wait_for(self, kind: str, timeout: float) -> dict[str, Any] | None:
        """Read stdout until a line of ``kind`` (returned) or the timeout or the end."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.popen.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self._buf:
                    raw, self._buf = self._buf.split(b"\n", 1)
                    self._take(raw)
                    if self.run.lines and self.run.lines[-1].get("kind") == kind:
                        return self.run.lines[-1]
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.popen.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self._buf += chunk

    def finish(self, timeout: float = RUN_S) -> Run:
        try:
            out, err = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.popen.communicate()
            err += f"\n(killed after {timeout:g} s)".encode()
        for raw in (self._buf + out).split(b"\n"):
            self._take(raw)
        self._buf = b""
        self.run.code, self.run.stderr = self.popen.returncode, err.decode(errors="replace")
        self.run.seconds = time.monotonic() - self.t0
        return self.run

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Report:
    """The checklist: one printed line per requirement."""

    def __init__(self) -> None:
        self.failed = self.passed = self.skipped = 0

    def check(self, name: str, problem: str | None, detail: str = "") -> None:
        if problem is None:
            self.passed += 1
            print(f"PASS  {name}" + (f"  {detail}" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {name}  {problem}", flush=True)


def _defaults(role: str, **changed: Any) -> dict[str, Any]:
    data = json.loads(resources.defaults_file().read_text())["defaults"]
    return {key: by_role[role] for key, by_role in data.items()} | changed


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop, accepted = threading.Event(), []

    def loop() -> None:
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for c in accepted:
            c.close()
        srv.close()


@contextmanager
def embedded_broker() -> Iterator[str]:
    proc = Proc([*resources.python_script("python", "broker.py"), "--port", "0"])
    try:
        ready = proc.wait_for("ready", 20)
        if ready is None:
            raise CliError("the embedded broker did not start (peers/python/broker.py)")
        yield str(ready["url"])
    finally:
        proc.kill()
        proc.finish(5)


def check_usage(argv: list[str], report: Report) -> None:
    for name, args in BAD_ARGUMENTS.items():
        run = Proc(argv + args).finish()
        lines = run.stderr.strip().splitlines()
        problem = None
        if run.code != 2:
            problem = f"exit {run.code}, expected 2 (stderr: {shown(run.stderr)})"
        elif run.lines or run.bad:
            problem = f"printed on stdout: {shown((run.bad or [json.dumps(run.lines[0])])[0])}"
        elif len(lines) != 1 or not lines[0].startswith(("usage:", "error:")):
            problem = f"stderr is not one usage:/error: line: {shown(run.stderr)}"
        report.check(name, problem, f"{' '.join(args) or '(no arguments)'}: exit 2, one line")


def check_timeout(argv: list[str], role: str, report: Report) -> None:
    with silent_server() as port:
        run = Proc(argv + [role, "--url", f"amqp://127.0.0.1:{port}", "--timeout", "1"]).finish(15)
    timeouts = [x for x in run.lines if x.get("kind") == "timeout"]
    result = run.lines[-1] if run.lines else {}
    problem = output_problem(run, role)
    if problem is None and run.code != 3:
        problem = f"exit {run.code}, expected 3 (stderr: {shown(run.stderr)})"
    elif problem is None and run.seconds > 6:
        problem = f"took {run.seconds:.1f} s for --timeout 1"
    elif problem is None and (len(timeouts) != 1 or not timeouts[0].get("waiting_for")):
        problem = "no timeout line with waiting_for before the result"
    elif problem is None and result.get("ok") is not False:
        problem = "the result says ok"
    detail = f"exit 3 after {run.seconds:.1f} s, waiting for {shown(timeouts[0]['waiting_for'], 60) if timeouts else '?'}"
    report.check(f"timeout-{role}", problem, detail)


def check_listen(argv: list[str], impl: Any, report: Report) -> None:
    proc = Proc(argv + ["receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "0"])
    if "listen" not in impl.capabilities:
        # a ready line says it listens after all: stop it now rather than at the 15 s kill
        if (listened := proc.wait_for("ready", 15)) is not None:
            proc.popen.send_signal(signal.SIGTERM)
        run = proc.finish(15 if listened is None else 5)
        how = f"it listened ({shown(json.dumps(listened))})" if listened else f"exit {run.code}"
        problem = f"{how}: a peer without listen must refuse --listen as a usage error"
        ok = run.code == 2 and not run.lines and not run.bad
        report.check("listen-refused", None if ok else problem)
        return
    ready = proc.wait_for("ready", 15)
    proc.popen.send_signal(signal.SIGTERM)
    run = proc.finish(10)
    port = str((ready or {}).get("url", "")).rsplit(":", 1)[-1]
    problem = output_problem(run, "receive")
    if problem is None and (ready is None or port in ("", "0")):
        problem = f"no ready line with the real port (got {ready})"
    elif problem is None and run.code != 0:
        problem = f"exit {run.code} after SIGTERM with --count 0 (expected 0)"
    report.check("listen-ready", problem, f"ready on port {port}, SIGTERM: exit 0")


def _pair(argv: list[str], role: str, url: str) -> tuple[Run, Run | None]:
    """The candidate in ``role`` with only --url, and the Python peer as the other party."""
    partner = {
        "send": ["receive"],
        "receive": ["send"],
        "serve": ["request"],
        "request": ["serve", "--count", "4"],
    }
    extra = ["--dynamic-capability", *PROBE["dynamic_capabilities"]] if role == "request" else []
    mine = Proc([*argv, role, "--url", url, *extra])
    if role in ("receive", "serve"):
        ready = mine.wait_for("ready", RUN_S)
        other = Proc(PY_PEER + partner[role] + ["--url", url]).finish() if ready else None
        if role == "serve":
            mine.popen.send_signal(signal.SIGTERM)  # serve answers until killed by default
        return mine.finish(), other
    if role == "hello":
        return mine.finish(), None
    other_proc = Proc(PY_PEER + partner[role] + ["--url", url])
    other_proc.wait_for("ready", RUN_S)
    run = mine.finish()
    failed = run.code != 0 or output_problem(run, role) is not None
    return run, other_proc.finish(PARTNER_AFTER_FAILURE_S if failed else RUN_S)


def check_role(argv: list[str], role: str, url: str, report: Report) -> None:
    run, other = _pair(argv, role, url)
    result = run.lines[-1] if run.lines else {}
    problem = output_problem(run, role)
    unreported = set(result.get("unreported") or ())
    names = {x.get("name") for x in run.lines if x.get("kind") == "event"}
    missing = [e for e in REQUIRED_EVENTS[role] if e not in names and e not in unreported]
    fields = [f for f in RESULT_FIELDS[role] if f not in result]
    want = _defaults(role, url=url) | (PROBE if role == "request" else {})
    if problem is None and run.code != 0:
        problem = f"exit {run.code}: {shown(result.get('error') or run.stderr)}"
    elif problem is None and missing:
        problem = f"no {', '.join(missing)} event (neither reported nor listed in unreported)"
    elif problem is None and fields:
        problem = f"the result lacks {', '.join(fields)}"
    elif problem is None and result.get("options") != want:
        diff = {k: v for k, v in result["options"].items() if want.get(k) != v}
        problem = f"options differ from peers/defaults.json: {shown(json.dumps(diff))}"
    elif (
        problem is None
        and role in ("receive", "serve")
        and not any(x.get("kind") == "ready" for x in run.lines)
    ):
        problem = "no ready line once the consuming link was attached"
    elif problem is None and other is not None and other.code != 0:
        problem = f"the Python peer on the other side exited {other.code}: {shown((other.lines or [{}])[-1])}"
    note = f"; unreported: {', '.join(sorted(unreported))}" if unreported else ""
    report.check(
        f"broker-{role}", problem, f"exit 0 in {run.seconds:.1f} s, defaults as documented{note}"
    )


def run_checks(argv: list[str], impl: Any, report: Report) -> None:
    check_usage(argv, report)
    roles = [r for r in ("hello", "send", "receive", "serve", "request") if r in impl.roles]
    for role in roles:
        check_timeout(argv, role, report)
    check_listen(argv, impl, report)
    with embedded_broker() as url:
        for role in roles:
            check_role(argv, role, url, report)
    check_stdout(argv, report, Proc)


def cmd_conform(args: argparse.Namespace) -> int:
    from harness.peers import PeerRegistry, PeerUnavailable, UsageError, parse_peer_option

    try:
        extra = [parse_peer_option(p) for p in args.peer]
        if "=" in args.impl:
            extra.append(parse_peer_option(args.impl))
            name = extra[-1].name
        else:
            name = args.impl
        impl = PeerRegistry(extra).get(name)
        argv = impl.argv()
    except UsageError as e:
        raise CliError(str(e)) from None
    except PeerUnavailable as e:
        print(f"interop: {e}", file=sys.stderr)
        return 1
    print(f"conform {impl.name}: {' '.join(argv)} ({impl.version()})", flush=True)
    report = Report()
    run_checks(argv, impl, report)
    print(f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped", flush=True)
    return 1 if report.failed else 0
