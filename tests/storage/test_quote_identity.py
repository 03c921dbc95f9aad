"""Issue 13 items 8 and 9, both stores: a quote snapshot is keyed by what it shows (not a per-process counter), and
the exchange and local clocks live in their own columns; stores of version 4 migrate."""

from __future__ import annotations

import math
from pathlib import Path

import asyncpg
import duckdb
import pytest
from storage_kit import PG_DSN, T0, Backend, Store

from stubs import ticker
from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.adapters.storage.migrations import MIGRATIONS
from thalex_modular.platform.adapters.storage.partitions import partition_sql
from thalex_modular.platform.adapters.storage.rows import quote_snapshot_id
from thalex_modular.platform.adapters.storage.schema import MIGRATIONS_TABLE_SQL, NANOS_PER_DAY
from thalex_modular.platform.domain.entities import Ticker
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import QuoteRecord, TradeSequencer, quote_record

NAME = "BTC-PERPETUAL"
END = 2**62


def venue_ticker(bid: float, ts_ns: int = T0, local_ns: int = T0 + 7_000) -> Ticker:
    """A ticker with the venue's time (mark_timestamp) and our later receive time."""
    return Ticker(NAME, 100_000.0, ts_ns, local_ns, best_bid_price=bid, best_bid_amount=1.0,
                  best_ask_price=100_001.0, best_ask_amount=2.0)


def first_seq(t: Ticker) -> int:
    """The seq a freshly started process gives its first ticker of that time."""
    return TradeSequencer().next_seq(t.instrument_name, t.ts_exchange_ns)


async def test_a_different_snapshot_at_a_stored_time_survives_a_restart(store: Store) -> None:
    # Arrange: one process stored a snapshot; a restarted process sees another one stamped with the same time
    before = venue_ticker(bid=99_999.0)
    after = venue_ticker(bid=99_998.5)
    await store.write([quote_record(before, first_seq(before))])

    # Act: before, both had seq 0 and the second was dropped as already stored
    added = await store.write([quote_record(after, first_seq(after))])
    again = await store.write([quote_record(before, first_seq(before)), quote_record(after, first_seq(after))])

    # Assert: both kept, each once
    quotes = await store.read_quotes(NAME, 0, END)
    assert added == 1 and again == 0
    assert sorted(quotes["bid_price"].tolist()) == [99_998.5, 99_999.0]


async def test_each_clock_has_its_own_column_and_reads_say_which(store: Store) -> None:
    # Arrange: a ticker with the venue's time, and one without (the codec stamps it with the receive time)
    with_time = venue_ticker(bid=99_999.0, ts_ns=T0, local_ns=T0 + 5_000_000)
    without = ticker(bid=99_997.0, ts_ns=T0 + 1_000_000)  # ts_exchange_ns == ts_local_ns: no mark_timestamp

    # Act
    await store.write([quote_record(with_time), quote_record(without)])

    # Assert: the columns keep each clock apart; the exchange clock read leaves out the row without exchange time
    rows = sorted(await store.fetch_rows("quotes"), key=lambda r: r[1])
    columns = ("ts_ns", "ts_local_ns", "ts_exchange_ns")
    at = [QuoteRecord.__struct_fields__.index(c) for c in columns]
    assert [tuple(r[i] for i in at) for r in rows] == [(T0, T0 + 5_000_000, T0), (T0 + 1_000_000, T0 + 1_000_000, None)]
    by_exchange = await store.read_quotes(NAME, 0, END)
    assert by_exchange["ts_ns"].tolist() == [T0]
    by_local = await store.read_quotes(NAME, 0, END, clock="local")
    assert by_local["ts_ns"].tolist() == [T0 + 1_000_000, T0 + 5_000_000]
    assert by_local["bid_price"].tolist() == [99_997.0, 99_999.0]
    with pytest.raises(InvalidValue, match="clock must be one of"):
        await store.read_quotes(NAME, 0, END, clock="wall")  # type: ignore[arg-type]


def test_a_record_filed_under_the_wrong_clock_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"QuoteRecord.ts_ns must be ts_exchange_ns.*was 5"):
        QuoteRecord(NAME, 5, 0, 1.0, 1.0, 2.0, 1.0, 1.5, 9, 7)


# -- a version 4 store migrates -------------------------------------------------------------------------------

#: Rows as version 4 stored them: (ts_ns, seq, bid, mark, ts_local_ns). Rows 0 and 1 are one snapshot stored twice
#: (a replay with another seq); row 2 came without exchange time (ts_ns == ts_local_ns).
V4_ROWS = [(T0, 0, 99_999.0, 100_000.0, T0 + 9), (T0, 1, 99_999.0, 100_000.0, T0 + 11),
           (T0 + 50, 0, math.nan, 100_001.0, T0 + 50), (T0 + 60, 0, 99_998.0, 100_002.0, T0 + 70)]


def _v4_row(ts: int, seq: int, bid: float, mark: float, local: int) -> tuple[object, ...]:
    return (NAME, ts, seq, bid, 1.0, 100_001.0, 2.0, mark, local)


async def _make_v4_postgres(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    try:
        await conn.execute(MIGRATIONS_TABLE_SQL)
        for migration in MIGRATIONS[:4]:
            for statement in migration.postgres(False):
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", migration.version, migration.name)
        await conn.execute(partition_sql("quotes", T0 // NANOS_PER_DAY))
        await conn.executemany("INSERT INTO quotes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                               [_v4_row(*r) for r in V4_ROWS])
    finally:
        await conn.close()


def _make_v4_embedded(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(MIGRATIONS_TABLE_SQL)
        for migration in MIGRATIONS[:4]:
            for statement in migration.embedded():
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", [migration.version, migration.name])
        con.executemany("INSERT INTO quotes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        [_v4_row(*r) for r in V4_ROWS])
    finally:
        con.close()


async def test_a_version_4_store_keys_its_stored_quotes_by_snapshot(backend: Backend) -> None:
    # Arrange
    if backend.kind == "postgres":
        await _make_v4_postgres(backend.schema)
        store: Store = PostgresStorage(PG_DSN, schema_name=backend.schema)
    else:
        _make_v4_embedded(backend.path)
        store = EmbeddedStorage(backend.path)

    # Act: open migrates; then the first snapshot arrives again, as the new code files it
    await store.open()
    try:
        replay = QuoteRecord(NAME, T0, 0, 99_999.0, 1.0, 100_001.0, 2.0, 100_000.0, T0 + 9, T0)
        added = await store.write([replay])
        rows = sorted(await store.fetch_rows("quotes"), key=lambda r: (r[1], r[2]))
    finally:
        await store.close()

    # Assert: the twin collapsed into one row; the ids are the ones the writer computes (so the replay added
    # nothing); the row without exchange time has none
    assert added == 0
    assert [(r[1], r[2]) for r in rows] == [(T0, 0), (T0 + 50, 0), (T0 + 60, 0)]
    assert [r[9] for r in rows] == [T0, None, T0 + 60]
    assert [r[10] for r in rows] == [quote_snapshot_id(r[3], r[4], r[5], r[6], r[7]) for r in rows]
