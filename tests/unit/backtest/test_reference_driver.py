"""The reference driver: SimSession replaying a generated history; determinism, accounting, the bar rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thalex_modular.platform.domain.storage import NANOS_PER_MINUTE, ohlcv_from_trades
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    BacktestResult,
    HistoryRange,
    UnknownInstrument,
    backtest_instrument,
    bar_events,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.events import TRADE
from thalex_modular.platform.use_cases.backtest.reference import INSERT
from thalex_modular.platform.use_cases.backtest.runner import BacktestRun
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history
from thalex_modular.platform.use_cases.sim_session import CoreParameters

INSTRUMENT = backtest_instrument("BTC-PERPETUAL")
HISTORY = TickHistoryConfig(seed=5)
EVENTS = 8_000


def _chunks(events: int = EVENTS, chunk: int = 3_000) -> list[np.ndarray]:
    return list(tick_history(HISTORY, events, chunk))


def _config(chunks: list[np.ndarray], mode: str = "tick", **params: object) -> BacktestConfig:
    end = int(chunks[-1]["ts_ns"][-1]) + 1
    history = HistoryRange("BTC-PERPETUAL", int(chunks[0]["ts_ns"][0]), end, mode)  # type: ignore[arg-type]
    return BacktestConfig(INSTRUMENT, history, dataclasses.replace(CoreParameters(), **params))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tick_run() -> tuple[BacktestResult, BacktestRun]:
    chunks = _chunks()
    run = BacktestRun(_config(chunks), seed=3, record_requests=True, driver="reference")
    for chunk in chunks:
        run.replay(chunk)
    return run.finish(), run


def test_a_rerun_with_the_same_seed_is_identical_and_chunking_does_not_matter(
    tick_run: tuple[BacktestResult, BacktestRun],
) -> None:
    # Act: the same history cut into other chunks
    first, _ = tick_run
    recut = np.array_split(np.concatenate(_chunks()), 7)
    again = run_backtest(_config(_chunks()), recut, seed=3, record_requests=True)
    # Assert
    assert first.metrics.fills > 20
    assert again.run_id == first.run_id
    assert again.metrics == dataclasses.replace(first.metrics)
    assert again.fills.tobytes() == first.fills.tobytes()
    assert again.requests.tobytes() == first.requests.tobytes()


def test_pnl_matches_the_state_trackers_books_to_the_cent(tick_run: tuple[BacktestResult, BacktestRun]) -> None:
    # Arrange
    result, run = tick_run
    summary = run.driver.session.summary()
    m = result.metrics
    # Assert: the recorder's cash + position x mark - fees is what the live tracker books (FIFO, fees charged)
    assert m.pnl_usd == pytest.approx(summary.total_pnl_usd, abs=0.005)
    assert m.fees_usd == pytest.approx(summary.stats.fees_usd, abs=0.005)
    assert m.position_final == pytest.approx(result.fills["side"] @ result.fills["amount"], abs=1e-9)
    assert m.fills == summary.stats.fills
    # the decomposition adds up
    assert m.spread_capture_usd + m.inventory_pnl_usd - m.fees_usd + m.funding_usd == pytest.approx(m.pnl_usd)
    assert m.inventory_max_abs <= CoreParameters().max_position_underlying + 1e-9


def test_fills_markouts_and_samples_are_recorded(tick_run: tuple[BacktestResult, BacktestRun]) -> None:
    result, _ = tick_run
    m = result.metrics
    assert 0.0 < m.fill_ratio <= 1.0
    assert m.inserts == int((result.requests["kind"] == INSERT).sum()) > 0
    assert not np.isnan(result.fills["mid_1s"][:-5]).any()
    assert np.isfinite([m.markout_1s_bps, m.markout_10s_bps, m.max_drawdown_usd, m.inventory_std]).all()
    assert 0.9 < m.quote_uptime <= 1.0 and m.mqp_score > 0
    assert np.all(np.diff(result.samples["ts_ns"]) == 10**9)  # a 1 s grid on a short range


def test_risk_denials_are_counted_when_orders_exceed_the_limit() -> None:
    # Arrange: levels of 0.03 against a max order amount of 0.02 -> the third level is denied each time
    chunks = _chunks(3_000)
    config = _config(chunks, max_order_amount=0.02)
    # Act
    result = run_backtest(config, chunks, seed=1, record_requests=True)
    # Assert
    assert result.metrics.denials > 0
    assert (result.requests["amount"][result.requests["kind"] == INSERT] <= 0.02 + 1e-12).all()


def test_bar_mode_fills_only_strictly_through_at_our_price_within_the_volume_share() -> None:
    # Arrange: 1m bars of the generated trades
    chunks = _chunks(40_000, 40_000)
    events = chunks[0]
    trades = events[events["kind"] == TRADE]
    raw = np.zeros(len(trades), dtype=[("ts_ns", "i8"), ("price", "f8"), ("amount", "f8"), ("side", "i1")])
    for name in ("ts_ns", "price", "amount", "side"):
        raw[name] = trades[name]
    bars = ohlcv_from_trades(raw)
    share = 0.05
    bar_chunk = bar_events(bars, share)
    config = _config([bar_chunk], "bar", min_spread_ticks=1, min_edge_bps=0.0, max_mark_age_ns=None)
    config = dataclasses.replace(config, history=dataclasses.replace(config.history, bar_volume_share=share))
    # Act
    result = run_backtest(config, [bar_chunk], seed=1)
    # Assert: every fill lies inside a bar that traded strictly through it, each side within the share
    fills = result.fills
    assert len(fills) > 0
    bar_of = (fills["ts_ns"] - config.sim.feed_latency_ns) // NANOS_PER_MINUTE * NANOS_PER_MINUTE
    by_start = {int(b["ts_ns"]): b for b in bars}
    for side in (1, -1):
        mine = fills[fills["side"] == side]
        for start in np.unique(bar_of[fills["side"] == side]):
            bar = by_start[int(start)]
            in_bar = mine[bar_of[fills["side"] == side] == start]
            if side == 1:
                assert (in_bar["price"] >= bar["low"] + INSTRUMENT.tick_size).all()
            else:
                assert (in_bar["price"] <= bar["high"] - INSTRUMENT.tick_size).all()
            assert in_bar["amount"].sum() <= bar["volume"] * share + 1e-9
    assert (fills["maker"] == 1).all()


def test_unknown_instruments_are_refused_with_what_is_known() -> None:
    with pytest.raises(UnknownInstrument, match="BTC-PERPETUAL"):
        backtest_instrument("DOGE-PERPETUAL")
    with pytest.raises(UnknownInstrument, match="options are not backtested"):
        backtest_instrument("BTC-27DEC24-70000-C")
    assert backtest_instrument("ETH-27DEC24").expiry_ns is not None
