"""Fault rules without sockets: hand-made frame sequences in, actions out.

Why: a rule that counts the wrong frames cuts at the wrong protocol point,
and the scenario then tests something else than it says (a cut "after half
of the transfers" that fires on the first frame of a multi-frame message, or
twice). Rules are sans-IO, so every counting rule is checked here exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.wire.faults import (
    Call,
    Cut,
    CutAfter,
    CutBeforeSettle,
    Delay,
    DelayFrames,
    FrameView,
    RestartAfter,
    Rule,
)


def fv(name: str, src: str = "sender", conn: str = "c1", **fields: Any) -> FrameView:
    dst = "broker" if src != "broker" else "sender"
    return FrameView(conn=conn, src=src, dst=dst, name=name, fields=fields)


def actions(rule: Rule, frames: list[FrameView]) -> list[tuple[int, Any]]:
    """(index, action) for every frame the rule acted on."""
    out = []
    for i, f in enumerate(frames):
        a = rule.on_frame(f)
        if a is not None:
            out.append((i, a))
    return out


HANDSHAKE = [fv("open"), fv("begin"), fv("attach"), fv("flow", src="broker")]


# -- CutAfter -------------------------------------------------------------------


def test_cut_after_fires_on_the_kth_transfer_once() -> None:
    rule = CutAfter("transfer", 3, "sender")
    frames = HANDSHAKE + [fv("transfer", delivery_id=i) for i in range(6)]
    got = actions(rule, frames)
    assert got == [(len(HANDSHAKE) + 2, Cut(before=False, reason=rule.text))]
    assert rule.fired == 1
    assert rule.seen == 6
    assert str(rule) == "cut after transfer #3 from sender"


def test_cut_after_counts_across_connections() -> None:
    """The 5th transfer of the cell is the 5th whatever reconnects came in between."""
    rule = CutAfter("transfer", 5, "sender")
    first = [fv("transfer", conn="c1") for _ in range(3)]
    second = [fv("transfer", conn="c2") for _ in range(4)]
    got = actions(rule, first + second)
    assert [i for i, _ in got] == [4]  # the 2nd transfer on c2


def test_cut_after_ignores_other_sources_and_names() -> None:
    rule = CutAfter("transfer", 1, "sender")
    assert actions(rule, [fv("transfer", src="broker"), fv("disposition"), fv("flow")]) == []
    assert rule.seen == 0
    assert actions(rule, [fv("transfer")]) == [(0, Cut(False, rule.text))]


def test_cut_after_counts_whole_deliveries_not_frames() -> None:
    rule = CutAfter("transfer", 2, "sender")
    frames = [
        fv("transfer", more=True),
        fv("transfer", more=True),
        fv("transfer", more=False),  # delivery 1 ends
        fv("transfer", more=True),
        fv("transfer"),  # delivery 2 ends: cut here, not at a middle frame
        fv("transfer"),
    ]
    assert [i for i, _ in actions(rule, frames)] == [4]


def test_cut_before_withholds_the_frame() -> None:
    rule = CutAfter("attach", 1, "sender", before=True)
    got = actions(rule, HANDSHAKE)
    assert got == [(2, Cut(before=True, reason="cut before attach #1 from sender"))]


def test_cut_after_rejects_k_below_one() -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        CutAfter("transfer", 0, "sender")


# -- CutBeforeSettle -------------------------------------------------------------


def test_cut_before_settle_counts_single_dispositions() -> None:
    rule = CutBeforeSettle(3, "receiver")
    frames = [
        fv("transfer", src="broker"),
        fv("disposition", src="receiver", first=0, settled=True),
        fv("disposition", src="receiver", first=1, settled=True),
        fv("disposition", src="receiver", first=2, settled=True),
        fv("disposition", src="receiver", first=3, settled=True),
    ]
    got = actions(rule, frames)
    assert got == [(3, Cut(before=True, reason=rule.text))]
    assert rule.fired == 1
    assert str(rule) == "cut before the disposition of delivery #3 from receiver"


def test_cut_before_settle_counts_ranges() -> None:
    """A disposition settling 0..3 settles four deliveries at once."""
    rule = CutBeforeSettle(6, "receiver")
    frames = [
        fv("disposition", src="receiver", first=0, last=3, settled=True),  # 4 settled
        fv("disposition", src="receiver", first=4, last=4, settled=True),  # 5
        fv("disposition", src="receiver", first=5, last=9, settled=True),  # would reach 10
        fv("disposition", src="receiver", first=10, settled=True),
    ]
    assert [i for i, _ in actions(rule, frames)] == [2]
    assert rule.settled == 5  # the withheld frame was not counted


def test_cut_before_settle_range_reaching_k_exactly() -> None:
    rule = CutBeforeSettle(4, "receiver")
    frames = [fv("disposition", src="receiver", first=0, last=3, settled=True)]
    assert [i for i, _ in actions(rule, frames)] == [0]


def test_cut_before_settle_ignores_other_sources_and_counts_across_connections() -> None:
    rule = CutBeforeSettle(2, "receiver")
    frames = [
        fv("disposition", src="broker", first=0, settled=True),
        fv("disposition", src="receiver", first=0, settled=True, conn="c1"),
        fv("disposition", src="receiver", first=1, settled=True, conn="c2"),
        fv("disposition", src="receiver", first=2, settled=True, conn="c2"),
    ]
    assert [i for i, _ in actions(rule, frames)] == [2]


def test_cut_before_settle_ignores_dispositions_that_do_not_settle() -> None:
    """Only the disposition that *settles* a delivery counts; a state update does not."""
    rule = CutBeforeSettle(2, "receiver")
    frames = [
        fv("disposition", src="receiver", first=0, settled=False, state={"type": "received"}),
        fv("disposition", src="receiver", first=0, settled=True),
        fv("disposition", src="receiver", first=1, settled=False),
        fv("disposition", src="receiver", first=1, settled=True),
    ]
    assert [i for i, _ in actions(rule, frames)] == [3]


def test_cut_before_settle_rejects_k_below_one() -> None:
    with pytest.raises(ValueError):
        CutBeforeSettle(0, "receiver")


# -- DelayFrames, RestartAfter ---------------------------------------------------


def test_delay_frames_first_n_from_one_source() -> None:
    rule = DelayFrames("flow", 0.5, src="broker", times=2)
    frames = [
        fv("flow", src="sender"),
        fv("flow", src="broker"),
        fv("transfer"),
        fv("flow", src="broker"),
        fv("flow", src="broker"),
    ]
    got = actions(rule, frames)
    assert got == [(1, Delay(0.5, rule.text)), (3, Delay(0.5, rule.text))]
    assert rule.fired == 2
    assert str(rule) == "delay flow from broker by 0.5 s (x2)"


def test_delay_frames_from_anyone() -> None:
    rule = DelayFrames("begin", 1.5)
    got = actions(rule, [fv("begin", src="broker"), fv("begin")])
    assert got == [(0, Delay(1.5, "delay begin from anyone by 1.5 s (x1)"))]


def test_restart_after_calls_once_on_the_kth_delivery() -> None:
    rule = RestartAfter(2, "sender")
    frames = [
        fv("transfer", more=True),
        fv("transfer"),
        fv("transfer", src="broker"),
        fv("transfer", more=True),
        fv("transfer", conn="c2"),
        fv("transfer", conn="c2"),
    ]
    got = actions(rule, frames)
    assert got == [(4, Call("restart-broker", "restart the broker after transfer #2 from sender"))]
    assert rule.fired == 1
