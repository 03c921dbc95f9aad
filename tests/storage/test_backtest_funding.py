"""Perpetual funding end to end: tickers recorded with a funding rate and index (the recorder's sink and write
buffer), stored, read back chunk by chunk and backtested: the run books the funding the emulator's formula gives
on the position it held, to the cent, on both stores and with both drivers; without funding data it books 0 and
says the data had none."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest
from storage_kit import Backend, Store

from thalex_modular.deployment import backtest_cli, data_cli
from thalex_modular.deployment.cli_errors import run_handler
from thalex_modular.deployment.data_record import RecordCounts, RecordingSink
from thalex_modular.platform.adapters.storage.buffer import WriteBuffer
from thalex_modular.platform.domain.entities import Ticker, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.storage import TradeSequencer
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    HistoryRange,
    backtest_from_storage,
    backtest_instrument,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.events import QUOTE
from thalex_modular.platform.use_cases.backtest.funding import DAY_NS
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history

NAME = "BTC-PERPETUAL"
START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
#: ~1,000 s of history: 4,000 events 250 ms apart on average
HISTORY = TickHistoryConfig(seed=9, start_ns=START_S * 10**9, mean_gap_ms=250.0)
FEED_NS = 2_000_000
RATE_24H = 0.1  # 10 % of the index per day: large, so the funding of ~1,000 s is dollars, not cents
INDEX_USD = 99_950.0


def _none_if_nan(value: float) -> float | None:
    return None if value != value else value


async def _record(store: Store, spill: Path, *, funding: bool) -> np.ndarray:
    """The generated history through the recorder's sink into ``store``: tickers carry ``RATE_24H`` and
    ``INDEX_USD`` when ``funding``. Returns the events (without funding columns set: as the replay would see them
    without funding data)."""
    events = np.concatenate(list(tick_history(HISTORY, 4_000)))
    buffer = WriteBuffer(store, spill)
    sink = RecordingSink(buffer, RecordCounts(), TradeSequencer(), TradeSequencer())
    for ts, kind, side, bp, ba, ap, aa, mk, px, amt, _, _, _ in events.tolist():
        if kind == QUOTE:
            sink.on_ticker(Ticker(
                NAME, mk, ts, ts + FEED_NS, best_bid_price=_none_if_nan(bp), best_bid_amount=_none_if_nan(ba),
                best_ask_price=_none_if_nan(ap), best_ask_amount=_none_if_nan(aa),
                index=INDEX_USD if funding else None, funding_rate=RATE_24H if funding else None,
            ))
        else:
            sink.on_trade(Trade(NAME, px, amt, Side.BUY if side > 0 else Side.SELL, ts, ts + FEED_NS))
    await buffer.stop()
    assert buffer.written == len(events) and buffer.spilled == 0
    return events


def _config(events: np.ndarray) -> BacktestConfig:
    history = HistoryRange(NAME, HISTORY.start_ns, int(events["ts_ns"][-1]) + 1, "tick", chunk_ns=60 * 10**9)
    return BacktestConfig(backtest_instrument(NAME), history)


def _formula_usd(fills: np.ndarray, start_ns: int, end_ns: int, rate_24h: float = RATE_24H,
                 index_usd: float = INDEX_USD) -> float:
    """The emulator's accrual written plainly: -position x rate x index x dt / 1 day over each interval between
    our fills (the position the recorder books: the running sum of signed fill amounts), from the first ticker
    with a rate to the last event, both on our clock."""
    total = []
    position, t = 0.0, start_ns
    for ts, side, amount in zip(fills["ts_ns"].tolist(), fills["side"].tolist(), fills["amount"].tolist(),
                                strict=True):
        total.append(-position * rate_24h * index_usd * (ts - t) / DAY_NS)
        position, t = position + side * amount, ts
    total.append(-position * rate_24h * index_usd * (end_ns - t) / DAY_NS)
    return math.fsum(total)


@pytest.mark.parametrize("driver", ["fast", "reference"])
async def test_recorded_funding_is_booked_as_the_formula_says_on_the_position_held(
    store: Store, tmp_path: Path, driver: str
) -> None:
    # Arrange: recorded tickers with a constant funding rate and index
    events = await _record(store, tmp_path / "spill", funding=True)
    config = _config(events)
    # Act: the stored history, chunk by chunk; the same market without funding data, in memory
    stored = await backtest_from_storage(store, config, seed=2, driver=driver)
    without = run_backtest(config, [events], seed=2, feed_latency_ns=FEED_NS, driver=driver)
    # Assert: funding is the formula's on the position the run held
    m = stored.metrics
    first_quote_ns = int(events["ts_ns"][events["kind"] == QUOTE][0]) + FEED_NS
    expected = _formula_usd(stored.fills, first_quote_ns, int(events["ts_ns"][-1]) + FEED_NS)
    assert m.fills > 20 and abs(expected) > 1.0
    assert abs(m.funding_usd - expected) < 0.005
    assert m.funding_updates == int((events["kind"] == QUOTE).sum())
    assert "accrued on the position" in stored.funding_note
    # funding is cash: the same decisions and fills, the PnL moved by the funding, the decomposition adds up
    assert stored.fills.tobytes() == without.fills.tobytes() and without.metrics.funding_usd == 0.0
    assert abs(m.pnl_usd - (without.metrics.pnl_usd + m.funding_usd)) < 0.005
    assert abs(m.spread_capture_usd + m.inventory_pnl_usd - m.fees_usd + m.funding_usd - m.pnl_usd) < 1e-6
    assert m.inventory_pnl_usd == pytest.approx(without.metrics.inventory_pnl_usd, abs=1e-6)
    # the equity samples include the funding accrued by their time: none before a position, the run's total at the
    # last one (less < 1 s of accrual, a few cents at most)
    moved = stored.samples["equity_usd"] - without.samples["equity_usd"]
    assert moved[0] == 0.0 and abs(moved[-1] - m.funding_usd) < 0.05
    assert "no funding rate" in without.funding_note


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="platform")
    backtest_cli.register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(["backtest", *argv])
    return int(args.handler(args))


@pytest.mark.parametrize("funding", [True, False])
async def test_the_summary_says_what_funding_rests_on(
    backend: Backend, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], funding: bool
) -> None:
    # Arrange
    await _record(store, tmp_path / "spill", funding=funding)
    out_json = tmp_path / "bt.json"
    # Act
    code = await asyncio.to_thread(run_cli, ["--instrument", NAME, "--from", "2025-01-01", "--to", "2025-01-02",
                                             "--json", str(out_json), *backend.cli_args()])
    # Assert: with data, the funding and its source; without, 0 and that the data had none (never a silent 0)
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out_json.read_text())
    if funding:
        assert doc["metrics"]["funding_usd"] != 0.0 and doc["metrics"]["funding_updates"] > 1_000
        assert "funding: accrued on the position from" in out
    else:
        assert doc["metrics"]["funding_usd"] == 0.0 and doc["metrics"]["funding_updates"] == 0
        assert "funding: the history carries no funding rate or index: funding_usd = 0, not estimated" in out
    assert doc["funding_note"] in out
    assert f"funding_usd={doc['metrics']['funding_usd']:.2f}" in out


def _tardis_files(events: np.ndarray, folder: Path, rate_8h: float) -> list[str]:
    """The history as Tardis CSVs (µs stamps, received 2 ms later) and a derivative_ticker file with the rate (per
    8 h) and index every minute from 1 s before the first event."""
    quotes = ["exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"]
    trades = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for ts, kind, side, bp, ba, ap, aa, _, px, amt, _, _, _ in events.tolist():
        us, local_us = ts // 1_000, ts // 1_000 + 2_000
        if kind == QUOTE:
            quotes.append(f"deribit,{NAME},{us},{local_us},{aa!r},{ap!r},{bp!r},{ba!r}")
        else:
            trades.append(f"deribit,{NAME},{us},{local_us},,{'buy' if side > 0 else 'sell'},{px!r},{amt!r}")
    first_us = int(events["ts_ns"][0]) // 1_000 - 1_000_000
    funding = ["exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
               "open_interest,last_price,index_price,mark_price"]
    for minute in range(int((events["ts_ns"][-1] - events["ts_ns"][0]) // (60 * 10**9)) + 2):
        us = first_us + minute * 60_000_000
        funding.append(f"deribit,{NAME},{us},{us + 500},,{rate_8h!r},,,,{INDEX_USD!r},")
    paths = []
    for name, lines in (("quotes", quotes), ("trades", trades), ("derivative_ticker", funding)):
        path = folder / f"deribit_{name}_2025-01-01_{NAME}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def _data_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="platform")
    data_cli.register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return run_handler(args.handler, args)


async def test_tardis_funding_imported_per_8_hours_is_booked_per_24_hours(backend: Backend, store: Store,
                                                                        tmp_path: Path) -> None:
    # Arrange: Tardis quotes, trades and a derivative_ticker file at 0.01 % per 8 h (= 0.03 % per 24 h: x 3)
    events = np.concatenate(list(tick_history(HISTORY, 4_000)))
    quotes, trades, funding = _tardis_files(events, tmp_path, 0.01)
    store_args = backend.cli_args()
    # Act: the imports as a user runs them, then the backtest of the store
    assert await asyncio.to_thread(_data_cli, ["data", "import", "--kind", "trades", trades, *store_args]) == 0
    assert await asyncio.to_thread(_data_cli, ["data", "import", "--kind", "quotes", "--funding", funding, quotes,
                                               *store_args]) == 0
    result = await backtest_from_storage(store, _config(events), seed=2)
    # Assert: the rate per 24 h (x 24 / 8) times the index on the position held, to the cent
    m = result.metrics
    us_quotes = events["ts_ns"][events["kind"] == QUOTE] // 1_000 * 1_000
    feed = round(m.feed_latency_ms * 1e6)
    expected = _formula_usd(result.fills, int(us_quotes[0]) + feed, int(events["ts_ns"][-1]) // 1_000 * 1_000 + feed,
                            rate_24h=0.01 * 3.0, index_usd=INDEX_USD)
    assert feed == 2_000_000 and m.fills > 20 and abs(expected) > 0.5
    assert abs(m.funding_usd - expected) < 0.005
    assert m.funding_updates == len(us_quotes)
