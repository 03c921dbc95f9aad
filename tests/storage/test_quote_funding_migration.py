"""Migration 7 on both stores: a store of version 6 holding quotes gets the funding rate and index columns; its
rows read with NaN there (no funding data, not a rate of 0), new snapshots keep what they carry."""

from __future__ import annotations

import math
from pathlib import Path

import asyncpg
import duckdb
from storage_kit import PG_DSN, Backend, Store

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.adapters.storage.migrations import MIGRATIONS
from thalex_modular.platform.adapters.storage.postgres import partition_sql
from thalex_modular.platform.adapters.storage.rows import quote_snapshot_id
from thalex_modular.platform.adapters.storage.schema import MIGRATIONS_TABLE_SQL, NANOS_PER_DAY
from thalex_modular.platform.domain.storage import QuoteRecord

NAME = "BTC-PERPETUAL"
T0 = 1_735_689_600 * 10**9
END = 2**62
#: A quote row as version 6 stored it: instrument, ts_ns, seq, bid, bid amount, ask, ask amount, mark, local and
#: exchange time, snapshot id.
OLD = (NAME, T0, 0, 99_999.0, 1.0, 100_001.0, 2.0, 100_000.0, T0 + 5, T0,
       quote_snapshot_id(99_999.0, 1.0, 100_001.0, 2.0, 100_000.0))


async def _store_at_version_6(backend: Backend) -> Store:
    if backend.kind == "postgres":
        conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": backend.schema})
        try:
            await conn.execute(MIGRATIONS_TABLE_SQL)
            for migration in MIGRATIONS[:6]:
                for statement in migration.postgres(False):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", migration.version,
                                   migration.name)
            await conn.execute(partition_sql("quotes", T0 // NANOS_PER_DAY))
            await conn.execute(f"INSERT INTO quotes VALUES ({', '.join(f'${i + 1}' for i in range(11))})", *OLD)
        finally:
            await conn.close()
        return PostgresStorage(PG_DSN, schema_name=backend.schema)
    backend.path.parent.mkdir(parents=True)
    con = _embedded_at_version_6(backend.path)
    con.execute(f"INSERT INTO quotes VALUES ({', '.join('?' * 11)})", list(OLD))
    con.close()
    return EmbeddedStorage(backend.path)


def _embedded_at_version_6(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS_TABLE_SQL)
    for migration in MIGRATIONS[:6]:
        statements = migration.embedded()
        if migration.version == 5:  # its copy of stored quotes calls a function only the store registers: none yet
            statements = statements[:1] + statements[2:]
        for statement in statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", [migration.version, migration.name])
    return con


async def test_migration_7_gives_stored_quotes_no_funding_and_new_ones_theirs(backend: Backend) -> None:
    # Arrange
    store = await _store_at_version_6(backend)
    funded = QuoteRecord(NAME, T0 + 10, 0, 99_998.0, 1.0, 100_002.0, 1.0, 100_000.0, T0 + 15, T0 + 10,
                         0.0003, 99_990.0)
    old_again = QuoteRecord(*OLD[:10], 0.0003, 99_990.0)  # the stored snapshot, now with funding: the same key
    # Act: open applies migration 7
    await store.open()
    try:
        added = await store.write([funded, old_again])
        quotes = await store.read_quotes(NAME, 0, END)
        again = await store.migrate()
    finally:
        await store.close()
    # Assert: the old row reads NaN (no data), the new one its rate and index; the old snapshot is not stored twice
    assert added == 1 and again == []
    assert quotes["ts_ns"].tolist() == [T0, T0 + 10]
    assert math.isnan(quotes["funding_rate_24h"][0]) and math.isnan(quotes["index_price"][0])
    assert (quotes["funding_rate_24h"][1], quotes["index_price"][1]) == (0.0003, 99_990.0)
    assert quotes["bid_price"].tolist() == [99_999.0, 99_998.0]


async def test_migration_7_of_a_large_embedded_store_is_not_refused_by_its_tight_memory_limit(tmp_path: Path) -> None:
    # Arrange: an embedded store of version 6 with 1.5M quotes, opened with an 8 MB memory limit (adding a column
    # takes about 17 bytes a row: a month of quotes under the backtests' 64 MB limit failed to open)
    path = tmp_path / "large.duckdb"
    con = _embedded_at_version_6(path)
    con.execute(f"INSERT INTO quotes SELECT '{NAME}', {T0} + i, 0, 99999.0, 1.0, 100001.0, 2.0, 100000.0, "
                f"{T0} + i + 5, {T0} + i, i FROM range(1500000) t(i)")
    con.close()
    store = EmbeddedStorage(path, memory_limit_mb=8)
    # Act
    await store.open()
    try:
        quotes = await store.read_quotes(NAME, T0, T0 + 10)
        limit = await store._run(lambda c: c.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    finally:
        await store.close()
    # Assert: migrated, and the limit is the configured one again for what follows
    assert len(quotes) == 10 and math.isnan(quotes["funding_rate_24h"][0])
    assert limit.replace(" ", "").upper().startswith(("7.", "8")), limit
