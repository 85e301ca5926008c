#!/usr/bin/env python3
"""The fresh-machine check: the README's two commands, in a fresh clone, on a bare Debian 12.

Why: the README promises that its two commands work on a fresh machine, and
the developers' machines (and CI's) are anything but fresh. This check runs
them as a new user would: in a container of the ``bookworm-python`` image (a
bare Debian bookworm with Python 3.11, venv, pip, gcc, the headers and git;
no RabbitMQ, Docker, g++ or node; built here once, cached by recipe, see
harness/images.py), as a non-root user, with ``CI`` unset (so what is missing
is a skip, not a failure), in a fresh clone of the committed HEAD (not the
working tree), each command taken from the clone's README by the clone's
``scripts/readme_commands.py``.

It checks that both commands exit 0, that every skip has a one-line reason
(the ``-rs`` summary lines, printed), and that /tmp inside the container is
unchanged afterwards apart from pytest's own basetemp (``/tmp/pytest-of-*``).
It prints the durations and exits 0 when all hold, 1 with the reasons when
one does not, 2 when it cannot run here (no docker, no CA bundle, image
build failed).

The container reaches the package registries only with ``--network host`` and
the host's CA bundle (design.md, "Facts measured on this machine"). It is
removed afterwards, also on Ctrl-C or SIGTERM; the work folder (a git bundle
of HEAD) lives in the cache folder and is removed too; nothing goes to the
host's /tmp. The whole output of the container is kept in
``<cache>/fresh-machine/last.log``.

Usage: scripts/fresh_machine.py [--ref COMMIT] [--stream] [--timeout SECONDS]

``--ref`` checks another commit than HEAD (a bisect, an earlier state).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import images  # noqa: E402
from harness.env import cache_dir  # noqa: E402

RECIPE = "bookworm-python"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
MARK = "@@fresh "
#: the pytest options the check adds (PYTEST_ADDOPTS): the skip list, failures and errors
PYTEST_ADDOPTS = "-rsfE"

# Runs inside the container, as the image's user, in bash; all output on stdout so the
# marker lines keep their place. The commands run with sh, as a user pastes them.
INNER = r"""
exec 2>&1
set -u
mark() { printf '@@fresh %s\n' "$*"; }
# /tmp's entries (a fresh container's /tmp is empty), pytest's basetemp left out
snap() { find /tmp -mindepth 1 -maxdepth 1 ! -name 'pytest-of-*' | LC_ALL=C sort; }
cd "$HOME"
snap > "$HOME/.tmp-before"
mark clone
git -c advice.detachedHead=false clone -q /repo.bundle amqp-interop || { mark clone-failed; exit 0; }
cd amqp-interop
mark head "$(git rev-parse HEAD)"
main=$(python3 scripts/readme_commands.py main) || { mark readme-failed; exit 0; }
test=$(python3 scripts/readme_commands.py test) || { mark readme-failed; exit 0; }
mark main-command "$main"
sh -c "$main"
mark main-exit $?
mark test-command "$test"
PYTEST_ADDOPTS="$FRESH_PYTEST_ADDOPTS" sh -c "$test"
mark test-exit $?
snap > "$HOME/.tmp-after"
diff "$HOME/.tmp-before" "$HOME/.tmp-after" | while read -r sign path; do
    case "$sign" in
        '>') mark tmp-new "$path ($(find "$path" | wc -l) entries)" ;;
        '<') mark tmp-gone "$path" ;;
    esac
done
mark end
"""

SUMMARY_START = re.compile(r"^=+ short test summary info =+$")
SUMMARY_LINE = re.compile(r"^(SKIPPED|XFAIL|XPASS|FAILED|ERROR|PASSED) ")
SKIP_LINE = re.compile(r"^SKIPPED \[\d+\] \S+?:(\d+:)? ?(?P<reason>.*)$")
CLOSING = re.compile(r"^=+ (?P<counts>.*?) in [\d.]+s( \([\d:]+\))? =+$")


class CheckError(Exception):
    """The check cannot run here (exit 2); the message is one line."""


@dataclass
class Line:
    t: float  # seconds since the container started
    text: str


@dataclass
class Outcome:
    lines: list[Line] = field(default_factory=list)
    marks: dict[str, tuple[float, str]] = field(default_factory=dict)
    tmp_changes: list[str] = field(default_factory=list)

    def mark(self, name: str) -> str | None:
        got = self.marks.get(name)
        return None if got is None else got[1]

    def at(self, name: str) -> float | None:
        got = self.marks.get(name)
        return None if got is None else got[0]

    def between(self, first: str, last: str) -> list[str]:
        """The output lines after mark ``first`` and before mark ``last``."""
        out: list[str] = []
        inside = False
        for line in self.lines:
            if line.text.startswith(MARK):
                name = line.text[len(MARK) :].split(" ", 1)[0]
                if name == first:
                    inside = True
                    continue
                if name == last:
                    break
            if inside:
                out.append(line.text)
        return out

    def first_time(self, pattern: str) -> float | None:
        rx = re.compile(pattern)
        return next((x.t for x in self.lines if rx.search(x.text)), None)


def _say(msg: str) -> None:
    print(f"fresh-machine: {msg}", flush=True)


def _git(*args: str, repo: Path = ROOT) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckError(f"git {' '.join(args)} failed: {last}")
    return r.stdout.strip()


def _image() -> tuple[str, str]:
    """Build (once) the fresh machine's image; ``(tag, how)``."""
    recipe = images.get_recipe(RECIPE)
    try:
        if images.image_exists(recipe.tag):
            return recipe.tag, "cached"
        t0 = time.monotonic()
        tag = images.build(RECIPE)
        return tag, f"built in {time.monotonic() - t0:.1f} s"
    except images.ImageError as e:
        detail = f"\n{e.output.rstrip()}" if e.output else ""
        raise CheckError(f"image {RECIPE}: {e}{detail}") from None


def _remove_container(docker: str, name: str) -> None:
    subprocess.run([docker, "rm", "-f", name], capture_output=True, timeout=60)


def _run_container(
    docker: str, tag: str, bundle: Path, name: str, log: Path, stream: bool, timeout: float
) -> Outcome:
    argv = [
        docker,
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "-v",
        f"{HOST_CA}:/host-ca.crt:ro",
        "-e",
        "PIP_CERT=/host-ca.crt",
        "-v",
        f"{bundle}:/repo.bundle:ro",
        "-e",
        f"FRESH_PYTEST_ADDOPTS={PYTEST_ADDOPTS}",
        tag,
        "bash",
        "-c",
        INNER,
    ]
    out = Outcome()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _remove_container(docker, name)

    # its own session: Ctrl-C reaches this process only, which then removes the container
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    t0 = time.monotonic()
    try:
        with open(log, "w", errors="replace") as logf:
            assert proc.stdout is not None
            for raw in proc.stdout:
                text = raw.decode(errors="replace").rstrip("\n")
                now = time.monotonic() - t0
                out.lines.append(Line(now, text))
                logf.write(f"{now:8.1f} {text}\n")
                logf.flush()
                if text.startswith(MARK):
                    name_, _, value = text[len(MARK) :].partition(" ")
                    if name_ in ("tmp-new", "tmp-gone"):
                        out.tmp_changes.append(f"{name_[4:]}: {value}")
                    else:
                        out.marks[name_] = (now, value)
                        _say(f"[{now:6.1f} s] {name_} {value}".rstrip())
                elif stream:
                    print(f"  | {text}", flush=True)
        rc = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            _remove_container(docker, name)
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        raise TimeoutError(f"the container ran longer than {timeout:.0f} s and was removed")
    if rc != 0 and "end" not in out.marks:
        tail = "\n".join(x.text for x in out.lines[-20:])
        raise CheckError(f"docker run exited {rc} before the check ended:\n{tail}")
    return out


def _skips(test_lines: list[str]) -> tuple[list[str], list[str]]:
    """The ``-rs`` skip lines of the test command's summary, and what is wrong with them."""
    skips: list[str] = []
    problems: list[str] = []
    inside = False
    for text in test_lines:
        if SUMMARY_START.match(text):
            inside = True
            continue
        if not inside:
            continue
        if CLOSING.match(text) or text.startswith("="):
            break
        if SUMMARY_LINE.match(text):
            if text.startswith("SKIPPED"):
                skips.append(text)
                m = SKIP_LINE.match(text)
                if m is None or not m.group("reason").strip():
                    problems.append(f"a skip without a reason: {text}")
        elif skips and text.strip():
            problems.append(f"a skip reason runs over several lines: {skips[-1]} / {text}")
    return skips, problems


def _closing(lines: list[str]) -> str:
    """pytest's closing counts, as ``passed=N skipped=M`` (a CI log reads "N passed" lines)."""
    for text in reversed(lines):
        m = CLOSING.match(text)
        if m:
            parts = [p.strip().split(" ", 1) for p in m.group("counts").split(",")]
            return " ".join(f"{w}={n}" for n, w in (p for p in parts if len(p) == 2))
    return "no closing line"


def check(stream: bool, timeout: float, ref: str = "HEAD") -> int:
    started = time.monotonic()
    docker = shutil.which("docker")
    if docker is None:
        raise CheckError("docker is not installed (apt-get install docker.io)")
    if not os.path.exists(HOST_CA):
        raise CheckError(f"no CA bundle at {HOST_CA} (apt-get install ca-certificates)")

    t0 = time.monotonic()
    tag, how = _image()
    image_s = time.monotonic() - t0
    _say(f"image {tag} ({how})")

    base = cache_dir() / "fresh-machine"
    work = base / f"run-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    name = f"amqp-interop-fresh-{uuid.uuid4().hex[:10]}"
    work.mkdir(parents=True)
    log = work / "container.log"
    try:
        head = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
        bundle = work / "repo.bundle"
        if ref == "HEAD":
            branch = _git("rev-parse", "--abbrev-ref", "HEAD")
            refs = ["HEAD"] + ([f"refs/heads/{branch}"] if branch != "HEAD" else [])
            _git("bundle", "create", "-q", str(bundle), *refs)
        else:  # a bundle needs a ref: name the commit in a bare copy, not in this repository
            branch = "fresh-check"
            copy = work / "copy.git"
            _git("clone", "-q", "--bare", str(ROOT), str(copy))
            _git("update-ref", f"refs/heads/{branch}", head, repo=copy)
            _git("symbolic-ref", "HEAD", f"refs/heads/{branch}", repo=copy)
            _git("bundle", "create", "-q", str(bundle), "HEAD", f"refs/heads/{branch}", repo=copy)
        bundle.chmod(0o644)  # the container's user is not root
        _say(f"fresh clone of {head[:12]} ({branch}); CI unset; container {name}")
        out = _run_container(docker, tag, bundle, name, log, stream, timeout)
    except TimeoutError as e:
        _say(f"FAIL: {e}")
        return 1
    finally:
        if log.exists():
            shutil.copyfile(log, base / "last.log")
        shutil.rmtree(work, ignore_errors=True)

    failures: list[str] = []
    for bad in ("clone-failed", "readme-failed"):
        if bad in out.marks:
            failures.append(f"{bad}: {out.between('clone', 'end')[-5:]}")
    if out.mark("head") not in (None, head):
        failures.append(f"the clone checked out {out.mark('head')}, not {head}")
    main_failures, main_s, proton = _judge_main(out)
    test_failures, test_s = _judge_test(out)
    failures += main_failures + test_failures + _judge_tmp(out)

    total = time.monotonic() - started
    _say(
        f"durations: image {image_s:.1f} s ({how}), proton {proton}, "
        f"main command {main_s or 0:.1f} s, test command {test_s or 0:.1f} s, total {total:.1f} s"
    )
    _say(f"output kept in {base / 'last.log'}")
    if failures:
        for f in failures:
            _say(f"FAIL: {f}")
        return 1
    _say(f"OK in {total:.1f} s")
    return 0


def _span(out: Outcome, first: str, last: str) -> float | None:
    t0, t1 = out.at(first), out.at(last)
    return None if t0 is None or t1 is None else t1 - t0


def _proton_build(out: Outcome) -> str:
    """How python-qpid-proton got installed, from pip's lines (pip prints no times)."""
    start = out.first_time(r"Building wheel for python-qpid-proton")
    end = out.first_time(
        r"(Created|Building) wheel for python-qpid-proton.*(done|finished|filename)"
    )
    if start is not None and end is not None:
        return f"built from source in {end - start:.1f} s"
    if start is not None:
        return "build from source started, not finished"
    return "not built from source (a wheel was used?)"


def _judge_main(out: Outcome) -> tuple[list[str], float | None, str]:
    """Print the main command's outcome; ``(failures, seconds, proton build)``."""
    lines = out.between("main-command", "main-exit")
    rc, seconds, proton = (
        out.mark("main-exit"),
        _span(out, "main-command", "main-exit"),
        _proton_build(out),
    )
    matrix = [t for t in lines if re.match(r"^\d+ cells: ", t)]
    _say(
        f"main command: exit {rc}"
        + (f" in {seconds:.1f} s" if seconds is not None else "")
        + f"; python-qpid-proton {proton}"
        + (f"; {matrix[-1]}" if matrix else "")
    )
    if rc == "0":
        return [], seconds, proton
    print("\n".join(f"  | {t}" for t in lines[-40:]))
    return [f"the main command exited {rc}"], seconds, proton


def _judge_test(out: Outcome) -> tuple[list[str], float | None]:
    """Print the test command's outcome and skip list; ``(failures, seconds)``."""
    lines = out.between("test-command", "test-exit")
    rc, seconds = out.mark("test-exit"), _span(out, "test-command", "test-exit")
    _say(
        f"test command: exit {rc}"
        + (f" in {seconds:.1f} s" if seconds is not None else "")
        + f"; {_closing(lines)}"
    )
    failures: list[str] = []
    if rc != "0":
        failures.append(f"the test command exited {rc}")
        summary = [t for t in lines if t.startswith(("FAILED", "ERROR"))]
        tail = [t for t in lines[-40:] if not CLOSING.match(t)]  # no "N passed" line
        print("\n".join(f"  | {t}" for t in (summary or tail)))
    skips, problems = _skips(lines)
    _say(f"skips ({len(skips)} lines):")
    for s in skips:
        print(f"  {s}")
    by_reason: dict[str, int] = {}
    for s in skips:
        m = SKIP_LINE.match(s)
        if m:
            n = int(s.split("[", 1)[1].split("]", 1)[0])
            by_reason[m.group("reason")] = by_reason.get(m.group("reason"), 0) + n
    _say(f"skip reasons ({len(by_reason)} distinct, tests skipped for each):")
    for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}x {reason}")
    return failures + problems, seconds


def _judge_tmp(out: Outcome) -> list[str]:
    if out.tmp_changes:
        _say("/tmp in the container changed (apart from pytest's basetemp):")
        for c in out.tmp_changes:
            print(f"  {c}")
        return [f"/tmp changed: {len(out.tmp_changes)} entries left or removed"]
    if "end" in out.marks:
        _say("/tmp in the container: unchanged apart from pytest's basetemp")
        return []
    return ["the container's script did not reach its end"]


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to check (default HEAD)")
    parser.add_argument("--stream", action="store_true", help="print the container's output")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="remove the container after this (s)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return check(args.stream, args.timeout, args.ref)
    except CheckError as e:
        _say(f"cannot run: {e}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted; the container was removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
