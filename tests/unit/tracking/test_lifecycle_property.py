"""Property: under any permutation and duplication of a valid notification sequence the lifecycle never
regresses, ends where the in-order sequence ends, and every fill is emitted exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from tracking_factories import fill, insert, update

from thalex_modular.platform.domain.entities import Fill, OrderUpdate
from thalex_modular.platform.domain.enums import OrderStatus
from thalex_modular.platform.domain.tracking import LIFECYCLE_RANK, StateTracker

LOT = 0.001


@st.composite
def valid_sequences(draw: st.DrawFn) -> tuple[int, list[OrderUpdate]]:
    """An in-order Thalex notification sequence: insert ack, partial fills, then filled, cancel, or nothing."""
    total_lots = draw(st.integers(2, 12))
    amount = round(total_lots * LOT, 3)
    sizes: list[int] = []
    left = total_lots
    while left > 0 and draw(st.booleans()):
        size = draw(st.integers(1, left))
        sizes.append(size)
        left -= size
    ending = draw(st.sampled_from(["filled", "cancel", "open"])) if left > 0 else "filled"
    if ending == "filled" and left > 0:
        sizes.append(left)
        left = 0
    seq = [update(OrderStatus.OPEN, amount=amount)]
    cum = 0
    for i, size in enumerate(sizes):
        cum += size
        status = OrderStatus.FILLED if cum == total_lots else OrderStatus.PARTIALLY_FILLED
        seq.append(update(status, amount=amount, filled=round(cum * LOT, 3),
                          fills=(fill(f"trade-{i}", round(size * LOT, 3)),)))
    if ending == "cancel":
        status = OrderStatus.CANCELLED_PARTIALLY_FILLED if cum else OrderStatus.CANCELLED
        seq.append(update(status, amount=amount, filled=round(cum * LOT, 3)))
    return cum, seq


def _run(seq: list[OrderUpdate]) -> tuple[StateTracker, list[Fill], int]:
    tracker = StateTracker()
    tracker.register_pending(insert(amount=seq[0].amount), 0)
    fills: list[Fill] = []
    resyncs = 0
    for u in seq:
        before = tracker.order_by_client_id(100)
        assert before is not None
        rank_before = LIFECYCLE_RANK[before.status]
        for event in tracker.on_order_update(u):
            if isinstance(event, Fill):
                fills.append(event)
            else:
                resyncs += 1
        after = tracker.order_by_client_id(100)
        assert after is not None
        assert LIFECYCLE_RANK[after.status] >= rank_before  # never regresses
    return tracker, fills, resyncs


@settings(max_examples=200, deadline=None)
@given(valid_sequences(), st.data())
def test_lifecycle_never_regresses_under_reordering_and_duplication(
    generated: tuple[int, list[OrderUpdate]], data: st.DataObject
) -> None:
    # Arrange
    filled_lots, in_order = generated
    shuffled = list(data.draw(st.permutations(in_order)))
    for _ in range(data.draw(st.integers(0, 4))):
        shuffled.insert(data.draw(st.integers(0, len(shuffled))), data.draw(st.sampled_from(in_order)))
    # Act
    reference, reference_fills, reference_resyncs = _run(in_order)
    tracker, fills, _ = _run(shuffled)
    # Assert
    expected = max((u.status for u in in_order), key=LIFECYCLE_RANK.__getitem__)
    ref_order = reference.order_by_client_id(100)
    order = tracker.order_by_client_id(100)
    assert ref_order is not None and order is not None
    assert ref_order.status is expected
    assert order.status is expected
    assert reference_resyncs == 0
    trade_ids = [f.trade_id for f in fills]
    assert len(trade_ids) == len(set(trade_ids)) == len(reference_fills)
    assert sum(f.amount for f in fills) == pytest.approx(filled_lots * LOT)
    assert order.filled_amount == pytest.approx(filled_lots * LOT)
    assert tracker.position("BTC-PERPETUAL").position == pytest.approx(filled_lots * LOT)
    assert order.request_in_flight is None
    assert (tracker.open_orders("BTC-PERPETUAL") == [order]) == (not expected.is_terminal)
