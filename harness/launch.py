"""How a cell starts one of its peers: the contract's command line, its output into the trace.

The pipeline's listeners and peers stages start every peer through
``start_peer``: the implementation's argv with the cell's URL, address,
count and a timeout a little shorter than the cell's, each output line a
trace event on the cell's clock, stderr into the cell's folder, and the end
of its output a wake-up for the drive stage.
"""

from __future__ import annotations

import shlex

from harness import checks
from harness.capabilities import DYNAMIC
from harness.cell_state import CellSkipped, CellState
from harness.peers import PeerUnavailable
from harness.process import ManagedProcess
from harness.scenario import Role

__all__ = ["PEER_MARGIN", "dynamic_capabilities", "start_peer", "tap_url"]

#: a peer's --timeout is the cell's minus this, so the peer reports what it awaited first
PEER_MARGIN = 2.0


def tap_url(st: CellState, role: Role) -> str:
    """Where ``role`` connects: its tap."""
    return f"amqp://127.0.0.1:{st.taps[role.label].port}"


def build_peers(st: CellState) -> None:
    """Build the cell's implementations before any of them starts (once per machine).

    Why here: a first ``argv()`` compiles a peer (the C++ one took 17.7 s under load)
    and, done as each peer starts, it ate the cell's time and a waiting listener's own
    timeout. The build's time extends the cell's deadline; an implementation that cannot
    run is left for the peers stage to report as a skip.
    """
    with st.off_the_clock():
        for label in sorted(set(st.cell.role_map.values())):
            try:
                st.registry.get(label).argv()
            except PeerUnavailable:
                pass


def start_peer(st: CellState, role: Role, url: str) -> ManagedProcess:
    """Start ``role``'s implementation on ``url``; ``CellSkipped`` when it cannot run here."""
    impl = st.registry.get(st.cell.role_map[role.label])
    try:
        argv = impl.argv()
    except PeerUnavailable as e:
        raise CellSkipped(str(e)) from e
    argv += [role.peer_role, "--url", url, "--address", st.address, "--count", str(st.count)]
    argv += ["--timeout", f"{max(1.0, st.timeout - PEER_MARGIN):g}"]
    if role.listen:
        argv.append("--listen")
    b = st.broker
    if b is not None and b.user is not None:
        argv += ["--user", b.user]
        if b.password is not None:
            argv += ["--password", b.password]
    for capability in dynamic_capabilities(st, role):
        argv += ["--dynamic-capability", capability]
    argv += list(role.args)
    st.commands.append(f"# {role.label} ({impl.name})\n{shlex.join(argv)}")
    label = role.label
    proc = ManagedProcess(
        argv,
        label=f"{label}({impl.name})",
        clock=st.clock,
        on_line=lambda t, obj: st.trace.add(checks.peer_event(label, t, obj)),
        on_eof=lambda: st.calls.put(None),  # wakes the drive stage: a peer has ended
        stderr_path=st.cell_dir / f"{label}.stderr.txt",
    )
    proc.start()
    st.procs[label] = proc
    return proc


def dynamic_capabilities(st: CellState, role: Role) -> list[str]:
    """The broker's ones for a role with a dynamic receiver; none under a plain_dynamic plan."""
    b, plain = st.broker, st.cell.fault.plain_dynamic
    return (
        list(b.dynamic_capabilities)
        if b is not None and DYNAMIC in role.needs and not plain
        else []
    )
