"""PostgreSQL / TimescaleDB storage adapter (asyncpg, connection pool).

Writes: per table, one transaction. When nothing is stored in the batch's time range (the common append), COPY
(``copy_records_to_table``) straight into the table; otherwise (or when that COPY meets a stored key) COPY into a
session temp staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, so a replay adds nothing.
On the native layout the writer first creates the day partitions the batch needs and afterwards upserts the 1m
bars of the minutes the batch touched; on TimescaleDB the continuous aggregate does that. Writers of the same
instrument's trades are serialised there (an advisory lock per instrument until commit), so the later one rolls up
from the earlier one's committed trades too.

Reads: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` decoded straight into numpy (every read column is a
fixed-width NOT NULL type), which keeps a 1M-row range read well under a second.

Connection failures (refused, reset, pool closed, timeouts) raise :class:`StorageUnavailable`; other
database errors :class:`StorageError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final, cast

import asyncpg  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import (
    NANOS_PER_MINUTE,
    BacktestRun,
    Record,
    StorageError,
    StorageUnavailable,
    SweepStudy,
    TradeRecord,
    group_by_table,
)

from . import schema
from .bars import batch_bars, batch_columns
from .migrations import pending
from .range_reads import RangeReads
from .rows import run_from_row, run_to_row, study_from_row, study_to_row, to_rows

_UNAVAILABLE: Final = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_PGCOPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
#: Big-endian wire types of the columns we read (binary COPY sends network byte order).
_WIRE: Final = {"i8": ">i8", "f8": ">f8", "i1": ">i2"}


def _wire_fields(native: np.dtype[Any]) -> list[tuple[str, str]]:
    """(column, big-endian wire type) of fixed-width NOT NULL columns; an ``i1`` column travels as SMALLINT."""
    assert native.names is not None
    return [(name, _WIRE[native[name].str[1:]]) for name in native.names]


def decode_binary_copy(data: bytes, native: np.dtype[Any]) -> npt.NDArray[np.void]:
    """PostgreSQL binary COPY output → a structured array of ``native`` dtype.

    Each row is an int16 field count, then per field an int32 byte length and the value in network order.

    Raises:
        StorageError: the payload is not a binary COPY of exactly these columns (e.g. a NULL slipped in).
    """
    if not data.startswith(_PGCOPY_SIGNATURE) or len(data) < 21:
        raise StorageError(f"binary COPY: bad header, first bytes {data[:12]!r}")
    ext = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + ext : len(data) - 2]  # trailer: int16 -1
    fields = _wire_fields(native)
    layout: list[tuple[str, str]] = [("_n", ">i2")]
    for name, wire_type in fields:
        layout += [(f"_len_{name}", ">i4"), (name, wire_type)]
    wire = np.dtype(layout)
    if len(body) % wire.itemsize:
        raise StorageError(f"binary COPY: body of {len(body)} bytes is not whole rows of {wire.itemsize} bytes")
    rows = np.frombuffer(body, dtype=wire)
    bad_count = bool(np.any(rows["_n"] != len(fields)))
    bad_width = any(bool(np.any(rows[f"_len_{n}"] != np.dtype(t).itemsize)) for n, t in fields)
    if bad_count or bad_width:
        raise StorageError("binary COPY: unexpected field count or width (NULL in a NOT NULL column?)")
    out = np.empty(len(rows), dtype=native)
    for name, _ in fields:
        out[name] = rows[name]
    return out


def partition_name(table: str, day: int) -> str:
    """Name of the day partition ``day`` (days since epoch) of ``table``, e.g. ``trades_p20240131``."""
    return f"{table}_p{datetime.fromtimestamp(day * 86_400, UTC):%Y%m%d}"


def partition_sql(table: str, day: int) -> str:
    """DDL of one day partition covering ts_ns in [day start, next day start)."""
    lo = day * schema.NANOS_PER_DAY
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table} "
        f"FOR VALUES FROM ({lo}) TO ({lo + schema.NANOS_PER_DAY})"
    )


class PostgresStorage(RangeReads):
    """:class:`~thalex_modular.platform.domain.storage.Storage` on PostgreSQL, with TimescaleDB when available.

    Args:
        dsn: ``postgresql://user@host:port/db``; extra query parameters become server settings
            (e.g. ``?search_path=myschema``).
        schema_name: if given, the schema to use (created if missing) via ``search_path``.
        min_size, max_size: connection pool bounds.
        timeout_s: connect and command timeout in seconds.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema_name: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout_s: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._schema = schema_name
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None
        self._partitions: set[tuple[str, int]] = set()
        self.layout = ""

    # -- lifecycle -----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the pool and apply pending migrations.

        Raises:
            StorageUnavailable: the server is down or unreachable; StorageError: it refused us (no such database,
                authentication failed) or a migration failed.
        """
        if self._pool is not None:
            return
        settings = {"search_path": self._schema} if self._schema else None
        try:
            if self._schema:
                conn = await asyncpg.connect(self._dsn, timeout=self._timeout_s)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size, timeout=self._timeout_s,
                command_timeout=self._timeout_s * 6, server_settings=settings,
            )
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL at {_redact(self._dsn)} unreachable: {exc!r}") from exc
        except asyncpg.PostgresError as exc:  # no such database, authentication failed: a retry will not help
            raise StorageError(f"PostgreSQL at {_redact(self._dsn)} refused the connection: {exc}") from exc
        try:
            await self.migrate()
        except BaseException:
            await self.close()  # not open: a retry of open() migrates again
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StorageUnavailable("PostgresStorage is not open (call open())")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL at {_redact(self._dsn)}: {exc!r}") from exc
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL error: {exc!r}") from exc

    # -- migrations ------------------------------------------------------------------------------------

    async def _timescale_usable(self, conn: asyncpg.Connection) -> bool:
        available = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        )
        if not available:
            return False
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except asyncpg.PostgresError:
            return False  # listed but not loadable (e.g. not in shared_preload_libraries): native layout
        return True

    async def migrate(self) -> list[int]:
        """Apply pending migrations under a per-schema advisory lock; return the versions applied now."""
        async with self._conn() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
                await conn.execute(schema.MIGRATIONS_TABLE_SQL)
                applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
                todo = pending(applied)
                timescale = bool(todo) and await self._timescale_usable(conn)
                for migration in todo:
                    for statement in migration.postgres(timescale):
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)",
                        migration.version, migration.name, time.time_ns(),
                    )
            self.layout = await conn.fetchval("SELECT value FROM storage_meta WHERE key = 'time_layout'")
        return [m.version for m in todo]

    # -- writes ------------------------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> int:
        """Insert records of any kinds in one transaction; rows already stored are skipped. Returns rows added."""
        groups = group_by_table(records)
        added = 0
        created: set[tuple[str, int]] = set()
        async with self._conn() as conn, conn.transaction():
            # JIT compiles a replay's rollup for ~0.18 s to run it in ~0.1 s (measured); writes never gain from it
            await conn.execute("SET LOCAL jit = off")
            if "trades" in groups and self.layout != "timescale":  # before any table lock: see LOCK_TRADE_WRITERS_SQL
                names = {cast("TradeRecord", r).instrument_name for r in groups["trades"]}
                await conn.execute(schema.LOCK_TRADE_WRITERS_SQL, schema.trade_writer_lock_keys(names))
            for table, rows in groups.items():
                span = self._span_if_appending(table, rows)
                if self.layout == "native" and table in schema.PARTITIONED:
                    created |= await self._ensure_partitions(conn, table, rows, span)
                inserted, appended = await self._copy_insert(conn, table, to_rows(rows), span)
                added += inserted
                if table == "trades" and self.layout != "timescale":
                    await self._rollup(conn, cast("list[TradeRecord]", rows), appended)
        self._partitions |= created
        return added

    async def _ensure_partitions(
        self, conn: asyncpg.Connection, table: str, rows: Sequence[Record], span: tuple[int, int]
    ) -> set[tuple[str, int]]:
        first, last = span[0] // schema.NANOS_PER_DAY, span[1] // schema.NANOS_PER_DAY
        # the first and last day hold the batch's oldest and newest row; only a longer span needs every row's day
        days = {first, last} if last - first <= 1 else {r.ts_ns // schema.NANOS_PER_DAY for r in rows}
        new = {(table, day) for day in days} - self._partitions
        for _, day in sorted(new):
            try:
                async with conn.transaction():  # savepoint: a concurrent creator must not abort our batch
                    await conn.execute(partition_sql(table, day))
            except (asyncpg.exceptions.DuplicateTableError, asyncpg.exceptions.UniqueViolationError):
                pass
        return new

    @staticmethod
    def _span_if_appending(table: str, records: Sequence[Record]) -> tuple[int, int]:
        """The batch's [min, max] ts_ns, for the append check of time-series tables; (0, -1) otherwise."""
        if table not in schema.TIME_SERIES:
            return (0, -1)
        stamps = [r.ts_ns for r in records]
        return (min(stamps), max(stamps))

    async def _copy_insert(
        self, conn: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]], span: tuple[int, int]
    ) -> tuple[int, bool]:
        """Insert the rows; returns (rows added, whether the plain append path was taken)."""
        columns = schema.column_names(table)
        if span[0] <= span[1] and not await self._any_within(conn, table, rows, span):
            # Appending past what is stored (the usual case): no key can clash, so COPY straight into the table,
            # skipping the staging table and ON CONFLICT's per-row speculative insertion. Twins inside the batch,
            # or a concurrent writer of the same rows, make the COPY fail on the key; the savepoint then falls
            # back to the idempotent path.
            try:
                async with conn.transaction():
                    status = await conn.copy_records_to_table(table, records=rows, columns=columns)
                return int(status.split()[-1]), True
            except asyncpg.exceptions.UniqueViolationError:
                pass
        staging = f"_stg_{table}"
        await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
        await conn.copy_records_to_table(staging, records=rows, columns=columns)
        status = await conn.execute(schema.insert_from_sql(table, staging))
        return int(status.split()[-1]), False

    @staticmethod
    async def _any_within(
        conn: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]], span: tuple[int, int]
    ) -> bool:
        """Is a row stored within the batch's [min, max] ts_ns (of the batch's instruments, where keyed by them)?"""
        if not schema.by_instrument(table):
            return bool(await conn.fetchval(schema.any_within_sql(table), *span))
        at = schema.column_names(table).index("instrument_name")
        return bool(await conn.fetchval(schema.any_within_sql(table), *span, list({r[at] for r in rows})))

    @staticmethod
    async def _rollup(conn: asyncpg.Connection, trades: list[TradeRecord], appended: bool) -> None:
        """Upsert the 1m bars of the (instrument, minute) pairs the batch touched, after its insert.

        ``appended``: the batch went in where ``trades`` held nothing (of its instruments) within its [min, max]
        ts_ns. A minute strictly between its first and last minute lies inside that span, so its trades are all in
        the batch: its bar is computed here (numpy) and upserted. Every other touched minute (only the first and
        last of an append) may also hold stored trades and is recomputed from ``trades`` in SQL.
        """
        bars = batch_bars(batch_columns(trades))
        first, last = int(bars.ts_ns.min()), int(bars.ts_ns.max())
        if appended:
            interior = (bars.ts_ns != first) & (bars.ts_ns != last)
            await conn.execute(schema.UPSERT_BARS_SQL, *bars.select(interior))
        else:
            interior = np.zeros(len(bars.ts_ns), dtype=bool)
        await conn.execute(schema.ROLLUP_PAIRS_SQL, *bars.select(~interior)[:2], first, last + NANOS_PER_MINUTE)

    # -- reads -------------------------------------------------------------------------------------------

    async def _read(
        self, sql: str, dtype: np.dtype[Any], name: str, start_ns: int, end_ns: int
    ) -> npt.NDArray[np.void]:
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        async with self._conn() as conn:
            await conn.copy_from_query(sql, name, start_ns, end_ns, output=sink, format="binary")
        return decode_binary_copy(b"".join(chunks), dtype)

    async def count(self, table: str) -> int:
        _check_table(table)
        async with self._conn() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

    async def instruments(self, table: str) -> list[str]:
        _check_table(table, ("trades", "quotes", "ohlcv_1m"))
        async with self._conn() as conn:
            rows = await conn.fetch(f"SELECT DISTINCT instrument_name FROM {table} ORDER BY 1")
        return [r[0] for r in rows]

    async def span(self, table: str, instrument_name: str) -> tuple[int, int] | None:
        """(min ts_ns, max ts_ns) of one instrument in a market-data table; None when it has no rows."""
        _check_table(table, ("trades", "quotes", "ohlcv_1m"))
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT min(ts_ns), max(ts_ns) FROM {table} WHERE instrument_name = $1", instrument_name
            )
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    async def analyze(self) -> None:
        """Refresh planner statistics after a bulk load (what autovacuum does later on its own)."""
        async with self._conn() as conn:
            await conn.execute("ANALYZE trades; ANALYZE quotes; ANALYZE ohlcv_1m")

    async def fetch_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a small table in key order (tests, export of own orders/fills)."""
        _check_table(table)
        key = ", ".join(schema.PRIMARY_KEYS[table])
        cols = ", ".join(schema.column_names(table))
        async with self._conn() as conn:
            return [tuple(r) for r in await conn.fetch(f"SELECT {cols} FROM {table} ORDER BY {key}")]

    # -- runs and studies --------------------------------------------------------------------------------

    async def save_run(self, run: BacktestRun) -> None:
        async with self._conn() as conn:
            await conn.execute(schema.UPSERT_RUN_SQL, *run_to_row(run))

    async def get_run(self, run_id: str) -> BacktestRun | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(schema.SELECT_RUN_SQL, run_id)
        return None if row is None else run_from_row(tuple(row))

    async def save_study(self, study: SweepStudy) -> None:
        async with self._conn() as conn:
            await conn.execute(schema.UPSERT_STUDY_SQL, *study_to_row(study))

    async def get_study(self, study_name: str) -> SweepStudy | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(schema.SELECT_STUDY_SQL, study_name)
        return None if row is None else study_from_row(tuple(row))


def _check_table(table: str, allowed: Sequence[str] = tuple(schema.COLUMNS)) -> None:
    if table not in allowed:
        raise StorageError(f"table must be one of {list(allowed)}, was {table!r}")


def _redact(dsn: str) -> str:
    """The DSN without a password (never print secrets)."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"

