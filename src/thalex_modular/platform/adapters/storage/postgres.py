"""PostgreSQL / TimescaleDB storage adapter (asyncpg, connection pool).

Writes: per table, one transaction. When nothing is stored in the batch's time range (the common append), COPY
(``copy_records_to_table``) straight into the table; otherwise (or when that COPY meets a stored key) COPY into a
session temp staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, so a replay adds nothing.
On the native layout the day partitions a batch needs are made before its transaction (:mod:`.partitions`: ahead of
time, in short transactions of their own) and the writer afterwards upserts the 1m bars of the minutes the batch
touched; on TimescaleDB the continuous aggregate does that. Writers of the same
instrument's trades are serialised there (an advisory lock per instrument until commit), so the later one rolls up
from the earlier one's committed trades too.

Reads: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` decoded straight into numpy (every read column is a
fixed-width NOT NULL type), which keeps a 1M-row range read well under a second.

Connection failures and transient server errors (refused, reset, pool closed, timeouts, disk full, deadlock,
read-only after a failover: :mod:`.pg_errors`) raise :class:`StorageUnavailable`; other database errors
:class:`StorageError`. A DSN is only ever shown redacted (:mod:`.dsn`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
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
from .dsn import redact_dsn
from .partitions import PartitionMaker, partition_name, partition_sql
from .pg_errors import storage_error
from .pg_migrate import TIMESCALE_EXTENSION, apply_pending, check_extension_name
from .range_reads import RangeReads
from .rows import run_from_row, run_to_row, study_from_row, study_to_row, to_rows
from .session_reads import SessionReads

__all__ = ["PostgresStorage", "decode_binary_copy", "partition_name", "partition_sql"]
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


class PostgresStorage(RangeReads, SessionReads):
    """:class:`~thalex_modular.platform.domain.storage.Storage` on PostgreSQL, with TimescaleDB when available.

    Args:
        dsn: ``postgresql://user@host:port/db``; extra query parameters become server settings
            (e.g. ``?search_path=myschema``). Shown only redacted.
        schema_name: if given, the schema to use (created if missing) via ``search_path``.
        min_size, max_size: connection pool bounds.
        timeout_s: connect and command timeout in seconds.
        partition_lock_timeout_ms: how long making a day partition may wait for its lock (milliseconds).
        timescale_extension: the extension a new store tries for the TimescaleDB layout (tests point it elsewhere).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema_name: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout_s: float = 10.0,
        partition_lock_timeout_ms: int = 500,
        timescale_extension: str = TIMESCALE_EXTENSION,
    ) -> None:
        self._dsn = dsn
        self._schema = schema_name
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._lock_timeout_ms = partition_lock_timeout_ms
        self._extension = check_extension_name(timescale_extension)
        self._pool: asyncpg.Pool | None = None
        self._parts: PartitionMaker | None = None
        self.layout = ""

    @property
    def location(self) -> str:
        """Where the store is, fit to show: the DSN without its secrets (and the schema)."""
        return redact_dsn(self._dsn) + (f" (schema {self._schema})" if self._schema else "")

    def __repr__(self) -> str:
        return f"PostgresStorage({self.location!r})"

    # -- lifecycle -----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the pool, apply pending migrations and, on the native layout, make today's and tomorrow's
        partitions.

        Raises:
            StorageUnavailable: the server is down, unreachable or transiently failing; StorageError: it refused us
                (no such database, authentication failed, a bad DSN) or a migration failed.
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
        except Exception as exc:
            error = storage_error(exc, self._dsn, "connect")
            if error is None:
                raise
            raise error from exc
        try:
            await self.migrate()
            if self.layout == "native":
                self._parts = PartitionMaker(self._pool, self._lock_timeout_ms)
                await self._parts.load()
                await self._parts.today_and_tomorrow()
        except BaseException as exc:
            await self.close()  # not open: a retry of open() migrates again
            error = storage_error(exc, self._dsn, "open") if isinstance(exc, Exception) else None
            if error is None:
                raise
            raise error from exc

    async def close(self) -> None:
        parts, self._parts = self._parts, None
        if parts is not None:
            await parts.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _conn(self, what: str = "query") -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StorageUnavailable("PostgresStorage is not open (call open())")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except StorageError:
            raise
        except Exception as exc:
            error = storage_error(exc, self._dsn, what)
            if error is None:
                raise
            raise error from exc

    # -- migrations ------------------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply pending migrations under a per-schema advisory lock; return the versions applied now.

        The time layout is decided once, on a new store, and read from ``storage_meta`` ever after
        (:mod:`.pg_migrate`).
        """
        async with self._conn("migrate") as conn:
            todo, self.layout = await apply_pending(conn, self._extension)
        return [m.version for m in todo]

    # -- writes ------------------------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> int:
        """Insert records of any kinds in one transaction; rows already stored are skipped. Returns rows added.

        Raises:
            StorageUnavailable: the server is down or failed transiently (the batch may be written again later);
            StorageError: it refused the batch (a retry fails the same way).
        """
        groups = group_by_table(records)
        if self._parts is not None:
            await self._make_partitions(self._parts, groups)
        added = 0
        async with self._conn("write") as conn, conn.transaction():
            # JIT compiles a replay's rollup for ~0.18 s to run it in ~0.1 s (measured); writes never gain from it
            await conn.execute("SET LOCAL jit = off")
            if "trades" in groups and self.layout != "timescale":  # before any table lock: see LOCK_TRADE_WRITERS_SQL
                names = {cast("TradeRecord", r).instrument_name for r in groups["trades"]}
                await conn.execute(schema.LOCK_TRADE_WRITERS_SQL, schema.trade_writer_lock_keys(names))
            for table, rows in groups.items():
                span = self._span_if_appending(table, rows)
                inserted, appended = await self._copy_insert(conn, table, to_rows(rows), span)
                added += inserted
                if table == "trades" and self.layout != "timescale":
                    await self._rollup(conn, cast("list[TradeRecord]", rows), appended)
        return added

    async def _make_partitions(self, parts: PartitionMaker, groups: dict[str, list[Record]]) -> None:
        """The partitions the batch needs (before its transaction, so no DDL lock is held while writing), and the
        day after its newest row in the background."""
        for table in schema.PARTITIONED:
            rows = groups.get(table)
            if not rows:
                continue
            first = min(r.ts_ns for r in rows) // schema.NANOS_PER_DAY
            last = max(r.ts_ns for r in rows) // schema.NANOS_PER_DAY
            # the first and last day hold the oldest and newest row; only a longer span needs every row's day
            days = {first, last} if last - first <= 1 else {r.ts_ns // schema.NANOS_PER_DAY for r in rows}
            try:
                await parts.ensure(table, days)
            except StorageError:
                raise
            except Exception as exc:
                error = storage_error(exc, self._dsn, f"make a {table} partition")
                if error is None:
                    raise
                raise error from exc
            parts.ahead(table, {last + 1})

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

    async def _fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]

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
