"""Build and discovery of the two Java peers (harness/toolchains/java.py, jms.py).

Most tests build a tiny Maven project (one class, the real pom's plugins) in
a temporary cache whose Maven repository is the user's (a symlink), so no
test downloads anything twice; one test runs the real peers' jars.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import resources
from harness.env import cache_dir, require
from harness.toolchains import java, jms
from harness.toolchains.java import JavaPeer
from tests.toolchains.concurrency import build_concurrently

TINY_MAIN = (
    "package interop.peer;\n"
    "public final class Main {\n"
    '    public static void main(String[] a) { System.out.println("{\\"kind\\": \\"tiny\\"}"); }\n'
    "}\n"
)


@pytest.fixture
def toolchain() -> None:
    reason = java.unavailable()
    if reason:
        require(f"java peer unavailable: {reason}")


def _tiny(tmp_path: Path) -> JavaPeer:
    """A Maven project with the java peer's pom minus its dependencies, and one class."""
    root = tmp_path / "tiny"
    src = root / "src" / "main" / "java" / "interop" / "peer"
    src.mkdir(parents=True)
    pom = (resources.peer_dir("java") / "pom.xml").read_text()
    pom = re.sub(r"<dependencies>.*</dependencies>", "", pom, flags=re.S)
    (root / "pom.xml").write_text(pom)
    (src / "Main.java").write_text(TINY_MAIN)
    return JavaPeer("java", "tiny:tiny", "protonj2.version", root=root)


@pytest.fixture
def tiny_cache(tmp_path: Path) -> Path:
    """A fresh cache folder whose Maven repository is the user's (plugins already there)."""
    repo = cache_dir() / "peers" / "maven"
    repo.mkdir(parents=True, exist_ok=True)
    peers = tmp_path / "cache" / "peers"
    peers.mkdir(parents=True)
    (peers / "maven").symlink_to(repo)
    return peers


def test_parallel_builds_make_one_jar(
    toolchain: None, tmp_path: Path, tiny_cache: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    tiny = _tiny(tmp_path)
    argvs = build_concurrently(lambda: tiny.build(tiny_cache), timeout=900, workers=2)
    assert len(argvs) == 2 and argvs[0] == argvs[1]
    err = capfd.readouterr().err
    assert err.count("interop: built the java peer (tiny:tiny") == 1, err
    argv = argvs[0]
    assert argv[-2] == "-jar" and "-Xlog:disable" in argv
    jar = Path(argv[-1])
    assert jar.is_file() and jar.parent.parent == tiny_cache / "java"
    assert not (tmp_path / "tiny" / "target").exists()  # Maven never ran in the source folder
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout == '{"kind": "tiny"}\n', done


def test_a_changed_source_is_a_new_build_folder(toolchain: None, tmp_path: Path) -> None:
    tiny = _tiny(tmp_path)
    exe = java._tool("JAVA", "java")
    assert exe is not None
    before = tiny.digest(exe)
    assert tiny.digest(exe) == before
    main = tmp_path / "tiny" / "src" / "main" / "java" / "interop" / "peer" / "Main.java"
    main.write_text(TINY_MAIN.replace("tiny", "tiny2"))
    assert tiny.digest(exe) != before


def test_the_jms_build_gets_the_shared_classes() -> None:
    rels = [rel for rel, _ in java.PEERS["jms"].sources()]
    assert "pom.xml" in rels
    assert "src/main/java/interop/common/Options.java" in rels
    assert "src/main/java/interop/jms/Main.java" in rels
    assert not any(rel.startswith("src/main/java/interop/peer/") for rel in rels)


def test_no_java_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA", "/nonexistent/java")
    for module in (java, jms):
        reason = module.unavailable()
        assert reason is not None and "java not found" in reason and "apt-get install" in reason


def test_no_maven_and_no_jar_names_maven(
    toolchain: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVN", "/nonexistent/mvn")
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "empty-cache"))
    reason = _tiny(tmp_path).unavailable()
    assert reason is not None and "mvn not found" in reason


def test_versions_and_maven_errors() -> None:
    assert java._major("17.0.15") == 17 and java._major("1.8.0_292") == 8
    assert java.PEERS["java"].pinned() == "1.1.0"
    assert java.PEERS["jms"].pinned() == "2.10.0"
    text = (
        "[INFO] x\n\x1b[1;31m[ERROR]\x1b[m Failed to execute goal: no such artifact\n[ERROR] more"
    )
    assert java._first_error(text) == "Failed to execute goal: no such artifact"
    assert "protonj2-client 1.1.0, Java " in java.version()
    assert "qpid-jms-client 2.10.0, Java " in jms.version()


@pytest.mark.parametrize("module", [java, jms])
def test_the_real_peer_starts_with_its_class_data_archive(module: object) -> None:
    from harness.peers import PeerRegistry

    name = module.NAME  # type: ignore[attr-defined]
    reason = module.unavailable()  # type: ignore[attr-defined]
    if reason:
        require(f"{name} peer unavailable: {reason}")
    argv = PeerRegistry().get(name).argv()
    archive = [a for a in argv if a.startswith("-XX:SharedArchiveFile=")]
    assert archive and os.path.isfile(archive[0].split("=", 1)[1])
    done = subprocess.run(
        [*argv, "send", "--bogus"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("usage: ") and len(done.stderr.splitlines()) == 1, done.stderr


def test_the_archive_holds_the_codec_a_cell_uses(tmp_path: Path) -> None:
    """Trained on a real connection (hello against the embedded broker), the archive holds the
    transfer codec and the link classes; trained on a closed port it held neither, and every
    cell loaded them from the jar (java started in 3.1x the Python peer's time instead of 2.2x)."""
    from harness.peers import PeerRegistry

    reason = java.unavailable()
    if reason:
        require(f"java peer unavailable: {reason}")
    argv = PeerRegistry().get("java").argv()
    at = argv.index("-jar")
    log = tmp_path / "load.txt"
    argv = [*argv[:at], f"-Xlog:class+load=info:file={log}", *argv[at:]]
    done = subprocess.run(
        [*argv, "hello", "--listen", "--url", "amqp://127.0.0.1:0", "--timeout", "20"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = log.read_text()
    for cls in ("types.transport.Transfer", "types.transport.Attach", "types.transport.Flow"):
        line = next((ln for ln in loaded.splitlines() if f"protonj2.{cls} " in ln), "")
        assert "source: shared objects file" in line, line or f"{cls} not loaded"
