"""``interop conform``: the peer contract as a checklist, for the built-in peers and a broken one.

Every built-in implementation passes every requirement (a peer whose toolchain
is missing is skipped, failed in CI); a program that breaks the contract fails,
and the line names the requirement and what was seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.peers import PeerRegistry

IMPLS = ["python", "cpp", "js", "go", "pyamqp", "java", "jms", "rust"]


@pytest.mark.parametrize("impl", IMPLS)
def test_every_builtin_peer_conforms(impl: str, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.env import require

    reason = PeerRegistry().get(impl).unavailable()
    if reason:
        require(f"{impl} peer unavailable: {reason}")
    code = main(["conform", impl])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1].startswith("17 passed, 0 failed"), out
    for requirement in ("usage-bad-url", "timeout-serve", "broker-request", "stdout-json-only"):
        assert any(ln.startswith(f"PASS  {requirement}") for ln in lines), out
    listen = "listen-ready" if impl in ("python", "cpp", "js", "java", "rust") else "listen-refused"
    assert any(ln.startswith(f"PASS  {listen}") for ln in lines), out


def test_a_peer_that_breaks_the_contract_fails_naming_the_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chatty = tmp_path / "chatty.py"
    chatty.write_text("print('connecting...')\nprint('{\"kind\": \"result\"}')\n")
    code = main(["conform", f"chatty[reconnect,dynamic]={sys.executable} {chatty}"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  usage-no-role  exit 0, expected 2" in out
    assert "non-JSON on stdout: 'connecting...'" in out
    assert "FAIL  stdout-json-only  non-JSON on stdout" in out
    assert "PASS" not in out
    assert out.splitlines()[-1].startswith("0 passed, 17 failed")


def test_an_unknown_peer_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "nosuchpeer"]) == 2
    assert "unknown peer 'nosuchpeer'" in capsys.readouterr().err
