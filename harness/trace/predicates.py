"""Field tests for pattern steps: ``gt(0)``, ``one_of(...)``, ``present()``, ``capture``/``ref``.

A step's field keyword holds a plain value (must be equal) or a
:class:`Predicate`. Why predicates are objects rather than bare callables: a
failed match explains itself, so each test carries the text it shows in the
handshake listing (``link_credit=>0``, ``source__address=capture(queue)``).
``capture``/``ref`` bind a value at one step and require it at a later one;
the bindings of one test attempt live in a :class:`Ctx`.

Equality is the wire's: ``True`` is not ``1``, and a missing field
(``MISSING``) passes only ``None``, ``absent()`` and ``ne(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "MISSING",
    "Ctx",
    "Predicate",
    "absent",
    "all_of",
    "any_of",
    "between",
    "capture",
    "contains",
    "fits",
    "ge",
    "gt",
    "le",
    "lt",
    "matches",
    "ne",
    "nonempty",
    "not_",
    "one_of",
    "present",
    "ref",
    "show",
]

#: the value of a field the event does not have
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


class Ctx:
    """Captures visible to one test: those bound earlier plus this step's new ones."""

    __slots__ = ("bound", "new")

    def __init__(self, bound: dict[str, Any]) -> None:
        self.bound = bound
        self.new: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        if name in self.new:
            return self.new[name]
        return self.bound.get(name, MISSING)


class Predicate:
    """A test on one field value, with the text it shows in explanations."""

    def __init__(self, text: str, test: Callable[[Any], bool]) -> None:
        self.text = text
        self._test = test

    def check(self, value: Any, ctx: Ctx) -> bool:
        """Whether ``value`` passes; a missing field never passes (see ``absent()``)."""
        if value is MISSING:
            return False
        try:
            return bool(self._test(value))
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return self.text


def _equal(expected: Any, value: Any) -> bool:
    # True == 1 in Python; on the wire a bool and a number are different things
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected is value
    return bool(expected == value)


def fits(spec: Any, value: Any, ctx: Ctx) -> bool:
    """Whether ``value`` (``MISSING`` when the field is absent) meets ``spec``:
    a predicate decides, a plain value must be equal, ``None`` means absent."""
    if isinstance(spec, Predicate):
        return spec.check(value, ctx)
    if value is MISSING:
        return spec is None
    return _equal(spec, value)


def show(spec: Any) -> str:
    """How a value or predicate reads in a step's description."""
    if isinstance(spec, Predicate):
        return spec.text
    if isinstance(spec, str) and spec and all(c.isprintable() and not c.isspace() for c in spec):
        return spec  # a bare word reads better than a quoted one in a handshake
    return repr(spec)


def gt(x: Any) -> Predicate:
    """Greater than ``x``."""
    return Predicate(f">{x!r}", lambda v: v > x)


def ge(x: Any) -> Predicate:
    """Greater than or equal to ``x``."""
    return Predicate(f">={x!r}", lambda v: v >= x)


def lt(x: Any) -> Predicate:
    """Less than ``x``."""
    return Predicate(f"<{x!r}", lambda v: v < x)


def le(x: Any) -> Predicate:
    """Less than or equal to ``x``."""
    return Predicate(f"<={x!r}", lambda v: v <= x)


def between(lo: Any, hi: Any) -> Predicate:
    """``lo <= value <= hi``."""
    return Predicate(f"in [{lo!r}, {hi!r}]", lambda v: lo <= v <= hi)


class _Ne(Predicate):
    def __init__(self, x: Any) -> None:
        super().__init__(f"!={x!r}", lambda v: True)
        self.x = x

    def check(self, value: Any, ctx: Ctx) -> bool:
        return not fits(self.x, value, ctx)


def ne(x: Any) -> Predicate:
    """Not equal to ``x`` (a missing field is not equal)."""
    return _Ne(x)


def one_of(*values: Any) -> Predicate:
    """Equal to one of ``values``."""
    return Predicate(
        "one of (" + ", ".join(map(repr, values)) + ")",
        lambda v: any(_equal(x, v) for x in values),
    )


class _Present(Predicate):
    def __init__(self) -> None:
        super().__init__("present", lambda v: True)

    def check(self, value: Any, ctx: Ctx) -> bool:
        return value is not MISSING and value is not None


class _Absent(Predicate):
    def __init__(self) -> None:
        super().__init__("absent", lambda v: True)

    def check(self, value: Any, ctx: Ctx) -> bool:
        return value is MISSING or value is None


def present() -> Predicate:
    """The field is there and not null."""
    return _Present()


def absent() -> Predicate:
    """The field is missing or null (AMQP does not tell the two apart)."""
    return _Absent()


def nonempty() -> Predicate:
    """Present and not an empty string/list/map: a dynamic address, for example."""
    return Predicate("non-empty", lambda v: v is not None and (not hasattr(v, "__len__") or len(v)))


def contains(x: Any) -> Predicate:
    """A list (capabilities) or string that contains ``x``."""
    return Predicate(f"contains {x!r}", lambda v: x in v)


def matches(regex: str) -> Predicate:
    """A string matching ``regex`` (``re.search``)."""
    pat = re.compile(regex)
    return Predicate(f"~/{regex}/", lambda v: isinstance(v, str) and pat.search(v) is not None)


class _Combo(Predicate):
    def __init__(self, text: str, specs: Sequence[Any], mode: str) -> None:
        super().__init__(text, lambda v: True)
        self.specs, self.mode = list(specs), mode

    def check(self, value: Any, ctx: Ctx) -> bool:
        if self.mode == "any":
            return any(fits(s, value, ctx) for s in self.specs)
        if self.mode == "all":
            return all(fits(s, value, ctx) for s in self.specs)
        return not fits(self.specs[0], value, ctx)


def any_of(*specs: Any) -> Predicate:
    """Any of the values/predicates holds."""
    return _Combo("any of (" + ", ".join(map(show, specs)) + ")", specs, "any")


def all_of(*specs: Any) -> Predicate:
    """All of the values/predicates hold."""
    return _Combo("all of (" + ", ".join(map(show, specs)) + ")", specs, "all")


def not_(spec: Any) -> Predicate:
    """The value/predicate does not hold."""
    return _Combo(f"not {show(spec)}", [spec], "not")


class _Capture(Predicate):
    def __init__(self, name: str, spec: Any) -> None:
        extra = "" if spec is None else f", {show(spec)}"
        super().__init__(f"capture({name}{extra})", lambda v: True)
        self.name, self.spec = name, spec

    def check(self, value: Any, ctx: Ctx) -> bool:
        if value is MISSING:
            return False
        if self.spec is not None and not fits(self.spec, value, ctx):
            return False
        bound = ctx.lookup(self.name)
        if bound is not MISSING:
            return _equal(bound, value)
        ctx.new[self.name] = value
        return True


class _Ref(Predicate):
    def __init__(self, name: str) -> None:
        super().__init__(f"ref({name})", lambda v: True)
        self.name = name

    def check(self, value: Any, ctx: Ctx) -> bool:
        bound = ctx.lookup(self.name)
        return bound is not MISSING and value is not MISSING and _equal(bound, value)


def capture(name: str, spec: Any = None) -> Predicate:
    """Bind the value to ``name`` on the first match (optionally also testing ``spec``);
    once bound, later uses of the same name require an equal value."""
    return _Capture(name, spec)


def ref(name: str) -> Predicate:
    """Equal to the value captured as ``name`` earlier in the pattern."""
    return _Ref(name)
