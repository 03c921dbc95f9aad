"""Outage: the store goes away mid-run; records are buffered, spilled, replayed; row counts exact.

PostgreSQL: the adapter connects through a loopback TCP proxy that we close (dropping every connection and
refusing new ones) and reopen; the real server is never touched. Embedded: the store is closed and reopened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from storage_kit import PG_DSN, Backend, random_trades

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage, WriteBuffer
from thalex_modular.platform.adapters.storage.faults import TcpProxy


async def wait_for(cond: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def store_of(backend: Backend) -> tuple[PostgresStorage | EmbeddedStorage, TcpProxy | None]:
    """The backend's store, unopened; PostgreSQL through an open proxy (returned too, None for embedded)."""
    if backend.kind == "postgres":
        proxy = TcpProxy(int(PG_DSN.rsplit(":", 1)[1].split("/")[0]))
        await proxy.open()
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        return PostgresStorage(dsn, schema_name=backend.schema, timeout_s=2.0), proxy
    return EmbeddedStorage(backend.path), None


def started_buffer(store: PostgresStorage | EmbeddedStorage, tmp_path: Path, **options: object) -> WriteBuffer:
    """A running WriteBuffer on ``store`` with short flush and retry intervals (the tests wait on its counters)."""
    settings: dict[str, object] = {"batch_size": 400, "flush_interval_s": 0.05, "retry_interval_s": 0.1, **options}
    buffer = WriteBuffer(store, tmp_path / "spill", **settings)  # type: ignore[arg-type]
    buffer.start()
    return buffer


def spill_files(buffer: WriteBuffer) -> list[Path]:
    """The segments in the buffer's spill directory (every writer's, the current one included)."""
    return sorted(buffer.spill.path.glob("*.spill"))


async def test_outage_buffers_spills_and_replays(backend: Backend, tmp_path: Path) -> None:
    # Arrange
    store, proxy = await store_of(backend)
    await store.open()
    buffer = started_buffer(store, tmp_path)
    trades = random_trades(4_000, seed=11)

    # Act 1: store up
    for t in trades[:1_000]:
        buffer.append(t)
    await wait_for(lambda: buffer.written >= 1_000)

    # Act 2: store down mid-run; appends keep working, records go to the spill file
    if proxy is not None:
        await proxy.close()
    else:
        await store.close()
    for t in trades[1_000:3_000]:
        buffer.append(t)
    await wait_for(lambda: buffer.spilled >= 2_000 and buffer.pending == 0)
    assert buffer.store_down and spill_files(buffer)

    # Act 3: back up; more records; the spill is replayed (with a duplicate replay of the first part)
    if proxy is not None:
        await proxy.open()
    else:
        await store.open()
    for t in trades[500:1_000] + trades[3_000:]:
        buffer.append(t)
    await wait_for(lambda: not spill_files(buffer) and buffer.pending == 0 and not buffer.store_down)
    await buffer.stop()

    # Assert: every record stored exactly once
    assert buffer.replayed >= 2_000
    assert await store.count("trades") == 4_000
    assert len(await store.read_trades("BTC-PERPETUAL", 0, 2**62)) == 4_000
    await store.close()
    if proxy is not None:
        await proxy.close()


async def test_a_store_down_at_start_is_opened_once_it_answers(backend: Backend, tmp_path: Path) -> None:
    # Arrange: the store cannot be opened yet (PostgreSQL: a port that refuses; embedded: its directory's path is
    # taken by a file), and the buffer gets it unopened
    store, proxy = await store_of(backend)
    if proxy is not None:
        await proxy.close()
    else:
        backend.path.parent.parent.mkdir(parents=True, exist_ok=True)
        backend.path.parent.write_text("in the way")
    buffer = started_buffer(store, tmp_path)
    trades = random_trades(2_000, seed=15)

    # Act 1: records arrive while the store is down: they are spilled, none lost
    for t in trades[:1_200]:
        buffer.append(t)
    await wait_for(lambda: buffer.spilled >= 1_200 and buffer.pending == 0)
    assert buffer.store_down

    # Act 2: the store comes up
    if proxy is not None:
        await proxy.open()
    else:
        backend.path.parent.unlink()
    for t in trades[1_200:]:
        buffer.append(t)
    await wait_for(lambda: not spill_files(buffer) and buffer.pending == 0 and not buffer.store_down)
    await buffer.stop()

    # Assert: opened (and migrated) by the buffer; every record stored exactly once
    assert await store.count("trades") == 2_000
    await store.close()
    if proxy is not None:
        await proxy.close()
