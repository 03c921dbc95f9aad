"""Embedded storage: one DuckDB file, no server. The default when no PostgreSQL DSN is configured.

DuckDB is columnar, so a 1M-trade range read lands in numpy directly (``fetchnumpy``), and inserts take
whole numpy columns. The same tables, keys, ``ON CONFLICT DO NOTHING`` writes, 1m rollup upsert and read SQL
as the native PostgreSQL layout (:mod:`.schema`).

A DuckDB file has one writer process at a time: while a process holds it, another process's ``open()``
raises :class:`StorageUnavailable` (the buffer then spills and retries). The blocking DuckDB calls run on a
worker thread (``asyncio.to_thread``), one at a time, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import duckdb
import duckdb.func as duckdb_func
import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import (
    BacktestRun,
    Record,
    StorageError,
    StorageUnavailable,
    SweepStudy,
    group_by_table,
)

from . import schema
from .migrations import pending
from .migrations.v0005_quote_identity import EMBEDDED_ID_FUNCTION
from .range_reads import RangeReads
from .rows import quote_snapshot_id, run_from_row, run_to_row, study_from_row, study_to_row, to_rows
from .session_reads import SessionReads

T = TypeVar("T")
log = logging.getLogger(__name__)
STORE_FILE_NAME: Final = "store.duckdb"
_NUMPY_OF_SQL: Final = {"BIGINT": np.int64, "INTEGER": np.int32, "SMALLINT": np.int16, "DOUBLE": np.float64}


def _numpy_type(sql_type: str) -> type[Any]:
    """A nullable integer column travels as objects (None = NULL); a nullable float as NaN, read back as NULL."""
    if "NOT NULL" not in sql_type and sql_type.split()[0] in ("BIGINT", "INTEGER", "SMALLINT"):
        return object
    return _NUMPY_OF_SQL.get(sql_type.split()[0], object)


def _columns(table: str, rows: list[tuple[Any, ...]]) -> dict[str, npt.NDArray[Any]]:
    """Row tuples → one numpy array per column (strings as object arrays)."""
    columns = list(zip(*rows, strict=True))
    return {
        name: np.array(values, dtype=_numpy_type(sql_type))
        for (name, sql_type), values in zip(schema.COLUMNS[table], columns, strict=True)
    }


def _restoring_nan(table: str, staging: str) -> str:
    """``staging`` as a subquery whose NOT NULL float columns hold NaN again where DuckDB read a numpy NaN as NULL
    (e.g. a market order's price): such a column cannot hold NULL, so a NULL there was a NaN."""
    columns = ", ".join(
        f"coalesce({name}, {schema.NAN_SQL}) AS {name}" if sql_type == schema.NOT_NULL_FLOAT else name
        for name, sql_type in schema.COLUMNS[table]
    )
    return f"(SELECT {columns} FROM {staging}) AS _s"


def _structured(result: dict[str, npt.NDArray[Any]], dtype: np.dtype[Any]) -> npt.NDArray[np.void]:
    assert dtype.names is not None
    columns = list(result.values())  # in SELECT order, which is the dtype's order
    out = np.empty(len(columns[0]), dtype=dtype)
    for name, column in zip(dtype.names, columns, strict=True):
        out[name] = column
    return out


class EmbeddedStorage(RangeReads, SessionReads):
    """:class:`~thalex_modular.platform.domain.storage.Storage` in a local DuckDB file.

    Args:
        path: the database file (its directory is created); ``":memory:"`` for a throwaway store.
        memory_limit_mb: DuckDB's memory limit (its buffer pool keeps the pages it read up to it; the default is
            80 % of RAM, so a long scan such as a backtest's range reads grows the process by what it read). None:
            DuckDB's default.
    """

    def __init__(self, path: Path | str, memory_limit_mb: int | None = None) -> None:
        if memory_limit_mb is not None and memory_limit_mb <= 0:
            raise ValueError(f"EmbeddedStorage: memory_limit_mb must be > 0, was {memory_limit_mb}")
        self.memory_limit_mb = memory_limit_mb
        self.path = path if path == ":memory:" else Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self.layout = "embedded"

    @property
    def location(self) -> str:
        """Where the store is: its file."""
        return str(self.path)

    # -- plumbing: every DuckDB call runs on a worker thread, one at a time --------------------------

    async def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        def call() -> T:
            with self._lock:
                if self._con is None:
                    raise StorageUnavailable(f"EmbeddedStorage({self.path}) is not open (call open())")
                try:
                    return fn(self._con)
                except duckdb.IOException as exc:
                    raise StorageUnavailable(f"embedded store {self.path}: {exc}") from exc
                except duckdb.Error as exc:
                    raise StorageError(f"embedded store {self.path}: {exc}") from exc

        return await asyncio.to_thread(call)

    def _transaction(self, con: duckdb.DuckDBPyConnection, body: Callable[[], T]) -> T:
        con.begin()
        try:
            result = body()
        except BaseException:
            con.rollback()
            raise
        con.commit()
        return result

    # -- lifecycle -----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating if needed) the file and apply pending migrations.

        Raises:
            StorageUnavailable: the file is locked by another process or cannot be created.
        """
        if self._con is not None:
            return

        def connect() -> duckdb.DuckDBPyConnection:
            if isinstance(self.path, Path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path))
            if self.memory_limit_mb is not None:
                con.execute(f"SET memory_limit = '{int(self.memory_limit_mb)}MB'")
            # migration 5 keys stored quotes with it; another connection of this process to the file may have it
            with contextlib.suppress(duckdb.CatalogException):
                con.create_function(
                    EMBEDDED_ID_FUNCTION, quote_snapshot_id, ["DOUBLE"] * 5, "BIGINT",
                    null_handling=duckdb_func.SPECIAL,
                )
            return con

        try:
            self._con = await asyncio.to_thread(connect)
        except (duckdb.IOException, OSError) as exc:
            raise StorageUnavailable(f"embedded store {self.path} cannot be opened: {exc}") from exc
        try:
            await self.migrate()
        except BaseException:
            await self.close()  # not open: a retry of open() migrates again
            raise

    async def close(self) -> None:
        def shut() -> None:
            with self._lock:
                con, self._con = self._con, None
                if con is not None:
                    con.close()

        await asyncio.to_thread(shut)

    async def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction; return the versions applied now."""

        def apply(con: duckdb.DuckDBPyConnection) -> list[int]:
            def body() -> list[int]:
                con.execute(schema.MIGRATIONS_TABLE_SQL)
                applied = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
                todo = pending(applied)
                for migration in todo:
                    log.info("applying migration %d (%s) to %s", migration.version, migration.name, self.path)
                    for statement in migration.embedded():
                        con.execute(statement)
                    con.execute(
                        "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)",
                        [migration.version, migration.name, time.time_ns()],
                    )
                return [m.version for m in todo]

            # Altering a large table (a month of quotes) takes memory in proportion to its rows (about 17 bytes a row
            # to add a column), which a tight memory_limit refuses: migrations run with DuckDB's default limit
            if self.memory_limit_mb is None:
                return self._transaction(con, body)
            con.execute("RESET memory_limit")
            try:
                return self._transaction(con, body)
            finally:
                con.execute("CHECKPOINT")  # the altered table's pages to the file: the limit can be set back
                con.execute(f"SET memory_limit = '{int(self.memory_limit_mb)}MB'")

        return await self._run(apply)

    # -- writes ------------------------------------------------------------------------------------------

    async def write(self, records: Sequence[Record]) -> int:
        """Insert records of any kinds in one transaction; rows already stored are skipped. Returns rows added."""
        groups = {table: to_rows(rows) for table, rows in group_by_table(records).items()}

        def insert(con: duckdb.DuckDBPyConnection) -> int:
            def body() -> int:
                return sum(self._insert_table(con, table, rows) for table, rows in groups.items())

            return self._transaction(con, body)

        return await self._run(insert)

    def _insert_table(self, con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]]) -> int:
        staging = f"_stg_{table}"
        con.register(staging, _columns(table, rows))
        try:
            added = con.execute(schema.insert_from_sql(table, _restoring_nan(table, staging))).fetchall()[0][0]
            if table == "trades":
                con.execute(schema.rollup_sql(staging))
        finally:
            with contextlib.suppress(duckdb.Error):  # after a failed statement the error above matters
                con.unregister(staging)
        return int(added)

    # -- reads -------------------------------------------------------------------------------------------

    async def _read(
        self, sql: str, dtype: np.dtype[Any], name: str, start_ns: int, end_ns: int
    ) -> npt.NDArray[np.void]:
        def query(con: duckdb.DuckDBPyConnection) -> npt.NDArray[np.void]:
            return _structured(con.execute(sql, [name, start_ns, end_ns]).fetchnumpy(), dtype)

        return await self._run(query)

    async def _fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        return await self._run(lambda con: [tuple(r) for r in con.execute(sql, list(args)).fetchall()])

    async def count(self, table: str) -> int:
        _check_table(table)
        return await self._run(lambda con: int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]))

    async def instruments(self, table: str) -> list[str]:
        _check_table(table, ("trades", "quotes", "ohlcv_1m"))
        sql = f"SELECT DISTINCT instrument_name FROM {table} ORDER BY 1"
        return await self._run(lambda con: [r[0] for r in con.execute(sql).fetchall()])

    async def span(self, table: str, instrument_name: str) -> tuple[int, int] | None:
        """(min ts_ns, max ts_ns) of one instrument in a market-data table; None when it has no rows."""
        _check_table(table, ("trades", "quotes", "ohlcv_1m"))
        sql = f"SELECT min(ts_ns), max(ts_ns) FROM {table} WHERE instrument_name = $1"
        row = (await self._run(lambda con: con.execute(sql, [instrument_name]).fetchall()))[0]
        return None if row[0] is None else (int(row[0]), int(row[1]))

    async def analyze(self) -> None:
        """Refresh statistics after a bulk load."""
        await self._run(lambda con: con.execute("ANALYZE"))

    async def fetch_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a small table in key order (tests, export of own orders/fills)."""
        _check_table(table)
        key = ", ".join(schema.PRIMARY_KEYS[table])
        sql = f"SELECT {', '.join(schema.column_names(table))} FROM {table} ORDER BY {key}"
        return await self._run(lambda con: [tuple(r) for r in con.execute(sql).fetchall()])

    # -- runs and studies --------------------------------------------------------------------------------

    async def save_run(self, run: BacktestRun) -> None:
        await self._run(lambda con: con.execute(schema.UPSERT_RUN_SQL, list(run_to_row(run))))

    async def get_run(self, run_id: str) -> BacktestRun | None:
        rows = await self._run(lambda con: con.execute(schema.SELECT_RUN_SQL, [run_id]).fetchall())
        return run_from_row(rows[0]) if rows else None

    async def save_study(self, study: SweepStudy) -> None:
        await self._run(lambda con: con.execute(schema.UPSERT_STUDY_SQL, list(study_to_row(study))))

    async def get_study(self, study_name: str) -> SweepStudy | None:
        rows = await self._run(lambda con: con.execute(schema.SELECT_STUDY_SQL, [study_name]).fetchall())
        return study_from_row(rows[0]) if rows else None


def _check_table(table: str, allowed: Sequence[str] = tuple(schema.COLUMNS)) -> None:
    if table not in allowed:
        raise StorageError(f"table must be one of {list(allowed)}, was {table!r}")
