"""Version patterns for what a broker (or a peer library) says it is.

One reading of ``3.*`` and ``>=3.10,<4.1`` for everything that keys on a
version: known-failure entries (``harness/matrix/known.py``) and broker
fingerprints (``harness/brokers/fingerprints.py``), so a range means the
same wherever it is written.

A pattern is either an fnmatch glob (``3.10.*``, ``*``) or comma-separated
comparisons (``>=3.8,<4``) on the leading numeric part of the version
(``3.10.8-1`` compares as 3.10.8; ``3.10`` equals ``3.10.0``).
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

__all__ = ["check_version_pattern", "name_matches", "version_key", "version_matches"]

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.\-+]*)\s*$")
_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def version_key(version: str) -> tuple[int, ...] | None:
    """The leading numeric components of a version: ``3.10.8-1`` -> (3, 10, 8); None if there are none."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Pad two version tuples to the same length so 3.10 == 3.10.0."""
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def _is_range(pattern: str) -> bool:
    return pattern.lstrip()[:1] in ("<", ">", "=", "!")


def check_version_pattern(pattern: str) -> None:
    """Raise ValueError if a version pattern cannot be used (a range with a bad clause)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("empty version pattern")
    if _is_range(pattern):
        for clause in pattern.split(","):
            m = _CLAUSE.match(clause)
            if not m or version_key(m.group(2)) is None:
                raise ValueError(f"bad version clause '{clause.strip()}' in '{pattern}'")


def version_matches(pattern: str, version: str) -> bool:
    """Whether ``version`` fits ``pattern`` (a glob or a range; see the module's doc).

    An unknown version (empty, or no leading number for a range) matches only ``*``.
    """
    pattern = pattern.strip()
    if pattern == "*":
        return True
    if not version:
        return False
    if not _is_range(pattern):
        return fnmatchcase(version, pattern)
    actual = version_key(version)
    if actual is None:
        return False
    for clause in pattern.split(","):
        m = _CLAUSE.match(clause)
        if not m:
            return False
        wanted = version_key(m.group(2))
        if wanted is None:
            return False
        a, b = _padded(actual, wanted)
        if not _OPS[m.group(1)](a, b):
            return False
    return True


def name_matches(pattern: str, value: str) -> bool:
    """Product, scenario, fault and peer patterns: fnmatch, case-insensitive (``RabbitMQ`` = ``rabbitmq``)."""
    return fnmatchcase(value.lower(), pattern.lower())
