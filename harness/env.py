"""Where the harness runs: a developer's laptop or CI.

On a laptop a missing component (Docker, RabbitMQ, a peer's toolchain) is a
skip with a one-line reason; in CI the pipeline installs everything, so the
same absence is a failure. Every such decision goes through here.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the repository root (harness/ is one level below it)
ROOT = Path(__file__).resolve().parent.parent


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
    """Build caches (compiled peers, npm stamps); override with ``INTEROP_CACHE``."""
    return Path(os.environ.get("INTEROP_CACHE") or ROOT / ".cache")
