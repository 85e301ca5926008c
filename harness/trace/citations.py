"""What each failure rule is based on: a section of AMQP 1.0, the tutorial, or the peer contract.

Every check must say what it rests on, so a reader can tell a broken
implementation from a harness opinion. Invariants cite the OASIS AMQP 1.0
specification (section numbers of the 2012 standard); scenario rules cite
the Qpid Proton tutorial behaviour they check (the pattern's own
description says which); peer rules cite ``peers/CONTRACT.md``.
"""

from __future__ import annotations

import re

__all__ = ["citation"]

_SPEC = "AMQP 1.0"

#: invariant id -> where the rule comes from
INVARIANTS: dict[str, str] = {
    "open-first": f"{_SPEC} 2.4.1 (opening a connection), 2.5.1 (sessions), 2.6.3 (links): "
    "open, then begin, then attach, then transfer",
    "close-last": f"{_SPEC} 2.4.3 (closing a connection): a close is the last frame a side sends",
    "credit": f"{_SPEC} 2.6.7 (flow control): a sender may not send beyond the link credit",
    "attach-answered": f"{_SPEC} 2.6.3 (establishing a link): an attach is answered by an attach",
    "dynamic-address": f"{_SPEC} 3.5.3/3.5.4 (source, target: dynamic), 2.6.3: the answer to a "
    "dynamic terminus carries the address created",
    "delivery-id-order": f"{_SPEC} 2.7.5 (transfer: delivery-id), 2.5.6 (session flow control): "
    "delivery ids increase per session",
    "settled-or-resent": f"{_SPEC} 2.6.12-2.6.13 (transferring and resuming deliveries) and the "
    "tutorial's at-least-once sender: what was not settled is sent again",
    "wire-malformed": f"{_SPEC} 2.3 (framing), 2.7 (performatives), 1.2-1.6 (the type system): "
    "every frame on the wire decodes",
    "detach-before-close": "not an AMQP rule (2.4.3: a close ends every link); the tutorial's "
    "clean shutdown, which every reference peer follows",
}

#: rules about how a peer process behaved
CONTRACT: dict[str, str] = {
    "peer-timeout": "peer contract (peers/CONTRACT.md): exit code 3, the peer gave up waiting",
    "peer-outcome": "peer contract (peers/CONTRACT.md): exit code 1, the role's outcome failed",
    "peer-usage": "peer contract (peers/CONTRACT.md): exit code 2, a usage error",
    "peer-crash": "peer contract (peers/CONTRACT.md): exit codes are 0 to 3",
    "contract-output": "peer contract (peers/CONTRACT.md): JSON Lines on stdout, a result line",
    "cell-timeout": "the cell's deadline: every peer must end within --timeout",
    "outlived-listener": "the direct topology (tutorial direct_send/direct_recv): once the "
    "listener has ended nothing is left to connect to, so a connecting peer must end too",
    "peer-stalled": "the cell's deadline, said sooner: a peer silent after every other peer "
    "ended waits for what cannot come any more",
    "broker-restart": "the fault plan: the broker must come back after a restart",
}

_PATTERN = re.compile(r'^(?:pattern|forbidden) "(.+?)" (?:did not match|happened)')


def _declared(rule: str) -> str | None:
    """The basis an invariant declares in its table row (``basis.cite()``), when it has one."""
    from harness.trace import invariants

    basis = getattr(invariants.RULES.get(rule), "basis", None)
    if basis is None or not hasattr(basis, "cite"):
        return None
    text = str(basis.cite())
    return f"{_SPEC} {text}" if getattr(basis, "kind", "") == "spec" else text


def citation(rule: str | None, detail: str = "", scenario: str = "") -> str:
    """One line: what ``rule`` rests on; a scenario rule cites its pattern's description.

    An invariant's own declared basis wins over the table above (the table
    covers invariant tables that declare none).
    """
    rule = rule or ""
    declared = _declared(rule)
    if declared:
        return declared
    if rule in INVARIANTS:
        return INVARIANTS[rule]
    if rule in CONTRACT:
        return CONTRACT[rule]
    first = detail.strip().splitlines()[0] if detail.strip() else ""
    m = _PATTERN.match(first)
    where = f"scenario {scenario}" if scenario else "the scenario"
    if m:
        return f"{where}, after the Proton tutorial: {m.group(1)}"
    return f"{where}'s outcome check ({rule})" if rule else f"{where}'s checks"
