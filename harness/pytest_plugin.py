"""pytest plugin: the interop matrix as parametrized tests.

Registered by entry point (``pytest11``), so ``pytest`` in any project that
installs amqp-interop gets the options. A test that asks for the
``interop_cell`` fixture is parametrized with every cell of the selection
(``--broker``, ``--peers``, ``--scenario``, ``--fault``); ``run_cell`` runs
one and turns its verdict into a pytest outcome. The selection, the broker
leases and the cell pipeline are the ones ``interop run`` uses
(``harness.session.Session``). Brokers are started once per worker process
(pytest-xdist) and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from harness.cell_state import RunOptions
from harness.cells import Cell
from harness.commands.summary import (
    RESULT_PROPERTY,
    PytestStepSummary,
    summary_entry,
    summary_path,
)
from harness.matrix.results import ERROR, FAIL, PASS, SKIPPED, UNSUPPORTED, XFAIL, XPASS, CellResult
from harness.selection import Selection, SelectionError
from harness.session import Session


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
    g.addoption(
        "--pairs",
        default=None,
        help="interop peer pairs: all (default on embedded), with:IMPL, self, "
        "or cover (default on real brokers)",
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: a cell of the interop matrix")
    if summary_path() and not hasattr(config, "workerinput"):  # GitHub's job summary
        config.pluginmanager.register(PytestStepSummary(config), "amqp-interop-step-summary")
    try:
        import harness.scenarios as scenarios

        for s in scenarios.all_scenarios().values():
            config.addinivalue_line("markers", f"{s.mark}: interop scenario {s.name}")
    except Exception:  # scenario import problems surface at collection, with a clear error
        return
    # a bad --broker/--peers/--scenario/--fault is a usage error now, as in interop run
    interop_session(config)
    _stop_cleanly_on_sigterm()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds pytest as Ctrl-C does, so the session stops its brokers.

    By default SIGTERM kills the process at once: no ``pytest_unconfigure``, no
    ``atexit``, and a RabbitMQ node or a container (which live outside our
    process tree) would outlive the run. A handler the user installed is kept.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_interrupt)


def interop_session(config: pytest.Config) -> Session:
    """The session of this pytest process: the selection checked once, brokers shared."""
    session = getattr(config, "_interop_session", None)
    if session is None:
        sel = Selection(
            broker=config.getoption("--broker"),
            peers=config.getoption("--peers"),
            pairs=config.getoption("--pairs"),
            scenario=config.getoption("--scenario"),
            fault=config.getoption("--fault"),
            extra_peers=config.getoption("--peer"),
            count=config.getoption("--interop-count"),
            timeout=config.getoption("--interop-timeout"),
        )
        try:
            # the artifact folder is set by the interop_out fixture, under pytest's basetemp
            session = Session.from_selection(sel, RunOptions(out_dir=Path()))
        except SelectionError as e:
            raise pytest.UsageError(str(e)) from None
        config._interop_session = session  # type: ignore[attr-defined]
    return session


def interop_cells(config: pytest.Config) -> list[Cell]:
    return interop_session(config).cells


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "interop_cell" not in metafunc.fixturenames:
        return
    cells = interop_cells(metafunc.config)
    params = [
        pytest.param(c, id=c.id, marks=[pytest.mark.interop, getattr(pytest.mark, c.scenario.mark)])
        for c in cells
    ]
    metafunc.parametrize("interop_cell", params)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = getattr(config, "_interop_session", None)
    if session is not None:
        session.close()


@pytest.fixture(scope="session")
def interop_out(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cell folders: ``--interop-out``/WORKER, or a folder under pytest's basetemp."""
    opt = request.config.getoption("--interop-out")
    if not opt:
        return tmp_path_factory.mktemp("interop-cells")
    out = Path(opt) / os.environ.get("PYTEST_XDIST_WORKER", "main")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def run_cell(
    request: pytest.FixtureRequest, interop_out: Path, tmp_path_factory: pytest.TempPathFactory
):
    """``run_cell(cell)`` -> CellResult, already turned into a pytest outcome for non-passes."""
    session = interop_session(request.config)
    session.opts.out_dir = interop_out
    brokers_dir = tmp_path_factory.getbasetemp() / "interop-brokers"

    def run(cell: Cell) -> CellResult:
        res = session.run_one(cell, broker_workdir=brokers_dir)
        if summary_path():  # to the controller's PytestStepSummary, through the test report
            request.node.user_properties.append((RESULT_PROPERTY, summary_entry(session, res)))
        return _outcome(request, cell, res, interop_out)

    return run


def _outcome(request: pytest.FixtureRequest, cell: Cell, res: CellResult, out: Path) -> CellResult:
    """A cell's verdict as pytest sees it: fail, error, xfail, skip, or a warning for XPASS."""
    node = shlex.quote(request.node.nodeid)
    where = out / res.artifacts
    more = (
        f"\n  artifacts: {where}\n  rerun: {res.rerun}\n"
        f"     or: pytest {node} --broker {cell.broker or 'embedded'}"
    )
    if res.verdict == FAIL:
        pytest.fail(f"{res.reason}{more}", pytrace=False)
    if res.verdict == ERROR:
        pytest.fail(
            f"harness {res.reason}\n  traceback: {where / 'error.txt'}{more}", pytrace=False
        )
    if res.verdict in (XFAIL, UNSUPPORTED):
        pytest.xfail(f"{res.verdict}: {res.reason}")
    if res.verdict == SKIPPED:
        pytest.skip(res.reason)  # in CI a missing component is already a fail (harness.env)
    if res.verdict == XPASS:
        import warnings

        warnings.warn(f"{res.id}: {res.reason}", stacklevel=1)
    assert res.verdict in (PASS, XPASS), res
    return res
