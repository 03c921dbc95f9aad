"""One suite over both adapters: migrations, exact round trips, idempotent replays, the 1m rollup."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from storage_kit import T0, Backend, Store, StoreFactory, random_trades

from thalex_modular.platform.domain.storage import (
    TRADE_DTYPE,
    BacktestRun,
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    QuoteRecord,
    StorageError,
    StorageUnavailable,
    SweepStudy,
    ohlcv_from_trades,
)

NAME = "BTC-PERPETUAL"
END = 2**62


async def test_migrations_are_idempotent(store_factory: StoreFactory) -> None:
    # Arrange: the first open applied migration 1
    first = await store_factory()
    # Act: migrate again, and open a second store on the same location
    again = await first.migrate()
    second = await store_factory()
    # Assert: nothing more applied; the bookkeeping row exists once
    assert again == []
    assert await second.migrate() == []
    assert await first.count("trades") == 0
    rows = await (first.fetch_rows("backtest_runs"))
    assert rows == []


async def test_trades_round_trip_exact(store: Store) -> None:
    trades = random_trades(2_000)
    assert await store.write(trades) == 2_000
    got = await store.read_trades(NAME, 0, END)
    assert got.dtype == TRADE_DTYPE
    expected = sorted(trades, key=lambda t: (t.ts_ns, t.seq))
    assert got["ts_ns"].tolist() == [t.ts_ns for t in expected]
    assert got["price"].tolist() == [t.price for t in expected]
    assert got["amount"].tolist() == [t.amount for t in expected]
    assert got["side"].tolist() == [t.side for t in expected]
    assert got["local_ns"].tolist() == [t.ts_local_ns for t in expected]
    # a range read is [start, end)
    mid = expected[1000].ts_ns
    part = await store.read_trades(NAME, mid, END)
    assert part["ts_ns"].min() == mid and len(part) == sum(t.ts_ns >= mid for t in trades)
    assert len(await store.read_trades("ETH-PERPETUAL", 0, END)) == 0
    assert await store.instruments("trades") == [NAME]
    assert await store.span("trades", NAME) == (expected[0].ts_ns, expected[-1].ts_ns)


async def test_replay_adds_nothing(store: Store) -> None:
    trades = random_trades(1_500, seed=3)
    await store.write(trades[:1_000])
    # overlapping replay: 500 already stored + 500 new, and duplicates inside one batch
    added = await store.write(trades[500:] + trades[1_200:1_300])
    assert added == 500
    assert await store.count("trades") == 1_500
    assert await store.write(trades) == 0


async def test_other_records_round_trip(store: Store) -> None:
    quote = QuoteRecord(NAME, T0, 0, 99_999.5, 1.25, math.nan, math.nan, 100_000.0, T0 + 5, T0)
    order = OrderRecord("ord-1", T0, "insert", "open", 101, NAME, 1, 99_990.0, 0.5, 0.0, T0 + 1, "mm")
    order_no_cid = OrderRecord("ord-2", T0, "insert", "open", None, NAME, -1, math.nan, 0.2, 0.0, T0 + 1, "")
    fill = FillRecord("tr-1", T0 + 9, "ord-1", 101, NAME, 1, 99_990.0, 0.1, "maker", -0.25, T0 + 10)
    pos = PositionRecord("shadow", NAME, T0, 0.1, 99_990.0, 0.0, 1.0, 100_000.0)
    eq = EquityRecord("shadow", T0, 10_001.0, 0.0, 1.0)
    records = [quote, order, order_no_cid, fill, pos, eq]
    assert await store.write(records) == 6
    assert await store.write(records) == 0
    q = (await store.read_quotes(NAME, 0, END))[0]
    assert (q["ts_ns"], q["bid_price"], q["bid_amount"], q["mark_price"]) == (T0, 99_999.5, 1.25, 100_000.0)
    assert q["local_ns"] == T0 + 5  # our receive time: a backtest replays the quote then
    assert math.isnan(q["ask_price"]) and math.isnan(q["ask_amount"])
    orders = await store.fetch_rows("orders")
    assert orders[0] == tuple(getattr(order, f) for f in order.__struct_fields__)
    assert orders[1][4] is None and math.isnan(orders[1][7])
    assert await store.fetch_rows("fills") == [tuple(getattr(fill, f) for f in fill.__struct_fields__)]
    assert await store.fetch_rows("positions") == [tuple(getattr(pos, f) for f in pos.__struct_fields__)]
    assert await store.fetch_rows("equity") == [tuple(getattr(eq, f) for f in eq.__struct_fields__)]


async def test_runs_and_studies(store: Store) -> None:
    run = BacktestRun(run_id="abc", created_ns=T0, strategy="avellaneda", config_json='{"gamma": 0.1}',
                      data_start_ns=T0, data_end_ns=T0 + 10, study_name="s1")
    await store.save_run(run)
    assert await store.get_run("abc") == run
    done = BacktestRun(run_id="abc", created_ns=T0, strategy="avellaneda", config_json='{"gamma": 0.1}',
                       data_start_ns=T0, data_end_ns=T0 + 10, study_name="s1", finished_ns=T0 + 99,
                       metrics={"pnl_usd": 12.5, "sharpe": 1.25})
    await store.save_run(done)
    assert await store.get_run("abc") == done
    assert await store.get_run("nope") is None
    study = SweepStudy(study_name="s1", created_ns=T0, config_json="{}")
    await store.save_study(study)
    best = SweepStudy(study_name="s1", created_ns=T0, config_json="{}", best_run_id="abc", best_value=12.5)
    await store.save_study(best)
    assert await store.get_study("s1") == best
    assert await store.count("backtest_runs") == 1


async def assert_bars_match_stored_trades(store: Store, name: str, min_bars: int) -> None:
    """The stored 1m bars of ``name`` equal a numpy OHLCV of its stored trades: OHLC, counts and minute starts
    exactly, volume up to summation order."""
    bars = await store.read_ohlcv_1m(name, 0, END)
    expected = ohlcv_from_trades(await store.read_trades(name, 0, END))
    assert len(bars) == len(expected) >= min_bars
    for field in ("ts_ns", "open", "high", "low", "close", "trades"):
        assert bars[field].tolist() == expected[field].tolist(), field
    np.testing.assert_allclose(bars["volume"], expected["volume"], rtol=1e-12)


async def test_rollup_matches_numpy(store: Store) -> None:
    # Arrange: three batches whose minutes overlap (a minute's bar is rebuilt when later trades arrive)
    trades = random_trades(3_000, seed=7) + random_trades(500, seed=8, name="ETH-PERPETUAL")
    for lo, hi in ((0, 1_100), (1_050, 2_200), (2_000, 3_500)):
        await store.write(trades[lo:hi])
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        await assert_bars_match_stored_trades(store, name, min_bars=3)
    # the reference itself, on hand-made trades
    tiny = np.array([(60_000_000_000, 10.0, 1.0, 1, 0), (60_000_000_001, 12.0, 2.0, -1, 0),
                     (119_999_999_999, 9.0, 1.0, 1, 0), (120_000_000_000, 11.0, 0.5, 1, 0)], dtype=TRADE_DTYPE)
    ref = ohlcv_from_trades(tiny)
    assert ref.tolist() == [(60_000_000_000, 10.0, 12.0, 9.0, 9.0, 4.0, 3), (120_000_000_000, 11.0, 11.0, 11.0, 11.0,
                                                                             0.5, 1)]


async def test_bad_arguments_and_closed_store(store: Store, backend: Backend) -> None:
    with pytest.raises(ValueError, match="end_ns must be >= start_ns"):
        await store.read_trades(NAME, 10, 5)
    with pytest.raises(StorageError, match="table must be one of"):
        await store.count("users; drop table trades")
    await store.close()
    with pytest.raises(StorageUnavailable):
        await store.write(random_trades(3))
    assert backend.kind in ("embedded", "postgres")


async def test_a_new_batch_with_duplicates_inside_is_stored_once(store: Store) -> None:
    # Arrange: nothing stored yet, so the batch takes the append path, whose plain insert meets its own twins
    trades = random_trades(400, seed=11)
    # Act
    added = await store.write(trades + trades[100:150])
    # Assert: the fallback to the idempotent insert kept one copy of each
    assert added == 400
    assert await store.count("trades") == 400


async def test_concurrent_writers_of_the_same_new_batch_store_it_once(store: Store) -> None:
    # Arrange
    trades = random_trades(2_000, seed=12)
    # Act: both see an empty time range; the second plain insert must fall back, not fail
    added = await asyncio.gather(store.write(trades), store.write(trades))
    # Assert
    assert sum(added) == 2_000
    assert await store.count("trades") == 2_000


async def test_rollup_of_appended_batches_matches_numpy(store: Store) -> None:
    # Arrange: back-to-back appends; each batch boundary falls inside a minute, whose bar both batches feed
    trades = random_trades(3_000, seed=9)
    # Act
    for lo in range(0, 3_000, 700):
        await store.write(trades[lo : lo + 700])
    await store.write(random_trades(300, seed=10, name="ETH-PERPETUAL", start_ns=trades[-1].ts_ns + 1))
    # Assert
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        bars = await store.read_ohlcv_1m(name, 0, END)
        expected = ohlcv_from_trades(await store.read_trades(name, 0, END))
        assert len(bars) == len(expected) >= 2
        for field in ("ts_ns", "open", "high", "low", "close", "trades"):
            assert bars[field].tolist() == expected[field].tolist(), field
        np.testing.assert_allclose(bars["volume"], expected["volume"], rtol=1e-12)


async def test_rollup_of_a_mixed_unordered_appended_batch_matches_numpy(store: Store) -> None:
    # Arrange: two instruments over the same hours; what is stored ends inside a minute, the new batch (both
    # instruments, shuffled) starts in that minute and spans many more
    trades = random_trades(2_000, seed=13) + random_trades(1_500, seed=14, name="ETH-PERPETUAL")
    cut = T0 + 200 * 10**9 + 7
    await store.write([t for t in trades if t.ts_ns < cut])
    batch = [t for t in trades if t.ts_ns >= cut]
    np.random.default_rng(3).shuffle(batch)
    # Act
    added = await store.write(batch)
    # Assert
    assert added == len(batch)
    for name in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        await assert_bars_match_stored_trades(store, name, min_bars=5)
