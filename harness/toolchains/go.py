"""Build and discovery for the go-amqp (Azure) reference peer (peers/go).

The peer is a Go module (peers/go/go.mod pins github.com/Azure/go-amqp, go.sum
locks it). ``go build`` runs once per distinct (sources, go version, target)
into ``<cache_dir>/go/<digest>/peer``; every Go folder it writes (GOPATH, the
module cache, the build cache) is under ``<cache_dir>/go/`` too, so nothing is
written into the repository or the user's own Go folders. Modules come from
the Go module proxy (``GOPROXY`` as the user has it) on the first build. The
binary is written under a temporary name and moved into place under an
``fcntl`` lock, so pytest-xdist workers building at once compile it once.

go-amqp is a client: the peer cannot listen. It reconnects by its own loop.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness import resources
from harness.toolchains.binary import build_once

NAME = "go"
#: no "listen": go-amqp has no listener; reconnect is the peer's own loop
CAPABILITIES = frozenset({"reconnect", "dynamic"})

SOURCE_DIR = resources.peer_dir("go")
MODULE = "github.com/Azure/go-amqp"
BUILD_TIMEOUT_S = 600
#: how to get a Go toolchain when there is none (Debian 12's golang-go is 1.19: too old)
INSTALL_HINT = "install Go {need} or newer from the Go project's release archive"


def _go() -> str | None:
    """The go command: ``$GO`` when set, else ``go`` on PATH."""
    return shutil.which(os.environ.get("GO") or "go")


@functools.lru_cache(maxsize=8)
def _go_version(go: str) -> str | None:
    """``go env GOVERSION`` (e.g. "go1.26.8"), or None when go does not run."""
    try:
        proc = subprocess.run(
            [go, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=os.environ | {"GOTOOLCHAIN": "local"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out.startswith("go") else None


def _numbers(version: str) -> tuple[int, ...]:
    m = re.match(r"(?:go)?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    return tuple(int(x) for x in m.groups() if x is not None) if m else ()


def _go_mod() -> str:
    return (SOURCE_DIR / "go.mod").read_text()


def needed_go() -> str:
    """The ``go`` directive of peers/go/go.mod: the oldest Go that builds the peer."""
    m = re.search(r"^go\s+(\S+)", _go_mod(), re.MULTILINE)
    return m.group(1) if m else "1.21"


def pinned() -> str:
    """The go-amqp version go.mod requires (the one go.sum locks)."""
    m = re.search(rf"{re.escape(MODULE)}\s+(v\S+)", _go_mod())
    return m.group(1) if m else "(not in go.mod)"


def _sources() -> list[Path]:
    if not SOURCE_DIR.is_dir():
        return []
    return sorted(
        p for p in SOURCE_DIR.iterdir() if p.suffix == ".go" or p.name in {"go.mod", "go.sum"}
    )


def unavailable() -> str | None:
    """One line saying why the go peer cannot be built here, or None when it can."""
    if not (SOURCE_DIR / "go.mod").is_file() or not any(p.suffix == ".go" for p in _sources()):
        return f"no Go sources in {SOURCE_DIR}"
    need = needed_go()
    go = _go()
    if go is None:
        return f"go not found on PATH ({INSTALL_HINT.format(need=need)})"
    have = _go_version(go)
    if have is None:
        return f"{go} env GOVERSION failed"
    if _numbers(have) < _numbers(need):
        return (
            f"{have} is older than go {need}, which go-amqp {pinned()} needs "
            f"({INSTALL_HINT.format(need=need)})"
        )
    return None


def _env(cache_dir: Path) -> dict[str, str]:
    """The Go environment of a build: every folder Go writes is inside the cache."""
    root = Path(cache_dir) / NAME
    return os.environ | {
        "GOPATH": str(root / "gopath"),
        "GOMODCACHE": str(root / "gopath" / "pkg" / "mod"),
        "GOCACHE": str(root / "build-cache"),
        "GOFLAGS": "-mod=readonly -buildvcs=false -modcacherw",
        "GOTOOLCHAIN": "local",  # never download another toolchain
        "GOWORK": "off",
        "CGO_ENABLED": "0",  # a static binary; no C compiler needed
    }


def _digest(go: str) -> str:
    """Hash of everything that decides the binary: sources, go version, target."""
    h = hashlib.sha256()
    for p in _sources():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(
        f"{_go_version(go)}\0{os.environ.get('GOOS', '')}\0{os.environ.get('GOARCH', '')}".encode()
    )
    return h.hexdigest()[:32]


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(
            r"error|cannot|not found|no required module|missing|refused|timeout", ln, re.I
        ):
            return ln
    return lines[0] if lines else "go build failed without output"


def _run_go(go: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [go, *args],
            cwd=SOURCE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"go {args[0]} took over {BUILD_TIMEOUT_S} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot run {go}: {e}") from None


def _module_version(go: str, binary: Path, env: dict[str, str]) -> str:
    """The go-amqp version linked into ``binary`` (``go version -m``), e.g. "v1.7.0"."""
    proc = _run_go(go, ["version", "-m", str(binary)], env)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "dep" and parts[1] == MODULE:
            return parts[2]
    return "unknown"


def build(cache_dir: Path) -> list[str]:
    """Build the peer (once per digest) and return its argv prefix.

    A build says so on stderr (one line with its time). Raises RuntimeError
    with go's first error line when it fails.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    go = _go()
    assert go is not None
    target_dir = Path(cache_dir) / NAME / _digest(go)
    env = _env(cache_dir)

    def make(tmp: Path) -> None:
        proc = _run_go(go, ["build", "-trimpath", "-o", str(tmp), "."], env)
        if proc.returncode != 0:
            raise RuntimeError(_first_error(proc.stderr + "\n" + proc.stdout))
        (target_dir / "version.txt").write_text(_module_version(go, tmp, env) + "\n")

    binary = build_once(target_dir, "built the go peer (go-amqp)", make)
    return [str(binary)]


def version() -> str:
    """ "go-amqp vX.Y.Z, go1.N.M": the module version linked into the built binary (else go.mod's)."""
    go = _go()
    go_version = _go_version(go) if go else None
    module = f"{pinned()} (go.mod)"
    if go is not None and go_version is not None:
        from harness.env import cache_dir

        stamp = cache_dir() / "peers" / NAME / _digest(go) / "version.txt"
        try:
            module = stamp.read_text().strip() or module
        except OSError:
            pass
    return f"go-amqp {module}, {go_version or 'go (not found)'}"
