"""Price-time matching, partial fills, fills/trades JSON and book state."""

from __future__ import annotations

import pytest
from engine_kit import PERP, Env

from thalex_modular.emulator.engine import Notification


def _kinds(events: list[Notification]) -> set[tuple[str, object, str]]:
    return {(e.scope, e.key, e.channel_kind) for e in events}


def test_resting_order_has_thalex_insert_shape(env: Env) -> None:
    # Arrange / Act
    status = env.order(env.a, "buy", 50_000, 0.5, label="mm", client_order_id=7)
    # Assert
    assert status["status"] == "open"
    assert status["change_reason"] == "insert"
    assert status["insert_reason"] == "client_request"
    assert status["fills"] == []
    assert status["remaining_amount"] == 0.5
    assert status["persistent"] is True
    assert status["time_in_force"] == "good_till_cancelled"
    assert status["label"] == "mm" and status["client_order_id"] == 7
    assert "close_time" not in status and "delete_reason" not in status and "reduce_only" not in status
    assert env.core.top(PERP) == (50_000.0, 0.5, None, 0.0)


def test_price_then_time_priority(env: Env) -> None:
    # Arrange: two asks at 100, an earlier one at 101, then a better one at 99
    first = env.order(env.a, "sell", 100, 0.1)
    env.tick()
    second = env.order(env.a, "sell", 100, 0.1)
    worse = env.order(env.a, "sell", 101, 0.1)
    best = env.order(env.a, "sell", 99, 0.1)
    # Act: a buy for 0.25 up to 101
    taker = env.order(env.b, "buy", 101, 0.25)
    # Assert: 99 first, then 100 in time order; the 101 order untouched
    fills = taker["fills"]
    assert [f["price"] for f in fills] == [99, 100, 100]
    assert [f["amount"] for f in fills] == [0.1, 0.1, 0.05]
    assert all(f["maker_taker"] == "taker" for f in fills)
    assert taker["status"] == "filled" and taker["delete_reason"] == "filled"
    open_ids = {o["order_id"] for o in env.core.open_orders(env.a)[0]}  # type: ignore[union-attr]
    assert best["order_id"] not in open_ids and first["order_id"] not in open_ids
    assert {second["order_id"], worse["order_id"]} <= open_ids
    assert env.core.top(PERP) == (None, 0.0, 100.0, 0.05)


def test_partial_fill_of_maker_and_taker_remainder_rests(env: Env) -> None:
    # Arrange
    maker = env.order(env.a, "sell", 100, 0.3)
    # Act
    result, events = env.core.insert(env.b, {"instrument_name": PERP, "direction": "buy", "price": 100, "amount": 0.5})
    # Assert: taker partially filled and resting; maker filled
    assert isinstance(result, dict)
    assert result["status"] == "partially_filled"
    assert result["filled_amount"] == 0.3 and result["remaining_amount"] == 0.2
    assert env.core.top(PERP) == (100.0, 0.2, None, 0.0)
    kinds = _kinds(events)
    assert ("session", env.a, "session.orders") in kinds
    assert ("account", "A000000001", "account.trade_history") in kinds
    assert ("account", "A000000002", "account.portfolio") in kinds
    assert ("public", PERP, "trades") in kinds and ("public", PERP, "book") in kinds
    maker_update = next(e for e in events if e.scope == "session" and e.key == env.a).payload
    assert isinstance(maker_update, list)
    assert maker_update[0]["order_id"] == maker["order_id"]
    assert maker_update[0]["status"] == "filled" and maker_update[0]["change_reason"] == "fill"
    assert maker_update[0]["fills"][0]["maker_taker"] == "maker"


def test_update_fills_hold_only_new_fills(env: Env) -> None:
    # Arrange: a resting bid hit twice
    bid = env.order(env.a, "buy", 100, 1.0)
    env.order(env.b, "sell", 100, 0.2)
    # Act
    _, events = env.core.insert(env.b, {"instrument_name": PERP, "direction": "sell", "price": 100, "amount": 0.3})
    # Assert
    update = next(e for e in events if e.channel_kind == "session.orders" and e.key == env.a).payload
    assert isinstance(update, list)
    assert update[0]["order_id"] == bid["order_id"]
    assert [f["amount"] for f in update[0]["fills"]] == [0.3]
    assert update[0]["filled_amount"] == 0.5
    snapshot = env.core.session_orders_snapshot(env.a)
    assert snapshot[0]["change_reason"] == "existing"
    assert [f["amount"] for f in snapshot[0]["fills"]] == [0.2, 0.3]


def test_trade_objects_carry_fee_position_and_ids(env: Env) -> None:
    # Arrange
    env.core.set_market(PERP, 100.0, 99.5, None, None)
    env.order(env.a, "sell", 100, 2.0, label="q")
    # Act
    _, events = env.core.insert(env.b, {"instrument_name": PERP, "direction": "buy", "price": 100, "amount": 2.0})
    # Assert
    trades = {e.key: e.payload for e in events if e.channel_kind == "account.trade_history"}
    maker = trades["A000000001"][0]  # type: ignore[index]
    taker = trades["A000000002"][0]  # type: ignore[index]
    assert maker["maker_taker"] == "maker" and taker["maker_taker"] == "taker"
    assert maker["fee_rate"] == pytest.approx(0.0001) and taker["fee_rate"] == pytest.approx(0.0005)
    assert maker["fee"] == pytest.approx(0.02) and taker["fee"] == pytest.approx(0.1)
    assert maker["position_after"] == -2.0 and taker["position_after"] == 2.0
    assert maker["label"] == "q" and "label" not in taker
    assert maker["index"] == 99.5 and maker["trade_type"] == "normal"
    for trade in (maker, taker):
        assert len(trade["trade_id"]) == 32
        int(trade["trade_id"], 16)
    assert maker["trade_id"] != taker["trade_id"]
    rows = next(e for e in events if e.channel_kind == "trades").payload
    assert rows == [[100.0, 2.0, "buy", env.clock.now_ns() / 1e9, PERP, False]]
    assert env.core.last_price(PERP) == 100.0
    assert env.core.recent_trades(PERP) == rows


def test_book_levels_best_first_and_aggregated(env: Env) -> None:
    for price, amount in ((99, 0.1), (98, 0.2), (99, 0.3), (97, 0.1)):
        env.order(env.a, "buy", price, amount)
    for price in (101, 103, 102):
        env.order(env.a, "sell", price, 0.1)
    book = env.core.book(PERP, nlevels=2)
    assert book["bids"] == [[99.0, 0.4, 0.4], [98.0, 0.2, 0.2]]
    assert book["asks"] == [[101.0, 0.1, 0.1], [102.0, 0.1, 0.1]]
    assert isinstance(book["time"], float)
    assert len(env.core.book(PERP, None)["bids"]) == 3  # type: ignore[arg-type]


def test_ioc_remainder_is_cancelled_with_immediate_cancel(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.1)
    status = env.order(env.b, "buy", 105, 0.3, time_in_force="immediate_or_cancel")
    assert status["status"] == "cancelled_partially_filled"
    assert status["delete_reason"] == "immediate_cancel"
    assert status["remaining_amount"] == 0 and "close_time" in status
    assert env.core.top(PERP) == (None, 0.0, None, 0.0)


def test_market_order_sweeps_and_clamps_to_collar(env: Env) -> None:
    # Arrange: asks at 100 and 120, collar_high 110
    env.core.set_market(PERP, 100.0, 100.0, 90.0, 110.0)
    env.order(env.a, "sell", 100, 0.1)
    env.order(env.a, "sell", 120, 0.1)
    # Act
    status = env.order(env.b, "buy", None, 0.5, order_type="market")
    # Assert: only the 100 ask trades, the rest is cancelled; no price on the order
    assert [f["price"] for f in status["fills"]] == [100]
    assert status["status"] == "cancelled_partially_filled" and "price" not in status
    assert status["order_type"] == "market" and status["time_in_force"] == "immediate_or_cancel"
    assert env.core.top(PERP)[2] == 120.0
