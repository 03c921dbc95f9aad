"""Issue 13 items 1, 4 and 5: the write buffer under database and disk faults loses nothing.

Faults are real: PostgreSQL raises them from a row trigger (or a real statement timeout), the disk is a small tmpfs
(mounted when we may; otherwise that test is skipped and the size-cap test covers the same path), and the
embedded store is made unreachable by a file standing where its directory goes.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import pytest
from storage_kit import PG_DSN, T0, Store, random_trades
from test_outage import spill_files, started_buffer, wait_for

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage, WriteBuffer
from thalex_modular.platform.adapters.storage.faults import install_fault_trigger, set_fault, small_tmpfs
from thalex_modular.platform.adapters.storage.spill import read_frames
from thalex_modular.platform.adapters.storage.spill_dir import QUARANTINE
from thalex_modular.platform.domain.storage import OrderRecord, Record

TRANSIENT = {
    "53100": "disk full",
    "40P01": "deadlock",
    "40001": "serialization failure",
    "25006": "read-only transaction (after a failover)",
    "57P01": "admin shutdown",
}


async def pg_store_with_faults(schema: str, dsn: str = PG_DSN) -> tuple[PostgresStorage, asyncpg.Connection]:
    store = PostgresStorage(dsn, schema_name=schema, timeout_s=5.0)
    await store.open()
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    await install_fault_trigger(conn)
    return store, conn


@pytest.mark.parametrize("code", sorted(TRANSIENT))
async def test_a_transient_error_is_an_outage_and_nothing_is_lost(pg_schema: str, tmp_path: Path, code: str) -> None:
    # Arrange
    store, conn = await pg_store_with_faults(pg_schema)
    buffer = started_buffer(store, tmp_path, batch_size=100)
    trades = random_trades(300, seed=41)
    try:
        for t in trades[:100]:
            buffer.append(t)
        await wait_for(lambda: buffer.written >= 100)

        # Act: the server fails every insert with `code` for a while (before: the flusher died with the batch it
        # held, later records piled up in memory and stop() raised; of 300 rows 100 were stored)
        await set_fault(conn, code)
        for t in trades[100:200]:
            buffer.append(t)
        await wait_for(lambda: buffer.spilled >= 100)
        await set_fault(conn, None)
        for t in trades[200:]:
            buffer.append(t)
        await wait_for(lambda: buffer.written >= 300 and not spill_files(buffer))
        await buffer.stop()

        # Assert: every record stored once, none quarantined
        assert await store.count("trades") == 300
        assert buffer.quarantined == 0 and buffer.lost == 0 and buffer.pending == 0
    finally:
        await conn.close()
        await store.close()


async def test_a_real_statement_timeout_is_an_outage(pg_schema: str, tmp_path: Path) -> None:
    # Arrange: inserts sleep 1 s while `_slow` has a row; the store's sessions time out statements after 200 ms
    store, conn = await pg_store_with_faults(pg_schema, f"{PG_DSN}?statement_timeout=200")
    await conn.execute("CREATE TABLE _slow (on_ BOOLEAN)")
    await conn.execute(
        "CREATE FUNCTION _sleep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM _slow) THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$"
    )
    await conn.execute("CREATE TRIGGER _sleep_t BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION _sleep()")
    buffer = started_buffer(store, tmp_path, batch_size=100)
    trades = random_trades(200, seed=42)
    try:
        # Act
        await conn.execute("INSERT INTO _slow VALUES (true)")
        for t in trades[:100]:
            buffer.append(t)
        await wait_for(lambda: buffer.spilled >= 100)
        await conn.execute("DELETE FROM _slow")
        for t in trades[100:]:
            buffer.append(t)
        await wait_for(lambda: buffer.written >= 200 and not spill_files(buffer))
        await buffer.stop()

        # Assert
        assert await store.count("trades") == 200 and buffer.quarantined == 0
    finally:
        await conn.close()
        await store.close()


async def test_a_batch_refused_for_good_is_quarantined_and_the_buffer_goes_on(
    pg_schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: the server refuses (check violation, permanent) any row with a negative amount: one poison record
    store, conn = await pg_store_with_faults(pg_schema)
    await set_fault(conn, "23514", "$1.amount < 0")
    trades = random_trades(400, seed=43)
    poison = trades[150]
    trades[150] = type(poison)(poison.instrument_name, poison.ts_ns, poison.seq, poison.trade_id, poison.price,
                               -1.0, poison.side, poison.ts_local_ns)
    buffer = started_buffer(store, tmp_path, batch_size=100)
    try:
        # Act
        for t in trades:
            buffer.append(t)
        await wait_for(lambda: buffer.written + buffer.quarantined >= 400)
        await buffer.stop()

        # Assert: the poison's batch (records 100-199) quarantined with the reason; the others stored; reported
        assert await store.count("trades") == 300 and buffer.quarantined == 100
        (kept,) = (tmp_path / "spill" / QUARANTINE).glob("*.spill")
        assert read_frames(kept.read_bytes(), 0, 10**6).records == trades[100:200]
        assert "23514" in kept.with_suffix(".txt").read_text()
        assert "quarantined" in caplog.text and str(kept) in caplog.text

        # Act 2: the cause is fixed; the quarantined file, moved back into the spill directory, is replayed
        await set_fault(conn, None)
        kept.rename(tmp_path / "spill" / kept.name)
        again = started_buffer(store, tmp_path)
        await wait_for(lambda: again.replayed >= 100)
        await again.stop()
        assert await store.count("trades") == 400
    finally:
        await conn.close()
        await store.close()


async def test_a_value_the_store_cannot_take_is_quarantined_on_both_stores(store: Store, tmp_path: Path) -> None:
    # Arrange: an order whose client_order_id does not fit a BIGINT, between good records
    bad = OrderRecord("o-1", T0, "insert", "open", 2**63, "BTC-PERPETUAL", 1, 1.0, 1.0, 0.0, T0, "")
    good: list[Record] = list(random_trades(50, seed=44))
    buffer = started_buffer(store, tmp_path, batch_size=25)

    # Act
    for record in good[:25]:
        buffer.append(record)
    await wait_for(lambda: buffer.written >= 25)
    buffer.append(bad)
    await wait_for(lambda: buffer.quarantined >= 1)
    for record in good[25:]:
        buffer.append(record)
    await wait_for(lambda: buffer.written >= 50)
    await buffer.stop()

    # Assert
    assert await store.count("trades") == 50 and await store.count("orders") == 0
    assert buffer.quarantined == 1 and buffer.lost == 0


async def test_stop_spills_when_the_store_is_down(tmp_path: Path) -> None:
    # Arrange: a store that never answers (a closed port)
    store = PostgresStorage("postgresql://postgres@127.0.0.1:1/test", timeout_s=1.0)
    buffer = WriteBuffer(store, tmp_path / "spill", batch_size=100, flush_interval_s=60.0)
    buffer.start()
    trades = random_trades(250, seed=45)
    for t in trades:
        buffer.append(t)

    # Act: stop right away (before, a StorageError at this point propagated out of stop() unflushed)
    await buffer.stop()

    # Assert: everything is in the spill directory
    (segment,) = spill_files(buffer)
    assert read_frames(segment.read_bytes(), 0, 10**6).records == trades
    assert buffer.spilled == 250 and buffer.lost == 0


# -- item 4: replay from an offset; a size cap with an explicit policy -----------------------------------------


async def test_an_interrupted_replay_resumes_where_it_stopped(pg_schema: str, tmp_path: Path) -> None:
    # Arrange: 4,000 spilled records in 8 frames; the server counts every row offered (a sequence: not rolled back)
    # and fails once (a transient error) at the 2,500th
    store, conn = await pg_store_with_faults(pg_schema)
    await conn.execute("CREATE SEQUENCE _seen")
    await conn.execute(
        "CREATE FUNCTION _count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('_seen') = 2500 THEN RAISE EXCEPTION 'restarting' USING ERRCODE = '57P01'; END IF; "
        "RETURN NEW; END $$"
    )
    await conn.execute("CREATE TRIGGER _count_t BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION _count()")
    trades = random_trades(4_000, seed=46)
    offline = WriteBuffer(PostgresStorage("postgresql://postgres@127.0.0.1:1/test", timeout_s=1.0),
                          tmp_path / "spill", batch_size=500)
    for t in trades:
        offline.append(t)
    await offline.stop()
    buffer = WriteBuffer(store, tmp_path / "spill", batch_size=500, retry_interval_s=0.0)
    try:
        # Act: the first replay stops at the failing frame, the second resumes
        await buffer.flush()
        first = buffer.replayed
        await buffer.flush()
        await buffer.stop()

        # Assert: nothing replayed twice (before, every retry re-read and re-wrote the whole file)
        offered = await conn.fetchval("SELECT last_value FROM _seen")
        assert first == 2_000 and buffer.replayed == 4_000
        assert await store.count("trades") == 4_000
        assert offered == 4_000 + 500  # the frame that failed is offered twice, nothing else
    finally:
        await conn.close()
        await store.close()


def _unreachable_embedded(tmp_path: Path) -> tuple[EmbeddedStorage, Path]:
    """An embedded store that cannot be opened until the returned file is removed."""
    blocker = tmp_path / "store"
    blocker.write_text("in the way")
    return EmbeddedStorage(blocker / "store.duckdb"), blocker


async def test_a_capped_spill_keeps_the_rest_in_memory_then_stores_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: the store is unreachable; the spill directory may hold 20 kB
    store, blocker = _unreachable_embedded(tmp_path)
    buffer = started_buffer(store, tmp_path, batch_size=100, max_spill_bytes=20_000)
    trades = random_trades(1_000, seed=47)

    # Act: more than the cap arrives
    for t in trades:
        buffer.append(t)
    await wait_for(lambda: buffer.spilled > 0 and buffer.spilled + buffer.pending == 1_000)
    await asyncio.sleep(0.2)
    held = buffer.pending
    blocker.unlink()
    await wait_for(lambda: buffer.written >= 1_000 and not spill_files(buffer))
    await buffer.stop()

    # Assert: the cap held, the rest waited in memory, the policy was logged, nothing lost
    assert held > 0 and buffer.spilled < 1_000 and buffer.spill.used_bytes() == 0
    assert "keeping records in memory" in caplog.text and "cap of 20,000" in caplog.text
    assert await store.count("trades") == 1_000 and buffer.dropped == 0
    await store.close()


async def test_past_the_memory_limit_records_are_refused_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: neither the store nor the spill (cap 0) takes anything; memory holds 300 records
    store, _ = _unreachable_embedded(tmp_path)
    buffer = WriteBuffer(store, tmp_path / "spill", batch_size=100, max_pending=300, max_spill_bytes=0)

    # Act
    for t in random_trades(350, seed=48):
        buffer.append(t)

    # Assert: the explicit loss of last resort is counted and said
    assert buffer.pending == 300 and buffer.dropped == 50
    assert caplog.records[-1].levelno == logging.ERROR and "refused" in caplog.text
    await buffer.stop()  # past the cap at stop: spilled
    assert buffer.spilled == 300 and buffer.lost == 0


# -- item 5: the disk fills up while spilling ------------------------------------------------------------------


async def test_a_full_disk_while_spilling_keeps_records_in_memory(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 128 * 1024) as disk:
        if disk is None:
            pytest.skip("cannot mount a tmpfs here (not root): the size-cap test covers this path")
        # Arrange: the store is unreachable; the spill directory is on a 128 kB tmpfs
        store, blocker = _unreachable_embedded(tmp_path)
        buffer = WriteBuffer(store, disk / "spill", batch_size=200, flush_interval_s=0.05, retry_interval_s=0.1)
        buffer.start()
        trades = random_trades(6_000, seed=49)

        # Act: far more than fits (before: OSError ended the flusher with the batch it held)
        for t in trades:
            buffer.append(t)
        await wait_for(lambda: buffer.spilled > 0 and buffer.spilled + buffer.pending == 6_000)
        await asyncio.sleep(0.3)
        assert buffer.pending > 0 and buffer.spilled < 6_000  # the disk is full, the rest waits in memory
        blocker.unlink()
        await wait_for(lambda: buffer.written >= 6_000 and not list((disk / "spill").glob("*.spill")), 60)
        await buffer.stop()

        # Assert
        assert await store.count("trades") == 6_000 and buffer.lost == 0 and buffer.dropped == 0
        await store.close()
