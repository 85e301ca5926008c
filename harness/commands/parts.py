"""The single parts: one peer, one broker, and the lists of peers, brokers, scenarios, images."""

from __future__ import annotations

import argparse
import os
import sys
import time

from harness.commands import CliError


def cmd_peer(args: argparse.Namespace) -> int:
    from harness.peers import PeerRegistry, PeerUnavailable, UsageError

    try:
        impl = PeerRegistry().get(args.impl)
        argv = impl.argv() + list(args.rest)
    except UsageError as e:
        raise CliError(str(e)) from None
    except PeerUnavailable as e:
        print(f"interop: {e}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 1  # pragma: no cover


def cmd_broker(args: argparse.Namespace) -> int:
    import signal
    import tempfile

    from harness.brokers import registry as brokers
    from harness.brokers.base import BrokerError

    try:
        prov = brokers.provider(args.provider)
    except ValueError as e:
        raise CliError(str(e)) from None
    reason = prov.unavailable()
    if reason:
        print(f"interop: broker {args.provider} is not available here: {reason}", file=sys.stderr)
        return 1
    stop = [False]

    def on_signal(signum: int, frame: object) -> None:
        stop[0] = True

    # the broker's scratch folder (its store, its logs) goes when the broker does
    with tempfile.TemporaryDirectory(prefix="interop-broker-") as workdir:
        broker = prov.create(args.provider, workdir)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            broker.start()
            ident = broker.identity
            print(broker.url(), flush=True)
            print(
                f"interop: {args.provider}: {ident.product} {ident.version} "
                f"(capabilities offered: {', '.join(ident.offered_capabilities) or 'none'}); "
                "Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            while not stop[0]:
                time.sleep(0.2)
        except BrokerError as e:
            print(f"interop: {e}", file=sys.stderr)
            return 1
        finally:
            broker.stop()
    return 0


class _NoCache:
    """A peer built into the cache (C++, rhea, go, pyamqp) when the cache cannot be written."""

    def __init__(self, impl: object, reason: str) -> None:
        self._impl, self._reason = impl, reason

    def __getattr__(self, name: str) -> object:
        return getattr(self._impl, name)

    def unavailable(self) -> str | None:
        return self._impl.unavailable() or self._reason  # type: ignore[attr-defined]


def cmd_peers(args: argparse.Namespace) -> int:
    from harness.env import cache_problem
    from harness.listing import peers_table
    from harness.peers import PeerRegistry

    impls: list = list(PeerRegistry().impls.values())
    problem = cache_problem()
    if problem:  # the same reason interop run stops with: a build would have nowhere to go
        impls = [_NoCache(i, problem) if i.toolchain else i for i in impls]
    print(peers_table(impls), end="")
    return 0


def cmd_brokers(args: argparse.Namespace) -> int:
    from harness.listing import brokers_table

    print(brokers_table(), end="")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    import harness.scenarios as scenarios

    def cast(roles) -> str:
        return " x ".join(
            f"{r.label}({r.peer_role}{', listens' if r.listen else ''})" for r in roles
        )

    for s in scenarios.all_scenarios().values():
        print(f"{s.name:<18} {s.topology:<7} {cast(s.roles)}")
        for plan, roles in s.plan_roles:  # a plan that recasts who listens
            print(f"{'':<18} {plan + ':':<7} {cast(roles)}")
        print(f"{'':<18} faults: {', '.join(f.name for f in s.faults)}")
        if s.opt_in_faults:
            print(f"{'':<18} opt-in (--fault): {', '.join(f.name for f in s.opt_in_faults)}")
        print(f"{'':<18} {s.description}")
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from harness import images

    try:
        return images.main(args.rest or ["--help"])
    except SystemExit as e:  # argparse: usage errors exit 2, --help exits 0
        return int(e.code or 0)
