"""A shadow session on the REAL emulator, its market data recorded to storage, then backtested: the backtest quotes
what the session quoted, and fills what it filled within the latency model's tolerance (issue: one semantics)."""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import defaultdict
from pathlib import Path

from exchange_kit import NAME, EmulatorFactory, eventually, run_config
from thalex_modular.deployment.core_settings import core_parameters, sim_match_config
from thalex_modular.deployment.instrument_runtime import build_runtime
from thalex_modular.platform.adapters.storage.factory import make_storage
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, Ticker, Trade
from thalex_modular.platform.domain.enums import ChangeReason
from thalex_modular.platform.domain.storage import Record, TradeSequencer, quote_record
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    BacktestResult,
    HistoryRange,
    backtest_from_storage,
)
from thalex_modular.platform.use_cases.backtest.reference import AMEND, INSERT

#: How far apart in time the same quote may be sent by the session (wall clock) and by the backtest (each event
#: at its recorded receive time): the asyncio session's scheduling against the simulated clock's exact legs.
QUOTE_TOLERANCE_NS = 300_000_000
#: The share of quotes the other side sent too, at a price within the amend tolerance (the reconciler leaves an
#: order that close alone, so two ladders that close are the same quotes to it). Not all: the backtest sees every
#: event when the session received it and decides at once; the session decided when its loop got to it (10-40 ms
#: later on a loaded 2-core box, 150 ms for the first tickers). The decision time moves the kappa sampler's cut-off
#: (prints wait for our own fills before they count) and can reorder a ticker and a fill answer near it; the ladders
#: then differ by a tick or two until the next requote. Measured (2 sessions, 2026-12-08): 6-8 % of quotes
#: unmatched at 300 ms, the same whether events are replayed at their receive times or at exchange time + the
#: median feed delay (the emulator's feed is ~1 ms: its receive order is its exchange order).
QUOTE_SHARE = 0.8
#: A fill of the session is matched by the backtest's of the same side, price and amount this close in time.
FILL_TOLERANCE_NS = 500_000_000
#: The session goes on this long after its last fill (s), so the recording covers the quotes and fills compared.
TAIL_S = 1.0
#: The share of the session's fills the backtest makes too (same side and amount, the price within the amend
#: tolerance: the order that filled is the quote, as close as the quotes are; time within FILL_TOLERANCE_NS).
FILL_SHARE = 0.6


class Recorded:
    """What the session saw (MarketRecorder) and did (SessionJournal), as the persistence path converts it."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.quotes: list[Row] = []  # (ts_local_ns, side, price, amount) acknowledged
        self.fills: list[Row] = []  # (ts_local_ns, side, price, amount)
        self._trades = TradeSequencer()
        self._quote_seq = TradeSequencer()

    def ticker(self, ticker: Ticker) -> None:
        self.records.append(quote_record(ticker, self._quote_seq.next_seq(ticker.instrument_name,
                                                                          ticker.ts_exchange_ns)))

    def public_trade(self, trade: Trade) -> None:
        self.records.append(self._trades.record(trade))

    def order(self, update: OrderUpdate) -> None:
        if update.change_reason in (ChangeReason.INSERT, ChangeReason.AMEND) and update.price is not None:
            self.quotes.append((update.ts_local_ns, update.side.sign, update.price, update.amount))

    def trade(self, fill: Fill) -> None:
        self.fills.append((fill.ts_local_ns, fill.side.sign, fill.price, fill.amount))


def _backtest_quotes(result: BacktestResult) -> list[Row]:
    """(ts_ns, side, price, amount) of the backtest's inserts and amends (an amend's side is its insert's)."""
    sides: dict[int, int] = {}
    out = []
    for row in result.requests:
        kind, cid = int(row["kind"]), int(row["client_order_id"])
        if kind == INSERT:
            sides[cid] = int(row["side"])
        if kind in (INSERT, AMEND):
            out.append((int(row["ts_ns"]), sides[cid], float(row["price"]), float(row["amount"])))
    return out


Row = tuple[int, int, float, float]  # (ts_ns, side, price USD, amount)


def _unmatched(wanted: list[Row], have: list[Row], tolerance_ns: int, price_tolerance_usd: float = 0.0) -> list[Row]:
    """The rows of ``wanted`` that ``have`` does not hold with the same side and amount, a price within
    ``price_tolerance_usd`` and a time within ``tolerance_ns``; each row of ``have`` used once."""
    by_key: dict[tuple[int, float], list[tuple[int, float]]] = defaultdict(list)
    for ts, side, price, amount in have:
        by_key[(side, round(amount, 9))].append((ts, price))
    for rows in by_key.values():
        rows.sort()
    missing = []
    for row in wanted:
        ts, side, price, amount = row
        rows = by_key.get((side, round(amount, 9)), [])
        i = bisect.bisect_left(rows, (ts - tolerance_ns, -math.inf))
        while i < len(rows) and rows[i][0] <= ts + tolerance_ns:
            if abs(rows[i][1] - price) <= price_tolerance_usd + 1e-9:
                del rows[i]
                break
            i += 1
        else:
            missing.append(row)
    return missing


def _assert_mostly_in(wanted: list[Row], have: list[Row], tolerance_ns: int, share: float, what: str,
                      price_tolerance_usd: float = 0.0) -> None:
    missing = _unmatched(wanted, have, tolerance_ns, price_tolerance_usd)
    assert len(missing) <= (1.0 - share) * len(wanted), (
        f"{len(missing)} of {len(wanted)} {what} not matched: {missing[:10]}; "
        f"near the first: {[r for r in have if abs(r[0] - missing[0][0]) < 10**9][:12]}"
    )


async def test_a_recorded_shadow_session_backtests_to_the_same_quotes_and_fills(
    start_emulator: EmulatorFactory, tmp_path: Path,
) -> None:
    # Arrange: shadow quoting on the emulator in real time (exchange clock = wall clock), recording what it sees
    server = await start_emulator(speed=1.0, start_time_s=time.time())
    recorded = Recorded()
    config = run_config(server, "shadow")
    runtime = await build_runtime(config, journal=recorded, market=recorded)
    instrument = runtime.service.core.instrument
    try:
        await eventually(lambda: len(recorded.fills) >= 3 and len(recorded.quotes) >= 20, timeout_s=90.0)
        await asyncio.sleep(TAIL_S)
    finally:
        await runtime.stop()
    storage = make_storage(tmp_path / "recorded.duckdb")
    await storage.open()
    try:
        await storage.write(recorded.records)
        start_ns = min(r.ts_ns for r in recorded.records)
        end_ns = max(r.ts_ns for r in recorded.records) + 1
        backtest = BacktestConfig(instrument, HistoryRange(NAME, start_ns, end_ns), core_parameters(config),
                                  sim_match_config(config.shadow))

        # Act: the recording backtested (the feed leg measured from the data's two clocks)
        result = await backtest_from_storage(storage, backtest, record_requests=True)
    finally:
        await storage.close()

    # Assert: the same quotes (side, price, amount) at the same times, both ways
    session_quotes = [q for q in recorded.quotes if q[0] < end_ns]
    replayed = _backtest_quotes(result)
    assert len(session_quotes) >= 20 and replayed
    near_usd = config.strategy.amend_tolerance_ticks * instrument.tick_size
    _assert_mostly_in(session_quotes, replayed, QUOTE_TOLERANCE_NS, QUOTE_SHARE, "session quotes", near_usd)
    _assert_mostly_in(replayed, session_quotes, QUOTE_TOLERANCE_NS, QUOTE_SHARE, "backtest quotes", near_usd)
    # and the session's fills, within the latency tolerance
    replayed_fills = [(int(f["ts_ns"]), int(f["side"]), float(f["price"]), float(f["amount"])) for f in result.fills]
    session_fills = [f for f in recorded.fills if f[0] < end_ns]
    _assert_mostly_in(session_fills, replayed_fills, FILL_TOLERANCE_NS, FILL_SHARE, "session fills", near_usd)
    assert abs(len(replayed_fills) - len(session_fills)) <= max(1, len(session_fills) * 3 // 10)
    # the perpetual's tickers carried its funding rate and index: the replay books funding on what it held
    assert result.metrics.funding_updates > 0 and "accrued on the position" in result.funding_note
