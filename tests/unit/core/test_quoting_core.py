"""QuotingCore: the tick path's wiring, its price reference, settled plans and the order rows kept in step."""

from __future__ import annotations

import pytest

from stubs import perpetual, ticker
from thalex_modular.platform.domain.entities import OrderFill, OrderUpdate, Ticker
from thalex_modular.platform.domain.enums import (
    ChangeReason,
    MakerTaker,
    OrderStatus,
    OrderType,
    PriceReference,
    Side,
    TimeInForce,
)
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.requests import CancelOrder, InsertOrder
from thalex_modular.platform.use_cases.order_rows import OrderRows
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.sim_session import build_core

NOW = 1_700_000_000 * 10**9
S = 10**9


def _warm(core: QuotingCore, mark: float = 100_000.0, n: int = 30) -> int:
    """Feed ``n`` tickers a second apart around ``mark`` so the regime analyzer has a volatility."""
    ts = NOW
    for i in range(n):
        ts += S
        core.observe(ticker(mark - 1 + (i % 3), mark + 1 + (i % 3), mark=mark + (i % 3), ts_ns=ts))
    return ts


def _ack_all(core: QuotingCore, requests: list[InsertOrder], ts: int) -> None:
    for r in requests:
        core.register_sent(r, ts)
        core.on_order_update(OrderUpdate(
            f"o{r.client_order_id}", r.client_order_id, r.instrument_name, r.side, OrderType.LIMIT,
            TimeInForce.GTC, r.price, r.amount, 0.0, r.amount, OrderStatus.OPEN, ChangeReason.INSERT, ts, ts,
        ))


def test_mark_reference_ignores_a_book_moved_by_our_own_quotes() -> None:
    # Arrange: the same mark, once with a wide book and once with the touch right at the mark
    core = build_core(perpetual())
    ts = _warm(core)
    wide = ticker(99_900.0, 100_100.0, mark=100_000.0, ts_ns=ts + S)
    tight = ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts + 2 * S)
    # Act
    core.observe(wide)
    quotes_wide, _, _ = core.desired_quotes(ts + S) or ((), None, None)
    core.observe(tight)
    quotes_tight, _, _ = core.desired_quotes(ts + 2 * S) or ((), None, None)
    # Assert: centred on the mark, the quotes do not chase the touch
    assert quotes_wide and list(quotes_wide) == list(quotes_tight)


def test_book_mid_reference_follows_the_touch() -> None:
    # Arrange
    core = build_core(perpetual())
    core.price_reference = PriceReference.BOOK_MID
    ts = _warm(core)
    # Act
    core.observe(ticker(99_950.0, 99_960.0, mark=100_000.0, ts_ns=ts + S))
    low, _, _ = core.desired_quotes(ts + S) or ((), None, None)
    core.observe(ticker(100_040.0, 100_050.0, mark=100_000.0, ts_ns=ts + 2 * S))
    high, _, _ = core.desired_quotes(ts + 2 * S) or ((), None, None)
    # Assert
    best_bid = max(q.price_ticks for q in low if q.side is Side.BUY)
    assert max(q.price_ticks for q in high if q.side is Side.BUY) > best_bid


def test_nothing_is_planned_before_the_first_ticker() -> None:
    core = build_core(perpetual())
    assert core.desired_quotes(NOW) is None
    assert core.requote(NOW).requests == []


def test_settled_quotes_plan_nothing_until_the_kill_switch_is_engaged() -> None:
    # Arrange: quote, acknowledge every insert, requote once (nothing to do: the plan settles)
    core = build_core(perpetual())
    ts = _warm(core)
    core.observe(ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts + S))
    first = core.requote(ts + S)
    inserts = [r for r in first.requests if isinstance(r, InsertOrder)]
    assert inserts and len(inserts) == len(first.requests)
    _ack_all(core, inserts, ts + S)
    assert core.requote(ts + S).requests == []
    assert core.requote(ts + S).requests == []
    # Act: the kill switch must not be hidden by the settled shortcut
    core.reconciler._risk.engage_kill_switch("test")
    plan = core.requote(ts + S)
    # Assert: every resting order is cancelled
    assert sorted(r.client_order_id for r in plan.requests if isinstance(r, CancelOrder)) == sorted(
        r.client_order_id for r in inserts
    )


def test_a_fill_reopens_the_settled_plan() -> None:
    # Arrange: a settled ladder
    core = build_core(perpetual())
    ts = _warm(core)
    core.observe(ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts + S))
    inserts = [r for r in core.requote(ts + S).requests if isinstance(r, InsertOrder)]
    _ack_all(core, inserts, ts + S)
    assert core.requote(ts + S).requests == []
    bid = next(r for r in inserts if r.side is Side.BUY)
    # Act: the best bid is filled completely
    core.on_order_update(OrderUpdate(
        f"o{bid.client_order_id}", bid.client_order_id, bid.instrument_name, Side.BUY, OrderType.LIMIT,
        TimeInForce.GTC, bid.price, bid.amount, bid.amount, 0.0, OrderStatus.FILLED, ChangeReason.FILL, ts, ts,
        fills=(OrderFill("t1", bid.price, bid.amount, MakerTaker.MAKER, ts),),
    ))
    plan = core.requote(ts + S)
    # Assert: the position moved and the ladder is rebuilt
    assert core.tracker.position_amount(bid.instrument_name) == bid.amount
    assert plan.requests


def _rows_equal_a_fresh_load(core: QuotingCore) -> bool:
    fresh = OrderRows(core.instrument)
    fresh.load(core.tracker.open_orders(core.instrument.instrument_name))
    kept = core.order_rows
    return (
        kept.orders == fresh.orders
        and kept.ints[: kept.count].tolist() == fresh.ints[: fresh.count].tolist()
        and kept.floats[: kept.count].tolist() == fresh.floats[: fresh.count].tolist()
    )


def test_an_update_whose_client_order_id_collides_keeps_the_rows_of_the_order_it_applied_to() -> None:
    # Arrange: our resting ladder, rows in step
    core = build_core(perpetual())
    ts = _warm(core)
    core.observe(ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts + S))
    inserts = [r for r in core.requote(ts + S).requests if isinstance(r, InsertOrder)]
    _ack_all(core, inserts, ts + S)
    ours = next(r for r in inserts if r.side is Side.BUY)
    # Act: an order of an older session reuses our client_order_id (other order_id, other side) and is partly filled
    core.on_order_update(OrderUpdate(
        "old-session-order", ours.client_order_id, ours.instrument_name, Side.SELL, OrderType.LIMIT,
        TimeInForce.GTC, 100_500.0, 0.02, 0.01, 0.01, OrderStatus.PARTIALLY_FILLED, ChangeReason.FILL, ts, ts,
        fills=(OrderFill("t-old", 100_500.0, 0.01, MakerTaker.MAKER, ts),),
    ))
    # Assert: the tracker adopted the old order (it did not touch ours) and the rows say exactly that
    assert core.tracker.order_by_order_id("old-session-order") is core.tracker.last_updated_order
    assert core.order_rows_in_step and _rows_equal_a_fresh_load(core)
    assert core.order_rows.count == len(inserts) + 1


def _crash_then_calm(n: int) -> list[Ticker]:
    """Tickers a second apart: calm, one 3 % drop, calm again."""
    out, ts, mark = [], NOW, 100_000.0
    for i in range(n):
        ts += S
        mark = mark * 0.97 if i == n // 2 else mark + (1 if i % 2 else -1)
        out.append(ticker(mark - 1, mark + 1, mark=mark, ts_ns=ts))
    return out


def test_signals_update_after_the_plan_and_when_they_do_changes_no_decision() -> None:
    # Arrange: two cores on the same tickers; one updates its signals right after each plan (as live does after
    # the sends), the other never calls after_sends (the next ticker applies it)
    eager, lazy = build_core(perpetual()), build_core(perpetual())
    tickers = _crash_then_calm(40)
    # Act
    plans = []
    for t in tickers:
        plan_eager = eager.on_ticker(t, t.ts_local_ns)
        _ack_all(eager, [r for r in plan_eager.requests if isinstance(r, InsertOrder)], t.ts_local_ns)
        eager.after_sends()
        plan_lazy = lazy.on_ticker(t, t.ts_local_ns)
        _ack_all(lazy, [r for r in plan_lazy.requests if isinstance(r, InsertOrder)], t.ts_local_ns)
        plans.append((plan_eager.requests, plan_lazy.requests, eager.analyzer.quoting_inputs(),
                      lazy.analyzer.quoting_inputs()))
    # Assert: the same requests every tick, though the eager analyzer saw each ticker one call earlier (the
    # drop raised its volatility right after the plan of the drop's ticker)
    assert all(e == lz for e, lz, _, _ in plans)
    assert sum(1 for e, _, _, _ in plans if e) > len(tickers) // 2  # requests were planned
    crash = len(tickers) // 2
    assert plans[crash][2][0] > plans[crash][3][0]
    lazy.after_sends()
    assert lazy.analyzer.quoting_inputs() == eager.analyzer.quoting_inputs()


def test_a_ticker_is_quoted_at_once_with_the_volatility_of_the_tickers_before_it() -> None:
    # Arrange
    core = build_core(perpetual())
    ts = _warm(core)
    core.after_sends()
    sigma_before = core.analyzer.quoting_inputs()[0]
    jump = ticker(102_999.0, 103_001.0, mark=103_000.0, ts_ns=ts + S)
    # Act
    quotes, _, _ = core.desired_quotes(ts) or ((), None, None)
    core.observe(jump)
    moved, _, _ = core.desired_quotes(ts + S) or ((), None, None)
    # Assert: the quotes moved with the new mark at once (about +3000 USD) while the analyzer has not seen it yet
    assert moved and quotes and min(q.price_ticks for q in moved) > max(q.price_ticks for q in quotes) + 2_000
    assert core.analyzer.quoting_inputs()[0] == sigma_before
    core.after_sends()
    assert core.analyzer.quoting_inputs()[0] > sigma_before  # the jump is in the volatility from now on


def test_a_ticker_older_than_the_latest_is_refused_before_anything_is_planned() -> None:
    core = build_core(perpetual())
    ts = _warm(core)
    with pytest.raises(InvalidValue, match="ts_exchange_ns must be >= the latest"):
        core.on_ticker(ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts - S), ts)
    assert core.last_ticker is not None and core.last_ticker.ts_exchange_ns == ts


def test_our_own_fills_reach_the_strategy_so_their_prints_teach_kappa_nothing() -> None:
    from thalex_modular.platform.domain.entities import Trade
    from thalex_modular.strategies import AvellanedaStoikovConfig, AvellanedaStoikovStrategy

    def run(with_own_fill: bool) -> tuple[float, float]:
        # Arrange: an online kappa that counts from the first sample; one bid resting, acknowledged
        core = build_core(perpetual())
        strategy = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
            gamma=0.002, max_position_underlying=0.5, level_amounts=(0.01,), kappa_min_trades=1,
            kappa_fallback_per_usd=0.02))
        core.strategy = strategy
        ts = _warm(core)
        core.observe(ticker(99_999.0, 100_001.0, mark=100_000.0, ts_ns=ts + S))
        inserts = [r for r in core.requote(ts + S).requests if isinstance(r, InsertOrder)]
        _ack_all(core, inserts, ts + S)
        bid = next(r for r in inserts if r.side is Side.BUY)
        # Act: the bid is hit (our order update), and the tape shows the print of that fill
        if with_own_fill:
            core.on_order_update(OrderUpdate(
                f"o{bid.client_order_id}", bid.client_order_id, bid.instrument_name, Side.BUY, OrderType.LIMIT,
                TimeInForce.GTC, bid.price, bid.amount, bid.amount, 0.0, OrderStatus.FILLED, ChangeReason.FILL,
                ts + S, ts + S, fills=(OrderFill("t1", bid.price, bid.amount, MakerTaker.MAKER, ts + S),),
            ))
        core.on_trade(Trade(bid.instrument_name, bid.price, bid.amount, Side.SELL, ts + S, ts + S + 1_000_000))
        core.requote(ts + 3 * S)
        return strategy.kappa_per_usd(), 1 / (100_000.0 - bid.price - 1.0)  # the print's distance beyond the book

    # Assert: the print counts only when no fill of ours claims it
    kappa, _ = run(with_own_fill=True)
    assert kappa == 0.02  # the fallback: nothing counted
    kappa, from_the_print = run(with_own_fill=False)
    assert kappa == pytest.approx(from_the_print) and kappa != 0.02
