"""Positions, PnL, fees, portfolio, account summary, histories, marks; and the flow agents' actions."""

from __future__ import annotations

import pytest
from engine_kit import OPT, PERP, Env

from thalex_modular.emulator.engine import RpcError
from thalex_modular.emulator.market import LpQuotes, TakerOrder


def test_average_price_realised_and_unrealised_pnl(env: Env) -> None:
    # Arrange: A buys 1.0 @100 and 1.0 @110 (avg 105), then sells 1.5 @120 (realised 22.5), short flip later
    env.order(env.b, "sell", 100, 1.0)
    env.order(env.a, "buy", 100, 1.0)
    env.order(env.b, "sell", 110, 1.0)
    env.order(env.a, "buy", 110, 1.0)
    env.order(env.b, "buy", 120, 1.5)
    _, events = env.core.insert(env.a, {"instrument_name": PERP, "direction": "sell", "price": 120, "amount": 1.5})
    # Assert the trade's PnL fields
    trade = next(e.payload for e in events if e.channel_kind == "account.trade_history" and e.key == "A000000001")
    assert isinstance(trade, list)
    assert trade[0]["position_pnl"] == pytest.approx(22.5)
    assert trade[0]["session_realised_after"] == pytest.approx(22.5)
    assert trade[0]["position_after"] == pytest.approx(0.5)
    # Act: mark 130
    env.core.set_market(PERP, 130.0, 129.0, None, None)
    portfolio, _ = env.core.portfolio(env.a)
    assert isinstance(portfolio, list)
    entry = portfolio[0]
    assert entry["instrument_name"] == PERP and entry["position"] == 0.5
    assert entry["average_price"] == pytest.approx(105.0) and entry["start_price"] == pytest.approx(105.0)
    assert entry["unrealised_pnl"] == pytest.approx(12.5) and entry["realised_pnl"] == pytest.approx(22.5)
    assert entry["entry_value"] == pytest.approx(52.5) and entry["mark_price"] == 130.0 and entry["index"] == 129.0
    # taker fees: 0.0005 x (100 + 110 + 180) ... A was taker on all three
    summary, _ = env.core.account_summary(env.a)
    assert isinstance(summary, dict)
    fees = 0.0005 * (100 + 110 + 180)
    assert summary["session_realised_pnl"] == pytest.approx(22.5)
    assert summary["cash"][0]["balance"] == pytest.approx(1_000_000 + 22.5 - fees)  # type: ignore[index]
    assert summary["unrealised_pnl"] == pytest.approx(12.5)
    assert summary["margin"] == pytest.approx(summary["cash_collateral"] + 12.5)  # type: ignore[operator]
    assert summary["required_margin"] == pytest.approx(0.5 * 130 * 0.1)
    assert summary["remaining_margin"] == pytest.approx(summary["margin"] - summary["required_margin"])  # type: ignore[operator]


def test_position_flip_resets_average_price(env: Env) -> None:
    env.order(env.b, "sell", 100, 1.0)
    env.order(env.a, "buy", 100, 1.0)
    env.order(env.b, "buy", 90, 3.0)
    env.order(env.a, "sell", 90, 3.0)
    entry = env.core.portfolio_snapshot("A000000001")[0]
    assert entry["position"] == -2.0 and entry["average_price"] == 90.0 and entry["realised_pnl"] == pytest.approx(-10)


def test_option_fee_is_capped_by_premium(env: Env) -> None:
    env.core.set_market(OPT, 50.0, 40_000.0, None, None, iv=0.6)
    env.core.insert(env.b, {"instrument_name": OPT, "direction": "sell", "price": 50, "amount": 1.0})
    _, events = env.core.insert(env.a, {"instrument_name": OPT, "direction": "buy", "price": 50, "amount": 1.0})
    trade = next(e.payload for e in events if e.channel_kind == "account.trade_history" and e.key == "A000000001")
    assert isinstance(trade, list)
    # 3 bps of 40 000 = 12 USD, capped at 12.5 % of the 50 USD premium = 6.25
    assert trade[0]["fee"] == pytest.approx(6.25) and trade[0]["fee_rate"] == pytest.approx(0.0003)
    assert env.core.portfolio_snapshot("A000000001")[0]["iv"] == 0.6


def test_portfolio_resent_when_mark_moves_more_than_one_percent(env: Env) -> None:
    env.order(env.b, "sell", 100, 1.0)
    env.order(env.a, "buy", 100, 1.0)
    env.core.portfolio(env.a)
    env.core.set_market(PERP, 100.0, 100.0, None, None)
    events = env.core.set_market(PERP, 100.5, 100.0, None, None)
    assert events == []
    events = env.core.set_market(PERP, 102.0, 100.0, None, None)
    assert {e.key for e in events if e.channel_kind == "account.portfolio"} == {"A000000001", "A000000002"}


def test_history_paging_filters_and_sorting(env: Env) -> None:
    for i in range(5):
        env.tick(1_000_000_000)
        env.order(env.b, "sell", 100 + i, 0.1)
        env.order(env.a, "buy", 100 + i, 0.1)
    page, _ = env.core.trade_history(env.a, {"limit": 2})
    assert isinstance(page, dict)
    assert [t["price"] for t in page["trades"]] == [104, 103] and page["bookmark"] == "2"  # type: ignore[union-attr]
    page2, _ = env.core.trade_history(env.a, {"limit": 2, "bookmark": page["bookmark"]})
    assert [t["price"] for t in page2["trades"]] == [102, 101]  # type: ignore[index]
    asc, _ = env.core.trade_history(env.a, {"sort": "ascending", "instrument_names": f"{PERP},X"})
    assert [t["price"] for t in asc["trades"]] == [100, 101, 102, 103, 104] and asc["bookmark"] is None  # type: ignore[index]
    first_time = asc["trades"][0]["time"]  # type: ignore[index]
    window, _ = env.core.order_history(env.a, {"time_low": first_time + 0.5, "sort": "ascending"})
    assert [o["price"] for o in window["orders"]] == [101, 102, 103, 104]  # type: ignore[index]
    assert all(o["status"] == "filled" and "close_time" in o for o in window["orders"])  # type: ignore[index]
    none, _ = env.core.trade_history(env.a, {"instrument_names": OPT})
    assert none == {"trades": [], "bookmark": None}
    with pytest.raises(RpcError):
        env.core.trade_history(env.a, {"limit": 5000})




def test_agents_quote_and_take_from_internal_accounts(env: Env) -> None:
    # LP prices are off-grid: bids floored, asks ceiled; tiny levels dropped
    events = env.core.apply_agent_action(LpQuotes(PERP, ((99.7, 1.0), (98.2, 0.0001)), ((101.2, 1.0),)))
    assert env.core.top(PERP) == (99.0, 1.0, 102.0, 1.0)
    assert [e.channel_kind for e in events] == ["book"]
    # re-sending identical quotes keeps them; a client order trades with the LP
    env.core.apply_agent_action(LpQuotes(PERP, ((99.7, 1.0),), ((101.2, 1.0),)))
    status = env.order(env.a, "buy", 102, 0.4)
    assert status["status"] == "filled"
    # a taker agent market order hits the LP's earlier bid at 99 first, then the client's
    env.order(env.a, "buy", 99, 0.5)
    env.core.apply_agent_action(TakerOrder(PERP, "sell", 1.2))
    assert env.core.portfolio_snapshot("A000000001")[0]["position"] == pytest.approx(0.6)
    assert env.core.open_interest(PERP) == pytest.approx(1.2)  # client 0.6 + LP (1.0 bought - 0.4 sold)
    # replacing the LP's quotes removes the old ones
    env.core.apply_agent_action(LpQuotes(PERP, (), ((105.0, 2.0),)))
    assert env.core.top(PERP) == (99.0, 0.3, 105.0, 2.0)  # LP bids gone, the client bid remains
    assert env.core.tops()[PERP] == env.core.top(PERP)


def test_deactivated_instrument_cancels_orders_and_refuses_new_ones(env: Env) -> None:
    env.order(env.a, "buy", 90, 0.1)
    events = env.core.deactivate_instrument(PERP)
    update = next(e.payload for e in events if e.channel_kind == "session.orders")
    assert isinstance(update, list) and update[0]["delete_reason"] == "instrument_deactivated"
    with pytest.raises(RpcError) as info:
        env.order(env.a, "buy", 90, 0.1)
    assert info.value.code == 5
    assert env.core.apply_agent_action(TakerOrder(PERP, "buy", 1.0)) == []
