"""What a check rests on, and whom it holds to it: a spec section or the tutorial, and a side.

Every pattern step and every invariant says why it exists. A step that
constrains a *broker* must be required by the OASIS AMQP 1.0 specification
(a broker may do whatever the spec allows: deliver pre-settled, split
messages over frames, settle in ranges ...); a step that constrains a
*reference peer* may also come from the Qpid Proton tutorial's behaviour,
which the peers implement. A failure names the basis and the side that
deviated (``broke 2.6.7 flow control (sender, js): ...``), and the docs
table of every step is generated from these records
(``scripts/checks_table.py``).

Sides are the trace's endpoint labels: ``broker`` for the broker, a role
label (``hello``, ``sender``, ``client`` ...) for a peer. Context steps (a
cut the harness made, a broker restart) constrain nobody.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BROKER",
    "CONTEXT",
    "SECTIONS",
    "SPEC",
    "TUTORIAL",
    "Basis",
    "context",
    "spec",
    "tutorial",
]

#: the label of the broker in every trace
BROKER = "broker"

SPEC = "spec"
TUTORIAL = "tutorial"
CONTEXT = "context"

#: sections of the OASIS AMQP 1.0 standard (2012) the suite cites, with their titles
SECTIONS: dict[str, str] = {
    "2.3.2": "AMQP frames (an empty frame is a heartbeat)",
    "2.4.1": "opening a connection",
    "2.4.3": "closing a connection",
    "2.4.5": "idle time-out of a connection",
    "2.5.1": "establishing a session",
    "2.5.6": "session flow control",
    "2.6.3": "establishing a link",
    "2.6.7": "flow control",
    "2.6.12": "transferring a message",
    "2.6.13": "resuming deliveries",
    "2.6.14": "transferring large messages",
    "2.7.3": "attach: snd-settle-mode",
    "2.7.5": "transfer: delivery-id, settled, more",
    "2.7.6": "disposition: first..last",
    "2.8.2": "sender settle mode",
    "3.3": "distribution nodes",
    "3.4": "delivery state",
    "3.4.2": "accepted",
    "3.5.3": "source: dynamic",
    "3.5.4": "target: dynamic",
    "5.3.1": "SASL negotiation",
}


@dataclass(frozen=True)
class Basis:
    """Why a check exists: ``kind`` (spec, tutorial, context), ``ref`` (a section or a
    tutorial program), ``title`` (what it says) and ``side`` (the label it constrains;
    None: nobody, or whoever sent the offending frame for an invariant)."""

    kind: str
    ref: str
    title: str
    side: str | None = None

    def cite(self) -> str:
        """``2.6.7 flow control``, ``tutorial helloworld.py: ...``, ``context: ...``."""
        if self.kind == SPEC:
            return f"{self.ref} {self.title}"
        if self.kind == TUTORIAL:
            return f"tutorial {self.ref}: {self.title}"
        return f"context: {self.title}"

    @property
    def constrains_broker(self) -> bool:
        return self.side == BROKER

    def on(self, side: str | None) -> Basis:
        """The same basis holding another side."""
        return Basis(self.kind, self.ref, self.title, side)


def spec(ref: str, side: str | None = None, title: str | None = None) -> Basis:
    """A section of the AMQP 1.0 specification (``SECTIONS`` gives the title)."""
    if title is None:
        if ref not in SECTIONS:
            raise ValueError(f"unknown spec section {ref!r}: add it to SECTIONS with its title")
        title = SECTIONS[ref]
    return Basis(SPEC, ref, title, side)


def tutorial(ref: str, title: str, side: str) -> Basis:
    """The tutorial behaviour a reference peer implements (never a broker's duty)."""
    return Basis(TUTORIAL, ref, title, side)


def context(title: str) -> Basis:
    """Something the harness did (a cut, a restart): the step constrains nobody."""
    return Basis(CONTEXT, "harness", title, None)
