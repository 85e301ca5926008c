"""The peer registry: ``--peer NAME=COMMAND``, peers TOML files, names.

Why: this is how a user brings their own implementation to the matrix. A
definition the harness misreads (a capability dropped, a relative command
resolved from the wrong folder) silently changes which cells run; a bad one
must be a one-line usage error (exit 2), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import resources
from harness.peers import (
    ALL_CAPABILITIES,
    ROLES,
    Implementation,
    PeerRegistry,
    PeerUnavailable,
    UsageError,
    load_peers_file,
    parse_peer_option,
)

# -- --peer NAME=COMMAND -------------------------------------------------------------


def test_name_equals_command() -> None:
    p = parse_peer_option("mine=./build/peer --verbose 'two words'")
    assert p.name == "mine"
    assert p.command == ["./build/peer", "--verbose", "two words"]
    assert p.capabilities == ALL_CAPABILITIES
    assert p.roles == ROLES
    assert p.version() == "external"
    assert p.supports("send", frozenset({"listen", "reconnect"}))


def test_name_with_capabilities() -> None:
    p = parse_peer_option("my-peer_2[listen, reconnect]=/usr/bin/env peer")
    assert p.name == "my-peer_2"
    assert p.capabilities == frozenset({"listen", "reconnect"})
    assert p.command == ["/usr/bin/env", "peer"]
    assert not p.supports("request", frozenset({"dynamic"}))
    assert parse_peer_option("x[]=cmd").capabilities == frozenset()


def test_handler_peer() -> None:
    p = parse_peer_option("h=handler:mypkg.recv:Recv")
    assert p.name == "h"
    assert p.roles == frozenset({"receive"})
    assert p.command == [
        sys.executable,
        str(resources.peer_file("python", "recorder.py")),
        "mypkg.recv:Recv",
    ]
    assert p.version() == "handler mypkg.recv:Recv"
    both = parse_peer_option("h2[listen]=handler:m:C:send,receive")
    assert both.roles == frozenset({"send", "receive"})
    assert both.capabilities == frozenset({"listen"})
    jms_like = parse_peer_option("t[reconnect,dynamic,dynamic-target]=./temp-queue-peer")
    assert "dynamic-target" in jms_like.capabilities  # reply address from a dynamic target


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bad", "expected NAME=COMMAND"),
        ("=cmd", "expected NAME=COMMAND"),
        ("x=", "expected NAME=COMMAND"),
        ("x=   ", "expected NAME=COMMAND"),
        ("a b=cmd", "bad peer name"),
        ("x/y=cmd", "bad peer name"),
        ("x[listen=cmd", "bad peer name"),
        ("x[fly]=cmd", "unknown peer capability fly"),
        ("x=handler:mod", "expected handler:MODULE:CLASS"),
        ("x=handler:m:C:fly", "unknown role(s) fly"),
        ("x='unterminated", "bad --peer command"),
    ],
)
def test_bad_peer_option_is_a_usage_error(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_peer_option(text)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


# -- peers files ---------------------------------------------------------------------


def test_load_peers_file(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "peer").write_text("#!/bin/sh\n")
    f = tmp_path / "peers.toml"
    f.write_text(
        """
[peers.local]
command = ["bin/peer", "--fast"]
capabilities = ["listen", "reconnect"]
roles = ["send", "receive"]
version = "1.4.2"

[peers.shell]
command = "python3 -m mypeer --flag 'a b'"
"""
    )
    local, shell = load_peers_file(f)
    assert local.name == "local"
    # a relative command next to the file resolves against the file's folder
    assert local.command == [str((tmp_path / "bin" / "peer").resolve()), "--fast"]
    assert local.capabilities == frozenset({"listen", "reconnect"})
    assert local.roles == frozenset({"send", "receive"})
    assert local.version() == "1.4.2"
    assert shell.command == ["python3", "-m", "mypeer", "--flag", "a b"]  # on PATH: untouched
    assert shell.capabilities == ALL_CAPABILITIES and shell.roles == ROLES
    assert shell.version() == "external"


def test_load_empty_peers_file(tmp_path: Path) -> None:
    f = tmp_path / "peers.toml"
    f.write_text("# nothing yet\n")
    assert load_peers_file(f) == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[peers.x\ncommand = 'a'", "peers.toml"),  # bad TOML
        ("[peers.x]\nversion = '1'\n", "peers.x needs a command"),
        ("[peers]\nx = 'just a string'\n", "peers.x needs a command"),
        ("[peers.x]\ncommand = 'p'\nroles = ['send', 'fly']\n", "unknown role(s) fly"),
        ("[peers.x]\ncommand = 'p'\ncapabilities = ['teleport']\n", "teleport"),
        ("[peers.x]\ncommand = ''\n", "peers.x needs a command"),
        ("[peers.x]\ncommand = []\n", "peers.x needs a command"),
        ("[peers.x]\ncommand = 5\n", "peers.x"),
        ("[peers.x]\ncommand = 'p'\nroles = 'send'\n", "roles must be a list of strings"),
        ("[peers.x]\ncommand = 'p'\ncapabilities = 3\n", "peers.x"),
        ('[peers.x]\ncommand = "\'unterminated"\n', "peers.x"),
        ("peers = 'nope'\n", "peers"),
    ],
)
def test_bad_peers_file_is_a_usage_error(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "peers.toml"
    f.write_text(content)
    with pytest.raises(UsageError) as info:
        load_peers_file(f)
    msg = str(info.value)
    assert needle in msg
    assert str(f) in msg
    assert "\n" not in msg


def test_missing_peers_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nosuch.toml"):
        load_peers_file(tmp_path / "nosuch.toml")


# -- the registry ---------------------------------------------------------------------


def test_registry_names_and_unknown_peer_message() -> None:
    reg = PeerRegistry()
    assert reg.names() == ["python", "cpp", "js", "go", "pyamqp", "java", "jms", "rust"]
    with pytest.raises(UsageError) as info:
        reg.get("nosuch")
    assert str(info.value) == (
        "unknown peer 'nosuch' (known: python, cpp, js, go, pyamqp, java, jms, rust)"
    )
    with pytest.raises(UsageError, match="unknown peer 'ruby'"):
        reg.select(["python", "ruby"])
    assert [i.name for i in reg.select(None)] == reg.names()
    assert [i.name for i in reg.select(["js"])] == ["js"]


def test_registry_extra_peers_are_added_and_may_override() -> None:
    mine = parse_peer_option("mine=/bin/true")
    mypy = parse_peer_option("python=/bin/true")
    reg = PeerRegistry([mine, mypy])
    assert reg.names() == ["python", "cpp", "js", "go", "pyamqp", "java", "jms", "rust", "mine"]
    assert reg.get("python") is mypy
    with pytest.raises(
        UsageError, match=r"known: python, cpp, js, go, pyamqp, java, jms, rust, mine"
    ):
        reg.get("other")


def test_python_builtin_is_available_with_a_version() -> None:
    py = PeerRegistry().get("python")
    assert py.unavailable() is None
    assert py.argv() == [sys.executable, str(resources.peer_file("python", "peer.py"))]
    assert py.version().startswith("python-qpid-proton ")


def test_missing_external_command_is_unavailable() -> None:
    p = Implementation("ghost", command=["/nonexistent/ghost-peer"])
    assert p.unavailable() == "/nonexistent/ghost-peer does not exist"
    with pytest.raises(PeerUnavailable, match="ghost: /nonexistent/ghost-peer does not exist"):
        p.argv()
    on_path = Implementation("onpath", command=["some-peer-on-path"])
    assert on_path.unavailable() is None  # only paths are checked; PATH lookups happen at start
    assert on_path.argv() == ["some-peer-on-path"]


def test_peers_file_names_are_checked_like_peer_options(tmp_path):
    from harness.peers import UsageError, load_peers_file

    f = tmp_path / "peers.toml"
    f.write_text('[peers."my peer!"]\ncommand = ["/bin/true"]\n')
    with pytest.raises(UsageError, match="bad peer name"):
        load_peers_file(f)


def test_a_built_toolchain_peer_is_asked_its_version_once(monkeypatch) -> None:
    """Every cell's verdict asks for its peers' versions; asking runs a program (dpkg-query, node)."""
    import types

    asked: list[int] = []
    module = types.SimpleNamespace(
        unavailable=lambda: None,
        build=lambda cache: ["/bin/true"],
        version=lambda: asked.append(1) or f"fake {len(asked)}",
    )
    impl = Implementation("fake", toolchain="fake")
    monkeypatch.setattr(impl, "_module", lambda: module)
    assert impl.version() == "fake 1"  # not built yet: not kept (it may change with the build)
    impl.argv()
    assert impl.version() == "fake 2"
    assert impl.version() == "fake 2" and len(asked) == 2
