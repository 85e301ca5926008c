"""pytest plugin: the interop matrix as parametrized tests.

Registered by entry point (``pytest11``), so ``pytest`` in any project that
installs amqp-interop gets the options. A test that asks for the
``interop_cell`` fixture is parametrized with every cell of the selection
(``--broker``, ``--peers``, ``--scenario``, ``--fault``); ``run_cell`` runs
one and turns its verdict into a pytest outcome. Brokers are started once
per worker process (pytest-xdist) and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.brokers.base import Broker, BrokerError, BrokerUnavailable
from harness.cells import DIRECT, Cell
from harness.env import require


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("amqp-interop")
    g.addoption(
        "--broker",
        default="embedded",
        help="interop brokers, comma list (embedded, rabbitmq, container:NAME, url:...)",
    )
    g.addoption(
        "--peers", default=None, help="interop peer implementations, comma list (default: all)"
    )
    g.addoption("--scenario", default=None, help="interop scenarios, comma list (default: all)")
    g.addoption("--fault", default=None, help="interop fault plans, comma list (default: all)")
    g.addoption(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="add an external peer (as interop run --peer)",
    )
    g.addoption("--interop-out", default=None, help="artifact folder (default: a temp folder)")
    g.addoption("--interop-count", type=int, default=None, help="override message counts")
    g.addoption("--interop-timeout", type=float, default=None, help="override cell timeouts")


def _csv(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: a cell of the interop matrix")
    try:
        import scenarios

        for s in scenarios.all_scenarios().values():
            config.addinivalue_line("markers", f"{s.mark}: interop scenario {s.name}")
    except Exception:  # scenario import problems surface at collection, with a clear error
        pass


def _registry(config: pytest.Config):
    reg = getattr(config, "_interop_registry", None)
    if reg is None:
        from harness.peers import Registry, parse_peer_option

        reg = Registry([parse_peer_option(p) for p in config.getoption("--peer")])
        config._interop_registry = reg  # type: ignore[attr-defined]
    return reg


def interop_cells(config: pytest.Config) -> list[Cell]:
    import scenarios
    from harness.brokers import registry as brokers
    from harness.cells import generate

    reg = _registry(config)
    try:
        specs = brokers.parse_specs(config.getoption("--broker"))
        chosen = scenarios.select(_csv(config.getoption("--scenario")))
        impls = reg.select(_csv(config.getoption("--peers")))
    except Exception as e:
        raise pytest.UsageError(str(e)) from None
    return generate(chosen, impls, specs, _csv(config.getoption("--fault")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "interop_cell" not in metafunc.fixturenames:
        return
    cells = interop_cells(metafunc.config)
    params = [
        pytest.param(c, id=c.id, marks=[pytest.mark.interop, getattr(pytest.mark, c.scenario.mark)])
        for c in cells
    ]
    metafunc.parametrize("interop_cell", params)


class BrokerPool:
    """Brokers of one worker process, started on first use."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.brokers: dict[str, Broker | str] = {}

    def get(self, spec: str) -> Broker:
        from harness.brokers import registry as brokers

        got = self.brokers.get(spec)
        if isinstance(got, Broker):
            return got
        if isinstance(got, str):
            require(got)
        try:
            b = brokers.start(spec, self.workdir)
        except BrokerUnavailable as e:
            self.brokers[spec] = str(e)
            require(str(e))
            raise
        except BrokerError as e:
            self.brokers[spec] = str(e)
            pytest.fail(self.brokers[spec], pytrace=False)
        self.brokers[spec] = b
        return b

    def stop(self) -> None:
        for b in self.brokers.values():
            if isinstance(b, Broker):
                b.stop()
        self.brokers.clear()


@pytest.fixture(scope="session")
def interop_brokers() -> Any:
    pool = BrokerPool(Path(tempfile.mkdtemp(prefix="interop-pytest-brokers-")))
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def interop_out(request: pytest.FixtureRequest) -> Path:
    opt = request.config.getoption("--interop-out")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = Path(opt) if opt else Path(tempfile.gettempdir()) / f"interop-pytest-{os.getpid()}"
    out = base / worker if opt else base
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def run_cell(request: pytest.FixtureRequest, interop_brokers: BrokerPool, interop_out: Path):
    """``run_cell(cell)`` -> CellResult, already turned into a pytest outcome for non-passes."""
    from harness.matrix import known as known_mod
    from harness.matrix.results import FAIL, PASS, SKIPPED, UNSUPPORTED, XFAIL, XPASS
    from harness.runner import CellSkipped, RunOptions
    from harness.runner import run_cell as _run

    config = request.config
    known = known_mod.load_registry()

    def run(cell: Cell):
        broker = None if cell.broker == DIRECT else interop_brokers.get(cell.broker)
        opts = RunOptions(
            out_dir=interop_out,
            count=config.getoption("--interop-count"),
            timeout=config.getoption("--interop-timeout"),
            known=known,
            rerun_prefix="interop run",
        )
        try:
            res = _run(cell, broker, _registry(config), opts)
        except CellSkipped as e:
            require(str(e))
            raise
        node = shlex.quote(request.node.nodeid)
        where = interop_out / res.artifacts
        if res.verdict == FAIL:
            pytest.fail(
                f"{res.reason}\n  artifacts: {where}\n  rerun: {res.rerun}\n"
                f"     or: pytest {node} --broker {cell.broker or 'embedded'}",
                pytrace=False,
            )
        if res.verdict in (XFAIL, UNSUPPORTED):
            pytest.xfail(f"{res.verdict}: {res.reason}")
        if res.verdict == SKIPPED:
            require(res.reason)
        if res.verdict == XPASS:
            import warnings

            warnings.warn(f"{res.id}: {res.reason}", stacklevel=1)
        assert res.verdict in (PASS, XPASS), res
        return res

    return run
