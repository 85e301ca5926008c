"""No broker outlives a run: processes, containers and node directories are gone.

Why: a RabbitMQ node is a tree of Erlang processes (beam, epmd, helpers) with
its own data directory owned by another user, and a container broker lives in
the Docker engine, not in our process tree. Both survive their parent unless
the harness takes them down, on a normal end and on Ctrl-C alike.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.env import ROOT, require

pytestmark = pytest.mark.slow

BROKERS = "rabbitmq,container:rabbitmq-3.10"


def _available() -> None:
    from harness.brokers.container import ContainerProvider
    from harness.brokers.rabbitmq import RabbitMQProvider

    for prov in (RabbitMQProvider(), ContainerProvider()):
        reason = prov.unavailable()
        if reason:
            require(f"{prov.name}: {reason}")


def _beam_pids(owner: int) -> set[int]:
    """Processes of rabbitmq nodes started by harness process ``owner``.

    The node name (interop-PID-N@localhost) reaches beam, epmd and helpers
    through their environment, not their command line.
    """
    mark = f"RABBITMQ_NODENAME=interop-{owner}-".encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark in (entry / "environ").read_bytes():
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def _containers(owner: int) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=amqp-interop.owner={owner}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


@pytest.fixture
def run_tmp() -> Iterator[Path]:
    """The run's own temporary folder (its ``TMPDIR``), where its node folders land.

    Why its own: under pytest-xdist other workers start RabbitMQ nodes too, and
    their folders in the shared temporary folder would pass for this run's.
    Traversable (0755) because user rabbitmq must reach a node folder inside it.
    """
    d = Path(tempfile.mkdtemp(prefix="interop-cleanup-test-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _dirs(tmp: Path) -> set[str]:
    """Node and broker scratch folders in the run's temporary folder."""
    return set(glob.glob(str(tmp / "amqp-interop-rabbitmq-*"))) | set(
        glob.glob(str(tmp / "interop-brokers-*"))
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(tmp_path: Path, run_tmp: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--broker",
        BROKERS,
        "--peers",
        "python",
        "--out",
        str(tmp_path / "out"),
        "-j",
        "2",
        *args,
    ]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(run_tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_brokers_up(proc: subprocess.Popen[str], deadline_s: float) -> tuple[set[int], list[str]]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        beams, ctrs = _beam_pids(proc.pid), _containers(proc.pid)
        if beams and ctrs:
            return beams, ctrs
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    out, err = proc.communicate(timeout=30)
    pytest.fail(f"brokers never came up (exit {proc.returncode}): {err[-2000:]}")


def _assert_clean(owner: int, beams: set[int], new_dirs: set[str]) -> None:
    end = time.monotonic() + 15
    while time.monotonic() < end and (
        any(_alive(p) for p in beams)
        or _containers(owner)
        or any(os.path.exists(d) for d in new_dirs)
    ):
        time.sleep(0.5)
    assert not [p for p in beams if _alive(p)], "a RabbitMQ process survived the run"
    assert not _containers(owner), "a broker container survived the run"
    assert not [d for d in new_dirs if os.path.exists(d)], "a node or broker directory survived"


def test_a_finished_run_leaves_no_broker(tmp_path: Path, run_tmp: Path) -> None:
    _available()
    before = _dirs(run_tmp)
    proc = _start(tmp_path, run_tmp, "--scenario", "hello-world")
    beams: set[int] = set()
    ctrs: set[str] = set()
    new_dirs: set[str] = set()
    end = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < end:  # watch everything the run starts
        beams |= _beam_pids(proc.pid)
        ctrs |= set(_containers(proc.pid))
        new_dirs |= _dirs(run_tmp) - before
        time.sleep(0.3)
    proc.communicate(timeout=60)
    assert beams and ctrs, "the run started no rabbitmq node or no container"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {c["broker"] for c in results["cells"]} == set(BROKERS.split(","))
    _assert_clean(proc.pid, beams, new_dirs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_interrupted_run_leaves_no_broker(tmp_path: Path, run_tmp: Path, sig: int) -> None:
    _available()
    before = _dirs(run_tmp)
    cells = [f"--cell=at-least-once-python->python-{b}" for b in BROKERS.split(",")]
    proc = _start(
        tmp_path,
        run_tmp,
        "--scenario",
        "at-least-once",
        "--count",
        "200000",
        "--timeout",
        "600",
        *cells,
    )
    beams, _ = _wait_brokers_up(proc, 240)
    new_dirs = _dirs(run_tmp) - before
    time.sleep(2)  # cells running against both brokers
    proc.send_signal(sig)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("interop run did not exit within 60 s of the signal")
    assert proc.returncode != 0
    _assert_clean(proc.pid, beams, new_dirs)
