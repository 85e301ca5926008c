"""The fe2o3-amqp (Rust) reference peer against the contract (peers/CONTRACT.md).

The shared connecting-role tests (tests/peers/connecting.py) run on it, except
the ones that expect ``--listen`` to be refused: this peer listens, through
fe2o3's acceptor. Its listen mode is tested here against the Python peer as
the connecting party, with SASL ANONYMOUS and PLAIN. Skipped (failed in CI)
without cargo.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.env import cache_dir, require
from harness.toolchains import rust
from tests.peers.connecting import (  # noqa: F401  the shared tests, run on this peer
    PY_PEER,
    broker,
    silent_server,
    test_broker_hello,
    test_no_options_at_all,
    test_pairs_with_the_python_peer,
    test_refused_without_reconnect_fails_with_disconnected,
    test_sender_reconnects_and_resends_after_a_cut,
    test_sigterm_ends_an_endless_receiver_well,
    test_timeout_against_silent_server_exits_3,
)
from tests.peers.listening import (  # noqa: F401  the shared listen tests, run on this peer
    listen,
    test_hello_listens_and_connects_to_itself,
    test_listens_for_the_python_peer,
)
from tests.peers.proc import Proc
from tests.peers.test_cpp_peer import check_output, run


@pytest.fixture(scope="module")
def peer() -> list[str]:
    reason = rust.unavailable()
    if reason:
        require(f"rust peer unavailable: {reason}")
    try:
        return rust.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"rust peer build failed: {e}")
        raise


@pytest.fixture
def unreported() -> list[str]:
    return ["sendable"]  # fe2o3 waits for credit inside its send call and never says so


@pytest.mark.parametrize(
    "args",
    [[], ["bogus"], ["send", "--bogus"], ["send", "--url", "http://127.0.0.1:5672"],
     ["receive", "--count", "ten"], ["send", "--timeout", "soon"], ["send", "stray"],
     ["request", "--listen"], ["send", "--url", "amqp://127.0.0.1:0"]],
    ids=lambda a: " ".join(a) or "no-args",
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(peer: list[str], args: list[str]) -> None:
    code, lines, err = run(peer + args)
    assert code == 2
    assert lines == []
    assert len(err.strip().splitlines()) == 1 and err.startswith(("usage:", "error:"))


def test_serve_listens_and_answers_a_dynamic_reply_source(
    peer: list[str], procs: list[Proc]
) -> None:
    """server_direct: the client's reply receiver asks for a dynamic source; the listener names it."""
    listener, url = listen(
        procs, peer + ["serve", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "4"]
    )
    code, lines, err = run(PY_PEER + ["request", "--url", url])
    l_code, l_lines, l_err = listener.finish(timeout=15)
    assert (code, l_code) == (0, 0), (lines[-1:], l_lines[-1:], err, l_err)
    result = check_output(lines, "request")
    assert result["replies"] == 4 and result["reply_to"].startswith("dynamic-")
    assert check_output(l_lines, "serve")["served"] == 4


def test_listen_with_credentials_takes_plain_and_refuses_a_wrong_password(
    peer: list[str], procs: list[Proc]
) -> None:
    argv = peer + ["receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "3"]
    listener, url = listen(procs, argv + ["--user", "u", "--password", "p"])
    port = url.rsplit(":", 1)[1]
    bad, bad_lines, _ = run(
        PY_PEER + ["send", "--url", f"amqp://u:wrong@127.0.0.1:{port}", "--count", "3",
                   "--no-reconnect", "--timeout", "10"]
    )  # fmt: skip
    assert bad != 0 and check_output(bad_lines, "send")["confirmed"] == 0
    good, good_lines, err = run(
        PY_PEER + ["send", "--url", f"amqp://u:p@127.0.0.1:{port}", "--count", "3"]
    )
    l_code, l_lines, _ = listener.finish(timeout=15)
    assert (good, l_code) == (0, 0), (good_lines[-1:], l_lines[-1:], err)
    assert check_output(l_lines, "receive")["missing"] == []


def test_logging_goes_to_stderr_only(peer: list[str], broker: str) -> None:  # noqa: F811
    """fe2o3's tracing at its most verbose: stdout still carries JSON Lines only."""
    proc = subprocess.run(
        peer + ["hello", "--url", broker, "--address", "log-q"],
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ | {"INTEROP_RUST_LOG": "trace"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fe2o3_amqp" in proc.stderr
    for line in proc.stdout.splitlines():
        assert line.startswith("{") and line.endswith("}"), line
