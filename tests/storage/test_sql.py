"""SQL the PostgreSQL adapter generates (TimescaleDB path: checked, not run — the extension is not installed
here), the binary COPY decoder, and record helpers."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from storage_kit import T0

from stubs import ticker
from thalex_modular.platform.adapters.storage.migrations import (
    MIGRATIONS,
    pending,
    v0001_initial,
    v0003_key_served_market_data,
)
from thalex_modular.platform.adapters.storage.postgres import decode_binary_copy, partition_name, partition_sql
from thalex_modular.platform.adapters.storage.schema import NANOS_PER_DAY, rollup_sql
from thalex_modular.platform.domain.entities import Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.storage import TRADE_DTYPE, StorageError, TradeSequencer, quote_record


def test_timescale_layout_sql() -> None:
    sql = v0001_initial.postgres(timescale=True)
    text = "\n".join(sql)
    assert "create_hypertable('trades', 'ts_ns', chunk_time_interval => 86400000000000::BIGINT" in text
    assert "create_hypertable('quotes'" in text and "set_integer_now_func('trades', 'unix_now_ns'" in text
    assert "CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1m WITH (timescaledb.continuous" in text
    assert "time_bucket(60000000000::BIGINT, ts_ns) AS ts_ns" in text and "add_continuous_aggregate_policy" in text
    assert "PARTITION BY" not in text and "'timescale'" in text
    # the cagg exposes the same columns the read query selects
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert f"AS {col}" in text


def test_native_layout_sql() -> None:
    text = "\n".join(v0001_initial.postgres(timescale=False))
    assert "CREATE TABLE IF NOT EXISTS trades (" in text and "PARTITION BY RANGE (ts_ns)" in text
    assert "CREATE INDEX IF NOT EXISTS trades_ts_brin ON trades USING brin (ts_ns)" in text
    assert "timescaledb" not in text and "'native'" in text
    assert "CREATE TABLE IF NOT EXISTS ohlcv_1m" in text


def test_migration_3_drops_only_the_market_data_brin_on_both_layouts() -> None:
    expected = ["DROP INDEX IF EXISTS trades_ts_brin", "DROP INDEX IF EXISTS quotes_ts_brin"]
    assert v0003_key_served_market_data.postgres(timescale=True) == expected
    assert v0003_key_served_market_data.postgres(timescale=False) == expected


def test_partition_naming_and_bounds() -> None:
    day = T0 // NANOS_PER_DAY
    assert partition_name("trades", day) == "trades_p20231114"
    assert partition_sql("trades", day) == (
        f"CREATE TABLE IF NOT EXISTS trades_p20231114 PARTITION OF trades FOR VALUES FROM ({day * NANOS_PER_DAY}) "
        f"TO ({(day + 1) * NANOS_PER_DAY})"
    )
    assert "ON CONFLICT (instrument_name, ts_ns) DO UPDATE" in rollup_sql("_stg_trades")


def test_pending_migrations_in_order() -> None:
    assert [m.version for m in pending(set())] == [m.version for m in MIGRATIONS]
    assert pending({m.version for m in MIGRATIONS}) == []


def _copy_payload(rows: list[tuple[int, float, float, int, int]]) -> bytes:
    body = b"".join(struct.pack(">hiqididihiq", 5, 8, ts, 8, p, 8, a, 2, s, 8, local) for ts, p, a, s, local in rows)
    return b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + body + struct.pack(">h", -1)


def test_binary_copy_decoder() -> None:
    rows = [(T0, 37000.5, 0.1, 1, T0 + 5), (T0 + 1, 36999.0, 2.5, -1, T0 + 7)]
    out = decode_binary_copy(_copy_payload(rows), TRADE_DTYPE)
    assert out.dtype == TRADE_DTYPE and out.tolist() == rows
    assert len(decode_binary_copy(_copy_payload([]), TRADE_DTYPE)) == 0
    with pytest.raises(StorageError, match="bad header"):
        decode_binary_copy(b"nope", TRADE_DTYPE)
    with pytest.raises(StorageError, match="not whole rows"):
        decode_binary_copy(_copy_payload(rows)[:-5] + b"\xff\xff", TRADE_DTYPE)


def test_trade_sequencer_assigns_seq_and_synthetic_ids() -> None:
    seq = TradeSequencer()
    trades = [Trade("BTC-PERPETUAL", 100.0, 1.0, Side.BUY, 5, 6), Trade("BTC-PERPETUAL", 100.0, 1.0, Side.BUY, 5, 6),
              Trade("BTC-PERPETUAL", 101.0, 1.0, Side.SELL, 7, 8, trade_id="venue-1")]
    recs = [seq.record(t) for t in trades]
    assert [r.seq for r in recs] == [0, 1, 0]
    assert recs[0].trade_id != recs[1].trade_id and recs[2].trade_id == "venue-1"
    again = TradeSequencer()
    assert [again.record(t) for t in trades] == recs


def test_quote_record_from_ticker() -> None:
    rec = quote_record(ticker(bid=None))
    assert math.isnan(rec.bid_price) and rec.ask_price == 100_001.0 and rec.mark_price == 100_000.0
    assert np.isnan(rec.bid_amount)
