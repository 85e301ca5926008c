"""The invariant rules, one small observer per rule, grouped by what they watch.

Each rule is a :class:`~harness.trace.rules.base.Rule`: it sees the frames
it asks for one at a time, in trace order, keeps state per link, session
or connection (never per message once it is settled), and reports
:class:`~harness.trace.rules.base.Violation` items. The rules that look
ahead (attach answered, dynamic address, detach before close) are
``StoryRule`` s: they run at the end over the story the shared ``Context``
kept (opens, attaches, detaches, ends, closes, connection events). The
table that names them (rule id -> rule, description, run by default or
not) and the ``Checker`` that feeds them are in
:mod:`harness.trace.invariants`; this package only holds the rules: :mod:`.ordering` (frame order on a connection), :mod:`.credit`
(flow control), :mod:`.links` (attach answers) and :mod:`.delivery`
(at-least-once across reconnects).
"""
