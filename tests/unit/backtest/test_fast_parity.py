"""The fast driver (compiled loop) against the reference driver (SimSession): the same history gives the same
requests (ts, kind, side, id, price, amount), the same fills (price, amount, fee, mid, markouts), the same samples
and the same figures, bit for bit, across strategies' parameters, regimes, risk denials, partial fills, latency legs,
hand-built edge cases, bar mode and chunking, with and without perpetual funding in the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.storage import QUOTE_DTYPE, TRADE_DTYPE, ohlcv_from_trades
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    BacktestResult,
    BacktestRun,
    HistoryRange,
    backtest_instrument,
    bar_events,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.events import QUOTE, TRADE, tick_events
from thalex_modular.platform.use_cases.backtest.reference import AMEND, CANCEL, INSERT
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history
from thalex_modular.platform.use_cases.sim_session import CoreParameters
from twins import pure

INSTRUMENT = backtest_instrument("BTC-PERPETUAL")
CALM = TickHistoryConfig(seed=5)
VOLATILE = TickHistoryConfig(seed=7, move_probability=0.8, through_probability=0.4, max_through_ticks=80,
                             half_spread_ticks=3)
EVENTS = 6_000


def _config(chunks: list[np.ndarray], params: CoreParameters, sim: SimMatchConfig | None = None,
            mode: str = "tick") -> BacktestConfig:
    end = int(chunks[-1]["ts_ns"][-1]) + 1
    history = HistoryRange("BTC-PERPETUAL", int(chunks[0]["ts_ns"][0]), end, mode)  # type: ignore[arg-type]
    return BacktestConfig(INSTRUMENT, history, params, sim or SimMatchConfig())


def _both(config: BacktestConfig, chunks: list[np.ndarray], seed: int = 3) -> tuple[BacktestResult, BacktestResult]:
    reference = run_backtest(config, chunks, seed, record_requests=True, driver="reference")
    fast = run_backtest(config, chunks, seed, record_requests=True, driver="fast")
    return reference, fast


def _assert_same(reference: BacktestResult, fast: BacktestResult) -> None:
    for table in ("requests", "fills", "samples"):
        a, b = getattr(reference, table), getattr(fast, table)
        assert a.dtype == b.dtype and len(a) == len(b), table
        for name in a.dtype.names or ():
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{table}.{name}")  # NaN equals NaN
    assert fast.metrics == reference.metrics
    assert round(fast.metrics.pnl_usd, 2) == round(reference.metrics.pnl_usd, 2)


P = CoreParameters()
CASES = {
    "as-default-calm": (CALM, P, None),
    "as-high-gamma-one-level-volatile": (VOLATILE, dataclasses.replace(P, gamma=0.02, level_amounts=(0.01,)), None),
    "as-low-gamma-four-levels": (CALM, dataclasses.replace(P, gamma=0.0005, level_amounts=(0.01, 0.01, 0.02, 0.02),
                                                            amend_tolerance_ticks=0, amount_tolerance=0.0), None),
    "ten-levels-buffers-grow": (CALM, dataclasses.replace(P, gamma=0.001, level_amounts=(0.01,) * 10,
                                                          max_open_orders=40, max_position_underlying=2.0), None),
    "glft-calm": (CALM, dataclasses.replace(P, model="glft", gamma=0.01, arrival_intensity_per_s=2.0), None),
    "glft-volatile": (VOLATILE, dataclasses.replace(P, model="glft", gamma=0.002, level_amounts=(0.02, 0.02)), None),
    "risk-denials": (VOLATILE, dataclasses.replace(P, max_position_underlying=0.03, max_open_orders=3,
                                                   max_notional_usd=3_000.0, max_order_amount=0.02), None),
    "partial-fills": (TickHistoryConfig(seed=9, mean_trade_amount=0.01),
                      dataclasses.replace(P, level_amounts=(0.05, 0.1), max_order_amount=0.2, gamma=0.0005), None),
    "slow-entry-fast-cancel": (CALM, P, SimMatchConfig(order_entry_latency_ns=50_000_000, cancel_latency_ns=1_000_000,
                                                       response_latency_ns=20_000_000, feed_latency_ns=2_000_000)),
    "zero-latency": (VOLATILE, P, SimMatchConfig(order_entry_latency_ns=0, cancel_latency_ns=0,
                                                 response_latency_ns=0, feed_latency_ns=0)),
    "feed-slower-than-response-slippage-2": (VOLATILE, P, SimMatchConfig(feed_latency_ns=30_000_000,
                                                                         response_latency_ns=3_000_000,
                                                                         slippage_ticks=2, maker_fee_bps=-0.5)),
    "funding-moving-rate": (dataclasses.replace(CALM, funding_rate_24h=0.002, funding_step_24h=0.0002), P, None),
    "funding-negative-volatile": (dataclasses.replace(VOLATILE, funding_rate_24h=-0.003, funding_step_24h=0.00005),
                                  dataclasses.replace(P, gamma=0.0005, level_amounts=(0.02, 0.03)), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_drivers_decide_and_book_the_same(case: str) -> None:
    # Arrange
    history, params, sim = CASES[case]
    chunks = list(tick_history(history, EVENTS, 2_500))
    config = _config(chunks, params, sim)
    # Act
    reference, fast = _both(config, chunks)
    # Assert: the case exercises what it names, and the drivers agree on all of it
    assert reference.metrics.fills > 10
    kinds = set(reference.requests["kind"].tolist())
    assert {INSERT, AMEND} <= kinds
    if case == "risk-denials":
        assert reference.metrics.denials > 0 and CANCEL in kinds
    if case == "partial-fills":
        assert (reference.fills["amount"] < 0.05).any()
    if case.startswith("funding"):
        assert reference.metrics.funding_updates > 1_000 and reference.metrics.funding_usd != 0.0
    else:
        assert reference.metrics.funding_updates == 0 and reference.metrics.funding_usd == 0.0
    _assert_same(reference, fast)


def _edge_history() -> np.ndarray:
    """A generated history bent into the cases real data has: trades without a side (at, above, below the mid and
    before any book), one-sided and crossed books, unknown sizes, rows to skip, a long gap, and a funding rate that
    comes and goes (quotes without one keep the last in force)."""
    history = dataclasses.replace(VOLATILE, funding_rate_24h=0.004, funding_step_24h=0.0005)
    events = next(tick_history(history, 8_000, 8_000)).copy()
    rng = np.random.default_rng(1)
    quotes = np.flatnonzero(events["kind"] == QUOTE)
    trades = np.flatnonzero(events["kind"] == TRADE)
    events["side"][trades[rng.random(len(trades)) < 0.3]] = 0
    at_mid = trades[rng.random(len(trades)) < 0.05]
    for row in at_mid.tolist():  # exactly at the mid of the book before it: the seeded coin flip
        before = quotes[quotes < row]
        if len(before):
            q = events[before[-1]]
            events["price"][row] = 0.5 * (q["bid_price"] + q["ask_price"])
            events["side"][row] = 0
    events["side"][trades[:3]] = 0  # before any book
    events["bid_price"][quotes[rng.random(len(quotes)) < 0.03]] = np.nan  # one-sided
    events["ask_amount"][quotes[rng.random(len(quotes)) < 0.05]] = np.nan  # size unknown
    events["mark_price"][quotes[rng.random(len(quotes)) < 0.2]] = np.nan  # no mark: the mid
    crossed = quotes[rng.random(len(quotes)) < 0.03]
    events["ask_price"][crossed] = events["bid_price"][crossed] - 3.0  # a crossed book fills our bids
    empty = quotes[rng.random(len(quotes)) < 0.01]
    events["bid_price"][empty] = np.nan
    events["ask_price"][empty] = np.nan
    events["mark_price"][empty] = np.nan  # nothing to quote on: skipped
    events["amount"][trades[rng.random(len(trades)) < 0.01]] = 0.0  # skipped
    events["funding_rate_24h"][quotes[:40]] = np.nan  # no rate yet: nothing accrues
    events["funding_rate_24h"][quotes[rng.random(len(quotes)) < 0.3]] = np.nan  # the last rate stays in force
    events["index_price"][quotes[rng.random(len(quotes)) < 0.05]] = np.nan
    events["ts_ns"][len(events) // 2:] += 15 * 60 * 10**9  # a quarter of an hour without data
    return events


def test_edge_cases_of_real_data_and_any_chunking_give_the_same_run() -> None:
    # Arrange
    events = _edge_history()
    params = dataclasses.replace(P, max_mark_age_ns=2 * 10**9)
    chunks = np.array_split(events, 7)
    config = _config(chunks, params)
    # Act
    reference, fast = _both(config, chunks, seed=11)
    fast_in_one = run_backtest(config, [events], 11, record_requests=True, driver="fast")
    # Assert
    assert reference.metrics.fills > 10 and reference.metrics.denials > 0 and reference.metrics.funding_usd != 0.0
    _assert_same(reference, fast)
    _assert_same(reference, fast_in_one)


def _received(events: np.ndarray, seed: int) -> np.ndarray:
    """``events`` as a recording has them: quotes reach us 20-150 ms after their exchange time (a throttled ticker
    channel), trades 1-20 ms after, each channel in its own order, so receive order is not exchange order; 2 % of the
    rows without a plausible receive time (before the exchange's or over 1 s after it); merged in receive order."""
    rng = np.random.default_rng(seed)
    is_quote = events["kind"] == QUOTE
    delay = np.where(is_quote, rng.integers(20, 150, len(events)), rng.integers(1, 20, len(events))) * 1_000_000
    received = events["ts_ns"] + delay
    channels = []
    for rows, dtype in ((is_quote, QUOTE_DTYPE), (~is_quote, TRADE_DTYPE)):
        table = np.zeros(int(rows.sum()), dtype=dtype)
        for name in dtype.names or ():
            table[name] = events[rows][name] if name != "local_ns" else np.maximum.accumulate(received[rows])
        clock_errors = rng.random(len(table))
        table["local_ns"][clock_errors < 0.01] = table["ts_ns"][clock_errors < 0.01] - 5_000_000
        table["local_ns"][clock_errors > 0.99] = table["ts_ns"][clock_errors > 0.99] + 2 * 10**9
        channels.append(table)
    return tick_events(*channels)


def test_recorded_receive_times_give_the_same_run_and_are_replayed() -> None:
    # Arrange: events received out of exchange order, some without a receive time, replayed in chunks
    events = _received(next(tick_history(VOLATILE, 8_000, 8_000)), seed=2)
    reordered = int((np.diff(events["ts_ns"]) < 0).sum())
    chunks = np.array_split(events, 5)
    config = _config(chunks, dataclasses.replace(P, gamma=0.005, level_amounts=(0.01, 0.02)))
    # Act
    reference, fast = _both(config, chunks, seed=4)
    on_exchange_time = run_backtest(config, [np.sort(_without_receive_times(events), order="ts_ns", kind="stable")],
                                    4, record_requests=True, driver="fast")
    # Assert: both drivers agree, and the recorded clock changed the run (not exchange time + the feed delay)
    assert reordered > 100 and reference.metrics.fills > 10
    _assert_same(reference, fast)
    first_quote_seen = int(events["local_ns"][(events["kind"] == QUOTE) & (events["local_ns"] > 0)][0])
    assert int(reference.requests["ts_ns"][0]) >= first_quote_seen
    assert len(on_exchange_time.requests) != len(reference.requests) or \
        (on_exchange_time.requests["ts_ns"] != reference.requests["ts_ns"]).any()


def _without_receive_times(events: np.ndarray) -> np.ndarray:
    plain = events.copy()
    plain["local_ns"] = 0
    return plain


def test_fills_settled_out_of_the_loops_buffers_give_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: the fast driver moves fills whose markouts are known out of its buffers 8 at a time (a month's run
    # does it 4,096 at a time), between chunks
    from thalex_modular.platform.use_cases.backtest.fast import driver

    monkeypatch.setattr(driver, "_SETTLE_BLOCK", 8)
    events = _edge_history()
    chunks = np.array_split(events, 12)
    config = _config(chunks, dataclasses.replace(P, max_mark_age_ns=2 * 10**9))
    run = BacktestRun(config, 11, record_requests=True, driver="fast")
    # Act
    for chunk in chunks:
        run.replay(chunk)
    settled = run.driver._settled_count  # type: ignore[union-attr]
    fast = run.finish()
    reference = run_backtest(config, chunks, 11, record_requests=True, driver="reference")
    # Assert
    assert settled > 0 and len(fast.fills) > settled
    _assert_same(reference, fast)


def test_answers_in_flight_when_the_range_ends_are_delivered() -> None:
    # Arrange: a response leg longer than the feed leg delivers a fill 18 ms after the event that made it; the
    # history is cut right after the event that made the 5th fill of the whole history
    sim = SimMatchConfig(response_latency_ns=20_000_000, feed_latency_ns=2_000_000)
    events = next(tick_history(VOLATILE, EVENTS, EVENTS))
    whole = run_backtest(_config([events], P, sim), [events], 3, driver="fast")
    reached_us = int(whole.fills["ts_ns"][4])
    seen = events["ts_ns"] + sim.feed_latency_ns  # no receive times: seen a feed leg after the exchange
    cut = events[seen <= reached_us - 18_000_000]
    config = _config([cut], P, sim)
    # Act
    reference, fast = _both(config, [cut])
    # Assert: the fill that reached us after the last event is booked, in both drivers alike
    assert int(seen[len(cut) - 1]) < reached_us
    assert reached_us in reference.fills["ts_ns"].tolist()
    _assert_same(reference, fast)


def test_bar_mode_gives_the_same_run() -> None:
    # Arrange: 1m bars of generated trades
    events = next(tick_history(VOLATILE, 60_000, 60_000))
    trades = events[events["kind"] == TRADE]
    raw = np.zeros(len(trades), dtype=[("ts_ns", "i8"), ("price", "f8"), ("amount", "f8"), ("side", "i1")])
    for name in ("ts_ns", "price", "amount", "side"):
        raw[name] = trades[name]
    bar_chunk = bar_events(ohlcv_from_trades(raw), 0.05)
    params = dataclasses.replace(P, min_spread_ticks=1, min_edge_bps=0.0, max_mark_age_ns=None)
    config = _config([bar_chunk], params, mode="bar")
    # Act
    reference, fast = _both(config, [bar_chunk])
    # Assert
    assert reference.metrics.fills > 0
    _assert_same(reference, fast)


def test_the_pure_python_twin_of_the_loop_gives_the_compiled_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: the loop and every kernel it calls as uncompiled Python (STYLE: each kernel has its twin)
    from thalex_modular.platform.domain import risk_kernel
    from thalex_modular.platform.domain.market import vol_kernel
    from thalex_modular.platform.domain.sim import match_kernel
    from thalex_modular.platform.use_cases import reconcile_diff, reconcile_kernel
    from thalex_modular.platform.use_cases.backtest.fast import (
        core,
        driver,
        engine,
        fills,
        kappa,
        layout,
        loop,
        quote_memo,
        recording,
        room,
        tracker,
    )
    from thalex_modular.strategies import as_kernel, glft_kernel, ladder_kernel

    twin = pure(loop.replay, loop, recording, room, core, engine, fills, kappa, tracker, layout, quote_memo,
                match_kernel, as_kernel, glft_kernel, ladder_kernel, reconcile_kernel, reconcile_diff, risk_kernel,
                vol_kernel)
    events = _edge_history()[:2_500]
    chunks = np.array_split(events, 2)
    config = _config(chunks, dataclasses.replace(P, gamma=0.01, level_amounts=(0.01, 0.02)))
    compiled = run_backtest(config, chunks, 5, record_requests=True, driver="fast")
    # Act
    monkeypatch.setattr(driver, "replay", twin)
    uncompiled = run_backtest(config, chunks, 5, record_requests=True, driver="fast")
    # Assert
    assert compiled.metrics.fills > 5
    _assert_same(compiled, uncompiled)
