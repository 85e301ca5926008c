"""The registry of peer implementations.

An implementation is anything that follows the peer contract
(peers/CONTRACT.md): the built-in python, cpp and js peers, an external
program a user names (``--peer NAME=COMMAND`` or a peers file), or a user's
own proton ``MessagingHandler`` class wrapped by peers/python/recorder.py.
The registry knows how to build each one, what it can do, and its version,
so the matrix can pair them without knowing any of them.
"""

from __future__ import annotations

import importlib
import shlex
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import resources
from harness.capabilities import DYNAMIC, DYNAMIC_TARGET, LISTEN, RECONNECT
from harness.env import writable_cache_dir

ROLES = frozenset({"hello", "send", "receive", "serve", "request"})
#: what a scenario may ask of a peer
ALL_CAPABILITIES = frozenset({LISTEN, RECONNECT, DYNAMIC})
#: what a peer may declare: the above, and how it asks for a dynamic address
KNOWN_CAPABILITIES = ALL_CAPABILITIES | {DYNAMIC_TARGET}


class PeerUnavailable(Exception):
    """The implementation cannot run here; the message is the one-line reason."""


class UsageError(Exception):
    """Bad peer names or definitions from the user (exit 2)."""


@dataclass
class Implementation:
    """One peer implementation: how to get its command line, and what it can do."""

    name: str
    capabilities: frozenset[str] = ALL_CAPABILITIES
    roles: frozenset[str] = ROLES
    description: str = ""
    command: list[str] | None = None  # external peers: the argv prefix
    toolchain: str | None = None  # module under harness.toolchains with unavailable/build/version
    static_version: str = ""
    _argv: list[str] | None = field(default=None, repr=False)
    _version: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _module(self) -> Any:
        return importlib.import_module(f"harness.toolchains.{self.toolchain}")

    def unavailable(self) -> str | None:
        if self.toolchain:
            try:
                return self._module().unavailable()
            except ImportError as e:
                return f"toolchain module for {self.name} is missing: {e}"
        if self.command:
            exe = self.command[0]
            if "/" in exe and not Path(exe).exists():
                return f"{exe} does not exist"
        return None

    def argv(self) -> list[str]:
        """The argv prefix (before ROLE); builds the peer once (cached by source hash)."""
        with self._lock:
            if self._argv is not None:
                return list(self._argv)
            reason = self.unavailable()
            if reason:
                raise PeerUnavailable(f"{self.name}: {reason}")
            if self.toolchain:
                try:
                    self._argv = list(self._module().build(writable_cache_dir() / "peers"))
                except RuntimeError as e:
                    raise PeerUnavailable(f"{self.name}: build failed: {e}") from e
            elif self.command:
                self._argv = list(self.command)
            else:
                raise PeerUnavailable(f"{self.name}: no command")
            return list(self._argv)

    def version(self) -> str:
        if self.static_version:
            return self.static_version
        if self._version is not None:
            return self._version
        if self.toolchain:
            try:
                found = str(self._module().version())
            except Exception as e:  # a version is informative only
                return f"unknown ({e})"
            if self._argv is not None:
                # built: it stays what it is for this process; every cell's verdict asks
                # (known failures match on it), and asking runs dpkg-query or node --version
                self._version = found
            return found
        return "external"

    def supports(self, role: str, needs: frozenset[str] = frozenset()) -> bool:
        return role in self.roles and needs <= self.capabilities


def _proton_version() -> str:
    try:
        from importlib.metadata import version

        return f"python-qpid-proton {version('python-qpid-proton')}"
    except Exception:
        return "python-qpid-proton (unknown version)"


def builtin() -> dict[str, Implementation]:
    """The reference peers shipped in peers/."""
    return {
        "python": Implementation(
            "python",
            description="proton Python reactor (peers/python/peer.py)",
            command=resources.python_script("python", "peer.py"),
            static_version=_proton_version(),
        ),
        "cpp": _toolchain_impl("cpp", "proton C++ (peers/cpp)"),
        "js": _toolchain_impl("js", "rhea on Node.js (peers/js)"),
        "go": _toolchain_impl("go", "Azure go-amqp, client only (peers/go)"),
        "pyamqp": _toolchain_impl(
            "pyamqp", "azure-servicebus's pure-Python AMQP stack, client only (peers/pyamqp)"
        ),
        "java": _toolchain_impl("java", "protonj2 client; listens through its engine (peers/java)"),
        "jms": _toolchain_impl("jms", "Qpid JMS, client only (peers/jms)"),
        "rust": _toolchain_impl(
            "rust", "fe2o3-amqp on tokio; listens through its acceptor (peers/rust)"
        ),
    }


def _toolchain_impl(name: str, description: str) -> Implementation:
    """A built-in peer whose build steps and capabilities live in harness/toolchains/NAME.py."""
    caps = ALL_CAPABILITIES
    try:
        caps = frozenset(importlib.import_module(f"harness.toolchains.{name}").CAPABILITIES)
    except (ImportError, AttributeError):
        pass  # unavailable() reports the missing module
    return Implementation(name, capabilities=caps, description=description, toolchain=name)


def _parse_caps(text: str) -> frozenset[str]:
    caps = frozenset(c.strip() for c in text.split(",") if c.strip())
    bad = caps - KNOWN_CAPABILITIES
    if bad:
        raise UsageError(
            f"unknown peer capability {', '.join(sorted(bad))} "
            f"(known: {', '.join(sorted(KNOWN_CAPABILITIES))})"
        )
    return caps


def _valid_name(name: str) -> bool:
    """Peer names appear in cell ids and folder names: letters, digits, - and _."""
    return bool(name) and name.replace("-", "").replace("_", "").isalnum()


def parse_peer_option(text: str) -> Implementation:
    """``NAME=COMMAND``, ``NAME[caps]=COMMAND`` or ``NAME=handler:MODULE:CLASS[:ROLE,...]``.

    ``caps`` is a comma list of listen, reconnect, dynamic (default: all).
    A handler peer runs a user's MessagingHandler subclass through
    peers/python/recorder.py; the roles after the class say which contract
    roles it implements (default: receive).
    """
    name, sep, command = text.partition("=")
    name = name.strip()
    if not sep or not name or not command.strip():
        raise UsageError(f"bad --peer {text!r}: expected NAME=COMMAND")
    caps = ALL_CAPABILITIES
    if name.endswith("]") and "[" in name:
        name, _, cap_text = name[:-1].partition("[")
        caps = _parse_caps(cap_text)
    if not _valid_name(name):
        raise UsageError(f"bad peer name {name!r}: use letters, digits, - and _")
    command = command.strip()
    if command.startswith("handler:"):
        spec = command[len("handler:") :]
        parts = spec.split(":")
        if len(parts) < 2:
            raise UsageError(f"bad handler peer {command!r}: expected handler:MODULE:CLASS[:ROLES]")
        target = f"{parts[0]}:{parts[1]}"
        roles = frozenset(parts[2].split(",")) if len(parts) > 2 else frozenset({"receive"})
        if roles - ROLES:
            raise UsageError(f"unknown role(s) {', '.join(sorted(roles - ROLES))} in {command!r}")
        return Implementation(
            name,
            capabilities=caps,
            roles=roles,
            description=f"handler {target}",
            command=[*resources.python_script("python", "recorder.py"), target],
            static_version=f"handler {target}",
        )
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise UsageError(f"bad --peer command {command!r}: {e}") from e
    return Implementation(name, capabilities=caps, description=command, command=argv)


def load_peers_file(path: str | Path) -> list[Implementation]:
    """A TOML file of external peers::

    [peers.mypeer]
    command = ["./build/mypeer"]          # or a string, split like a shell would
    capabilities = ["listen", "reconnect"]
    roles = ["send", "receive"]
    version = "1.4.2"
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{p}: {e}") from e
    peers = data.get("peers") or {}
    if not isinstance(peers, dict):
        raise UsageError(f"{p}: peers must be a table ([peers.NAME] sections)")
    out = []
    for name, spec in peers.items():
        where = f"{p}: peers.{name}"
        if not _valid_name(str(name)):
            raise UsageError(f"{where}: bad peer name (use letters, digits, - and _)")
        cmd = spec.get("command") if isinstance(spec, dict) else None
        try:
            if isinstance(cmd, str):
                argv = shlex.split(cmd)
            elif isinstance(cmd, list):
                argv = [str(c) for c in cmd]
            else:
                argv = []
        except ValueError as e:  # shlex: an unterminated quote
            raise UsageError(f"{where}: bad command {cmd!r}: {e}") from None
        if not argv:
            raise UsageError(f"{where} needs a command (a string or a list of strings)")
        if not Path(argv[0]).is_absolute() and (p.parent / argv[0]).exists():
            argv[0] = str((p.parent / argv[0]).resolve())
        caps_list = spec.get("capabilities", sorted(ALL_CAPABILITIES))
        roles_list = spec.get("roles", sorted(ROLES))
        for key, value in (("capabilities", caps_list), ("roles", roles_list)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{where}: {key} must be a list of strings")
        try:
            caps = _parse_caps(",".join(caps_list))
        except UsageError as e:
            raise UsageError(f"{where}: {e}") from None
        roles = frozenset(roles_list)
        if roles - ROLES:
            raise UsageError(f"{where}: unknown role(s) {', '.join(sorted(roles - ROLES))}")
        out.append(
            Implementation(
                name,
                capabilities=caps,
                roles=roles,
                description=" ".join(argv),
                command=argv,
                static_version=str(spec.get("version", "")),
            )
        )
    return out


class PeerRegistry:
    """The implementations of one run: built-ins plus user-added peers."""

    def __init__(self, extra: list[Implementation] | None = None) -> None:
        self.impls = builtin()
        for impl in extra or []:
            self.impls[impl.name] = impl

    def names(self) -> list[str]:
        return list(self.impls)

    def get(self, name: str) -> Implementation:
        try:
            return self.impls[name]
        except KeyError:
            raise UsageError(f"unknown peer {name!r} (known: {', '.join(self.impls)})") from None

    def select(self, names: list[str] | None) -> list[Implementation]:
        if not names:
            return list(self.impls.values())
        return [self.get(n) for n in names]
