"""The invariant rules, one small function per rule, grouped by what they watch.

Each rule takes the :class:`~harness.trace.rules.base.TraceInfo` of a trace
and yields :class:`~harness.trace.rules.base.Violation` items. The table that
names them (rule id -> function, description, run by default or not) and
``check()`` are in :mod:`harness.trace.invariants`; this package only holds
the rules: :mod:`.ordering` (frame order on a connection), :mod:`.credit`
(flow control), :mod:`.links` (attach answers) and :mod:`.delivery`
(at-least-once across reconnects).
"""
