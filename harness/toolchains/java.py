"""Build and discovery for the two Java reference peers: ``java`` (protonj2) and ``jms`` (Qpid JMS).

Each peer is a Maven project (peers/java/pom.xml, peers/jms/pom.xml, exact
versions) built into ONE runnable jar (maven-shade-plugin) once per distinct
(sources, ``java -version``, ``mvn -v``) into ``<cache>/<name>/<digest>/peer``
(the jar itself; a jar built before runs without Maven installed), under the ``fcntl`` lock and atomic rename of
harness/toolchains/binary.py. Maven runs in a copy of the sources inside the
cache (never in the clone) with its local repository under ``<cache>/maven``.
The jms peer's build also gets the shared classes of peers/java
(``interop.common``: options, JSON Lines, the reconnect loop).

Maven is a build tool only: a peer runs as ``java -jar``, with what keeps JVM
start-up low, since it is paid in every cell: C1 only, the serial GC, no
perf-data file, and an AppCDS archive (``peer-hello.jsa``) dumped once beside
the jar by a training run (the hello role against the embedded broker). ``-Xlog:disable`` keeps the JVM's own warnings off
stdout, which carries JSON Lines only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import resources
from harness.announce import announced
from harness.toolchains.binary import build_once

MIN_JAVA = 11
BUILD_TIMEOUT_S = 900
TRAIN_TIMEOUT_S = 60
INSTALL_HINT = "install a JDK 11+ and Maven (Debian: apt-get install openjdk-17-jdk-headless maven)"
#: JVM flags for a short-lived peer: start-up matters more than peak speed
JVM_FLAGS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Xss512k",
    "-Xlog:disable",
    "-Xlog:all=error:stderr",
)
SHARED = Path("src/main/java/interop/common")


@dataclass(frozen=True)
class JavaPeer:
    """One Maven-built peer: its folder under peers/, its library's coordinates, its main class."""

    name: str
    library: str  # groupId:artifactId
    version_property: str  # the pom property that pins the library's version
    root: Path | None = None  # the peer's folder when not peers/NAME (tests)

    @property
    def source_dir(self) -> Path:
        return self.root or resources.peer_dir(self.name)

    def sources(self) -> list[tuple[str, Path]]:
        """(path in the build folder, file): the peer's pom and src, plus the shared classes."""
        out = []
        roots = [(self.source_dir, Path())]
        if self.name != "java" and self.root is None:
            roots.append((resources.peer_dir("java") / SHARED, SHARED))
        for root, prefix in roots:
            if root == self.source_dir:
                files = [root / "pom.xml"] if (root / "pom.xml").is_file() else []
                files += sorted(p for p in (root / "src").rglob("*") if p.is_file())
            else:
                files = sorted(p for p in root.rglob("*") if p.is_file())
            for f in files:
                rel = f.relative_to(root)
                out.append((str(prefix / rel), f))
        return out

    def pinned(self) -> str:
        """The library version the pom pins (``<protonj2.version>1.1.0</...>``)."""
        pom = self.source_dir / "pom.xml"
        text = pom.read_text() if pom.is_file() else ""
        m = re.search(rf"<{re.escape(self.version_property)}>([^<]+)<", text)
        return m.group(1).strip() if m else "(not in pom.xml)"

    def unavailable(self) -> str | None:
        if not (self.source_dir / "pom.xml").is_file():
            return f"no pom.xml in {self.source_dir}"
        java, mvn = _tool("JAVA", "java"), _tool("MVN", "mvn")
        if java is None:
            return f"java not found on PATH ({INSTALL_HINT})"
        have = _java_version(java)
        if have is None:
            return f"{java} -version failed"
        if _major(have) < MIN_JAVA:
            return f"Java {have} is older than {MIN_JAVA} ({INSTALL_HINT})"
        if mvn is None and not self._built(java):
            return (
                f"mvn not found on PATH, needed once to build the {self.name} peer ({INSTALL_HINT})"
            )
        return None

    def digest(self, java: str) -> str:
        """The build folder's name: hash of the sources and ``java -version``, then of ``mvn -v``."""
        h = hashlib.sha256()
        for rel, f in self.sources():
            h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
        h.update(f"{_java_version(java)}".encode())
        mvn = _tool("MVN", "mvn")
        maven = hashlib.sha256(_mvn_version(mvn).encode() if mvn else b"").hexdigest()
        return f"{h.hexdigest()[:24]}-{maven[:8]}"

    def _target_dir(self, cache_dir: Path, java: str) -> Path | None:
        """Where the jar is (or goes). Without mvn: a jar built earlier by any Maven, else None."""
        base = Path(cache_dir) / self.name
        key = self.digest(java)
        if _tool("MVN", "mvn") is not None:
            return base / key
        built = sorted(base.glob(f"{key.split('-')[0]}-*/peer"))
        return built[0].parent if built else None

    def _built(self, java: str) -> bool:
        from harness.env import cache_dir

        return self._target_dir(cache_dir() / "peers", java) is not None

    def build(self, cache_dir: Path) -> list[str]:
        """Build the jar once per digest (and its class-data archive); return the argv prefix."""
        reason = self.unavailable()
        if reason:
            raise RuntimeError(reason)
        java = _tool("JAVA", "java")
        assert java is not None
        target_dir = self._target_dir(cache_dir, java)
        if target_dir is None:
            raise RuntimeError(f"mvn not found on PATH ({INSTALL_HINT})")
        repo = Path(cache_dir) / "maven" / "repository"
        what = f"built the {self.name} peer ({self.library} {self.pinned()}) with Maven"
        jar = build_once(target_dir, what, lambda tmp: self._package(tmp, target_dir, repo))
        jsa = _class_data(java, jar, target_dir, self.name)
        shared = [f"-XX:SharedArchiveFile={jsa}"] if jsa else []
        # netty unpacks its native transport library here, not in /tmp
        native = f"-Dio.netty.native.workdir={target_dir}"
        return [java, *JVM_FLAGS, *shared, native, "-jar", str(jar)]

    def _package(self, out: Path, target_dir: Path, repo: Path) -> None:
        mvn = _tool("MVN", "mvn")
        if mvn is None:
            raise RuntimeError(f"mvn not found on PATH ({INSTALL_HINT})")
        work = Path(tempfile.mkdtemp(prefix=".build.", dir=target_dir))
        try:
            for rel, f in self.sources():
                dest = work / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
            argv = [mvn, "-B", "-q", f"-Dmaven.repo.local={repo}", "package"]
            proc = _run(argv, work, BUILD_TIMEOUT_S, "mvn package")
            if proc.returncode != 0:
                raise RuntimeError(_first_error(proc.stdout + "\n" + proc.stderr))
            shutil.copyfile(work / "target" / "peer.jar", out)
            (target_dir / "version.txt").write_text(f"{self.library} {self.pinned()}\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def version(self) -> str:
        """ "org.apache.qpid:protonj2-client 1.1.0, Java 17.0.15": the pom's library and the JVM."""
        java = _tool("JAVA", "java")
        jv = _java_version(java) if java else None
        return f"{self.library} {self.pinned()}, Java {jv or '(not found)'}"


def _tool(env: str, default: str) -> str | None:
    return shutil.which(os.environ.get(env) or default)


def _run(argv: list[str], cwd: Path, timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} took over {timeout:g} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot run {argv[0]}: {e}") from None


@functools.lru_cache(maxsize=8)
def _java_version(java: str) -> str | None:
    """The ``version "..."`` of ``java -version`` (e.g. "17.0.15"), or None when java does not run."""
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    return m.group(1) if proc.returncode == 0 and m else None


@functools.lru_cache(maxsize=8)
def _mvn_version(mvn: str) -> str:
    """The first line of ``mvn -v`` (e.g. "Apache Maven 3.8.7"), ANSI colours removed."""
    try:
        proc = subprocess.run(
            [mvn, "-v", "-B"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    return text.splitlines()[0].strip() if text.strip() else ""


def _major(version: str) -> int:
    parts = version.split(".")
    first = int(parts[0]) if parts[0].isdigit() else 0
    return int(parts[1]) if first == 1 and len(parts) > 1 and parts[1].isdigit() else first


def _first_error(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("[ERROR]") and len(ln) > len("[ERROR] "):
            return ln[len("[ERROR] ") :]
    return lines[0] if lines else "mvn package failed without output"


def _closed_port() -> int:
    """A local port with nobody listening (the training run's connection is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _training_broker(target_dir: Path) -> Iterator[str | None]:
    """The URL of an embedded broker for the training run, or None when it will not start."""
    from harness.brokers.base import BrokerError
    from harness.brokers.embedded import EmbeddedBroker

    with tempfile.TemporaryDirectory(prefix=".train-", dir=target_dir) as work:
        broker = EmbeddedBroker(work)
        try:
            broker.start(timeout=20.0)
        except BrokerError:
            broker.stop()
            yield None
            return
        try:
            yield broker.url()
        finally:
            broker.stop()


def _class_data(java: str, jar: Path, target_dir: Path, name: str) -> Path | None:
    """``peer-hello.jsa`` beside the jar: the classes a run loads, dumped once by a training run.

    The training run is the hello role against the embedded broker: one
    connection, a receiver, a sender, a message each way, so the JVM loads the
    client library, its codec for every performative a cell sees and the peer's
    own classes, and writes them to the archive when it exits. (Training against
    a closed port, as before, left the codec and link classes to load from the
    jar in every cell: java started in 3.1x the Python peer's time, not 2.x.)
    Without a broker the training runs against a closed port. Made under the
    jar's lock and renamed into place. None when the JVM cannot make one: the
    peer then starts without it.
    """
    jsa = target_dir / "peer-hello.jsa"
    if jsa.is_file():
        return jsa
    with open(target_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jsa.is_file():
            return jsa
        tmp = target_dir / f".peer.{os.getpid()}.jsa"
        argv = [java, *JVM_FLAGS, f"-XX:ArchiveClassesAtExit={tmp}", "-jar", str(jar)]
        try:
            with announced(f"made the {name} peer's class-data archive", note=str(jsa)):
                with _training_broker(target_dir) as url:
                    role = "hello" if url else "send"
                    url = url or f"amqp://127.0.0.1:{_closed_port()}"
                    argv += [role, "--url", url, "--count", "1", "--timeout", "10"]
                    _run(argv + ["--no-reconnect"], target_dir, TRAIN_TIMEOUT_S, "the training run")
                if not tmp.is_file():
                    raise RuntimeError("no archive")
        except RuntimeError:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, jsa)
    return jsa


PEERS = {
    "java": JavaPeer("java", "org.apache.qpid:protonj2-client", "protonj2.version"),
    "jms": JavaPeer("jms", "org.apache.qpid:qpid-jms-client", "qpid-jms.version"),
}

# The registry's module interface (harness/toolchains/__init__.py), for the protonj2 peer.
NAME = "java"
#: receive, send, serve and hello --listen through protonj2's engine; reconnect is the peer's own loop; dynamic reply receivers
CAPABILITIES = frozenset({"listen", "reconnect", "dynamic"})


def unavailable() -> str | None:
    """One line saying why the java peer cannot be built here, or None when it can."""
    return PEERS[NAME].unavailable()


def build(cache_dir: Path) -> list[str]:
    """The java peer's argv prefix (``java ... -jar peer``), built once per digest."""
    return PEERS[NAME].build(cache_dir)


def version() -> str:
    return PEERS[NAME].version()
