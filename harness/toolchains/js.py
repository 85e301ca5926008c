"""Build and discovery for the rhea (JavaScript) reference peer (peers/js).

The peer needs Node.js and its one dependency, rhea, installed from the
committed package-lock.json by ``npm ci``. Installing takes seconds and needs
the npm registry, so it runs only when ``peers/js/node_modules`` is missing or
was installed from a different lock file: a stamp file inside node_modules
holds the hash of the lock it came from. Two pytest-xdist workers building at
once take an ``fcntl`` lock in the cache directory, so npm never runs twice
over the same node_modules at the same time.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness import resources
from harness.announce import announced

NAME = "js"
#: what this peer can do (see peers/CONTRACT.md): --listen, --reconnect, dynamic reply receivers
CAPABILITIES = frozenset({"listen", "reconnect", "dynamic"})

#: the peer's folder; a module attribute so tests can point it at a copy
PEER_DIR = resources.staged_peer_dir("js")
MIN_NODE_MAJOR = 14
NPM_TIMEOUT_S = 300
STAMP_NAME = ".amqp-interop-lock-hash"
NPM_CI = ["npm", "ci", "--no-audit", "--no-fund"]


@functools.lru_cache(maxsize=8)
def _node_version(node_path: str) -> str | None:
    """``node --version`` (e.g. "v20.20.2"), or None when it does not run."""
    try:
        proc = subprocess.run(
            [node_path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def _major(version: str) -> int | None:
    m = re.match(r"v?(\d+)\.", version)
    return int(m.group(1)) if m else None


def _lock_hash() -> str:
    return hashlib.sha256((PEER_DIR / "package-lock.json").read_bytes()).hexdigest()


def _installed() -> bool:
    """True when node_modules holds rhea and was installed from the current lock file."""
    modules = PEER_DIR / "node_modules"
    stamp = modules / STAMP_NAME
    if not (modules / "rhea" / "package.json").is_file() or not stamp.is_file():
        return False
    try:
        return stamp.read_text().strip() == _lock_hash()
    except OSError:
        return False


def unavailable() -> str | None:
    """One line saying why the js peer cannot run here, or None when it can."""
    if not (PEER_DIR / "peer.js").is_file():
        return f"{PEER_DIR / 'peer.js'} is missing"
    if not (PEER_DIR / "package-lock.json").is_file():
        return f"{PEER_DIR / 'package-lock.json'} is missing"
    node = shutil.which("node")
    if node is None:
        return f"node not found on PATH (install Node.js {MIN_NODE_MAJOR} or newer)"
    version = _node_version(node)
    if version is None:
        return f"{node} --version failed"
    major = _major(version)
    if major is None or major < MIN_NODE_MAJOR:
        return f"node {version} is too old (rhea 3 needs Node.js {MIN_NODE_MAJOR} or newer)"
    if not _installed() and shutil.which("npm") is None:
        return "npm not found on PATH and peers/js/node_modules is not installed"
    return None


def _npm_error(stdout: str, stderr: str) -> str:
    """The most telling line of a failed npm run."""
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    for pattern in (r"npm (ERR!|error) code", r"npm (ERR!|error)", r"\berror\b"):
        for ln in lines:
            if re.search(pattern, ln, re.IGNORECASE):
                return ln
    return lines[0] if lines else "npm failed without output"


def _npm_ci() -> None:
    env = dict(os.environ)
    env.setdefault("npm_config_update_notifier", "false")
    env.setdefault("npm_config_loglevel", "error")
    try:
        proc = subprocess.run(
            NPM_CI,
            cwd=PEER_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`npm ci` in {PEER_DIR} timed out after {NPM_TIMEOUT_S} s") from None
    except OSError as e:
        raise RuntimeError(f"cannot run npm: {e}") from None
    if proc.returncode != 0:
        first = _npm_error(proc.stdout, proc.stderr)
        raise RuntimeError(f"`npm ci` failed (exit {proc.returncode}): {first}")
    if not (PEER_DIR / "node_modules" / "rhea" / "package.json").is_file():
        raise RuntimeError("`npm ci` succeeded but node_modules/rhea is missing")


def build(cache_dir: Path) -> list[str]:
    """Install the peer's dependencies when needed and return its argv prefix.

    An install says so on stderr (one line with its time). Raises RuntimeError
    with one line (npm's first error) when it cannot.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    argv = ["node", str(PEER_DIR / "peer.js")]
    if _installed():
        return argv
    lock_dir = Path(cache_dir) / NAME
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be running npm right now
        if _installed():
            return argv
        with announced(
            f"installed the js peer's packages (npm ci in {PEER_DIR})",
            note="first run, kept until package-lock.json changes",
        ):
            _npm_ci()
        stamp = PEER_DIR / "node_modules" / STAMP_NAME
        tmp = stamp.with_name(stamp.name + f".{os.getpid()}")
        tmp.write_text(_lock_hash() + "\n")
        os.replace(tmp, stamp)
    return argv


def version() -> str:
    """Versions in play, "rhea X.Y.Z, node vN"; rhea is read from node_modules (after build)."""
    pkg = PEER_DIR / "node_modules" / "rhea" / "package.json"
    try:
        rhea = f"rhea {json.loads(pkg.read_text())['version']}"
    except (OSError, ValueError, KeyError):
        rhea = "rhea (not installed)"
    node = shutil.which("node")
    node_version = _node_version(node) if node else None
    return f"{rhea}, node {node_version or '(not found)'}"
