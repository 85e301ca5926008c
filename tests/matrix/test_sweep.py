"""The version sweep: what changed between one broker version and the next, cell by cell."""

from __future__ import annotations

from harness.matrix.report import render
from harness.matrix.results import RunResult
from harness.matrix.sweep import BrokerCells, changes, comparable, run_changes, sweeps
from tests.matrix.sample import cell

V310, V40, V43 = "container:rabbitmq-3.10", "container:rabbitmq-4.0", "container:rabbitmq-4.3"
LACKS = "broker {b} lacks dynamic needed by scenario request-response: before 4.1 [known: x]"
REFUSED = (
    "RabbitMQ 4.1 and later ... [known: y]; observed: broker refused client's attach "
    '(dynamic source) with a detach: amqp:not-implemented "Dynamic source not supported" '
    "(c2 at 2.152 s)"
)


def rr(broker: str, verdict: str, reason: str = "", fault: str = "none", pair=("python", "js")):
    return cell("request-response", pair, broker, verdict, fault=fault, reason=reason)


def hello(broker: str, reason: str = "") -> object:
    verdict = "xfail" if reason else "pass"
    return cell("hello-world", ("python",), broker, verdict, reason=reason)


def sweep_run() -> RunResult:
    cells = [
        rr(V310, "unsupported", LACKS.format(b=V310)),
        rr(V310, "unsupported", LACKS.format(b=V310), fault="tutorial-pure"),
        hello(V310, "frames after close (c1 at 1.668 s) queue hello-world-07cd59b8"),
        rr(V40, "unsupported", LACKS.format(b=V40)),
        rr(V40, "unsupported", LACKS.format(b=V40), fault="tutorial-pure"),
        hello(V40, "frames after close (c1 at 0.912 s) queue hello-world-a1b2c3d4"),
        rr(V43, "pass"),
        rr(V43, "unsupported", REFUSED, fault="tutorial-pure"),
        hello(V43),
        rr(V43, "pass", pair=("js", "python")),  # ran on 4.3 only: nothing to compare with
    ]
    brokers = [
        {"name": V310, "product": "RabbitMQ", "version": "3.10.8"},
        {"name": V40, "product": "RabbitMQ", "version": "4.0.5"},
        {"name": V43, "product": "RabbitMQ", "version": "4.3.6"},
    ]
    return RunResult(brokers=brokers, peers=[{"name": "python"}, {"name": "js"}], cells=cells)


def test_changes_between_versions_with_both_reasons() -> None:
    (group,) = sweeps(sweep_run())
    assert [b.label for b in group] == ["3.10.8", "4.0.5", "4.3.6"]
    rows = changes(group)
    # 3.10 -> 4.0: same verdicts, reasons differ only in the broker's name, times and queue ids
    assert all(r.before == "4.0.5" for r in rows)
    got = {(r.row, r.before_verdict, r.after_verdict) for r in rows}
    assert got == {
        ("request-response python->js", "unsupported", "pass"),
        ("request-response / tutorial-pure python->js", "unsupported", "unsupported"),
        ("hello-world python", "xfail", "pass"),
    }
    pure = next(r for r in rows if r.fault == "tutorial-pure")
    assert pure.before_reason == LACKS.format(b=V40)
    assert 'amqp:not-implemented "Dynamic source not supported"' in pure.after_reason


def test_what_differs_on_every_run_is_not_a_change() -> None:
    a = comparable("refused (c1 at 1.256 s) queue q-07cd59b8 link python-hello-29320-x", "B1")
    b = comparable("refused (c1 at 0.700 s) queue q-deadbeef link python-hello-4411-x", "B2")
    assert a == b
    assert comparable("broker B1 lacks dynamic", "B1") == comparable(
        "broker B2 lacks dynamic", "B2"
    )
    assert comparable("amqp:not-implemented", "B") != comparable("amqp:invalid-field", "B")


def test_only_brokers_of_one_product_next_to_each_other_make_a_sweep() -> None:
    run = sweep_run()
    run.brokers.insert(1, {"name": "embedded", "product": "amqp-interop", "version": "0.1"})
    (group,) = sweeps(run)  # 3.10 | embedded | 4.0, 4.3: only the 4.0 -> 4.3 pair is one
    assert [b.name for b in group] == [V40, V43]
    run.brokers.pop(1)
    run.brokers.append({"name": "embedded", "product": "amqp-interop", "version": "0.1"})
    (group,) = sweeps(run)
    assert [b.name for b in group] == [V310, V40, V43]
    one = RunResult(brokers=[run.brokers[0]], cells=run.cells)
    assert run_changes(one) == []


def test_a_sweep_with_nothing_changed_says_so() -> None:
    same = [
        BrokerCells(n, "RabbitMQ", v, (rr(n, "pass"),)) for n, v in ((V40, "4.0.5"), (V43, "4"))
    ]
    assert changes(same) == []
    run = RunResult(
        brokers=[{"name": b.name, "product": b.product, "version": b.version} for b in same],
        cells=[c for b in same for c in b.cells],
    )
    assert "Changed between versions: RabbitMQ 4.0.5 -> 4 (no cell changed)" in render(run, "text")


def test_reports_show_the_changed_table() -> None:
    run = sweep_run()
    text = render(run, "text", width=100)
    assert "Changed between versions: RabbitMQ 3.10.8 -> 4.0.5 -> 4.3.6 (3 cells)" in text
    assert "  request-response python->js: 4.0.5 unsup -> 4.3.6 pass" in text
    assert "4.3.6: (pass, no reason)" in text
    # one matrix per version, then the changes, then the cells that need attention
    assert (
        text.index("== container:rabbitmq-4.3")
        < text.index("Changed between")
        < text.index("Not passing")
    )
    html = render(run, "html")
    assert "Changed between versions: RabbitMQ 3.10.8 -&gt; 4.0.5 -&gt; 4.3.6 (3 cells)" in html
    assert "Dynamic source not supported" in html and '<td class="v-pass">4.3.6 pass</td>' in html
    md = render(run, "markdown")
    assert "## Changed between versions" in md and "`request-response python->js`" in md


def test_a_known_failure_compares_by_its_entry() -> None:
    """Same entry, other trace details: no change; another entry (or none): a change."""
    old = cell("at-least-once", ("js", "python"), V310, "xfail", known="credit", reason="c1 x")
    same = cell("at-least-once", ("js", "python"), V40, "xfail", known="credit", reason="c5 y +3")
    other = cell("at-least-once", ("js", "python"), V43, "xfail", known="close", reason="c1 x")
    group = [
        BrokerCells(V310, "RabbitMQ", "3.10.8", (old,)),
        BrokerCells(V40, "RabbitMQ", "4.0.5", (same,)),
        BrokerCells(V43, "RabbitMQ", "4.3.6", (other,)),
    ]
    (row,) = changes(group)
    assert (row.before, row.after, row.before_reason) == ("4.0.5", "4.3.6", "c5 y +3")


def test_the_text_report_cuts_long_reasons() -> None:
    run = sweep_run()
    run.cells[3].reason = "x" * 1000  # 4.0's request-response reason
    text = render(run, "text", width=100)
    changed = text.split("Changed between versions")[1].split("Not passing")[0]
    assert "x" * 300 in changed.replace("\n", "").replace(" ", "")
    assert "x" * 400 not in changed.replace("\n", "").replace(" ", "")
    assert "x" * 1000 in render(run, "html")
