"""The scenarios: one module each, found by walking this package.

A module defines ``SCENARIO`` (or ``SCENARIOS``, a list); nothing else needs
to know it exists. Extra scenario modules can live elsewhere: name them in
``INTEROP_SCENARIOS`` (comma-separated importable module names).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from harness.scenario import Scenario


def _from_module(module_name: str) -> list[Scenario]:
    mod = importlib.import_module(module_name)
    found: list[Scenario] = []
    if isinstance(getattr(mod, "SCENARIO", None), Scenario):
        found.append(mod.SCENARIO)
    found.extend(s for s in getattr(mod, "SCENARIOS", []) if isinstance(s, Scenario))
    return found


def all_scenarios() -> dict[str, Scenario]:
    """Name -> scenario, in a stable order (the tutorial's order, then extras)."""
    found: list[Scenario] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            found.extend(_from_module(f"{__name__}.{info.name}"))
    for extra in filter(None, (os.environ.get("INTEROP_SCENARIOS") or "").split(",")):
        found.extend(_from_module(extra.strip()))
    order = ["hello-world", "direct", "at-least-once", "request-response"]
    found.sort(key=lambda s: (order.index(s.name) if s.name in order else len(order), s.name))
    out: dict[str, Scenario] = {}
    for s in found:
        if s.name in out:
            raise ValueError(f"two scenarios are named {s.name!r}")
        out[s.name] = s
    return out


def select(names: list[str] | None) -> list[Scenario]:
    """The named scenarios (all when None); ValueError with one line for an unknown name."""
    every = all_scenarios()
    if not names:
        return list(every.values())
    unknown = [n for n in names if n not in every]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r} (known: {', '.join(every)})")
    return [every[n] for n in names]
