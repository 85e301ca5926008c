"""One Artemis instance folder: ``artemis create`` with the harness's options, and why a start failed.

Why an instance per broker lease: an instance is Artemis' unit of state (its
journal, bindings, config); two brokers sharing one would share queues. ``artemis
create`` makes it headless (``--silent``), lets anonymous users in (peers send
no credentials), and leaves out what would collide between parallel instances
or cost time on a 2-core machine: the web console, the MQTT/STOMP/HornetQ
acceptors, the journal's sync test (``--no-autotune``) and ``fdatasync``
(``--no-fsync``: acknowledged journal writes sit in the page cache, so they
survive a process kill, which is what the restart fault does). The heap is
256 MB (two workers' instances and their peers share 2 cores; RSS is about
190 MB at idle). Then ``artemis_xml.configure`` puts the AMQP acceptor on a
free port and, unless the profile is ``stock``, makes bare addresses anycast.

``startup_failure`` picks the line of Artemis' log that says why it stopped:
its ``AMQ``-coded error (a bind failure, an invalid broker.xml), not the last
line of a Java stack trace.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from harness.brokers import artemis_xml

__all__ = [
    "CREATE_OPTIONS",
    "JAVA_MEMORY",
    "CreateError",
    "broker_xml",
    "create",
    "create_argv",
    "startup_failure",
]

#: the heap of one instance (``--java-memory``)
JAVA_MEMORY = "256M"
#: ``artemis create`` starts a JVM: about 6 s idle here, far more under load
CREATE_TIMEOUT_S = 240.0
#: every instance's options, whatever its profile (the AMQP acceptor stays)
CREATE_OPTIONS: tuple[str, ...] = (
    "--silent",
    "--allow-anonymous",
    "--user",
    "interop",
    "--password",
    "interop",
    "--no-autotune",
    "--no-web",
    "--no-mqtt-acceptor",
    "--no-stomp-acceptor",
    "--no-hornetq-acceptor",
    "--no-fsync",
    "--java-memory",
    JAVA_MEMORY,
)

#: an AMQ message code as Artemis logs it: ``AMQ229230: Failed to bind ...``
_AMQ = re.compile(r"\bAMQ\d{6}\b:?.*")
#: a log4j line: ``2026-12-05 09:05:48,123 ERROR [logger] text``
_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d [\d:,.]+\s+(?P<level>[A-Z]+)\s+\[[^\]]*\]\s*(?P<text>.*)$")


class CreateError(Exception):
    """``artemis create`` failed; the message is one line."""


def create_argv(artemis_home: Path, instance: Path) -> list[str]:
    """The ``artemis create`` command line for ``instance``."""
    return [str(artemis_home / "bin" / "artemis"), "create", str(instance), *CREATE_OPTIONS]


def broker_xml(instance: Path) -> Path:
    return instance / "etc" / "broker.xml"


def create(artemis_home: Path, instance: Path, host: str, port: int, anycast: bool) -> None:
    """Make ``instance`` (which must not exist) and configure it for ``host:port``."""
    argv = create_argv(artemis_home, instance)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=CREATE_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "JAVA_ARGS": ""},
        )
    except subprocess.TimeoutExpired:
        raise CreateError(
            f"artemis create did not finish within {CREATE_TIMEOUT_S:.0f} s"
        ) from None
    except OSError as e:
        raise CreateError(f"artemis create could not run: {e.strerror or e}") from None
    if done.returncode != 0 or not broker_xml(instance).exists():
        text = done.stdout + done.stderr
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        why = next((ln for ln in lines if "rror" in ln or "xception" in ln), "")
        why = why or (lines[-1] if lines else "no output")
        raise CreateError(f"artemis create failed (status {done.returncode}): {why[:240]}")
    try:
        artemis_xml.configure_instance(str(instance), host, port, anycast)
    except artemis_xml.ConfigError as e:
        raise CreateError(str(e)) from None


def startup_failure(log: str) -> str:
    """The ``AMQ`` line that says why a start failed (at most 240 characters).

    A failed start logs an ERROR with a general code (``AMQ224000: Failure in
    initialisation``) and then an exception whose message carries the specific
    code (``AMQ229230: Failed to bind acceptor amqp to 127.0.0.1:PORT``). The
    specific one is the cause: the last exception message with a code wins,
    then the first ERROR line with a code, then the first ERROR line, then the
    last line of the log.
    """
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    if not lines:
        return "no output"
    causes = [
        m.group(0)
        for ln in lines
        if not _LEVEL.match(ln) and ("Exception" in ln or "Error" in ln)
        for m in [_AMQ.search(ln)]
        if m
    ]
    if causes:
        return causes[-1][:240]
    errors = [
        m.group("text")
        for ln in lines
        for m in [_LEVEL.match(ln)]
        if m and m.group("level") in ("ERROR", "FATAL")
    ]
    coded = [e for e in errors if _AMQ.search(e)]
    if coded:
        # a general code (AMQ214019: Invalid configuration) says more with its cause
        caused = [ln.split(":", 2)[-1].strip() for ln in lines if ln.startswith("Caused by:")]
        detail = f" ({caused[-1]})" if caused else ""
        return (coded[0] + detail)[:240]
    if errors:
        return errors[0][:240]
    java = [ln for ln in lines if "Exception" in ln or "Error:" in ln]
    return (java[0] if java else lines[-1]).strip()[:240]
