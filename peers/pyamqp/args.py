"""Command line and output of the pyamqp peer (peers/CONTRACT.md).

Kept apart from the AMQP code so that every bad argument is found before
azure-servicebus is imported or a socket is opened: one stderr line, exit 2,
nothing on stdout.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

ROLES = ("hello", "send", "receive", "serve", "request")
# The option defaults of peers/CONTRACT.md (table "Defaults", data in peers/defaults.json).
DEFAULT_URL = "amqp://127.0.0.1:5672"
DEFAULT_ADDRESS = "examples"
DEFAULT_COUNT = {"send": 100, "receive": 100, "serve": 0}  # hello, request: --count is not used
DEFAULT_TIMEOUT = 30.0  # 0 (no deadline) for receive and serve with --count 0
DEFAULT_REQUESTS = (
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
)
USAGE = (
    "usage: peer.py {hello|send|receive|serve|request} [--url URL] [--address ADDR] [--count N]"
    " [--reconnect|--no-reconnect] [--timeout SECONDS] [--user U] [--password P] [--quiet]"
    " [--dynamic-capability SYMBOL]... [REQUEST...]"
)
PER_MESSAGE = frozenset({"sent", "accepted", "message", "settled", "sendable"})


SOCKET_TIMEOUT_S = 0.01  # how long one listen() waits for a frame: the loop's tick
CLOSE_WAIT_S = 2.0


class UsageError(Exception):
    """A bad command line: one line on stderr, exit 2."""


class Lost(Exception):
    """The connection is gone (reconnect if allowed)."""


class Fatal(Exception):
    """The role failed (exit 1), whatever --reconnect says."""


@dataclass
class Options:
    role: str
    host: str = "127.0.0.1"
    port: int = 5672
    address: str = DEFAULT_ADDRESS
    count: int = 0
    reconnect: bool = True
    timeout: float = DEFAULT_TIMEOUT
    user: str | None = None
    password: str | None = None
    quiet: bool = False
    requests: list[str] = field(default_factory=list)
    #: --dynamic-capability: symbols on the request role's dynamic reply source
    dynamic_capabilities: list[str] = field(default_factory=list)

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def effective(self) -> dict[str, Any]:
        """The result's ``options``: the values this run uses, after the defaults."""
        return {
            "url": f"amqp://{self.host_port}",
            "address": self.address,
            "count": self.count if self.role in DEFAULT_COUNT else None,
            "listen": False,
            "reconnect": self.reconnect,
            "timeout": self.timeout,
            "user": self.user,
            "password": None if self.password is None else "***",
            "quiet": self.quiet,
            "requests": list(self.requests) if self.role == "request" else None,
            "dynamic_capabilities": list(self.dynamic_capabilities),
        }


def _url(text: str) -> tuple[str, int, str | None, str | None, str | None]:
    """(host, port, user, password, address) of ``amqp://[user:password@]host[:port][/address]``."""
    try:
        parts = urlsplit(text if "://" in text else "amqp://" + text)
        port = parts.port
    except ValueError as e:
        raise UsageError(f"bad URL {text!r}: {e}") from None
    if parts.scheme != "amqp":
        raise UsageError(f"bad URL {text!r}: scheme must be amqp (this peer speaks plain TCP)")
    if not parts.hostname:
        raise UsageError(f"bad URL {text!r}: no host")
    if parts.query or parts.fragment:
        raise UsageError(f"bad URL {text!r}: unexpected query")
    if port == 0:
        raise UsageError(f"bad URL {text!r}: port 0 needs --listen, which this peer lacks")
    path = unquote(parts.path.lstrip("/")) or None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port or 5672, user, password, path


def _value(argv: list[str], i: int, name: str, inline: str | None) -> tuple[str, int]:
    if inline is not None:
        return inline, i
    if i + 1 >= len(argv):
        raise UsageError(f"option {name} needs a value")
    return argv[i + 1], i + 1


def parse(argv: list[str]) -> Options:
    """The options of ``argv`` (without the program); UsageError with one line, or "help"."""
    if not argv:
        raise UsageError(f"missing ROLE (one of {', '.join(ROLES)})")
    if argv[0] in ("-h", "--help"):
        raise UsageError("help")
    if argv[0] not in ROLES:
        raise UsageError(f"unknown role: {argv[0]}")
    o = Options(role=argv[0])
    url, address, user, password = DEFAULT_URL, None, None, None
    count: int | None = None
    timeout: float | None = None
    positional: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional += argv[i + 1 :]
            break
        if not arg.startswith("--"):
            if arg.startswith("-") and arg != "-":
                raise UsageError(f"unknown option: {arg}")
            positional.append(arg)
            i += 1
            continue
        name, eq, inline_text = arg.partition("=")
        inline = inline_text if eq else None
        if name in ("--listen", "--reconnect", "--no-reconnect", "--quiet", "--help"):
            if inline is not None:
                raise UsageError(f"option {name} takes no value")
            if name == "--listen":
                raise UsageError("--listen is not supported: pyamqp has no listener")
            if name == "--help":
                raise UsageError("help")
            if name == "--quiet":
                o.quiet = True
            else:
                o.reconnect = name == "--reconnect"
        elif name == "--dynamic-capability":
            value, i = _value(argv, i, name, inline)
            if not value:
                raise UsageError("--dynamic-capability must not be empty")
            o.dynamic_capabilities.append(value)
        elif name in ("--url", "--address", "--count", "--timeout", "--user", "--password"):
            value, i = _value(argv, i, name, inline)
            if name == "--url":
                url = value
            elif name == "--address":
                if not value:
                    raise UsageError("--address must not be empty")
                address = value
            elif name == "--count":
                if not value.isdigit():
                    raise UsageError(f"--count needs a non-negative integer, got {value}")
                count = int(value)
            elif name == "--timeout":
                try:
                    timeout = float(value)
                except ValueError:
                    timeout = -1.0
                if not 0 <= timeout < 1e9:
                    raise UsageError(f"--timeout needs a number of seconds, got {value}")
            elif name == "--user":
                user = value
            else:
                password = value
        else:
            raise UsageError(f"unknown option: {name}")
        i += 1
    if positional and o.role != "request":
        raise UsageError(f"unexpected argument for {o.role}: {positional[0]}")
    o.count = count if count is not None else DEFAULT_COUNT.get(o.role, 0)
    if o.role == "send" and o.count < 1:
        raise UsageError("send needs --count of at least 1")
    until_killed = o.role in ("receive", "serve") and o.count == 0
    o.timeout = timeout if timeout is not None else (0.0 if until_killed else DEFAULT_TIMEOUT)
    o.host, o.port, url_user, url_password, path = _url(url)
    o.address = address or path or DEFAULT_ADDRESS
    o.user = user if user is not None else url_user
    o.password = password if password is not None else url_password
    if o.password is not None and o.user is None:
        raise UsageError("--password needs --user")
    if o.role == "request":
        o.requests = positional or list(DEFAULT_REQUESTS)
    return o


def jsonable(value: Any) -> Any:
    """An AMQP value as JSON. pyamqp decodes string, symbol and binary alike to bytes:
    bytes that are UTF-8 are shown as text, others as hex."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


class Output:
    """JSON Lines on fd 1, one unbuffered write per line; nothing after the result."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.finished = False
        self.lock = threading.RLock()

    def line(self, obj: dict[str, Any]) -> None:
        with self.lock:
            if self.finished:
                return
            data = (json.dumps(obj, default=jsonable) + "\n").encode()
            while data:
                data = data[os.write(1, data) :]

    def event(self, name: str, **fields: Any) -> None:
        if not (self.quiet and name in PER_MESSAGE):
            self.line({"kind": "event", "name": name, **fields})

    def last(self, waiting_for: str | None, result: dict[str, Any]) -> None:
        with self.lock:
            if waiting_for is not None:
                self.line({"kind": "timeout", "waiting_for": waiting_for})
            self.line({"kind": "result", **result})
            self.finished = True
