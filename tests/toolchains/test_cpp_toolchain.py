"""Build and discovery of the C++ peer (harness/toolchains/cpp.py).

Most tests point the module at a tiny stand-in source in a temporary
directory so that they compile in a fraction of a second; one slow test
builds the real peer.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness.env import cache_dir
from harness.toolchains import cpp
from tests.toolchains.concurrency import build_concurrently

TINY = '#include <proton/version.h>\n#include <cstdio>\nint main() { std::puts("tiny"); }\n'


@pytest.fixture
def toolchain() -> None:
    reason = cpp.unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def tiny_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "peer.cpp").write_text(TINY)
    monkeypatch.setattr(cpp, "SOURCE_DIR", src)
    return src


def test_second_build_reuses_the_binary(toolchain: None, tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = cpp.build(cache)
    binary = Path(first[0])
    before = binary.stat()
    t0 = time.monotonic()
    second = cpp.build(cache)
    assert time.monotonic() - t0 < 0.5
    assert second == first
    after = binary.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert subprocess.run(first, capture_output=True, text=True, timeout=10).stdout == "tiny\n"


def test_changed_source_builds_a_new_binary(
    toolchain: None, tiny_source: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = cpp.build(cache)
    (tiny_source / "peer.cpp").write_text(TINY.replace("tiny", "tinier"))
    second = cpp.build(cache)
    assert second != first
    assert subprocess.run(second, capture_output=True, text=True, timeout=10).stdout == "tinier\n"


def test_concurrent_builds_agree(toolchain: None, tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    results = build_concurrently(lambda: cpp.build(cache), timeout=120)
    assert len(results) == 3 and results[0] == results[1] == results[2]
    leftovers = [
        p.name for p in Path(results[0][0]).parent.iterdir() if p.name.startswith(".peer.")
    ]
    assert leftovers == []


def test_build_error_raises_with_the_first_compiler_error(
    toolchain: None, tiny_source: Path, tmp_path: Path
) -> None:
    (tiny_source / "peer.cpp").write_text("int main() { return undefined_thing; }\n")
    with pytest.raises(RuntimeError) as info:
        cpp.build(tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert "error" in message and "undefined_thing" in message
    bins = list((tmp_path / "cache").rglob("peer"))
    assert bins == []


def test_unavailable_without_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no g++
    reason = cpp.unavailable()
    assert reason is not None and "g++" in reason and "\n" not in reason
    with pytest.raises(RuntimeError, match="g\\+\\+"):
        cpp.build(tmp_path / "cache")


def test_unavailable_without_proton_headers(
    toolchain: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cpp, "_include_dirs", lambda: [tmp_path])
    reason = cpp.unavailable()
    assert reason is not None and "proton/" in reason and "\n" not in reason


def test_cxx_overrides_the_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    reason = cpp.unavailable()
    assert reason is not None and "no-such-compiler-xyz" in reason


def test_version_names_the_library(toolchain: None) -> None:
    v = cpp.version()
    assert v.startswith("qpid-proton-cpp ")
    assert any(c.isdigit() for c in v)


def test_capabilities_and_name() -> None:
    assert cpp.NAME == "cpp"
    assert cpp.CAPABILITIES == {"listen", "reconnect", "dynamic"}


@pytest.mark.slow
def test_builds_the_real_peer(toolchain: None, tmp_path: Path) -> None:
    argv = cpp.build(tmp_path / "cache")
    assert os.access(argv[0], os.X_OK)
    proc = subprocess.run(argv + ["bogus"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage:")


def test_a_first_compile_announces_itself_once_with_its_time(
    toolchain: None,
    tiny_source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fresh cache folder: the compile says so on stderr; the next run finds it and is silent."""
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "fresh-cache"))
    cache = cache_dir() / "peers"
    argv = cpp.build(cache)
    err = capsys.readouterr().err
    kept = Path(argv[0]).parent
    assert kept.parent == tmp_path / "fresh-cache" / "peers" / "cpp"
    assert re.fullmatch(
        rf"interop: compiled the C\+\+ peer in \d+\.\d s; first run, kept in {re.escape(str(kept))}\n",
        err,
    ), err
    assert cpp.build(cache) == argv
    assert capsys.readouterr().err == ""
