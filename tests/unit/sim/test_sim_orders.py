"""SimMatchEngine request handling: acks, errors, cancel, amend, post-only, taker, fees, determinism."""

from __future__ import annotations

import pytest
from sim_harness import MS, NAME, T0, Harness, check_update_stream

from stubs import ticker
from thalex_modular.platform.domain.entities import OrderFill, OrderUpdate
from thalex_modular.platform.domain.enums import (
    ChangeReason,
    DeleteReason,
    MakerTaker,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import CancelOrder
from thalex_modular.platform.domain.sim.config import SimMatchConfig


def test_insert_is_acknowledged_after_entry_plus_response_latency() -> None:
    # Arrange
    h = Harness()
    h.book(99_999.0, 100_001.0)
    h.buy(1, 99_990.0, 0.01, label="q")
    # Act / Assert: entry 10 ms + response 2 ms
    assert h.at(11.999) == []
    (ack,) = h.at(12)
    assert isinstance(ack, OrderUpdate)
    assert ack.client_order_id == 1 and ack.order_id and ack.label == "q"
    assert (ack.status, ack.change_reason, ack.fills) == (OrderStatus.OPEN, ChangeReason.INSERT, ())
    assert (ack.price, ack.amount, ack.filled_amount, ack.remaining_amount) == (99_990.0, 0.01, 0.0, 0.01)
    assert (ack.ts_exchange_ns, ack.ts_local_ns) == (T0 + 10 * MS, T0 + 12 * MS)
    assert (ack.order_type, ack.time_in_force, ack.side) == (OrderType.LIMIT, TimeInForce.GTC, Side.BUY)
    assert h.engine.open_order_count() == 1


@pytest.mark.parametrize(
    ("price", "amount", "code", "words"),
    [
        (99_990.5, 0.01, 15, "tick_size"),
        (-1.0, 0.01, 13, "price must be > 0"),
        (99_990.0, 0.0105, 14, "volume_tick_size"),
        (99_990.0, 0.0, 14, "volume_tick_size"),
        (99_990.0, 0.001, 14, "min_order_amount"),
    ],
)
def test_invalid_insert_is_a_typed_rejection(price: float, amount: float, code: int, words: str) -> None:
    # Arrange: min_order_amount 0.002
    h = Harness()
    h.engine = type(h.engine)(
        h.instrument.__class__(NAME, h.instrument.kind, "BTCUSD", 1.0, 0.001, 0.002),
        h.clock,
        h.engine.config,
    )
    # Act
    h.buy(7, price, amount)
    h.at(20)
    # Assert
    (rej,) = h.events
    assert isinstance(rej, RequestRejected)
    assert (rej.client_order_id, rej.code) == (7, code)
    assert words in rej.message
    assert h.engine.open_order_count() == 0


def test_price_is_checked_before_amount() -> None:
    h = Harness()
    h.buy(1, 10_000.5, 0.0015)
    h.at(20)
    assert [r.code for r in h.rejections()] == [15]


def test_duplicate_client_order_id_and_illegal_time_in_force() -> None:
    h = Harness()
    h.buy(1, 99_990.0, 0.01)
    h.buy(1, 99_980.0, 0.01)
    h.buy(2, 99_980.0, 0.01, post_only=True, time_in_force=TimeInForce.IOC)
    h.sell(3, 99_980.0, 0.01, post_only=False, order_type=OrderType.MARKET)
    h.at(20)
    assert [(r.client_order_id, r.code) for r in h.rejections()] == [(1, 2), (2, 25), (3, 25)]
    assert len(h.updates()) == 1


def test_cancel_and_cancel_of_unknown_or_closed_order() -> None:
    # Arrange
    h = Harness()
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    # Act
    h.cancel(1)
    h.at(20)
    h.cancel(1)
    h.engine.submit(CancelOrder(99, "nope", NAME))
    h.at(30)
    # Assert
    cancelled = h.updates(1)[-1]
    assert (cancelled.status, cancelled.change_reason, cancelled.delete_reason) == (
        OrderStatus.CANCELLED, ChangeReason.CANCEL, DeleteReason.CLIENT_CANCEL)
    assert cancelled.remaining_amount == 0.0
    assert [(r.client_order_id, r.code, r.message) for r in h.rejections()] == [
        (1, 1, "order not found"), (99, 1, "order not found")]
    assert h.engine.open_order_count() == 0 and h.engine.pending_count() == 0


def test_cancel_by_order_id() -> None:
    h = Harness()
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    order_id = h.updates(1)[0].order_id
    h.engine.submit(CancelOrder(1, order_id, NAME))
    h.at(20)
    assert h.updates(1)[-1].status is OrderStatus.CANCELLED


def test_post_only_crossing_is_moved_one_tick_inside_the_opposite_best() -> None:
    h = Harness()
    h.book(99_999.0, 100_001.0)
    h.buy(1, 100_005.0, 0.01)
    h.sell(2, 99_990.0, 0.01)
    h.at(12)
    assert [(u.client_order_id, u.price, u.status) for u in h.updates()] == [
        (1, 100_000.0, OrderStatus.OPEN), (2, 100_000.0, OrderStatus.OPEN)]
    assert all(not u.fills for u in h.updates())


def test_reject_post_only_crossing_is_cancelled_immediately() -> None:
    h = Harness()
    h.book(99_999.0, 100_001.0)
    h.buy(1, 100_001.0, 0.01, reject_post_only=True)
    h.buy(2, 100_000.0, 0.01, reject_post_only=True)  # does not cross: rests
    h.at(12)
    first, second = h.updates()
    assert (first.status, first.change_reason, first.delete_reason) == (
        OrderStatus.CANCELLED, ChangeReason.INSERT, DeleteReason.IMMEDIATE_CANCEL)
    assert first.remaining_amount == 0.0 and first.filled_amount == 0.0
    assert second.status is OrderStatus.OPEN
    assert h.engine.open_order_count() == 1


def test_post_only_bid_adjusted_to_zero_is_cancelled() -> None:
    h = Harness()
    h.book(None, 1.0, ask_amount=1.0)
    h.buy(1, 5.0, 0.01)
    h.at(12)
    (u,) = h.updates()
    assert (u.status, u.delete_reason) == (OrderStatus.CANCELLED, DeleteReason.IMMEDIATE_CANCEL)


def test_crossing_limit_takes_displayed_amount_then_rests() -> None:
    # Arrange: 0.3 displayed at the best ask
    h = Harness()
    h.book(99_999.0, 100_001.0, ask_amount=0.3)
    h.buy(1, 100_010.0, 0.5, post_only=False)
    h.buy(2, 100_010.0, 0.5, post_only=False)  # the displayed 0.3 is gone for this one
    # Act
    h.at(12)
    # Assert
    first, second = h.updates()
    (fill,) = first.fills
    assert (fill.price, fill.amount, fill.maker_taker) == (100_001.0, 0.3, MakerTaker.TAKER)
    assert (first.status, first.change_reason, first.price) == (
        OrderStatus.PARTIALLY_FILLED, ChangeReason.INSERT, 100_010.0)
    assert (first.filled_amount, first.remaining_amount) == (0.3, 0.2)
    assert second.fills == () and second.status is OrderStatus.OPEN
    check_update_stream(h.events, 0.001)


def test_ioc_remainder_is_cancelled_and_market_order_reports_no_price() -> None:
    h = Harness()
    h.book(99_999.0, 100_001.0, bid_amount=0.2, ask_amount=0.3)
    h.buy(1, 100_001.0, 0.5, post_only=False, time_in_force=TimeInForce.IOC)
    h.sell(2, 0.0, 0.1, post_only=False, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    h.buy(3, 99_000.0, 0.1, post_only=False, time_in_force=TimeInForce.IOC)  # does not cross
    h.at(12)
    ioc, market, passive = h.updates()
    assert (ioc.status, ioc.delete_reason, ioc.filled_amount) == (
        OrderStatus.CANCELLED_PARTIALLY_FILLED, DeleteReason.IMMEDIATE_CANCEL, 0.3)
    assert (market.status, market.delete_reason, market.price) == (OrderStatus.FILLED, DeleteReason.FILLED, None)
    assert market.fills[0].price == 99_999.0
    assert (passive.status, passive.delete_reason) == (OrderStatus.CANCELLED, DeleteReason.IMMEDIATE_CANCEL)
    assert h.engine.open_order_count() == 0
    check_update_stream(h.events, 0.001)


def test_amend_to_at_most_filled_cancels() -> None:
    # Arrange: partially filled 0.004 of 0.01
    h = Harness()
    h.book(99_999.0, 100_001.0)
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    h.trade(99_989.0, 0.004, Side.SELL)
    # Act
    h.amend(1, 99_990.0, 0.004)
    h.at(30)
    # Assert
    last = h.updates(1)[-1]
    assert (last.status, last.change_reason, last.delete_reason) == (
        OrderStatus.CANCELLED_PARTIALLY_FILLED, ChangeReason.AMEND, DeleteReason.CLIENT_CANCEL)
    assert (last.filled_amount, last.remaining_amount) == (0.004, 0.0)
    assert h.engine.open_order_count() == 0
    check_update_stream(h.events, 0.001)


def test_amend_smaller_same_price_keeps_queue_anything_else_resets_it() -> None:
    # Arrange: two bids at the best (0.5 displayed ahead of each)
    h = Harness()
    h.book(99_999.0, 100_001.0, bid_amount=0.5)
    h.buy(1, 99_999.0, 0.2)
    h.buy(2, 99_999.0, 0.2)
    h.at(12)
    h.trade(99_999.0, 0.4, Side.SELL)  # 0.1 left ahead of both
    # Act: 1 shrinks (keeps 0.1 ahead); 2 grows (re-joins behind the displayed 0.5)
    h.amend(1, 99_999.0, 0.1)
    h.amend(2, 99_999.0, 0.3)
    h.at(30)
    h.trade(99_999.0, 0.2, Side.SELL)
    h.at(40)
    # Assert
    assert [u.change_reason for u in h.updates(1)] == [ChangeReason.INSERT, ChangeReason.AMEND, ChangeReason.FILL]
    assert h.updates(1)[-1].fills[0].amount == 0.1 and h.updates(1)[-1].status is OrderStatus.FILLED
    assert h.updates(2)[-1].change_reason is ChangeReason.AMEND and h.filled(2) == 0.0
    check_update_stream(h.events, 0.001)


def test_amend_unknown_order_and_off_tick_amend() -> None:
    h = Harness()
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    h.amend(5, 99_990.0, 0.01)
    h.amend(1, 99_990.3, 0.01)
    h.at(30)
    assert [(r.client_order_id, r.code) for r in h.rejections()] == [(5, 1), (1, 15)]
    assert h.updates(1)[-1].status is OrderStatus.OPEN


def test_amend_reprices_with_post_only() -> None:
    h = Harness()
    h.book(99_999.0, 100_001.0)
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    h.amend(1, 100_003.0, 0.01)
    h.at(30)
    last = h.updates(1)[-1]
    assert (last.change_reason, last.price, last.status) == (ChangeReason.AMEND, 100_000.0, OrderStatus.OPEN)


def test_fee_for_uses_maker_and_taker_bps() -> None:
    h = Harness(SimMatchConfig(maker_fee_bps=-0.5, taker_fee_bps=5.0))
    maker = OrderFill("a", 100_000.0, 0.1, MakerTaker.MAKER, T0)
    taker = OrderFill("b", 100_000.0, 0.1, MakerTaker.TAKER, T0)
    assert h.engine.fee_for(maker) == pytest.approx(-0.5)
    assert h.engine.fee_for(taker) == pytest.approx(5.0)


def test_booked_trades_are_the_fills_of_an_update_with_their_fees() -> None:
    # Arrange: a resting bid filled by a trade through it
    h = Harness(SimMatchConfig(maker_fee_bps=2.0))
    h.book(99_999.0, 100_001.0)
    h.buy(1, 99_990.0, 0.01)
    h.at(12)
    h.trade(99_989.0, 0.004, Side.SELL)
    h.at(30)
    filled = [u for u in h.updates(1) if u.fills]
    # Act
    trades = [trade for update in filled for trade in h.engine.booked_trades(update)]
    # Assert: one record per fill, on our order, with the maker fee of its notional (USD)
    assert len(trades) == 1
    (trade,) = trades
    assert (trade.client_order_id, trade.side, trade.price, trade.amount) == (1, Side.BUY, 99_990.0, 0.004)
    assert trade.trade_id == filled[0].fills[0].trade_id
    assert trade.fee == pytest.approx(99_990.0 * 0.004 * 2e-4)


@pytest.mark.parametrize(
    ("field", "value"),
    [("order_entry_latency_ns", -1), ("slippage_ticks", 0), ("maker_fee_bps", float("nan")), ("order_id_prefix", "")],
)
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidValue, match=field):
        SimMatchConfig(**{field: value})  # type: ignore[arg-type]


def test_time_never_runs_backwards_and_foreign_data_is_refused() -> None:
    h = Harness()
    h.at(10)
    with pytest.raises(InvalidValue, match="now_ns"):
        h.engine.advance(T0)
    with pytest.raises(InvalidValue, match="instrument_name"):
        h.engine.on_ticker(ticker(name="ETH-PERPETUAL"))


def _script(h: Harness) -> list[object]:
    h.book(99_999.0, 100_001.0, bid_amount=0.2)
    h.buy(1, 99_999.0, 0.3)
    h.sell(2, 100_002.0, 0.3)
    h.at(12)
    h.trade(99_999.0, 0.4, Side.SELL)
    h.trade(100_003.0, 0.1, Side.BUY)
    h.cancel(2)
    h.at(30)
    return list(h.events)


def test_identical_input_gives_identical_output() -> None:
    assert _script(Harness()) == _script(Harness())


def test_closed_orders_are_dropped() -> None:
    h = Harness()
    h.book(99_999.0, 100_001.0)
    for coid in range(1, 201):
        h.buy(coid, 99_000.0, 0.001)
    h.at(12)
    for coid in range(1, 201):
        h.cancel(coid)
    h.at(20)
    assert h.engine.open_order_count() == 0 and h.engine.pending_count() == 0
    assert len({u.order_id for u in h.updates()}) == 200
