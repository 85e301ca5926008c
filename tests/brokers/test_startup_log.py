"""A broker that dies during start-up: the reason quotes the log line that says why, and where the log is.

Why: RabbitMQ 4 given 3.10's config ends its output with an Erlang crash-dump
notice; the cause (an unknown key) is lines earlier. The reason must name the
cause, and the log must outlive the broker's scratch folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.brokers import startup_log

RABBITMQ_40_ON_310_CONFIG = """\
2026-12-05 06:41:34.100000+00:00 [notice] <0.44.0> Application syslog exited with reason: stopped
2026-12-05 06:41:34.128523+00:00 [error] <0.153.0> You've tried to set amqp1_0.default_user, but there is no setting with that name.
2026-12-05 06:41:34.135196+00:00 [error] <0.153.0>   Did you mean one of these?
2026-12-05 06:41:34.264912+00:00 [error] <0.153.0>     stomp.default_user
2026-12-05 06:41:34.479159+00:00 [error] <0.153.0>   - Conf file attempted to set unknown variable: amqp1_0.default_vhost

BOOT FAILED
===========
Error during startup: {error,failed_to_prepare_configuration}

Crash dump is being written to: erl_crash.dump...done
"""


def test_the_unknown_key_is_the_reason_not_the_crash_dump() -> None:
    assert startup_log.why(RABBITMQ_40_ON_310_CONFIG) == (
        "You've tried to set amqp1_0.default_user, but there is no setting with that name."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("starting\n[error] boom here\nbye\n", "[error] boom here"),
        ("a\nb\nlast words\n", "last words"),
        ("x\nlisten tcp 0.0.0.0:5672: bind: address already in use\nexit\n", "address already"),
        ("Error during startup: {error,nope}\nCrash dump\n", "Error during startup"),
        ("", "no output"),
    ],
)
def test_why_prefers_telltales_then_errors_then_the_last_line(text: str, expected: str) -> None:
    assert startup_log.why(text).startswith(expected) or expected in startup_log.why(text)


def test_the_log_is_kept_in_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path))
    line = startup_log.describe("container:rabbitmq-4.0", RABBITMQ_40_ON_310_CONFIG)
    why, _, path = line.partition(" (log: ")
    kept = Path(path.rstrip(")"))
    assert why.startswith("You've tried to set amqp1_0.default_user")
    assert kept.parent == tmp_path / "broker-logs" and kept.name.startswith(
        "container_rabbitmq-4.0-"
    )
    assert kept.read_text() == RABBITMQ_40_ON_310_CONFIG


def test_only_the_newest_logs_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path))
    monkeypatch.setattr(startup_log, "KEEP", 3)
    for i in range(5):
        assert startup_log.keep(f"b{i}", "text") is not None
    assert sorted(p.name[:2] for p in (tmp_path / "broker-logs").iterdir()) == ["b2", "b3", "b4"]
