"""Build and discovery for the fe2o3-amqp (Rust) reference peer (peers/rust).

The peer is a cargo package: Cargo.toml pins fe2o3-amqp exactly and the
committed Cargo.lock locks every crate, so ``cargo build --release --locked``
builds the same thing everywhere. The binary goes to
``<cache_dir>/rust/<digest>/peer`` (digest of the sources and ``rustc -V``),
built once per machine under the shared build-once step (file lock, atomic
rename, announcement). Cargo's own work folder (CARGO_TARGET_DIR) is in the
cache too, one per (rustc, Cargo.toml, Cargo.lock), so an edit of the peer's
own code recompiles only the peer, not tokio and fe2o3; cargo locks that
folder itself when two builds share it. Crates come from the registry through
cargo's usual cache (CARGO_HOME, ~/.cargo), reused across builds. Nothing is
written into the repository.

A cold release build of tokio and fe2o3 takes minutes on two busy cores: the
release profile in Cargo.toml trades peak speed for build time (opt-level 0,
no LTO: about 1 min of CPU cold, 4 s after an edit of the peer), which a peer
that waits on a broker never misses (measured in Cargo.toml's comment).
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

NAME = "rust"
#: fe2o3-amqp listens (its acceptor feature); reconnect is the peer's own loop
CAPABILITIES = frozenset({"listen", "reconnect", "dynamic"})

SOURCE_DIR = resources.peer_dir("rust")
CRATE = "fe2o3-amqp"
BIN = "peer"
BUILD_TIMEOUT_S = 1800
INSTALL_HINT = "install a Rust toolchain {need} or newer (rustup), so that cargo is on PATH"


def _cargo() -> str | None:
    """``$CARGO``, else ``cargo`` on PATH, else rustup's default ``$CARGO_HOME/bin/cargo``."""
    found = shutil.which(os.environ.get("CARGO") or "cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    candidate = home / "bin" / "cargo"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def _rustc(cargo: str) -> str:
    """``$RUSTC``, else the rustc next to cargo, else ``rustc`` on PATH."""
    if os.environ.get("RUSTC"):
        return os.environ["RUSTC"]
    beside = Path(cargo).parent / "rustc"
    return str(beside) if os.access(beside, os.X_OK) else "rustc"


@functools.lru_cache(maxsize=8)
def _rustc_version(rustc: str) -> str | None:
    """``rustc -V`` (e.g. "rustc 1.95.0 (59807616e 2026-04-14)"), or None when it does not run."""
    try:
        proc = subprocess.run(
            [rustc, "-V"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out.startswith("rustc ") else None


def _numbers(version: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    return tuple(int(x) for x in m.groups() if x is not None) if m else ()


def _manifest() -> str:
    return (SOURCE_DIR / "Cargo.toml").read_text()


def needed_rust() -> str:
    """The ``rust-version`` of peers/rust/Cargo.toml: the oldest Rust that builds the peer."""
    m = re.search(r'^rust-version\s*=\s*"([^"]+)"', _manifest(), re.MULTILINE)
    return m.group(1) if m else "1.85"


def pinned() -> str:
    """The fe2o3-amqp version Cargo.lock locks, e.g. "0.18.4"."""
    try:
        lock = (SOURCE_DIR / "Cargo.lock").read_text()
    except OSError:
        return "(no Cargo.lock)"
    m = re.search(rf'name = "{re.escape(CRATE)}"\nversion = "([^"]+)"', lock)
    return m.group(1) if m else "(not in Cargo.lock)"


def _sources() -> list[Path]:
    """Cargo.toml, Cargo.lock and src/*.rs: everything the binary is built from."""
    if not SOURCE_DIR.is_dir():
        return []
    top = [SOURCE_DIR / n for n in ("Cargo.toml", "Cargo.lock") if (SOURCE_DIR / n).is_file()]
    src = SOURCE_DIR / "src"
    rs = sorted(src.rglob("*.rs")) if src.is_dir() else []
    return top + rs


def unavailable() -> str | None:
    """One line saying why the rust peer cannot be built here, or None when it can."""
    files = {p.name for p in _sources()}
    if not {"Cargo.toml", "Cargo.lock"} <= files or not any(n.endswith(".rs") for n in files):
        return f"no Rust sources (Cargo.toml, Cargo.lock, src/*.rs) in {SOURCE_DIR}"
    need = needed_rust()
    cargo = _cargo()
    if cargo is None:
        return f"cargo not found on PATH ({INSTALL_HINT.format(need=need)})"
    have = _rustc_version(_rustc(cargo))
    if have is None:
        return f"{_rustc(cargo)} -V failed ({INSTALL_HINT.format(need=need)})"
    if _numbers(have) < _numbers(need):
        return (
            f"{have} is older than Rust {need}, which {CRATE} {pinned()} needs "
            f"({INSTALL_HINT.format(need=need)})"
        )
    return None


def _hash(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256()
    for p in paths:
        rel = p.relative_to(SOURCE_DIR).as_posix()
        h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(extra.encode())
    return h.hexdigest()[:32]


def _digest(rustc_version: str) -> str:
    """Hash of everything that decides the binary: sources, rustc, target."""
    return _hash(_sources(), f"{rustc_version}\0{os.environ.get('CARGO_BUILD_TARGET', '')}")


def _target_dir(cache_dir: Path, rustc_version: str) -> Path:
    """Cargo's work folder: one per (rustc, manifest, lock), shared by edits of src/."""
    deps = [p for p in _sources() if p.name in ("Cargo.toml", "Cargo.lock")]
    return Path(cache_dir) / NAME / f"target-{_hash(deps, rustc_version)[:16]}"


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if re.match(r"error(\[E\d+\])?:", ln) and "aborting due to" not in ln:
            return ln
    for ln in lines:
        if re.search(r"error|failed|could not|not found|timed out", ln, re.I):
            return ln
    return lines[0] if lines else "cargo build failed without output"


def _env(target_dir: Path) -> dict[str, str]:
    env = os.environ | {
        "CARGO_TARGET_DIR": str(target_dir),
        "CARGO_TERM_COLOR": "never",
        "CARGO_TERM_PROGRESS_WHEN": "never",
        "CARGO_INCREMENTAL": "0",
    }
    env.pop("RUSTFLAGS", None)  # the user's flags would change the binary behind the digest
    return env


def _cargo_build(cargo: str, target_dir: Path, out: Path) -> None:
    """``cargo build --release --locked`` into ``target_dir``; the binary copied to ``out``."""
    manifest = SOURCE_DIR / "Cargo.toml"
    cmd = [cargo, "build", "--release", "--locked", "--quiet", "--manifest-path", str(manifest)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=target_dir.parent,
            env=_env(target_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"cargo build took over {BUILD_TIMEOUT_S} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot run {cargo}: {e}") from None
    if proc.returncode != 0:
        raise RuntimeError(_first_error(proc.stderr + "\n" + proc.stdout))
    built = target_dir / "release" / BIN
    if not built.is_file():
        raise RuntimeError(f"cargo build left no {built}")
    shutil.copyfile(built, out)


def build(cache_dir: Path) -> list[str]:
    """Build the peer (once per digest) and return its argv prefix.

    A build says so on stderr (one line with its time). Raises RuntimeError
    with cargo's first error line when it fails.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    cargo = _cargo()
    assert cargo is not None
    rustc_version = _rustc_version(_rustc(cargo)) or "rustc (unknown)"
    target_dir = Path(cache_dir) / NAME / _digest(rustc_version)
    work = _target_dir(cache_dir, rustc_version)

    def make(tmp: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        _cargo_build(cargo, work, tmp)
        (target_dir / "version.txt").write_text(pinned() + "\n")

    binary = build_once(target_dir, f"built the rust peer ({CRATE} {pinned()})", make)
    return [str(binary)]


def version() -> str:
    """ "fe2o3-amqp X.Y.Z, rustc A.B.C": the locked crate version and the compiler."""
    cargo = _cargo()
    rustc = _rustc_version(_rustc(cargo)) if cargo else None
    compiler = " ".join(rustc.split()[:2]) if rustc else "rustc (not found)"
    return f"{CRATE} {pinned()}, {compiler}"
