"""Issue 13 items 6 and 7 on a real server: the time layout when the extension cannot be created, chosen once; day
partitions made ahead, without locking readers out.

The TimescaleDB extension is not installable here, so the store is pointed at extensions that are: ``pageinspect``
(listed, but creating it needs superuser: a role without privilege fails for real) and ``seg`` (trusted: anyone may
create it, so a later migration would install it if it still tried).
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from storage_kit import PG_DSN, T0, random_trades

from thalex_modular.platform.adapters.storage import PostgresStorage
from thalex_modular.platform.adapters.storage.partitions import partition_name
from thalex_modular.platform.adapters.storage.schema import NANOS_PER_DAY
from thalex_modular.platform.domain.storage import StorageUnavailable

DAY = T0 // NANOS_PER_DAY


def as_role(dsn: str, role: str) -> str:
    return dsn.replace("postgres@", f"{role}@", 1)


async def extensions(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0] for r in await conn.fetch("SELECT extname FROM pg_extension")}
    finally:
        await conn.close()


async def test_a_server_refusing_the_extension_gets_the_native_layout(pg_role: str, pg_database: str) -> None:
    # Arrange: a role that may create schemas and tables, but not the extension the store is pointed at (untrusted)
    admin = await asyncpg.connect(pg_database)
    try:
        await admin.execute(f"GRANT CREATE ON DATABASE {pg_database.rsplit('/', 1)[1]} TO {pg_role}")
        assert await admin.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'pageinspect'") == 1
    finally:
        await admin.close()
    dsn = as_role(pg_database, pg_role)
    probe = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):  # the fault is real
            await probe.execute("CREATE EXTENSION pageinspect")
    finally:
        await probe.close()
    store = PostgresStorage(dsn, schema_name="s", timescale_extension="pageinspect")

    # Act: before, the failed CREATE EXTENSION aborted the migration transaction (InFailedSQLTransactionError)
    await store.open()
    try:
        await store.write(random_trades(200, seed=61))
        # Assert: laid out natively and usable
        assert store.layout == "native"
        assert await store.count("trades") == 200
        assert len(await store.read_ohlcv_1m("BTC-PERPETUAL", 0, 2**62)) > 0
    finally:
        await store.close()
    assert "pageinspect" not in await extensions(pg_database)


async def test_a_later_migration_never_installs_the_extension_into_a_native_store(pg_database: str) -> None:
    # Arrange: a store laid out natively (its extension is not available), then a migration pending again, and now
    # an extension that can be created
    first = PostgresStorage(pg_database, schema_name="s", timescale_extension="no_such_extension")
    await first.open()
    await first.write(random_trades(100, seed=62))
    await first.close()
    admin = await asyncpg.connect(pg_database, server_settings={"search_path": "s"})
    try:
        await admin.execute("DELETE FROM schema_migrations WHERE version = 5")
    finally:
        await admin.close()
    later = PostgresStorage(pg_database, schema_name="s", timescale_extension="seg")

    # Act
    await later.open()
    try:
        # Assert: the layout came from storage_meta; the extension was never created; the data is intact
        assert later.layout == "native"
        assert await later.count("trades") == 100
    finally:
        await later.close()
    assert "seg" not in await extensions(pg_database)


async def partitions_of(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1::regclass", table,
    )
    return {r[0] for r in rows}


async def wait_until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_new_day_neither_waits_for_nor_blocks_long_reads(pg_schema: str) -> None:
    # Arrange: trades of day D; a backtest read of trades stays open (its transaction holds its locks)
    store = PostgresStorage(PG_DSN, schema_name=pg_schema)
    await store.open()
    watcher = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    reader = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    second = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    try:
        today = time.time_ns() // NANOS_PER_DAY
        made_on_open = await partitions_of(watcher, "trades")
        assert {partition_name("trades", today), partition_name("trades", today + 1)} <= made_on_open
        await store.write(random_trades(300, seed=63))

        async def next_day_made() -> bool:
            return partition_name("trades", DAY + 1) in await partitions_of(watcher, "trades")

        await wait_until(next_day_made)  # made ahead, in the background
        long_read = reader.transaction()
        await long_read.start()
        await reader.fetchval("SELECT count(*) FROM trades")

        # Act: midnight passes (rows of D+1), then rows of a day not made ahead (D+5), while the read is open
        started = time.monotonic()
        await asyncio.wait_for(store.write(random_trades(300, seed=64, start_ns=(DAY + 1) * NANOS_PER_DAY)), 5)
        await asyncio.wait_for(store.write(random_trades(300, seed=65, start_ns=(DAY + 5) * NANOS_PER_DAY)), 5)
        counted = await asyncio.wait_for(second.fetchval("SELECT count(*) FROM trades"), 5)
        elapsed = time.monotonic() - started
        await long_read.rollback()

        # Assert: neither the writer nor a later reader waited for the long read
        assert counted == 900 and elapsed < 5
        assert partition_name("trades", DAY + 5) in await partitions_of(watcher, "trades")
    finally:
        for conn in (watcher, reader, second):
            await conn.close()
        await store.close()


async def test_a_partition_whose_lock_is_held_fails_fast_as_unavailable(pg_schema: str) -> None:
    # Arrange: another session holds a lock that conflicts with attaching a partition (as a manual ANALYZE would)
    store = PostgresStorage(PG_DSN, schema_name=pg_schema, partition_lock_timeout_ms=200)
    await store.open()
    holder = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute("LOCK TABLE trades IN SHARE UPDATE EXCLUSIVE MODE")

        # Act: a batch of a day without a partition yet
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="not granted within 200 ms"):
            await store.write(random_trades(50, seed=66, start_ns=(DAY + 9) * NANOS_PER_DAY))
        waited = time.monotonic() - started
        await held.rollback()
        added = await store.write(random_trades(50, seed=66, start_ns=(DAY + 9) * NANOS_PER_DAY))

        # Assert: it gave up after the lock timeout (a writer retries later), and succeeded once the lock was free
        assert waited < 3 and added == 50
    finally:
        await holder.close()
        await store.close()
