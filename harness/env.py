"""Where the harness runs: a developer's laptop or CI.

On a laptop a missing component (Docker, RabbitMQ, a peer's toolchain) is a
skip with a one-line reason; in CI the pipeline installs everything, so the
same absence is a failure. Every such decision goes through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: a clone's root (harness/ is one level below it), for the repository's own tests and
#: scripts; an installed wheel has no such folder: the files a run needs come from
#: harness.resources, caches from cache_dir()
ROOT = Path(__file__).resolve().parent.parent
#: the folder name under the user's cache folder (``$XDG_CACHE_HOME``, else ``~/.cache``)
CACHE_NAME = "amqp-interop"


def in_ci() -> bool:
    """True when ``CI`` is set to a true value (as CI systems and ``.ci/run`` do)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(reason: str) -> None:
    """In a test: skip with ``reason`` on a laptop, fail with it in CI."""
    import pytest

    if in_ci():
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def cache_dir() -> Path:
    """Where builds and scratch files go: ``$INTEROP_CACHE``, else the user's cache folder.

    The user's cache folder is ``$XDG_CACHE_HOME/amqp-interop`` (a relative
    ``XDG_CACHE_HOME`` is ignored, as the XDG spec says), else
    ``~/.cache/amqp-interop``. Never the installed package's folder: that stays
    read-only. Compiled peers, rhea's node_modules, the pyamqp venv, Go's
    module cache, image build locks and brokers' scratch folders live here.
    """
    override = os.environ.get("INTEROP_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / CACHE_NAME


def cache_problem() -> str | None:
    """One line saying why the cache folder cannot be written (and how to fix it), or None."""
    where = cache_dir()
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".write-test-", dir=where):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        return (
            f"cache folder {where} is not writable ({why}): "
            "set INTEROP_CACHE to a writable folder, or fix its permissions"
        )
    return None


def writable_cache_dir() -> Path:
    """``cache_dir()``, made and checked: RuntimeError with ``cache_problem()``'s line if unwritable.

    For builds (compiled peers, installed packages): the registry turns the
    error into the peer's one-line unavailable reason, a skip, not a traceback.
    """
    problem = cache_problem()
    if problem:
        raise RuntimeError(problem)
    return cache_dir()
