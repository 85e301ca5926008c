"""Aligning two sequences of frame keys, difflib-style, on runs of equal keys.

Why not difflib alone: ``SequenceMatcher`` is quadratic on long repetitive
sequences, and a trace of 20,000 transfers is exactly that. Runs of equal
keys are aligned instead (a stream of transfers is one run), two aligned
runs of different lengths pair up from their start, and the rest is
one-sided; beyond ``_MAX_CELLS`` runs are paired by position.
"""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["opcodes"]

_MAX_CELLS = 4_000_000  # runs(a) x runs(b) beyond which runs are paired by position


def _runs(keys: list[Any]) -> list[tuple[Any, int, int]]:
    """Run-length encoding: (key, start, length)."""
    runs: list[tuple[Any, int, int]] = []
    for i, k in enumerate(keys):
        if runs and runs[-1][0] == k:
            runs[-1] = (k, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((k, i, 1))
    return runs


def opcodes(ka: list[Any], kb: list[Any]) -> list[tuple[str, int, int, int, int]]:
    """difflib-style opcodes over frame keys, computed on runs of equal keys.

    A stream of 20,000 transfers is one run, so the alignment stays cheap
    (difflib is quadratic on long repetitive sequences); two aligned runs of
    different lengths pair up from their start and the rest is one-sided.
    """
    ra, rb = _runs(ka), _runs(kb)
    if len(ra) * len(rb) > _MAX_CELLS:
        n = min(len(ra), len(rb))
        blocks = [
            ("equal" if ra[i][0] == rb[i][0] else "replace", i, i + 1, i, i + 1) for i in range(n)
        ]
        if len(ra) > n:
            blocks.append(("delete", n, len(ra), n, n))
        if len(rb) > n:
            blocks.append(("insert", n, n, n, len(rb)))
    else:
        matcher = difflib.SequenceMatcher(None, [r[0] for r in ra], [r[0] for r in rb], False)
        blocks = matcher.get_opcodes()
    out: list[tuple[str, int, int, int, int]] = []

    def span(runs: list[tuple[Any, int, int]], i: int, j: int, total: int) -> tuple[int, int]:
        if i >= j:
            start = runs[i][1] if i < len(runs) else total
            return start, start
        return runs[i][1], runs[j - 1][1] + runs[j - 1][2]

    for tag, i1, i2, j1, j2 in blocks:
        if tag == "equal":
            for x, y in zip(ra[i1:i2], rb[j1:j2], strict=True):
                common = min(x[2], y[2])
                out.append(("equal", x[1], x[1] + common, y[1], y[1] + common))
                if x[2] > common:
                    out.append(("delete", x[1] + common, x[1] + x[2], y[1] + common, y[1] + common))
                if y[2] > common:
                    out.append(("insert", x[1] + common, x[1] + common, y[1] + common, y[1] + y[2]))
            continue
        a1, a2 = span(ra, i1, i2, len(ka))
        b1, b2 = span(rb, j1, j2, len(kb))
        out.append((tag, a1, a2, b1, b2))
    return out
