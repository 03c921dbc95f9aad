from __future__ import annotations

import dataclasses

import pytest
from tracking_factories import NAME, T0, fill, insert, update

from stubs import perpetual
from thalex_modular.platform.domain.entities import Fill, PortfolioEntry
from thalex_modular.platform.domain.enums import ChangeReason, DeleteReason, MakerTaker, OrderStatus, Side
from thalex_modular.platform.domain.errors import InvalidTransition, InvalidValue
from thalex_modular.platform.domain.events import ResyncRequest
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder
from thalex_modular.platform.domain.tracking import StateTracker

OPEN, PF, FILLED = OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED


def _fills(events: list[Fill | ResyncRequest]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def _resyncs(events: list[Fill | ResyncRequest]) -> list[ResyncRequest]:
    return [e for e in events if isinstance(e, ResyncRequest)]


def test_register_pending_then_ack() -> None:
    tracker = StateTracker()
    order = tracker.register_pending(insert(), 10)
    assert (order.status, order.request_in_flight, order.order_id) == (OrderStatus.PENDING, "insert", None)
    assert tracker.open_amount(NAME, Side.BUY) == pytest.approx(0.01)

    assert tracker.on_order_update(update(OPEN)) == []

    assert order.status is OPEN
    assert order.request_in_flight is None
    assert tracker.order_by_order_id("00011E570000004A") is order
    assert tracker.open_orders(NAME) == [order]


def test_fill_before_insert_ack_is_not_lost() -> None:
    # Arrange
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    # Act: the session.orders fill arrives before the insert's RPC result
    events = tracker.on_order_update(update(PF, filled=0.004, fills=(fill("t1", 0.004, price=99_990.0),)))
    late_ack = tracker.on_order_update(update(OPEN))
    # Assert
    [f] = _fills(events)
    assert (f.trade_id, f.client_order_id, f.order_id, f.amount, f.price) == (
        "t1", 100, "00011E570000004A", 0.004, 99_990.0)
    assert late_ack == []
    order = tracker.order_by_client_id(100)
    assert order is not None and order.status is PF and order.filled_amount == pytest.approx(0.004)
    assert tracker.ignored_updates == 1
    assert tracker.position(NAME).position == pytest.approx(0.004)
    assert tracker.open_amount(NAME, Side.BUY) == pytest.approx(0.006)


def test_late_open_after_filled_is_ignored() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(FILLED, filled=0.01, fills=(fill("t1", 0.01),)))

    assert tracker.on_order_update(update(OPEN)) == []
    assert tracker.on_order_update(update(FILLED, filled=0.01, fills=(fill("t1", 0.01),))) == []  # duplicate

    order = tracker.order_by_client_id(100)
    assert order is not None and order.status is FILLED
    assert tracker.open_orders(NAME) == []
    assert tracker.ignored_updates == 2
    assert tracker.position(NAME).position == pytest.approx(0.01)


def test_unknown_order_fill_requests_resync_and_is_not_lost() -> None:
    tracker = StateTracker()
    events = tracker.on_order_update(update(PF, cid=None, order_id="X9", filled=0.002, fills=(fill("t7", 0.002),)))
    [resync] = _resyncs(events)
    assert "unknown order X9" in resync.reason and resync.instrument_name == NAME
    assert [f.trade_id for f in _fills(events)] == ["t7"]
    adopted = tracker.order_by_order_id("X9")
    assert adopted is not None and adopted.client_order_id < 0 and adopted.status is PF


def test_filled_amount_above_seen_fills_requests_resync() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    events = tracker.on_order_update(update(PF, filled=0.006, fills=(fill("t2", 0.002),)))
    [resync] = _resyncs(events)
    assert "filled_amount 0.006 exceeds the 0.002 of fills seen" in resync.reason
    assert len(_fills(events)) == 1
    order = tracker.order_by_client_id(100)
    assert order is not None and order.filled_amount == pytest.approx(0.006)  # the exchange's count wins


def test_reply_overtaking_its_fill_notification_waits_for_the_fill_within_the_grace() -> None:
    # Arrange: 1 s grace; the amend reply already counts a fill whose notification is still on its way
    tracker = StateTracker(fill_report_grace_ns=1_000_000_000)
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    # Act: the reply (no fills: they travel in their own notification), then the notification 5 ms later
    early = tracker.on_order_update(update(PF, filled=0.004, ts_ns=T0 + 1_000))
    late = tracker.on_order_update(update(PF, filled=0.004, fills=(fill("t3", 0.004),), ts_ns=T0 + 5_001_000))
    # Assert: no resync, the fill counted once, nothing left to report later
    assert _resyncs(early) == [] and _resyncs(late) == []
    assert [f.trade_id for f in _fills(late)] == ["t3"]
    assert tracker.position(NAME).position == pytest.approx(0.004)
    assert tracker.overdue_resyncs(T0 + 10_000_000_000) == []


def test_fill_never_reported_within_the_grace_requests_one_resync() -> None:
    tracker = StateTracker(fill_report_grace_ns=1_000_000_000)
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    assert _resyncs(tracker.on_order_update(update(PF, filled=0.004, ts_ns=T0 + 1_000))) == []
    # Act / Assert: not yet overdue, then overdue exactly once (from the periodic check or the next update)
    assert tracker.overdue_resyncs(T0 + 999_999_999) == []
    [resync] = tracker.overdue_resyncs(T0 + 1_000_001_000)
    assert "filled_amount 0.004 exceeds the 0.0 of fills seen" in resync.reason and resync.instrument_name == NAME
    assert tracker.overdue_resyncs(T0 + 2_000_000_000) == []
    assert _resyncs(tracker.on_order_update(update(PF, filled=0.004, ts_ns=T0 + 3_000_000_000))) == []  # same report


def test_overdue_report_also_surfaces_with_the_next_order_update() -> None:
    tracker = StateTracker(fill_report_grace_ns=1_000)
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    tracker.on_order_update(update(PF, filled=0.004, ts_ns=T0 + 100))
    [resync] = _resyncs(tracker.on_order_update(update(PF, filled=0.004, ts_ns=T0 + 2_000)))
    assert "missing fills" in resync.reason


def test_cancel_racing_a_fill() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    order = tracker.register_cancel(CancelOrder(100, "00011E570000004A", NAME), 20)
    assert order.request_in_flight == "cancel"
    # the cancel ack (status cancelled, our view has no fill yet), then the fill notification
    tracker.on_order_update(update(OrderStatus.CANCELLED, filled=0.0))
    events = tracker.on_order_update(update(PF, filled=0.003, fills=(fill("t3", 0.003),)))
    assert [f.amount for f in _fills(events)] == [0.003]
    assert order.status is OrderStatus.CANCELLED_PARTIALLY_FILLED
    assert order.request_in_flight is None
    assert tracker.open_amount(NAME, Side.BUY) == 0.0


def test_fill_after_cancel_request_keeps_the_cancel_in_flight() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    order = tracker.register_cancel(CancelOrder(100, None, NAME), 20)
    tracker.on_order_update(update(PF, filled=0.001, fills=(fill("t4", 0.001),)))
    assert (order.status, order.request_in_flight) == (PF, "cancel")
    tracker.on_order_update(update(OrderStatus.CANCELLED_PARTIALLY_FILLED, filled=0.001))
    assert (order.status, order.request_in_flight) == (OrderStatus.CANCELLED_PARTIALLY_FILLED, None)


def test_request_failures() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(cid=100), 10)
    tracker.register_pending(insert(cid=101), 10)
    tracker.on_order_update(update(OPEN, cid=101, order_id="B"))
    # a failed insert -> REJECTED, with the reason kept
    rejected = tracker.on_request_failed(100, 11, "code 15: price not on tick")
    assert rejected is not None and rejected.status is OrderStatus.REJECTED and rejected.request_in_flight is None
    assert tracker.rejection_reason(100) == "code 15: price not on tick"
    # a failed cancel (error 1 "order not found") only clears the mark: the feed says what happened
    tracker.register_cancel(CancelOrder(101, "B", NAME), 12)
    order = tracker.on_request_failed(101, 13, "code 1: order not found")
    assert order is not None and (order.status, order.request_in_flight) == (OPEN, None)
    assert tracker.on_request_failed(999, 13, "unknown") is None
    assert [o.client_order_id for o in tracker.open_orders(NAME)] == [101]


def test_rejected_order_reported_by_the_exchange_is_resurrected() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_request_failed(100, 11, "timeout")
    tracker.on_order_update(update(OPEN))
    order = tracker.order_by_client_id(100)
    assert order is not None and order.status is OPEN and tracker.open_orders(NAME) == [order]


def test_amend_in_flight_counts_the_larger_amount_until_acked() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(amount=0.01), 10)
    tracker.on_order_update(update(OPEN, amount=0.01))
    tracker.register_amend(AmendOrder(100, "00011E570000004A", NAME, 100_010.0, 0.03), 20)
    assert tracker.open_amount(NAME, Side.BUY) == pytest.approx(0.03)
    with pytest.raises(InvalidTransition, match="already has a amend in flight"):
        tracker.register_amend(AmendOrder(100, None, NAME, 100_020.0, 0.03), 21)
    tracker.on_order_update(update(OPEN, amount=0.03, price=100_010.0, reason=ChangeReason.AMEND))
    order = tracker.order_by_client_id(100)
    assert order is not None and (order.price, order.amount, order.request_in_flight) == (100_010.0, 0.03, None)
    assert tracker.open_amount(NAME, Side.BUY) == pytest.approx(0.03)
    assert tracker.open_amount(NAME, Side.SELL) == 0.0


def test_portfolio_mismatch_adopts_the_exchange_position() -> None:
    tracker = StateTracker([perpetual()])
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(FILLED, filled=0.01, fills=(fill("t1", 0.01),)))
    # within half a volume tick (0.0005): no resync
    assert tracker.on_portfolio([PortfolioEntry(NAME, 0.0104)], 20) == []
    [resync] = tracker.on_portfolio([PortfolioEntry(NAME, 0.013, average_price=100_500.0)], 30)
    assert "position 0.01 from fills differs from the exchange's 0.013" in resync.reason
    assert tracker.position(NAME).position == 0.013
    assert tracker.position(NAME).average_price == 100_500.0
    # a complete portfolio without the instrument means flat
    [flat] = tracker.on_portfolio([], 40, complete=True)
    assert "exchange's 0.0" in flat.reason and tracker.position(NAME).position == 0.0
    # instruments we were not given are not compared
    assert tracker.on_portfolio([PortfolioEntry("ETH-PERPETUAL", 5.0)], 50) == []


def test_open_orders_snapshot_closes_missing_adopts_unknown_and_keeps_pending() -> None:
    # Arrange
    tracker = StateTracker()
    tracker.register_pending(insert(cid=100), 10)
    tracker.on_order_update(update(OPEN, cid=100, order_id="A"))
    tracker.register_pending(insert(cid=101), 10)  # insert still in flight
    old_session = update(PF, cid=100, order_id="Z", side=Side.SELL, filled=0.002,
                         fills=(fill("old-1", 0.002),), reason=ChangeReason.EXISTING)
    # Act
    events = tracker.on_open_orders_snapshot([old_session], 50)
    # Assert
    [resync] = _resyncs(events)
    assert "order A (client_order_id 100) is missing" in resync.reason
    assert _fills(events) == []  # an adopted order's historic fills are already in the exchange's position
    closed = tracker.order_by_order_id("A")
    assert closed is not None and closed.status is OrderStatus.CANCELLED
    adopted = tracker.order_by_order_id("Z")
    assert adopted is not None and adopted.client_order_id < 0 and adopted.side is Side.SELL
    assert sorted(o.client_order_id for o in tracker.open_orders(NAME)) == [adopted.client_order_id, 101]
    # its fills are remembered: a replay does not emit them again
    assert _fills(tracker.on_order_update(dataclasses.replace(old_session, change_reason=ChangeReason.FILL))) == []


def test_snapshot_emits_missed_fills_of_tracked_orders() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    snap = update(PF, filled=0.005, fills=(fill("m1", 0.005),), reason=ChangeReason.EXISTING)
    events = tracker.on_open_orders_snapshot([snap], 60)
    assert [f.trade_id for f in _fills(events)] == ["m1"] and _resyncs(events) == []


def test_closed_orders_lru_is_bounded_and_open_orders_are_never_evicted() -> None:
    tracker = StateTracker(max_closed_orders=3, max_trade_ids=5)
    for cid in range(100, 105):  # five orders stay open
        tracker.register_pending(insert(cid=cid), 1)
        tracker.on_order_update(update(OPEN, cid=cid, order_id=f"open-{cid}"))
    for cid in range(200, 220):  # twenty fill and close
        tracker.register_pending(insert(cid=cid), 1)
        tracker.on_order_update(update(FILLED, cid=cid, order_id=f"f-{cid}", filled=0.01,
                                       fills=(fill(f"t{cid}", 0.01),)))
    assert tracker.tracked_orders == 5 + 3
    assert len(tracker.open_orders(NAME)) == 5
    assert all(tracker.order_by_order_id(f"open-{cid}") is not None for cid in range(100, 105))
    assert tracker.order_by_client_id(200) is None and tracker.order_by_order_id("f-200") is None
    assert tracker.order_by_client_id(219) is not None
    assert tracker.remembered_trade_ids == 5
    assert tracker.position(NAME).position == pytest.approx(0.2)


def test_bad_input_is_refused_and_state_unchanged() -> None:
    # Arrange
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OPEN))
    good = update(PF, filled=0.002, fills=(fill("t1", 0.002),))
    # Act / Assert: the entities refuse NaN before the tracker sees it
    with pytest.raises(InvalidValue, match=r"OrderUpdate\(00011E570000004A\).filled_amount must be finite, was nan"):
        dataclasses.replace(good, filled_amount=float("nan"))
    with pytest.raises(InvalidValue, match=r"OrderFill\(t1\).price must be finite, was nan"):
        fill("t1", 0.002, price=float("nan"))
    with pytest.raises(InvalidValue, match=r"InsertOrder\(101\).price must be finite, was nan"):
        tracker.register_pending(insert(cid=101, price=float("nan")), 11)
    with pytest.raises(InvalidValue, match="client_order_id 100 is already tracked"):
        tracker.register_pending(insert(cid=100), 11)
    order = tracker.order_by_client_id(100)
    assert order is not None and order.status is OPEN and order.filled_amount == 0.0
    assert tracker.order_by_client_id(101) is None
    assert tracker.tracked_orders == 1 and tracker.position(NAME).position == 0.0
    # and the good update still applies normally afterwards
    assert len(_fills(tracker.on_order_update(good))) == 1


def test_client_order_id_from_another_session_does_not_hijack_our_order() -> None:
    tracker = StateTracker()
    ours = tracker.register_pending(insert(cid=100), 10)
    tracker.on_order_update(update(OPEN, cid=100, order_id="A"))
    events = tracker.on_order_update(update(OPEN, cid=100, order_id="B", delete_reason=None))
    assert len(_resyncs(events)) == 1
    assert ours.order_id == "A"
    other = tracker.order_by_order_id("B")
    assert other is not None and other is not ours


def test_terminal_delete_reason_is_recorded() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(), 10)
    tracker.on_order_update(update(OrderStatus.CANCELLED, delete_reason=DeleteReason.IMMEDIATE_CANCEL))
    order = tracker.order_by_client_id(100)
    assert order is not None and order.delete_reason is DeleteReason.IMMEDIATE_CANCEL
    with pytest.raises(InvalidTransition, match="cancel: order 100 is cancelled"):
        tracker.register_cancel(CancelOrder(100, None, NAME), 20)


def test_stale_update_does_not_roll_back_price_or_amount() -> None:
    tracker = StateTracker()
    tracker.register_pending(insert(amount=0.01), 10)
    early = update(PF, amount=0.01, filled=0.002, fills=(fill("t1", 0.002),))
    tracker.on_order_update(update(PF, amount=0.01, filled=0.004, fills=(fill("t1", 0.002), fill("t2", 0.002))))
    tracker.register_amend(AmendOrder(100, None, NAME, 100_050.0, 0.02), 20)
    tracker.on_order_update(update(PF, amount=0.02, price=100_050.0, filled=0.004, reason=ChangeReason.AMEND))

    assert tracker.on_order_update(early) == []  # a reordered older notification

    order = tracker.order_by_client_id(100)
    assert order is not None and (order.amount, order.price, order.filled_amount) == (0.02, 100_050.0, 0.004)
    assert tracker.open_amount(NAME, Side.BUY) == pytest.approx(0.016)


def test_a_trade_fee_reported_later_is_charged_once_and_leaves_the_position() -> None:
    # Arrange: a filled buy (the order feed carries no fee)
    tracker = StateTracker(instruments=[perpetual()])
    tracker.register_pending(insert(), T0)
    tracker.on_order_update(update(OrderStatus.FILLED, filled=0.01, fills=(fill("t1", 0.01),)))
    pnl_before = tracker.position(NAME).realised_pnl
    trade = Fill("t1", "00011E570000004A", 100, NAME, Side.BUY, 100_000.0, 0.01, MakerTaker.MAKER, T0, T0, fee=0.25)
    # Act: the trade history reports it twice (a resubscribe replays it)
    first, second = tracker.on_trade_fee(trade), tracker.on_trade_fee(trade)
    # Assert
    assert (first, second) == (True, False)
    assert tracker.position(NAME).realised_pnl == pytest.approx(pnl_before - 0.25)
    assert tracker.position_amount(NAME) == pytest.approx(0.01)
    assert tracker.fees_usd(NAME) == 0.25
