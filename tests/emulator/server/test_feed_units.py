"""Book diffs and price grouping used by the book.* feeds."""

from __future__ import annotations

from thalex_modular.emulator.feeds import _diff
from thalex_modular.emulator.runtime import _group


def test_diff_reports_new_changed_and_removed_levels_and_updates_state() -> None:
    state = {100.0: (1.0, 1.0), 99.0: (2.0, 2.0)}
    changes = _diff(state, [(101.0, 0.5, 0.5), (100.0, 1.5, 1.5)])
    assert sorted(changes) == [[99.0, 0.0, 0.0], [100.0, 1.5, 1.5], [101.0, 0.5, 0.5]]
    assert state == {101.0: (0.5, 0.5), 100.0: (1.5, 1.5)}
    assert _diff(state, [(101.0, 0.5, 0.5), (100.0, 1.5, 1.5)]) == []


def test_group_floors_bids_and_ceils_asks_into_buckets() -> None:
    bids = [(105.0, 1.0, 1.0), (101.0, 2.0, 2.0), (99.0, 0.5, 0.5)]
    asks = [(106.0, 1.0, 1.0), (109.0, 1.0, 1.0), (111.0, 3.0, 3.0)]
    assert _group(bids, 10.0, floor=True) == [(100.0, 3.0, 3.0), (90.0, 0.5, 0.5)]
    assert _group(asks, 10.0, floor=False) == [(110.0, 2.0, 2.0), (120.0, 3.0, 3.0)]
