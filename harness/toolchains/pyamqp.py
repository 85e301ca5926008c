"""Build and discovery for the pyamqp reference peer (peers/pyamqp).

The peer runs on ``azure.servicebus._pyamqp``, the pure-Python AMQP 1.0 stack
inside azure-servicebus. That module is private, so its version is pinned
(peers/pyamqp/requirements.txt, every dependency exact) and installed into a
virtual environment of its own in the build cache,
``<cache_dir>/pyamqp/<hash of the requirements + Python version>/venv``:
the project's environment is never touched, and a changed pin gets a fresh
environment. Creating it takes a few seconds and needs PyPI, once; an
``fcntl`` lock keeps pytest-xdist workers from installing it twice. The peer
cannot listen (pyamqp has no listener); it reconnects by its own loop.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from harness import resources
from harness.announce import announced

NAME = "pyamqp"
#: no "listen": pyamqp is a client; reconnect is the peer's own loop
CAPABILITIES = frozenset({"reconnect", "dynamic"})

PEER_DIR = resources.peer_dir("pyamqp")
REQUIREMENTS = PEER_DIR / "requirements.txt"
PACKAGE = "azure-servicebus"
INSTALL_TIMEOUT_S = 600
#: written into the venv once the install finished, so a half-made one is never used
STAMP = ".amqp-interop-complete"


def pinned() -> str:
    """The azure-servicebus version requirements.txt pins."""
    m = re.search(rf"^{PACKAGE}==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE | re.IGNORECASE)
    return m.group(1) if m else "(not pinned)"


def unavailable() -> str | None:
    """One line saying why the pyamqp peer cannot run here, or None when it can."""
    for needed in ("peer.py", "engine.py", "roles.py", "args.py", "requirements.txt"):
        if not (PEER_DIR / needed).is_file():
            return f"{PEER_DIR / needed} is missing"
    try:
        import ensurepip  # noqa: F401  (Debian splits it and venv out: python3-venv)
        import venv  # noqa: F401
    except ImportError:
        return "Python's venv/ensurepip is missing (install python3-venv)"
    return None


def _digest() -> str:
    h = hashlib.sha256(REQUIREMENTS.read_bytes())
    h.update(f"\0{sys.version}\0{sys.platform}".encode())
    return h.hexdigest()[:32]


def _venv_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / NAME / _digest() / "venv"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _ready(venv: Path) -> bool:
    return (venv / STAMP).is_file() and os.access(_python(venv), os.X_OK)


def _run(argv: list[str], what: str) -> None:
    env = os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} took over {INSTALL_TIMEOUT_S} s") from None
    except OSError as e:
        raise RuntimeError(f"{what}: {e}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {first}")


def build(cache_dir: Path) -> list[str]:
    """Create the peer's virtual environment when needed and return its argv prefix.

    An install says so on stderr (one line with its time). Raises RuntimeError
    with one line when it cannot.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    venv = _venv_dir(cache_dir)
    argv = [str(_python(venv)), str(PEER_DIR / "peer.py")]
    if _ready(venv):
        return argv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing right now
        if _ready(venv):
            return argv
        shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted run
        with announced(
            f"installed the pyamqp peer ({PACKAGE}=={pinned()}) into a virtual environment",
            note=f"first run, kept in {venv}",
        ):
            base = getattr(sys, "_base_executable", None) or sys.executable
            _run([base, "-m", "venv", str(venv)], "creating the pyamqp peer's venv")
            pip = [str(_python(venv)), "-m", "pip", "install", "--quiet", "--no-deps"]
            _run([*pip, "-r", str(REQUIREMENTS)], f"pip install {PACKAGE}=={pinned()}")
        (venv / STAMP).write_text(pinned() + "\n")
    return argv


def version() -> str:
    """ "azure-servicebus X.Y.Z (_pyamqp), Python 3.N": the installed version, else the pin."""
    from harness.env import cache_dir

    venv = _venv_dir(cache_dir() / "peers")
    installed = None
    if _ready(venv):
        found = sorted(venv.glob("lib/python*/site-packages/azure_servicebus-*.dist-info"))
        if found:
            installed = found[-1].name.removesuffix(".dist-info").split("-")[1]
    py = ".".join(map(str, sys.version_info[:2]))
    label = installed or f"{pinned()} (pinned)"
    return f"{PACKAGE} {label} (_pyamqp), Python {py}"
