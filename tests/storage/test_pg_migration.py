"""A PostgreSQL store created by an earlier version migrates: its data stays, the schema becomes the current one."""

from __future__ import annotations

import asyncpg
from storage_kit import PG_DSN, random_trades

from thalex_modular.platform.adapters.storage import PostgresStorage
from thalex_modular.platform.adapters.storage.migrations import MIGRATIONS
from thalex_modular.platform.adapters.storage.postgres import partition_sql
from thalex_modular.platform.adapters.storage.rows import to_rows
from thalex_modular.platform.adapters.storage.schema import MIGRATIONS_TABLE_SQL, NANOS_PER_DAY, column_names

END = 2**62


async def _create_version_2(conn: asyncpg.Connection) -> None:
    """What migrations 1 and 2 left (native layout), holding trades in one day partition."""
    await conn.execute(MIGRATIONS_TABLE_SQL)
    for migration in MIGRATIONS[:2]:
        for statement in migration.postgres(False):
            await conn.execute(statement)
        await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", migration.version, migration.name)


async def _brin_indexes(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
        "WHERE a.amname = 'brin' AND c.relnamespace = current_schema()::regnamespace"
    )
    return {r[0] for r in rows}


async def test_a_version_2_store_migrates_and_keeps_its_trades(pg_schema: str) -> None:
    # Arrange: a store at version 2 with 500 trades, the partition's BRIN index included
    stored = random_trades(500, seed=21)
    later = random_trades(300, seed=22, start_ns=stored[-1].ts_ns + 1)
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    try:
        await _create_version_2(conn)
        for day in {t.ts_ns // NANOS_PER_DAY for t in stored}:
            await conn.execute(partition_sql("trades", day))
        await conn.copy_records_to_table("trades", records=to_rows(stored), columns=column_names("trades"))
        before = await _brin_indexes(conn)
        assert {"trades_ts_brin", "quotes_ts_brin", "orders_ts_brin"} <= before
        assert any(name.startswith("trades_p") for name in before)  # the partition's own part
        store = PostgresStorage(PG_DSN, schema_name=pg_schema)
        # Act: open applies what is pending
        await store.open()
        try:
            again = await store.migrate()
            await store.write(later)
            # Assert: migration 3 ran once; trades and quotes lost their BRIN (parts included), the others kept it
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
            assert versions == [m.version for m in MIGRATIONS] and again == []
            brin = await _brin_indexes(conn)
            assert not any(name.startswith(("trades", "quotes")) for name in brin)
            assert {"orders_ts_brin", "fills_ts_brin", "candles_1m_ts_brin"} <= brin
            got = await store.read_trades("BTC-PERPETUAL", 0, END)
            assert got["ts_ns"].tolist() == [t.ts_ns for t in stored + later]
        finally:
            await store.close()
    finally:
        await conn.close()
