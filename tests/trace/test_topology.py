"""harness.trace.topology: the per-index maps of the link index."""

from __future__ import annotations

import pytest

from harness.trace.topology import ByIndex, index_links
from tests.trace.builders import at_least_once_trace


def test_by_index_reads_as_a_dict_does():
    m: ByIndex[str] = ByIndex(3)
    m[1] = "b"
    m[5] = "f"  # past the size it was made with: it grows
    assert m.get(1) == "b" and m[5] == "f"
    assert m.get(0) is None and m.get(0, "x") == "x" and m.get(-1) is None and m.get(99) is None
    assert 1 in m and 0 not in m and 99 not in m and "1" not in m
    assert len(m) == 2
    with pytest.raises(KeyError):
        m[2]


def test_frames_of_one_link_share_one_key_tuple():
    events = at_least_once_trace(count=5, cut_after=3, resend=True)
    idx = index_links(events)
    transfers = [i for i, e in enumerate(events) if e.name == "transfer"]
    keys = [idx.link_of[i] for i in transfers]
    assert all(len(k) == 1 for k in keys)
    by_link: dict = {}
    for k in keys:
        by_link.setdefault(k[0], set()).add(id(k))
    assert all(len(ids) == 1 for ids in by_link.values())
    # a transfer's delivery is the same tuple in both maps
    first = transfers[0]
    dk = idx.delivery_of[first]
    assert idx.deliveries[dk] == (keys[0][0], first)


def test_without_dispositions_the_index_keeps_no_delivery_map():
    """What the invariants build: transfers keep their delivery, dispositions get no link."""
    events = at_least_once_trace(count=5, cut_after=3, resend=True)
    full, lean = index_links(events), index_links(events, dispositions=False)
    dispositions = [i for i, e in enumerate(events) if e.name == "disposition"]
    transfers = [i for i, e in enumerate(events) if e.name == "transfer"]
    assert dispositions and all(i in full.link_of for i in dispositions)
    assert not any(i in lean.link_of for i in dispositions) and lean.deliveries == {}
    for i in transfers:
        assert lean.delivery_of[i] == full.delivery_of[i] and lean.link_of[i] == full.link_of[i]
    for i, e in enumerate(events):
        if e.name != "disposition":
            assert lean.link_of.get(i) == full.link_of.get(i)
