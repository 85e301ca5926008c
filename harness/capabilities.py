"""Capability names: what a scenario or fault plan may ask of a peer or a broker.

One vocabulary for both sides, so ``dynamic`` means the same thing when a
peer can open a dynamic receiver and when a broker answers one.
"""

#: a peer can accept connections instead of making them (the direct scenario)
LISTEN = "listen"
#: a peer reconnects after a lost connection and resends what was not confirmed
RECONNECT = "reconnect"
#: a peer opens, or a broker answers, a dynamic receiver attach with an address
DYNAMIC = "dynamic"
#: a peer takes its reply address from a sender's dynamic target (3.5.4: a JMS temporary
#: queue) rather than from a receiver's dynamic source (3.5.3); a broker known to refuse
#: dynamic sources may still answer it, so such a cell runs and the wire decides
DYNAMIC_TARGET = "dynamic-target"
#: a broker routes messages from a sender link with no target address
ANONYMOUS_RELAY = "anonymous-relay"
#: the harness can stop a broker and start it on the same port, keeping its messages
RESTART = "restart"
