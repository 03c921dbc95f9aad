"""Day partitions of ``trades`` and ``quotes`` on the native PostgreSQL layout, created ahead of the writes.

A partition is made as a plain table (``CREATE TABLE … (LIKE parent)``) and then attached
(``ALTER TABLE parent ATTACH PARTITION``). Attaching takes a SHARE UPDATE EXCLUSIVE lock on the parent, which
neither reads nor writes conflict with, whereas ``CREATE TABLE … PARTITION OF`` takes ACCESS EXCLUSIVE: inside the
write transaction, at each UTC midnight, it made the writer wait for every long backtest read and every later
reader wait for the writer. Each partition is made in its own short transaction under ``lock_timeout``, before
the write transaction starts, so a writer never holds a DDL lock while it writes.

Ahead of time: on open, the partitions of today and tomorrow (UTC, wall clock); on each write, the day after the
batch's newest row, in the background. A missing partition that a batch needs is made before its write; when that
cannot get its lock in time the write fails as :class:`StorageUnavailable` (retried later; the buffer spills).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Final

import asyncpg  # type: ignore[import-untyped]

from thalex_modular.platform.domain.storage import StorageUnavailable

from .schema import NANOS_PER_DAY, PARTITIONED

log = logging.getLogger(__name__)
#: A partition whose ahead creation failed (lock timeout) is tried again after this long (seconds).
_AHEAD_RETRY_S: Final = 10.0
_EXISTING_SQL: Final = (
    "SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relnamespace = current_schema()::regnamespace "
    "AND p.relname = ANY($1::TEXT[])"
)
_ATTACHED_SQL: Final = (
    "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace)"
)


def partition_name(table: str, day: int) -> str:
    """Name of the day partition ``day`` (days since epoch) of ``table``, e.g. ``trades_p20240131``."""
    return f"{table}_p{datetime.fromtimestamp(day * 86_400, UTC):%Y%m%d}"


def partition_sql(table: str, day: int) -> str:
    """DDL of one day partition covering ts_ns in [day start, next day start), in one statement (migrations, tests;
    the writer uses :func:`attach_sql`, which locks less)."""
    lo = day * NANOS_PER_DAY
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table} "
        f"FOR VALUES FROM ({lo}) TO ({lo + NANOS_PER_DAY})"
    )


def attach_sql(table: str, day: int) -> list[str]:
    """The statements making one day partition without an ACCESS EXCLUSIVE lock on ``table``."""
    name, lo = partition_name(table, day), day * NANOS_PER_DAY
    return [
        f"CREATE TABLE IF NOT EXISTS {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({lo + NANOS_PER_DAY})",
    ]


def _day_of(name: str) -> int | None:
    try:
        stamp = datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None
    return int(stamp.timestamp()) // 86_400


class PartitionMaker:
    """Knows which day partitions exist and makes the missing ones, each in a short transaction of its own.

    Args:
        pool: the store's connection pool.
        lock_timeout_ms: how long the ATTACH may wait for its lock (milliseconds).
    """

    def __init__(self, pool: asyncpg.Pool, lock_timeout_ms: int) -> None:
        self._pool = pool
        self._lock_timeout_ms = lock_timeout_ms
        self.existing: set[tuple[str, int]] = set()
        self._ahead_failed: dict[tuple[str, int], float] = {}
        self._ahead_task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Learn the partitions the store already has."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_EXISTING_SQL, list(PARTITIONED))
        for parent, child in rows:
            day = _day_of(child)
            if day is not None:
                self.existing.add((parent, day))

    async def ensure(self, table: str, days: set[int]) -> None:
        """Make the partitions of ``days`` that do not exist yet (needed by a write, so failing raises).

        Raises:
            StorageUnavailable: a partition could not get its lock within the lock timeout.
        """
        for day in sorted(days):
            if (table, day) not in self.existing:
                await self._make(table, day)

    def ahead(self, table: str, days: set[int]) -> None:
        """Make these partitions in the background if missing (one task at a time; a failure is retried later)."""
        now = time.monotonic()
        todo = {
            (table, d) for d in days
            if (table, d) not in self.existing and now >= self._ahead_failed.get((table, d), 0.0)
        }
        if not todo or (self._ahead_task is not None and not self._ahead_task.done()):
            return
        self._ahead_task = asyncio.create_task(self._make_ahead(todo), name="storage-partitions-ahead")

    async def today_and_tomorrow(self) -> None:
        """On open: the partitions of the current UTC day and the next one, for every partitioned table."""
        today = time.time_ns() // NANOS_PER_DAY
        for table in PARTITIONED:
            await self._make_ahead({(table, today), (table, today + 1)})

    async def close(self) -> None:
        task, self._ahead_task = self._ahead_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _make_ahead(self, todo: set[tuple[str, int]]) -> None:
        for table, day in sorted(todo):
            if (table, day) in self.existing:
                continue
            try:
                await self._make(table, day)
            except Exception as exc:
                self._ahead_failed[(table, day)] = time.monotonic() + _AHEAD_RETRY_S
                log.info("partition %s not made ahead yet (retried later): %s", partition_name(table, day), exc)

    async def _make(self, table: str, day: int) -> None:
        name = partition_name(table, day)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
                # two makers of one partition queue here instead of failing in ATTACH
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))", name)
                if not await conn.fetchval(_ATTACHED_SQL, name):
                    for statement in attach_sql(table, day):
                        await conn.execute(statement)
        except asyncpg.exceptions.LockNotAvailableError as exc:
            raise StorageUnavailable(
                f"partition {name} not made: its lock was not granted within {self._lock_timeout_ms} ms ({exc})"
            ) from exc
        self.existing.add((table, day))
        self._ahead_failed.pop((table, day), None)
