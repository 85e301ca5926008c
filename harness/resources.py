"""Where the files a run needs are, however the package was installed.

The reference peers' files (the repository's top-level ``peers/``: the
Python peers and embedded broker, the C++ source, the rhea peer's
package.json and lock, the go peer's module, the pyamqp peer and its pins,
the contract and its defaults) ship inside the package: pyproject.toml maps
``peers/`` to ``harness/_peers/`` in the wheel, as it maps ``scenarios/`` to
``harness.scenarios``, so no generic top-level name lands in site-packages.
In a clone (an editable install) they are the repository's own folders.
Every caller asks here, never relative to the current folder or the
repository, and gets the same answer in both cases.

Nothing here writes into the package, which may be read-only: a peer that
needs a writable folder (rhea's ``npm ci`` writes node_modules next to the
peer) gets a copy of its files in the cache folder (:func:`staged_peer_dir`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from importlib import resources as _resources
from pathlib import Path

from harness.env import cache_dir

__all__ = [
    "PACKAGE",
    "REINSTALL",
    "contract",
    "defaults_file",
    "missing",
    "package_dir",
    "peer_dir",
    "peer_file",
    "peers_dir",
    "python_script",
    "staged_peer_dir",
]

PACKAGE = "harness"
#: the peers' folder inside the installed package (the repository's ``peers/``)
SHIPPED_PEERS = "_peers"
#: the command that brings back a file missing from an installation
REINSTALL = "pip install --force-reinstall amqp-interop"


def package_dir() -> Path:
    """The installed ``harness`` package's folder (a real folder: zip imports are not supported)."""
    return Path(str(_resources.files(PACKAGE)))


def peers_dir() -> Path:
    """The reference peers' folder: ``harness/_peers`` when installed, ``peers/`` in a clone."""
    pkg = package_dir()
    shipped = pkg / SHIPPED_PEERS
    if shipped.is_dir():
        return shipped
    clone = pkg.parent  # an editable install: the package is the clone's harness/
    if (clone / "pyproject.toml").is_file() and (clone / "peers").is_dir():
        return clone / "peers"
    return shipped  # missing: callers name the file they wanted


def peer_dir(name: str) -> Path:
    """One implementation's folder (``python``, ``cpp``, ``js``, ``go``, ``pyamqp`` ...)."""
    return peers_dir() / name


def peer_file(*parts: str) -> Path:
    """A file under the peers' folder, e.g. ``peer_file("python", "broker.py")``."""
    return peers_dir().joinpath(*parts)


def contract() -> Path:
    """peers/CONTRACT.md: the peer contract every implementation follows."""
    return peer_file("CONTRACT.md")


def defaults_file() -> Path:
    """peers/defaults.json: the contract's defaults per role."""
    return peer_file("defaults.json")


def missing(path: Path) -> str:
    """One line for a shipped file that is not there, with the command that brings it back."""
    return f"{path} is missing from this installation (reinstall: {REINSTALL})"


def python_script(*parts: str) -> list[str]:
    """The argv prefix that runs a shipped Python script with this interpreter.

    When the script is missing the prefix is the script's path alone, so the
    peer registry's own check ("... does not exist") reports that peer as
    unavailable instead of listing it as available and skipping its cells.
    """
    script = peer_file(*parts)
    return [sys.executable, str(script)] if script.is_file() else [str(script)]


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def staged_peer_dir(name: str) -> Path:
    """A writable copy of a peer's files in the cache: ``<cache>/peers/NAME/<digest>/``.

    Only the files directly in the peer's folder are copied (never a
    node_modules of a clone); the digest is their hash, so a changed peer
    gets a fresh folder and an unchanged one is copied once per machine. The
    copy is made under a temporary name and renamed into place, so
    concurrent runs never see half of it. When the cache cannot be written,
    the shipped folder is returned (``interop run`` says why before any
    build; a clone's folder is writable anyway).
    """
    src = peer_dir(name)
    try:
        files = sorted(p for p in src.iterdir() if p.is_file())
    except OSError:
        return src  # missing: the toolchain names what it wanted
    if not files:
        return src
    dest = cache_dir() / "peers" / name / _digest(files)
    if dest.is_dir():
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest.parent))
        try:
            for p in files:
                shutil.copyfile(p, tmp / p.name)
            os.rename(tmp, dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not dest.is_dir():  # not another process that won the race
                raise
    except OSError:
        return src
    return dest
