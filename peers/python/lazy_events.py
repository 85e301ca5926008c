"""Reactor events that wrap only what a handler asks for: the embedded broker's event loop diet.

Why: for every event, proton's ``Event`` wraps the delivery, link, session,
connection and transport behind it as it is made (five wrapper objects, each
with a reference count and a record lookup), and the reactor then finds the
event's handler by walking link, session and connection. Profiled under a
stream of messages, that bookkeeping was over half of the broker's CPU, more
than the broker's own work, and it made the broker the slowest part of a
cell with a fast client (proton C++ through it moved half the messages per
second it moves through RabbitMQ).

``install`` swaps the reactor's collector for one whose events resolve those
objects on first use, from the event's context (a delivery's link, a link's
session, and so on, as proton's own ``pn_event_*`` accessors do), and whose
engine events (context a delivery, link, session, connection or transport)
name ``engine_handler`` directly, and which call a handler that has no
``on_unhandled`` fallback and no child handlers by its one method, without
proton's lookups for either. That is exact for a process in which every
connection has that one handler and no link or session has its own, which
is how peers/python/broker.py makes its connections; events of any other
context (selectables, timers, the reactor) find their handler as before.

Falls back to proton's own events when proton lacks the pieces it relies on
(``install`` returns False), so a newer proton only costs speed.
"""

from __future__ import annotations

from typing import Any

try:
    from cproton import (
        isnull,
        pn_collector_peek,
        pn_event_class_name,
        pn_event_context,
        pn_event_type,
    )
    from proton import Connection, Delivery, Event, Link, Session, Transport
    from proton._events import Collector, EventBase, EventType, wrappers
except ImportError:  # another proton layout: keep its own events
    Collector = None  # type: ignore[assignment,misc]

_ENGINE = (Delivery, Link, Session, Connection, Transport) if Collector is not None else ()


class _OnFirstRead:
    """An attribute computed on first read; the instance's own value then shadows this descriptor."""

    def __init__(self, find: Any) -> None:
        self.find = find
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.find(obj)
        return value


def _plain(handler: Any) -> bool:
    """A handler proton would call one method of and nothing else (no fallback, no children)."""
    return not hasattr(handler, "on_unhandled") and not hasattr(handler, "handlers")


if Collector is not None:

    class LazyEvent(Event):
        """An ``Event`` whose delivery, link, session, connection and transport are looked up when read."""

        def __init__(self, number: int, clsname: str, context: Any, collector: Any) -> None:
            self._type = EventType.TYPES[number]
            self._clsname = clsname
            self._context = context
            self._collector = collector

        def _find_delivery(self) -> Any:
            c = self._context
            return c if isinstance(c, Delivery) else None

        def _find_link(self) -> Any:
            c = self._context
            if isinstance(c, Delivery):
                return c.link
            return c if isinstance(c, Link) else None

        def _find_session(self) -> Any:
            link = self._link
            if link is not None:
                return link.session
            c = self._context
            return c if isinstance(c, Session) else None

        def _find_connection(self) -> Any:
            session = self._session
            if session is not None:
                return session.connection
            c = self._context
            if isinstance(c, Connection):
                return c
            return c.connection if isinstance(c, Transport) else None

        def _find_transport(self) -> Any:
            c = self._context
            if isinstance(c, Transport):
                return c
            conn = self._connection
            return conn.transport if conn is not None else None

        # proton's Event reads these attributes in its properties (and ``container``)
        _delivery = _OnFirstRead(_find_delivery)
        _link = _OnFirstRead(_find_link)
        _session = _OnFirstRead(_find_session)
        _connection = _OnFirstRead(_find_connection)
        _transport = _OnFirstRead(_find_transport)

        @property
        def handler(self) -> Any:
            if isinstance(self._context, _ENGINE):
                return self._collector.engine_handler
            return Event.handler.fget(self)  # type: ignore[attr-defined]

        def dispatch(self, handler: Any, type: Any = None) -> None:
            """As proton's, minus its fallback and child lookups for handlers that have neither."""
            if type is None and handler in self._collector.plain_handlers:
                method = getattr(handler, self._type.method, None)
                if method is not None:
                    method(self)
                return
            Event.dispatch(self, handler, type)

    class LazyCollector(Collector):
        """The reactor's collector, handing out ``LazyEvent``s (set ``engine_handler`` first)."""

        engine_handler: Any = None
        plain_handlers: tuple[Any, ...] = ()

        def peek(self) -> Any:
            impl = pn_collector_peek(self._impl)
            if isnull(impl):
                return None
            clsname = pn_event_class_name(impl)
            context = wrappers[clsname](pn_event_context(impl)) if clsname else None
            if isinstance(context, EventBase):  # an application event is its own event
                return context
            return LazyEvent(pn_event_type(impl), clsname, context, self)


def install(container: Any, engine_handler: Any) -> bool:
    """Make ``container`` hand out lazy events, engine events going to ``engine_handler``."""
    collector = getattr(container, "_collector", None)
    if Collector is None or type(collector) is not Collector:
        return False
    collector.__class__ = LazyCollector
    collector.engine_handler = engine_handler
    # set the container's global handler before this: it is one of them when it is plain
    candidates = (engine_handler, getattr(container, "global_handler", None))
    collector.plain_handlers = tuple(h for h in candidates if h is not None and _plain(h))
    return True
