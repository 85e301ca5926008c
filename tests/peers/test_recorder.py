"""The event recorder (peers/python/recorder.py) around a user's own MessagingHandler."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import ANY

import pytest
from proton import Message
from proton.handlers import MessagingHandler

from harness import resources
from tests.brokers.test_embedded_broker import (
    ROOT,
    Proc,
    blocking,
    processes,
    send_all,
    start_broker,
    start_peer,
)

RECORDER = resources.peer_file("python", "recorder.py")
EXAMPLE = "peers/python/examples/my_receiver.py:MyReceiver"


def load_recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("amqp_interop_recorder", RECORDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    with processes() as started:
        yield started


@pytest.fixture
def broker(procs: list[Proc]) -> str:
    _, url = start_broker(procs)
    return url


def record(procs: list[Proc], *args: str) -> Proc:
    proc = Proc([sys.executable, str(RECORDER), *args])
    procs.append(proc)
    return proc


def test_example_handler_as_receive_role(procs: list[Proc], broker: str) -> None:
    sender = start_peer(procs, "send", "--url", broker, "--address", "rec", "--count", "5")
    assert sender.finish() == 0
    proc = record(procs, EXAMPLE, "receive", "--url", broker, "--address", "rec", "--count", "5")
    assert proc.finish() == 0, proc.stderr
    kinds = [line["kind"] for line in proc.lines]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    assert "ready" in kinds
    names = [e["name"] for e in proc.events()]
    assert names[:2] == ["connection_opened", "link_opened"]
    link = proc.events("link_opened")[0]
    assert (link["role"], link["address"]) == ("receiver", "rec")
    messages = proc.events("message")
    assert [(m["id"], m["body"], m["duplicate"]) for m in messages] == [
        (i, {"sequence": i}, False) for i in range(1, 6)
    ]
    assert names[-1] == "connection_closed"
    assert proc.result() == {
        "kind": "result",
        "role": "receive",
        "ok": True,
        "handler": EXAMPLE,
        "count": 5,
        "received": 5,
        "duplicates": 0,
        "missing": [],
        "reconnects": 0,
        "messages": 5,
        "options": ANY,  # (test_defaults.py checks it)
    }


def test_duplicates_are_reported_not_counted(procs: list[Proc], broker: str) -> None:
    with blocking(broker) as conn:
        send_all(conn, "dups", [Message(id=i, body=i) for i in (1, 1, 2)])
    proc = record(procs, EXAMPLE, "receive", "--url", broker, "--address", "dups", "--count", "2")
    assert proc.finish() == 0, proc.stderr
    assert [m["duplicate"] for m in proc.events("message")] == [False, True, False]
    result = proc.result()
    assert (result["received"], result["duplicates"], result["messages"]) == (2, 1, 3)


def test_handler_that_never_finishes_times_out(procs: list[Proc], broker: str) -> None:
    proc = record(
        procs, EXAMPLE, "receive", "--url", broker, "--address", "none", "--count", "10",
        "--timeout", "1",
    )  # fmt: skip
    assert proc.finish(10) == 3
    timeout = next(line for line in proc.lines if line["kind"] == "timeout")
    assert timeout["waiting_for"] == "message 1 of 10 on none"
    assert proc.result()["ok"] is False
    assert proc.lines[-1]["kind"] == "result"


@pytest.mark.parametrize(
    "argv",
    [
        ["no.such.module:Handler", "receive"],
        ["peers/python/examples/my_receiver.py:Missing", "receive"],
        ["missing-colon", "receive"],
        [EXAMPLE, "receive", "--count", "x"],
        [EXAMPLE],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(RECORDER), *argv],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


class ThreeSender(MessagingHandler):
    """A user's sender: sends ids 1..3 and closes once all are accepted."""

    def __init__(self, options: Any) -> None:
        super().__init__()
        self.options = options
        self.sent = 0
        self.accepted = 0

    def on_start(self, event: Any) -> None:
        conn = event.container.connect(self.options.url)
        event.container.create_sender(conn, self.options.address)

    def on_sendable(self, event: Any) -> None:
        while event.sender.credit and self.sent < 3:
            self.sent += 1
            event.sender.send(Message(id=self.sent, body={"sequence": self.sent}))

    def on_accepted(self, event: Any) -> None:
        self.accepted += 1
        if self.accepted == 3:
            event.connection.close()


def test_run_handler_in_process_records_sends_and_outcomes(
    procs: list[Proc], broker: str, capfd: pytest.CaptureFixture[str]
) -> None:
    recorder = load_recorder()
    code = recorder.run_handler(
        ThreeSender, "send", ["--url", broker, "--address", "inproc", "--count", "3"]
    )
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert code == 0
    events = [line for line in lines if line["kind"] == "event"]
    assert [e["id"] for e in events if e["name"] == "sent"] == [1, 2, 3]
    assert sorted(e["id"] for e in events if e["name"] == "accepted") == [1, 2, 3]
    assert lines[-1] == {
        "kind": "result",
        "role": "send",
        "ok": True,
        "handler": "ThreeSender",
        "count": 3,
        "sent": 3,
        "confirmed": 3,
        "resent": 0,
        "reconnects": 0,
        "options": ANY,
    }


def test_example_module_is_importable_by_path() -> None:
    recorder = load_recorder()
    cls = recorder.load_class(str(Path(ROOT, EXAMPLE.split(":")[0])) + ":MyReceiver")
    assert issubclass(cls, MessagingHandler)
