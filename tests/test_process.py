"""ManagedProcess: ready lines, timeouts, early exits, and no process left behind.

Why these matter: every peer and broker runs through ManagedProcess, so a
wait without a deadline hangs a whole matrix run, and a grandchild that
survives its test (npm under a shell, Erlang helpers) keeps ports and CPU
for the rest of the session.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.env import ROOT
from harness.process import (
    ManagedProcess,
    ProcessError,
    ProcessTimeout,
    live_processes,
)

PY = sys.executable


def _py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie nobody reaps counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after up to ``timeout`` seconds of polling."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if not gone(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` (read from /proc, no ps needed)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(entry.name))
    return out


def _force_kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    """Processes a test starts; killed (group and all) whatever the test did."""
    started: list[ManagedProcess] = []
    yield started
    for p in started:
        p.kill()


def test_ready_line_and_events(procs: list[ManagedProcess]) -> None:
    seen: list[tuple[float, dict]] = []
    p = ManagedProcess(
        _py(
            """
            import json, sys
            print(json.dumps({"kind": "event", "name": "x"}), flush=True)
            print(json.dumps({"kind": "ready", "url": "amqp://127.0.0.1:1"}), flush=True)
            print(json.dumps({"kind": "result", "ok": True}), flush=True)
            """
        ),
        label="t",
        on_line=lambda t, o: seen.append((t, o)),
    )
    procs.append(p.start())
    ready = p.wait_ready(timeout=10)
    assert ready == {"kind": "ready", "url": "amqp://127.0.0.1:1"}
    assert p.wait(timeout=10) == 0
    assert p.result == {"kind": "result", "ok": True}
    assert [o["kind"] for _, o in p.events()] == ["event", "ready", "result"]
    assert [o for _, o in seen] == [o for _, o in p.events()]
    assert [json.loads(text) for text in p.printed()] == [o for _, o in p.events()]
    times = [t for t, _ in p.events()]
    assert times == sorted(times) and times[0] >= 0
    assert p.bad_lines == []
    assert p not in live_processes()


def test_the_end_of_stdout_is_announced_once_with_its_time(procs: list[ManagedProcess]) -> None:
    """The drive stage wakes on this instead of polling whether the peers still run."""
    ended = threading.Event()
    calls: list[int] = []

    def on_eof() -> None:
        calls.append(1)
        ended.set()

    p = ManagedProcess(_py('print("{}", flush=True)'), label="t", on_eof=on_eof)
    procs.append(p.start())
    assert ended.wait(10)
    assert p.stdout_closed
    assert p.wait_exit(10) is True
    assert calls == [1]
    span = p.span()
    assert span is not None and p.eof_at is not None
    assert 0 <= span[0] <= span[1] == p.eof_at


def test_wait_for_timeout_names_what_and_how_long(procs: list[ManagedProcess]) -> None:
    p = ManagedProcess(["sleep", "30"], label="sleeper")
    procs.append(p.start())
    t0 = time.monotonic()
    with pytest.raises(ProcessTimeout) as info:
        p.wait_for(lambda o: False, timeout=0.3, what="the answer")
    took = time.monotonic() - t0
    assert str(info.value) == "sleeper: no the answer within 0.3 s"
    assert 0.3 <= took < 3
    with pytest.raises(ProcessTimeout, match="sleeper still running after 0.1 s"):
        p.wait(timeout=0.1)


def test_early_exit_raises_with_last_stderr_line(procs: list[ManagedProcess]) -> None:
    """The reason a peer died is its last stderr line: it must be in the error, every time."""
    code = """
        import sys
        sys.stderr.write("starting\\n")
        sys.stderr.write("error: port 1 is taken\\n\\n")
        sys.exit(4)
        """
    for _ in range(5):  # the stderr reader races the exit: repeat to catch it
        p = ManagedProcess(_py(code), label="peer(x)")
        procs.append(p.start())
        with pytest.raises(ProcessError) as info:
            p.wait_ready(timeout=10)
        assert not isinstance(info.value, ProcessTimeout)
        assert str(info.value) == (
            "peer(x) exited (code 4) before ready line: error: port 1 is taken"
        )
        assert "starting" in p.stderr_tail()


def test_early_exit_of_a_fast_shell_keeps_its_stderr_reason(procs: list[ManagedProcess]) -> None:
    """A shell exits within microseconds of writing: the stderr reader must not be outrun."""
    for _ in range(60):
        p = ManagedProcess(["sh", "-c", "echo 'error: bad url' >&2; exit 2"], label="sh")
        procs.append(p.start())
        with pytest.raises(ProcessError) as info:
            p.wait_ready(timeout=10)
        assert str(info.value) == "sh exited (code 2) before ready line: error: bad url"


def test_closed_stdout_while_running_is_a_process_error(procs: list[ManagedProcess]) -> None:
    """A process that closes stdout but keeps running cannot print a ready line any more."""
    p = ManagedProcess(["sh", "-c", "echo 'closing stdout' >&2; exec >&-; sleep 30"], label="odd")
    procs.append(p.start())
    t0 = time.monotonic()
    with pytest.raises(ProcessError) as info:
        p.wait_ready(timeout=1.0)
    assert time.monotonic() - t0 < 4
    assert "odd" in str(info.value) and "before ready line" in str(info.value)
    assert str(info.value).endswith(": closing stdout")


def test_early_exit_without_stderr(procs: list[ManagedProcess]) -> None:
    p = ManagedProcess(["true"], label="quiet")
    procs.append(p.start())
    with pytest.raises(ProcessError, match=r"^quiet exited \(code 0\) before ready line$"):
        p.wait_ready(timeout=10)


def test_cannot_start_is_one_line() -> None:
    p = ManagedProcess(["/nonexistent/peer"], label="ghost")
    with pytest.raises(ProcessError) as info:
        p.start()
    assert str(info.value).startswith("ghost: cannot start /nonexistent/peer: ")
    assert "\n" not in str(info.value)
    assert p not in live_processes()


def test_non_json_stdout_lines_go_to_bad_lines(procs: list[ManagedProcess], tmp_path) -> None:
    p = ManagedProcess(
        _py(
            """
            import sys
            print("hello there")
            print("[1, 2]")
            print("")
            print('{"kind": "result", "ok": true}')
            print("{broken")
            sys.stderr.write("diag\\n")
            """
        ),
        label="chatty",
        stderr_path=tmp_path / "err.txt",
    )
    procs.append(p.start())
    assert p.wait(timeout=10) == 0
    assert p.bad_lines == ["hello there", "[1, 2]", "{broken"]
    assert [o for _, o in p.events()] == [{"kind": "result", "ok": True}]
    assert (tmp_path / "err.txt").read_text() == "diag\n"


def test_broken_line_handler_does_not_stop_the_reader(procs: list[ManagedProcess]) -> None:
    def boom(t: float, obj: dict) -> None:
        raise RuntimeError("sink is broken")

    p = ManagedProcess(
        _py('print(\'{"a": 1}\'); print(\'{"kind": "ready"}\')'), label="t", on_line=boom
    )
    procs.append(p.start())
    assert p.wait_ready(timeout=10) == {"kind": "ready"}


def test_terminate_kills_the_whole_group_including_grandchildren(
    procs: list[ManagedProcess],
) -> None:
    p = ManagedProcess(["sh", "-c", "sleep 1000 & sleep 1000"], label="tree")
    procs.append(p.start())
    assert p.pid is not None
    deadline = time.monotonic() + 5
    members: list[int] = []
    while time.monotonic() < deadline:
        members = group_members(p.pid)
        sleeps = [m for m in members if m != p.pid]
        if sleeps:
            break
        time.sleep(0.02)
    try:
        assert len(members) >= 2, f"expected the shell and a background sleep, got {members}"
        t0 = time.monotonic()
        rc = p.terminate(grace=2.0)
        assert rc == -signal.SIGTERM
        assert time.monotonic() - t0 < 2.0  # sleep dies of SIGTERM: no need for the grace
        assert wait_gone(members, timeout=5) == []
        assert not p.running()
        assert p not in live_processes()
    finally:
        _force_kill(members)


def test_terminate_escalates_to_kill_after_grace(procs: list[ManagedProcess]) -> None:
    p = ManagedProcess(
        _py(
            """
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print('{"kind": "ready"}', flush=True)
            time.sleep(1000)
            """
        ),
        label="stubborn",
    )
    procs.append(p.start())
    p.wait_ready(timeout=10)
    t0 = time.monotonic()
    rc = p.terminate(grace=0.5)
    took = time.monotonic() - t0
    assert rc == -signal.SIGKILL
    assert 0.5 <= took < 4
    assert p.returncode == -signal.SIGKILL


def test_kill_all_kills_every_registered_process() -> None:
    """In a child interpreter: kill_all() here would also kill this worker's shared broker."""
    script = (
        "import json, signal\n"
        "from harness.process import ManagedProcess, kill_all, live_processes\n"
        "ps = [ManagedProcess(['sleep', '1000'], label=f's{i}').start() for i in range(3)]\n"
        "ok = all(p in live_processes() for p in ps)\n"
        "kill_all()\n"
        "print(json.dumps({'pids': [p.pid for p in ps], 'registered_before': ok,\n"
        "    'left': len(live_processes()), 'codes': [p.returncode for p in ps]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["registered_before"] and data["left"] == 0
    assert data["codes"] == [-signal.SIGKILL] * 3
    assert wait_gone(data["pids"], timeout=5) == []


def test_context_manager_terminates(procs: list[ManagedProcess]) -> None:
    with ManagedProcess(["sleep", "1000"], label="ctx") as p:
        procs.append(p)
        pid = p.pid
        assert p.running()
    assert pid is not None and wait_gone([pid], timeout=5) == []


_PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from harness.process import ManagedProcess
p = ManagedProcess(["sleep", "1000"], label="child").start()
print(p.pid, flush=True)
time.sleep(1000)
"""


def test_pdeathsig_child_dies_with_a_killed_harness() -> None:
    """SIGKILL skips atexit and finally: only the parent-death signal can take the child down."""
    parent = subprocess.Popen(
        [PY, "-c", _PARENT.format(root=str(ROOT))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    child = None
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 10)
        line = parent.stdout.readline() if ready else ""
        assert line.strip().isdigit(), parent.stderr.read() if parent.stderr else line
        child = int(line)
        assert not gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=5)
        assert wait_gone([child], timeout=5) == [], "child outlived its SIGKILLed parent"
    finally:
        with_pids = [parent.pid] + ([child] if child else [])
        _force_kill(with_pids)
        parent.wait(timeout=5)


def test_pdeathsig_follows_the_thread_that_started_the_process() -> None:
    """Linux sends the parent-death signal when the *thread* that forked exits.

    So a long-lived process (a broker) must be started from a thread that
    outlives it; one started from a short helper thread is killed at once.
    """
    box: list[ManagedProcess] = []
    t = threading.Thread(
        target=lambda: box.append(ManagedProcess(["sleep", "1000"], label="x").start())
    )
    t.start()
    t.join(timeout=10)
    (p,) = box
    try:
        assert p.wait(timeout=5) == -signal.SIGKILL
    finally:
        p.kill()
    q = ManagedProcess(["sleep", "1000"], label="y", pdeathsig=False)
    t = threading.Thread(target=q.start)
    t.start()
    t.join(timeout=10)
    try:
        time.sleep(0.2)
        assert q.running()
    finally:
        q.kill()
