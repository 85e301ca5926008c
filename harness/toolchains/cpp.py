"""Build and discovery for the proton C++ reference peer (peers/cpp).

The peer is compiled once per distinct (sources, compiler command, proton
headers) into ``<cache_dir>/<digest>/peer`` so that a test session, or many
pytest-xdist workers at once, pay the ~1.5 s compile a single time. The
binary is written to a temporary name and moved into place with
``os.replace`` under an ``fcntl`` lock, so a concurrent reader never sees a
half-written executable.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness import resources
from harness.toolchains.binary import build_once

NAME = "cpp"
#: what this peer can do (see peers/CONTRACT.md): --listen, --reconnect, dynamic reply receivers
CAPABILITIES = frozenset({"listen", "reconnect", "dynamic"})

SOURCE_DIR = resources.peer_dir("cpp")
#: the header that proves libqpid-proton-cpp's development files are installed
PROBE_HEADER = "proton/messaging_handler.hpp"
PACKAGE = "libqpid-proton-cpp12"
CXXFLAGS = ["-O2", "-std=c++17"]
LIBS = ["-lqpid-proton-cpp"]
BUILD_TIMEOUT_S = 300


def _compiler() -> str:
    """The C++ compiler: ``$CXX`` when set, else g++."""
    return os.environ.get("CXX") or "g++"


def _include_dirs() -> list[Path]:
    dirs = []
    for var in ("CPLUS_INCLUDE_PATH", "CPATH"):
        dirs += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    return dirs + [Path("/usr/local/include"), Path("/usr/include")]


def _find_header(name: str) -> Path | None:
    for d in _include_dirs():
        if (d / name).is_file():
            return d / name
    return None


def unavailable() -> str | None:
    """One line saying why the C++ peer cannot be built here, or None when it can."""
    cxx = _compiler()
    if shutil.which(cxx) is None:
        return f"C++ compiler {cxx!r} not found on PATH (install g++)"
    if _find_header(PROBE_HEADER) is None:
        return f"{PROBE_HEADER} not found (install {PACKAGE}-dev)"
    if not _sources():
        return f"no C++ sources in {SOURCE_DIR}"
    return None


def _sources() -> list[Path]:
    if not SOURCE_DIR.is_dir():
        return []
    return sorted(p for p in SOURCE_DIR.iterdir() if p.suffix in {".cpp", ".hpp", ".h"})


def _command(cxx: str, out: Path) -> list[str]:
    units = [str(p) for p in _sources() if p.suffix == ".cpp"]
    return [cxx, *CXXFLAGS, *units, "-o", str(out), *LIBS]


def _digest(cxx_path: str) -> str:
    """Hash of everything that decides the binary: sources, command, compiler, proton headers."""
    h = hashlib.sha256()
    for p in _sources():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update("\0".join(_command(cxx_path, Path("OUT"))).encode())
    version_h = _find_header("proton/version.h")
    if version_h is not None:
        h.update(version_h.read_bytes())
    return h.hexdigest()


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(r"\b(fatal )?error\b", ln):
            return ln
    return lines[0] if lines else "compiler failed without output"


def _compile(cxx_path: str, out: Path) -> None:
    """Run the compiler; RuntimeError with its first error line when it fails."""
    try:
        proc = subprocess.run(
            _command(cxx_path, out),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"compiling the C++ peer took over {BUILD_TIMEOUT_S} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot run {cxx_path}: {e}") from None
    if proc.returncode != 0:
        raise RuntimeError(_first_error(proc.stderr))


def build(cache_dir: Path) -> list[str]:
    """Compile the peer (once per source digest) and return its argv prefix.

    A compile says so on stderr (one line with its time). Raises RuntimeError
    with the compiler's first error line when it fails.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    cxx_path = shutil.which(_compiler()) or _compiler()
    target_dir = Path(cache_dir) / NAME / _digest(cxx_path)
    binary = build_once(target_dir, "compiled the C++ peer", lambda tmp: _compile(cxx_path, tmp))
    return [str(binary)]


def version() -> str:
    """The proton C++ library version, e.g. ``qpid-proton-cpp 0.37.0``."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", PACKAGE],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            upstream = proc.stdout.strip().split(":")[-1].split("-")[0]
            return f"qpid-proton-cpp {upstream}"
    except (OSError, subprocess.TimeoutExpired):
        pass
    header = _find_header("proton/version.h")
    if header is not None:
        text = header.read_text(errors="replace")
        parts = [
            re.search(rf"#define\s+PN_VERSION_{k}\s+(\d+)", text)
            for k in ("MAJOR", "MINOR", "POINT")
        ]
        if all(parts):
            return "qpid-proton-cpp " + ".".join(m.group(1) for m in parts if m)
    return "qpid-proton-cpp (unknown version)"
